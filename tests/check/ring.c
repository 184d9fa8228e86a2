/* Unit tests of the shared-file module (plugin/mmapring.c): what a writer
 * publishes is what a reader reads, a reader refuses every file it cannot
 * trust, and a writer never takes a location that is not its to take.
 *
 * OFD locks belong to an open file description, so within this one process
 * a map opened separately (mring_open) sees the writer map's lock exactly
 * as another process would. */
#include <gst/check/gstcheck.h>

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mmapring.h"
#include "mmaptest.h"

#define TEST_CAPS "video/x-raw, format=(string)RGB, width=(int)16, " \
  "height=(int)8, framerate=(fraction)30/1"

/* --- helpers --- */

static MringMap *
make_writer_full (const gchar * path, guint slots, guint64 capacity,
    const gchar * caps, guint64 base_seq, guint mode, MringMap * replacing)
{
  MringParams p = { 0 };
  GError *err = NULL;
  MringMap *m;

  p.slot_count = slots;
  p.slot_capacity = capacity;
  p.caps = caps;
  p.caps_seq = 1;
  p.writer_id = G_GUINT64_CONSTANT (0x1122334455667788);
  p.base_seq = base_seq;
  p.mode = mode;
  p.lease_limit = slots / 2;
  m = mring_create (path, &p, replacing, &err);
  fail_unless (m != NULL, "mring_create (%s) failed: %s", path,
      err ? err->message : "(no error)");
  return m;
}

/* Claims the location and creates a file there, as mmapsink does. */
static MringMap *
make_writer (const gchar * path, guint slots, guint64 capacity)
{
  MringMap *stale = NULL;
  GError *err = NULL;

  fail_unless (mring_claim (path, &stale, &err), "claim %s: %s", path,
      err ? err->message : "");
  fail_unless (stale == NULL);
  return make_writer_full (path, slots, capacity, TEST_CAPS, 0, 0600, NULL);
}

static void
fill_pattern (guint8 * data, gsize size, guint64 seq)
{
  gsize i;
  for (i = 0; i < size; i++)
    data[i] = (guint8) (seq * 31 + i * 7 + (i >> 8));
}

static void
fill_desc (MmapSlotDesc * d, guint64 seq, gsize size)
{
  memset (d, 0, sizeof (*d));
  d->seq = seq;
  d->pts = seq * 1000;
  d->dts = seq * 1000 - 1;
  d->duration = 33;
  d->offset = seq + 100;
  d->offset_end = seq + 101;
  d->pts_monotonic_ns = seq * 5;
  d->publish_monotonic_ns = seq * 6;
  d->publish_realtime_ns = seq * 7;
  d->size = size;
  d->buffer_flags = MMAP_BUFFER_FLAG_DELTA_UNIT;
  d->n_planes = 1;
  d->plane_offset[0] = 0;
  d->plane_stride[0] = 48;
  d->caps_seq = 1;
}

/* Publishes frame `seq` as mmapsink does when it copies: `size` bytes of
 * its pattern and a descriptor whose fields are derived from seq. */
static void
publish (MringMap * m, guint64 seq, gsize size)
{
  MmapSlotDesc d;
  gint idx = mring_slot_acquire (m);

  fail_unless (idx >= 0, "no free slot for frame %" G_GUINT64_FORMAT, seq);
  fill_pattern (mring_slot_data (m, idx), size, seq);
  fill_desc (&d, seq, size);
  mring_slot_publish (m, idx, &d);
  mring_slot_done (m, idx);
}

/* Reads frame `seq` as mmapsrc does; returns the copied payload (NULL
 * unless the result is OK and the copy intact). */
static MringReadResult
read_frame (MringMap * r, guint64 seq, MmapSlotDesc * d, guint8 ** copy)
{
  MringReadResult res;
  guint idx = G_MAXUINT;
  guint64 lock = 0;

  *copy = NULL;
  res = mring_read_begin (r, seq, d, &idx, &lock);
  if (res != MRING_READ_OK)
    return res;
  *copy = g_memdup2 (mring_slot_data (r, idx), d->size);
  if (!mring_read_end (r, idx, lock)) {
    g_clear_pointer (copy, g_free);
    return MRING_READ_LOST;
  }
  return res;
}

static MringMap *
open_ok (const gchar * path)
{
  GError *err = NULL;
  MringMap *r = mring_open (path, &err);
  fail_unless (r != NULL, "mring_open (%s): %s", path, err ? err->message : "");
  return r;
}

/* mring_open must fail with `code`, and its message must name the file. */
static void
assert_open_fails (const gchar * path, gint code, const gchar * what)
{
  GError *err = NULL;
  MringMap *r = mring_open (path, &err);

  fail_unless (r == NULL, "%s: mring_open accepted it", what);
  fail_unless (err != NULL, "%s: no error set", what);
  fail_unless (err->domain == MRING_ERROR, "%s: domain %s", what,
      g_quark_to_string (err->domain));
  fail_unless (err->code == code, "%s: error code %d, expected %d (%s)",
      what, err->code, code, err->message);
  fail_unless (strstr (err->message, path) != NULL,
      "%s: message does not name the file: %s", what, err->message);
  GST_INFO ("%s refused: %s", what, err->message);
  g_error_free (err);
}

static gchar *
read_all (const gchar * path, gsize * len)
{
  gchar *data = NULL;
  GError *err = NULL;
  fail_unless (g_file_get_contents (path, &data, len, &err), "read %s: %s",
      path, err ? err->message : "");
  return data;
}

/* --- publishing and reading --- */

GST_START_TEST (test_roundtrip_bytes_and_descriptor)
{
  gchar *path = mmap_test_path ("roundtrip");
  MringMap *w = make_writer (path, 4, 384);
  MringMap *r;
  MmapSlotDesc d;
  guint8 *copy, expect[384];
  guint64 seq;

  r = open_ok (path);
  /* The immutable header as the writer created it. */
  fail_unless_equals_string (r->hdr.caps, TEST_CAPS);
  fail_unless_equals_int (r->hdr.caps_length, strlen (TEST_CAPS));
  fail_unless_equals_int (r->hdr.slot_count, 4);
  fail_unless_equals_uint64 (r->hdr.slot_capacity, 384);
  fail_unless_equals_uint64 (r->hdr.writer_id,
      G_GUINT64_CONSTANT (0x1122334455667788));
  fail_unless_equals_int (r->hdr.writer_pid, getpid ());
  fail_unless_equals_uint64 (r->hdr.base_seq, 0);
  fail_unless_equals_int (mring_state (r), MMAP_STATE_RUNNING);
  fail_unless_equals_uint64 (mring_write_seq (r), 0);
  fail_if (mring_eos (r));

  for (seq = 1; seq <= 3; seq++)
    publish (w, seq, 384 - seq);
  fail_unless_equals_uint64 (mring_write_seq (r), 3);

  for (seq = 1; seq <= 3; seq++) {
    fail_unless_equals_int (read_frame (r, seq, &d, &copy), MRING_READ_OK);
    fill_pattern (expect, 384 - seq, seq);
    fail_unless_equals_uint64 (d.size, 384 - seq);
    fail_unless (memcmp (copy, expect, d.size) == 0, "frame %" G_GUINT64_FORMAT
        ": bytes differ", seq);
    fail_unless_equals_uint64 (d.seq, seq);
    fail_unless_equals_uint64 (d.pts, seq * 1000);
    fail_unless_equals_uint64 (d.dts, seq * 1000 - 1);
    fail_unless_equals_uint64 (d.duration, 33);
    fail_unless_equals_uint64 (d.offset, seq + 100);
    fail_unless_equals_uint64 (d.offset_end, seq + 101);
    fail_unless_equals_uint64 (d.pts_monotonic_ns, seq * 5);
    fail_unless_equals_uint64 (d.publish_monotonic_ns, seq * 6);
    fail_unless_equals_uint64 (d.publish_realtime_ns, seq * 7);
    fail_unless_equals_int (d.buffer_flags, MMAP_BUFFER_FLAG_DELTA_UNIT);
    fail_unless_equals_int (d.n_planes, 1);
    fail_unless_equals_uint64 (d.plane_offset[0], 0);
    fail_unless_equals_int (d.plane_stride[0], 48);
    fail_unless_equals_uint64 (d.caps_seq, 1);
    g_free (copy);
  }
  /* Frame 4 is not published yet: its slot (0) holds nothing. */
  fail_unless_equals_int (read_frame (r, 4, &d, &copy), MRING_READ_LOST);

  mring_map_unref (r);
  mring_release (w, TRUE);
  mring_map_unref (w);
  mmap_test_remove (path);
  g_free (path);
}

GST_END_TEST;

GST_START_TEST (test_base_seq_numbers_frames)
{
  gchar *path = mmap_test_path ("baseseq");
  MringMap *w, *r;
  MmapSlotDesc d;
  guint8 *copy;

  w = make_writer_full (path, 4, 100, TEST_CAPS, 41, 0600, NULL);
  r = open_ok (path);
  fail_unless_equals_uint64 (r->hdr.base_seq, 41);
  fail_unless_equals_uint64 (mring_write_seq (r), 41);
  publish (w, 42, 100);
  fail_unless_equals_uint64 (mring_write_seq (r), 42);
  fail_unless_equals_int (read_frame (r, 42, &d, &copy), MRING_READ_OK);
  fail_unless_equals_uint64 (d.seq, 42);
  g_free (copy);

  mring_map_unref (r);
  mring_release (w, TRUE);
  mring_map_unref (w);
  mmap_test_remove (path);
  g_free (path);
}

GST_END_TEST;

GST_START_TEST (test_frame_being_written_is_lost)
{
  gchar *path = mmap_test_path ("inflight");
  MringMap *w = make_writer (path, 2, 64);
  MringMap *r = open_ok (path);
  MmapSlotDesc d;
  guint8 *copy;
  gint idx;

  publish (w, 1, 64);
  publish (w, 2, 64);
  /* Frame 3 goes where frame 1 was (the least recently published): while
   * it is being written, frame 1 is gone and must not be read. */
  idx = mring_slot_acquire (w);
  fail_unless (idx >= 0);
  fail_unless_equals_int (read_frame (r, 1, &d, &copy), MRING_READ_LOST);
  fail_unless (copy == NULL);
  /* Frame 2, in the other slot, is still there. */
  fail_unless_equals_int (read_frame (r, 2, &d, &copy), MRING_READ_OK);
  g_free (copy);
  /* Frame 3 is not there before it is published. */
  fail_unless_equals_int (read_frame (r, 3, &d, &copy), MRING_READ_LOST);
  fail_unless_equals_uint64 (mring_write_seq (r), 2);

  fill_pattern (mring_slot_data (w, idx), 64, 3);
  fill_desc (&d, 3, 64);
  mring_slot_publish (w, idx, &d);
  mring_slot_done (w, idx);
  fail_unless_equals_int (read_frame (r, 1, &d, &copy), MRING_READ_LOST);
  fail_unless_equals_int (read_frame (r, 3, &d, &copy), MRING_READ_OK);
  fail_unless_equals_uint64 (d.seq, 3);
  g_free (copy);

  mring_map_unref (r);
  mring_release (w, TRUE);
  mring_map_unref (w);
  mmap_test_remove (path);
  g_free (path);
}

GST_END_TEST;

/* A slot the writer gave up (mmapsink could not map a buffer) holds no
 * frame: neither the old one nor anything else is read from it. */
GST_START_TEST (test_abandoned_slot_holds_nothing)
{
  gchar *path = mmap_test_path ("abandon");
  MringMap *w = make_writer (path, 2, 64);
  MringMap *r = open_ok (path);
  MmapSlotDesc d;
  guint8 *copy;
  gint idx;

  publish (w, 1, 64);
  publish (w, 2, 64);
  idx = mring_slot_acquire (w);
  fail_unless (idx >= 0);
  mring_slot_abandon (w, idx);
  fail_unless_equals_int (read_frame (r, 1, &d, &copy), MRING_READ_LOST);
  fail_unless_equals_uint64 (mring_write_seq (r), 2);
  /* Publishing goes on with the next frame number. */
  publish (w, 3, 64);
  fail_unless_equals_int (read_frame (r, 3, &d, &copy), MRING_READ_OK);
  g_free (copy);
  fail_unless_equals_int (read_frame (r, 2, &d, &copy), MRING_READ_OK);
  g_free (copy);

  mring_map_unref (r);
  mring_release (w, TRUE);
  mring_map_unref (w);
  mmap_test_remove (path);
  g_free (path);
}

GST_END_TEST;

GST_START_TEST (test_lapped_frame_is_lost)
{
  gchar *path = mmap_test_path ("lapped");
  MringMap *w = make_writer (path, 2, 256);
  MringMap *r = open_ok (path);
  MmapSlotDesc d;
  guint8 *copy, expect[256];
  guint idx;
  guint64 lock, seq;

  /* Slots are reused least recently published first. */

  for (seq = 1; seq <= 5; seq++)
    publish (w, seq, 256);
  /* Two slots: only frames 4 and 5 are still in the ring. */
  for (seq = 1; seq <= 3; seq++) {
    fail_unless_equals_int (read_frame (r, seq, &d, &copy), MRING_READ_LOST);
    fail_unless (copy == NULL);
  }
  for (seq = 4; seq <= 5; seq++) {
    fail_unless_equals_int (read_frame (r, seq, &d, &copy), MRING_READ_OK);
    fill_pattern (expect, 256, seq);
    fail_unless (memcmp (copy, expect, 256) == 0);
    g_free (copy);
  }

  /* The writer laps a reader in the middle of its copy: read_end must
   * tell the reader that its copy of frame 5 is not to be trusted. */
  fail_unless_equals_int (mring_read_begin (r, 5, &d, &idx, &lock),
      MRING_READ_OK);
  publish (w, 6, 256);
  publish (w, 7, 256);
  fail_if (mring_read_end (r, idx, lock), "a copy overwritten meanwhile "
      "was reported intact");

  mring_map_unref (r);
  mring_release (w, TRUE);
  mring_map_unref (w);
  mmap_test_remove (path);
  g_free (path);
}

GST_END_TEST;

GST_START_TEST (test_eos_and_latency_reach_reader)
{
  gchar *path = mmap_test_path ("eos");
  MringMap *w = make_writer (path, 2, 64);
  MringMap *r = open_ok (path);

  publish (w, 1, 64);
  fail_if (mring_eos (r));
  mring_set_eos (w);
  fail_unless (mring_eos (r));
  /* New data after EOS (a new stream) clears it. */
  publish (w, 2, 64);
  fail_if (mring_eos (r));

  mring_set_latency (w, 40 * GST_MSECOND);
  fail_unless_equals_uint64 (mring_latency (r), 40 * GST_MSECOND);

  mring_map_unref (r);
  mring_release (w, TRUE);
  mring_map_unref (w);
  mmap_test_remove (path);
  g_free (path);
}

GST_END_TEST;

/* --- waiting --- */

typedef struct
{
  MringMap *r;
  guint32 seen;
  GMutex lock;
  GCond cond;
  gboolean ready;
  gint finished;
} Waiter;

static gpointer
waiter_thread (gpointer data)
{
  Waiter *wt = data;

  g_mutex_lock (&wt->lock);
  wt->ready = TRUE;
  g_cond_signal (&wt->cond);
  g_mutex_unlock (&wt->lock);
  /* Far longer than Check's timeout: only a wake-up can end this in time. */
  mring_wait (wt->r, wt->seen, 600 * G_GUINT64_CONSTANT (1000000000));
  g_atomic_int_set (&wt->finished, 1);
  return GUINT_TO_POINTER (mring_futex (wt->r));
}

/* Returns once the waiter has announced itself in the file's `waiters`
 * word, so that what follows has to wake it rather than find it awake. */
static void
wait_until_asleep (Waiter * wt)
{
  MmapFileHeader *h = (MmapFileHeader *) wt->r->base;

  g_mutex_lock (&wt->lock);
  while (!wt->ready)
    g_cond_wait (&wt->cond, &wt->lock);
  g_mutex_unlock (&wt->lock);
  while (__atomic_load_n (&h->waiters, __ATOMIC_SEQ_CST) == 0) {
    fail_if (g_atomic_int_get (&wt->finished), "the wait ended before "
        "anything woke it");
    g_usleep (1000);
  }
  /* From `waiters += 1` to FUTEX_WAIT is a few instructions; give them
   * time so that the wake-up below is what ends the wait. */
  g_usleep (20 * 1000);
}

GST_START_TEST (test_wait_woken_by_publication)
{
  gchar *path = mmap_test_path ("wait");
  MringMap *w = make_writer (path, 2, 64);
  Waiter wt = { 0 };
  GThread *t;
  guint32 after;

  wt.r = open_ok (path);
  g_mutex_init (&wt.lock);
  g_cond_init (&wt.cond);
  wt.seen = mring_futex (wt.r);
  t = g_thread_new ("waiter", waiter_thread, &wt);
  wait_until_asleep (&wt);
  publish (w, 1, 64);
  /* Hangs (and Check's timeout fails the test) if nobody wakes it. */
  after = GPOINTER_TO_UINT (g_thread_join (t));
  fail_if (after == wt.seen, "woken without the futex word having moved");
  fail_unless_equals_uint64 (mring_write_seq (wt.r), 1);

  mring_map_unref (wt.r);
  mring_release (w, TRUE);
  mring_map_unref (w);
  g_mutex_clear (&wt.lock);
  g_cond_clear (&wt.cond);
  mmap_test_remove (path);
  g_free (path);
}

GST_END_TEST;

GST_START_TEST (test_wait_woken_by_reader_wake)
{
  gchar *path = mmap_test_path ("wake");
  MringMap *w = make_writer (path, 2, 64);
  Waiter wt = { 0 };
  GThread *t;

  /* What mmapsrc's unlock() does to a create() asleep on the file. */
  wt.r = open_ok (path);
  g_mutex_init (&wt.lock);
  g_cond_init (&wt.cond);
  wt.seen = mring_futex (wt.r);
  t = g_thread_new ("waiter", waiter_thread, &wt);
  wait_until_asleep (&wt);
  mring_wake (wt.r);
  g_thread_join (t);
  fail_unless_equals_uint64 (mring_write_seq (wt.r), 0);

  mring_map_unref (wt.r);
  mring_release (w, TRUE);
  mring_map_unref (w);
  g_mutex_clear (&wt.lock);
  g_cond_clear (&wt.cond);
  mmap_test_remove (path);
  g_free (path);
}

GST_END_TEST;

/* --- leases (zero-copy readers) --- */

static guint32
leases_held (MringMap * m)
{
  return __atomic_load_n (&((MmapFileHeader *) m->base)->leases_held,
      __ATOMIC_SEQ_CST);
}

/* Reads frame `seq` and leases its slot; returns the slot. */
static guint
lease_frame (MringMap * r, guint64 seq, gboolean expect_ok)
{
  MmapSlotDesc d;
  guint idx;
  guint64 lock;

  fail_unless_equals_int (mring_read_begin (r, seq, &d, &idx, &lock),
      MRING_READ_OK);
  fail_unless (mring_lease (r, idx, lock) == expect_ok,
      "lease of frame %" G_GUINT64_FORMAT ": expected %s", seq,
      expect_ok ? "granted" : "refused");
  return idx;
}

GST_START_TEST (test_leased_frame_stays_intact)
{
  gchar *path = mmap_test_path ("lease");
  MringMap *w = make_writer (path, 4, 256);
  MringMap *r = open_ok (path);
  MmapSlotDesc d;
  guint8 *copy, expect[256];
  guint idx;
  guint64 seq;

  fail_unless (mring_reader_register (r));
  publish (w, 1, 256);
  idx = lease_frame (r, 1, TRUE);
  fail_unless_equals_int (leases_held (r), 1);

  /* The writer laps the ring many times: the leased frame is left alone,
   * the others rotate through the remaining slots. */
  for (seq = 2; seq <= 40; seq++)
    publish (w, seq, 256);
  fail_unless_equals_int (read_frame (r, 1, &d, &copy), MRING_READ_OK);
  fill_pattern (expect, 256, 1);
  fail_unless (memcmp (copy, expect, 256) == 0, "a leased frame changed");
  fail_unless (memcmp (mring_slot_data (r, idx), expect, 256) == 0);
  g_free (copy);
  fail_unless_equals_int (read_frame (r, 40, &d, &copy), MRING_READ_OK);
  g_free (copy);

  /* Given back: the writer may reuse it. */
  mring_unlease (r, idx);
  fail_unless_equals_int (leases_held (r), 0);
  for (seq = 41; seq <= 50; seq++)
    publish (w, seq, 256);
  fail_unless_equals_int (read_frame (r, 1, &d, &copy), MRING_READ_LOST);

  mring_map_unref (r);
  mring_release (w, TRUE);
  mring_map_unref (w);
  mmap_test_remove (path);
  g_free (path);
}

GST_END_TEST;

GST_START_TEST (test_lease_limit_keeps_writer_going)
{
  gchar *path = mmap_test_path ("limit");
  MringMap *w = make_writer (path, 4, 64);      /* lease_limit 2 */
  MringMap *r1 = open_ok (path), *r2 = open_ok (path);
  guint64 seq;

  fail_unless_equals_int (r1->hdr.lease_limit, 2);
  fail_unless (mring_reader_register (r1));
  fail_unless (mring_reader_register (r2));
  publish (w, 1, 64);
  publish (w, 2, 64);
  publish (w, 3, 64);
  lease_frame (r1, 1, TRUE);
  lease_frame (r2, 2, TRUE);
  /* Readers together may pin at most lease_limit slots. */
  lease_frame (r2, 3, FALSE);
  fail_unless_equals_int (leases_held (w), 2);
  /* The writer always has slots left: a stalled reader does not stop it. */
  for (seq = 4; seq <= 30; seq++)
    publish (w, seq, 64);
  fail_unless_equals_uint64 (mring_write_seq (r1), 30);

  mring_map_unref (r2);
  mring_map_unref (r1);
  mring_release (w, TRUE);
  mring_map_unref (w);
  mmap_test_remove (path);
  g_free (path);
}

GST_END_TEST;

GST_START_TEST (test_lease_limit_clamped)
{
  gchar *path = mmap_test_path ("clamp");
  MringParams p = { 0 };
  MringMap *w, *r;

  p.slot_count = 3;
  p.slot_capacity = 64;
  p.caps = "application/x-test";
  p.writer_id = 5;
  p.mode = 0600;
  p.lease_limit = 10;
  w = mring_create (path, &p, NULL, NULL);
  fail_unless (w != NULL);
  r = open_ok (path);
  /* Fewer than the slots, or the writer could find none free. */
  fail_unless_equals_int (r->hdr.lease_limit, 2);

  mring_map_unref (r);
  mring_release (w, TRUE);
  mring_map_unref (w);
  mmap_test_remove (path);
  g_free (path);
}

GST_END_TEST;

GST_START_TEST (test_dead_reader_loses_leases)
{
  gchar *path = mmap_test_path ("deadreader");
  MringMap *w = make_writer (path, 4, 64);
  MringMap *r = open_ok (path), *r2;
  MmapSlotDesc d;
  guint8 *copy;
  guint64 seq;

  fail_unless (mring_reader_register (r));
  publish (w, 1, 64);
  lease_frame (r, 1, TRUE);
  publish (w, 2, 64);
  lease_frame (r, 2, TRUE);
  fail_unless_equals_int (leases_held (w), 2);
  /* The reader dies holding both: its entry's lock goes with its fd. */
  mring_map_unref (r);

  /* The writer notices and takes the slots back. */
  for (seq = 3; seq <= 200; seq++)
    publish (w, seq, 64);
  fail_unless_equals_int (leases_held (w), 0);
  r2 = open_ok (path);
  fail_unless_equals_int (read_frame (r2, 1, &d, &copy), MRING_READ_LOST);
  fail_unless_equals_int (read_frame (r2, 2, &d, &copy), MRING_READ_LOST);
  /* And a new reader can lease again. */
  fail_unless (mring_reader_register (r2));
  lease_frame (r2, 200, TRUE);

  mring_map_unref (r2);
  mring_release (w, TRUE);
  mring_map_unref (w);
  mmap_test_remove (path);
  g_free (path);
}

GST_END_TEST;

/* --- files a reader must refuse --- */

GST_START_TEST (test_open_missing_file)
{
  gchar *path = mmap_test_path ("missing");
  assert_open_fails (path, MRING_ERROR_NOT_FOUND, "missing file");
  g_free (path);
}

GST_END_TEST;

GST_START_TEST (test_open_empty_file)
{
  gchar *path = mmap_test_path ("empty");
  fail_unless (mmap_test_write_file (path, "", 0));
  assert_open_fails (path, MRING_ERROR_NOT_OURS, "empty file");
  mmap_test_remove (path);
  g_free (path);
}

GST_END_TEST;

GST_START_TEST (test_open_garbage_file)
{
  gchar *path = mmap_test_path ("garbage");
  GRand *rand = g_rand_new_with_seed (1234);
  guint8 *junk = g_malloc (65536);
  guint i;

  for (i = 0; i < 65536; i++)
    junk[i] = g_rand_int (rand);
  fail_unless (mmap_test_write_file (path, junk, 65536));
  assert_open_fails (path, MRING_ERROR_NOT_OURS, "64 KiB of random bytes");

  memset (junk, 0, 65536);
  fail_unless (mmap_test_write_file (path, junk, 65536));
  assert_open_fails (path, MRING_ERROR_NOT_OURS, "64 KiB of zeros");

  mmap_test_remove (path);
  g_rand_free (rand);
  g_free (junk);
  g_free (path);
}

GST_END_TEST;

/* A valid file's bytes, to patch one field at a time. */
static guint8 *
valid_file_bytes (gsize * len)
{
  gchar *path = mmap_test_path ("model");
  MringMap *w = make_writer (path, 4, 4096);
  guint8 *data;

  publish (w, 1, 100);
  data = (guint8 *) read_all (path, len);
  mring_release (w, TRUE);
  mring_map_unref (w);
  mmap_test_remove (path);
  g_free (path);
  return data;
}

GST_START_TEST (test_open_truncated_file)
{
  gchar *path = mmap_test_path ("truncated");
  gsize len;
  guint8 *data = valid_file_bytes (&len);

  /* The control: the untouched copy opens. */
  fail_unless (mmap_test_write_file (path, data, len));
  mring_map_unref (open_ok (path));

  /* Cut after the slot descriptors: the header says the file is longer. */
  fail_unless (len > 12288);
  fail_unless (mmap_test_write_file (path, data, 12288));
  assert_open_fails (path, MRING_ERROR_TRUNCATED, "truncated to 12288 bytes");
  /* Cut inside the header. */
  fail_unless (mmap_test_write_file (path, data, 2000));
  assert_open_fails (path, MRING_ERROR_TRUNCATED, "truncated to 2000 bytes");
  /* One byte short of what the header promises. */
  fail_unless (mmap_test_write_file (path, data, len - 1));
  assert_open_fails (path, MRING_ERROR_TRUNCATED, "one byte short");

  mmap_test_remove (path);
  g_free (data);
  g_free (path);
}

GST_END_TEST;

GST_START_TEST (test_open_wrong_magic)
{
  gchar *path = mmap_test_path ("magic");
  gsize len;
  guint8 *data = valid_file_bytes (&len);

  memcpy (data, "GSTMMAX", 8);
  fail_unless (mmap_test_write_file (path, data, len));
  assert_open_fails (path, MRING_ERROR_NOT_OURS, "wrong magic");

  mmap_test_remove (path);
  g_free (data);
  g_free (path);
}

GST_END_TEST;

GST_START_TEST (test_open_unknown_version)
{
  gchar *path = mmap_test_path ("version");
  gsize len;
  guint8 *data = valid_file_bytes (&len);
  MmapFileHeader *h = (MmapFileHeader *) data;
  GError *err = NULL;

  h->version = 2;
  fail_unless (mmap_test_write_file (path, data, len));
  assert_open_fails (path, MRING_ERROR_VERSION, "version 2");
  /* The message tells both versions. */
  fail_unless (mring_open (path, &err) == NULL);
  fail_unless (strstr (err->message, "version 2") != NULL, "%s", err->message);
  g_clear_error (&err);

  h->version = 0;
  fail_unless (mmap_test_write_file (path, data, len));
  assert_open_fails (path, MRING_ERROR_VERSION, "version 0");

  mmap_test_remove (path);
  g_free (data);
  g_free (path);
}

GST_END_TEST;

typedef void (*Patch) (MmapFileHeader * h);

#define PATCH(name, body) \
  static void patch_##name (MmapFileHeader * h) { body; }

PATCH (slot_count_0, h->slot_count = 0);
PATCH (slot_count_1, h->slot_count = 1);
PATCH (slot_count_65, h->slot_count = 65);
PATCH (slot_count_max, h->slot_count = G_MAXUINT32);
PATCH (data_offset_0, h->slot_data_offset = 0);
PATCH (data_offset_in_descs, h->slot_data_offset = MMAP_SLOT_DESC_OFFSET);
PATCH (data_offset_at_end, h->slot_data_offset = h->file_size);
PATCH (data_offset_huge, h->slot_data_offset = G_MAXUINT64 - 4095);
PATCH (stride_past_end, h->slot_stride += 4096);
PATCH (stride_huge, h->slot_stride = G_MAXUINT64 / MMAP_SLOTS_MAX);
PATCH (stride_overflows, h->slot_stride = (G_MAXUINT64 / 4) + 4096);
PATCH (stride_times_count_wraps, h->slot_stride = G_GUINT64_CONSTANT (1) << 62);
PATCH (capacity_over_stride, h->slot_capacity = h->slot_stride + 1);
PATCH (file_size_small, h->file_size = MMAP_SLOT_DESC_OFFSET);
PATCH (caps_length_max, h->caps_length = MMAP_CAPS_MAX);
PATCH (caps_length_huge, h->caps_length = G_MAXUINT32);
PATCH (caps_unterminated, memset (h->caps, 'x', MMAP_CAPS_MAX);
    h->caps_length = MMAP_CAPS_MAX - 1);
PATCH (caps_length_short, h->caps_length = 3);
PATCH (caps_length_long, h->caps_length += 5);
PATCH (header_size, h->header_size = 100);
PATCH (slot_desc_offset, h->slot_desc_offset = MMAP_READER_TABLE_OFFSET);
PATCH (slot_desc_size, h->slot_desc_size = 128);
PATCH (reader_count, h->reader_count = MMAP_READER_MAX + 1);
PATCH (lease_limit, h->lease_limit = h->slot_count);

static const struct
{
  const gchar *name;
  Patch patch;
} invalid_patches[] = {
  {"slot_count 0", patch_slot_count_0},
  {"slot_count 1", patch_slot_count_1},
  {"slot_count 65", patch_slot_count_65},
  {"slot_count 2^32-1", patch_slot_count_max},
  {"slot_data_offset 0 (over the header)", patch_data_offset_0},
  {"slot_data_offset over the descriptors", patch_data_offset_in_descs},
  {"slot_data_offset at the end of the file", patch_data_offset_at_end},
  {"slot_data_offset near 2^64", patch_data_offset_huge},
  {"slot_stride reaching past the end", patch_stride_past_end},
  {"slot_stride 2^64/64", patch_stride_huge},
  {"slot_stride * slot_count overflowing", patch_stride_overflows},
  {"slot_stride 2^62 * 4 slots wrapping to 0", patch_stride_times_count_wraps},
  {"slot_capacity > slot_stride", patch_capacity_over_stride},
  {"file_size smaller than the slots", patch_file_size_small},
  {"caps_length MMAP_CAPS_MAX", patch_caps_length_max},
  {"caps_length 2^32-1", patch_caps_length_huge},
  {"caps not NUL terminated", patch_caps_unterminated},
  {"caps_length shorter than the string", patch_caps_length_short},
  {"caps_length longer than the string", patch_caps_length_long},
  {"header_size 100", patch_header_size},
  {"slot_desc_offset over the reader table", patch_slot_desc_offset},
  {"slot_desc_size 128", patch_slot_desc_size},
  {"reader_count 65", patch_reader_count},
  {"lease_limit = slot_count", patch_lease_limit},
};

GST_START_TEST (test_open_invalid_fields)
{
  gchar *path = mmap_test_path ("invalid");
  gsize len, i;
  guint8 *model = valid_file_bytes (&len);
  guint8 *data = g_malloc (len);

  /* The control: the unpatched copy opens, so each refusal below is the
   * patched field's doing. */
  fail_unless (mmap_test_write_file (path, model, len));
  mring_map_unref (open_ok (path));

  for (i = 0; i < G_N_ELEMENTS (invalid_patches); i++) {
    memcpy (data, model, len);
    invalid_patches[i].patch ((MmapFileHeader *) data);
    fail_unless (mmap_test_write_file (path, data, len));
    assert_open_fails (path, MRING_ERROR_INVALID, invalid_patches[i].name);
  }

  mmap_test_remove (path);
  g_free (data);
  g_free (model);
  g_free (path);
}

GST_END_TEST;

/* --- claiming a location --- */

GST_START_TEST (test_claim_busy_names_file_and_pid)
{
  gchar *path = mmap_test_path ("busy");
  MringMap *w = make_writer (path, 2, 64);
  MringMap *stale = NULL, *r;
  GError *err = NULL;
  gchar *pid_text = g_strdup_printf ("in use by another writer (pid %d)",
      (int) getpid ());

  publish (w, 1, 64);
  fail_if (mring_claim (path, &stale, &err), "a second writer got the "
      "location of a live one");
  fail_unless (stale == NULL);
  fail_unless (err && err->domain == MRING_ERROR);
  fail_unless_equals_int (err->code, MRING_ERROR_BUSY);
  fail_unless (strstr (err->message, path) != NULL, "%s", err->message);
  fail_unless (strstr (err->message, pid_text) != NULL, "%s", err->message);
  GST_INFO ("second claim refused: %s", err->message);
  g_clear_error (&err);

  /* The first writer's file is as it was. */
  r = open_ok (path);
  fail_unless_equals_int (mring_state (r), MMAP_STATE_RUNNING);
  fail_unless_equals_uint64 (mring_write_seq (r), 1);
  fail_unless (mring_writer_alive (r));
  mring_map_unref (r);

  mring_release (w, TRUE);
  mring_map_unref (w);
  mmap_test_remove (path);
  g_free (pid_text);
  g_free (path);
}

GST_END_TEST;

/* A file that is not ours at the location: the claim must fail with
 * NOT_OURS and leave every byte of it as it was. */
static void
check_claim_refuses_foreign_file (const gchar * what, const guint8 * content,
    gsize len)
{
  gchar *path = mmap_test_path ("foreign");
  MringMap *stale = NULL;
  GError *err = NULL;
  gboolean claimed;
  gchar *after = NULL;
  gsize after_len = 0;

  fail_unless (mmap_test_write_file (path, content, len));
  claimed = mring_claim (path, &stale, &err);
  if (claimed && stale) {
    /* Show what a writer would do with it next (mmapsink does this at its
     * first caps), to make the consequence visible. */
    MringMap *m = make_writer_full (path, 2, 64, TEST_CAPS, 0, 0600, stale);
    mring_release (m, TRUE);
    mring_map_unref (m);
    mring_map_unref (stale);
  }
  if (!g_file_get_contents (path, &after, &after_len, NULL))
    after = NULL;
  fail_if (claimed, "%s (%" G_GSIZE_FORMAT " bytes) was taken as a stale "
      "gst-mmap file; a writer then replaced it: the file is %s", what, len,
      after ? "changed" : "gone");
  fail_unless (err && err->domain == MRING_ERROR);
  fail_unless_equals_int (err->code, MRING_ERROR_NOT_OURS);
  fail_unless (strstr (err->message, path) != NULL, "%s", err->message);
  GST_INFO ("%s refused: %s", what, err->message);
  fail_unless (after != NULL, "%s is gone", what);
  fail_unless (after_len == len && memcmp (after, content, len) == 0,
      "%s was changed", what);

  g_clear_error (&err);
  g_free (after);
  mmap_test_remove (path);
  g_free (path);
}

GST_START_TEST (test_claim_refuses_large_foreign_file)
{
  gsize len = 20000, i;
  guint8 *content = g_malloc (len);

  for (i = 0; i < len; i++)
    content[i] = "some precious data\n"[i % 19];
  check_claim_refuses_foreign_file ("a 20000-byte text file", content, len);
  g_free (content);
}

GST_END_TEST;

GST_START_TEST (test_claim_refuses_small_foreign_file)
{
  /* Shorter than a gst-mmap header (8192 bytes), longer than the magic:
   * mring_open calls it TRUNCATED before it looks at the magic. */
  const gchar *text = "notes I want to keep: do not delete this file\n";
  check_claim_refuses_foreign_file ("a 46-byte text file",
      (const guint8 *) text, strlen (text));
}

GST_END_TEST;

GST_START_TEST (test_claim_refuses_tiny_foreign_file)
{
  check_claim_refuses_foreign_file ("a 3-byte file", (const guint8 *) "hi\n",
      3);
}

GST_END_TEST;

GST_START_TEST (test_claim_refuses_symlink)
{
  gchar *path = mmap_test_path ("link");
  gchar *target = mmap_test_path ("link-target");
  gchar *dangling = mmap_test_path ("link-nowhere");
  const gchar *text = "the link's target, which must not change\n";
  MringMap *stale = NULL;
  GError *err = NULL;
  gchar *after;
  GStatBuf st;

  fail_unless (mmap_test_write_file (target, text, strlen (text)));
  fail_unless (symlink (target, path) == 0);
  fail_if (mring_claim (path, &stale, &err), "claimed a symlink");
  fail_unless (stale == NULL);
  fail_unless (err != NULL && strstr (err->message, path) != NULL);
  GST_INFO ("symlink refused: %s", err->message);
  g_clear_error (&err);
  fail_unless (g_file_get_contents (target, &after, NULL, NULL));
  fail_unless_equals_string (after, text);
  g_free (after);
  fail_unless (g_lstat (path, &st) == 0 && S_ISLNK (st.st_mode),
      "the symlink itself was replaced");

  /* A symlink to nowhere: refused too, and nothing appears at its target. */
  g_unlink (path);
  fail_unless (symlink (dangling, path) == 0);
  fail_if (mring_claim (path, &stale, &err), "claimed a dangling symlink");
  g_clear_error (&err);
  fail_if (g_file_test (dangling, G_FILE_TEST_EXISTS));

  g_unlink (path);
  mmap_test_remove (target);
  g_free (dangling);
  g_free (target);
  g_free (path);
}

GST_END_TEST;

GST_START_TEST (test_claim_takes_over_dead_writer)
{
  gchar *path = mmap_test_path ("dead");
  MringMap *w = make_writer (path, 2, 64);
  MringMap *r, *stale = NULL, *w2, *r2;
  GError *err = NULL;

  publish (w, 1, 64);
  r = open_ok (path);
  fail_unless (mring_writer_alive (r));
  /* The writer dies without a word: its lock goes with its fd. */
  mring_map_unref (w);
  fail_if (mring_writer_alive (r));
  fail_unless_equals_int (mring_state (r), MMAP_STATE_RUNNING);

  fail_unless (mring_claim (path, &stale, &err), "%s", err ? err->message : "");
  fail_unless (stale != NULL, "the dead writer's file was not handed over");
  w2 = make_writer_full (path, 2, 64, "application/x-second", 0, 0600, stale);
  mring_map_unref (stale);

  /* Readers of the old file learn that it was replaced. */
  fail_unless_equals_int (mring_state (r), MMAP_STATE_REPLACED);
  fail_unless (mring_path_changed (r));
  r2 = open_ok (path);
  fail_unless_equals_string (r2->hdr.caps, "application/x-second");
  fail_unless (mring_writer_alive (r2));
  fail_unless_equals_int (mmap_test_count_temp_files (path), 0);

  mring_map_unref (r2);
  mring_map_unref (r);
  mring_release (w2, TRUE);
  mring_map_unref (w2);
  mmap_test_remove (path);
  g_free (path);
}

GST_END_TEST;

/* --- state transitions --- */

GST_START_TEST (test_release_marks_gone_and_removes)
{
  gchar *path = mmap_test_path ("gone");
  MringMap *w = make_writer (path, 2, 64);
  MringMap *r = open_ok (path);

  publish (w, 1, 64);
  fail_unless (mring_writer_alive (r));
  fail_if (mring_path_changed (r));

  mring_release (w, TRUE);
  fail_unless_equals_int (mring_state (r), MMAP_STATE_GONE);
  fail_if (g_file_test (path, G_FILE_TEST_EXISTS), "the file is still there");
  fail_unless (mring_path_changed (r));
  mring_map_unref (w);
  fail_if (mring_writer_alive (r));
  /* What was published stays readable to a reader that still maps it. */
  fail_unless_equals_uint64 (mring_write_seq (r), 1);

  mring_map_unref (r);
  mmap_test_remove (path);
  g_free (path);
}

GST_END_TEST;

GST_START_TEST (test_replace_marks_old_replaced)
{
  gchar *path = mmap_test_path ("replace");
  MringMap *w1 = make_writer (path, 2, 64);
  MringMap *r1 = open_ok (path), *w2, *r2;

  publish (w1, 1, 64);
  /* New caps: the writer makes a new file replacing its own. */
  w2 = make_writer_full (path, 4, 128, "application/x-new", 1, 0600, w1);
  fail_unless_equals_int (mring_state (r1), MMAP_STATE_REPLACED);
  fail_unless (mring_path_changed (r1));
  /* Frames published before the replacement are still readable. */
  fail_unless_equals_uint64 (mring_write_seq (r1), 1);

  r2 = open_ok (path);
  fail_unless_equals_string (r2->hdr.caps, "application/x-new");
  fail_unless_equals_int (r2->hdr.slot_count, 4);
  fail_unless_equals_uint64 (r2->hdr.base_seq, 1);
  fail_unless_equals_int (mring_state (r2), MMAP_STATE_RUNNING);
  fail_unless (mring_writer_alive (r2));
  fail_unless_equals_int (mmap_test_count_temp_files (path), 0);

  mring_map_unref (r2);
  mring_map_unref (r1);
  mring_map_unref (w1);
  mring_release (w2, TRUE);
  mring_map_unref (w2);
  mmap_test_remove (path);
  g_free (path);
}

GST_END_TEST;

GST_START_TEST (test_file_mode)
{
  gchar *path = mmap_test_path ("mode");
  MringMap *w;
  GStatBuf st;
  mode_t old_umask = umask (022);

  w = make_writer (path, 2, 64);
  fail_unless (g_stat (path, &st) == 0);
  fail_unless_equals_int (st.st_mode & 07777, 0600);
  fail_unless (S_ISREG (st.st_mode));
  mring_release (w, TRUE);
  mring_map_unref (w);

  /* The mode asked for, whatever the umask. */
  umask (077);
  w = make_writer_full (path, 2, 64, TEST_CAPS, 0, 0644, NULL);
  fail_unless (g_stat (path, &st) == 0);
  fail_unless_equals_int (st.st_mode & 07777, 0644);
  mring_release (w, TRUE);
  mring_map_unref (w);

  umask (old_umask);
  mmap_test_remove (path);
  g_free (path);
}

GST_END_TEST;

static Suite *
ring_suite (void)
{
  Suite *s = suite_create ("mmapring");
  TCase *tc;

  tc = tcase_create ("publish-read");
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_roundtrip_bytes_and_descriptor);
  tcase_add_test (tc, test_base_seq_numbers_frames);
  tcase_add_test (tc, test_frame_being_written_is_lost);
  tcase_add_test (tc, test_abandoned_slot_holds_nothing);
  tcase_add_test (tc, test_lapped_frame_is_lost);
  tcase_add_test (tc, test_eos_and_latency_reach_reader);
  tcase_add_test (tc, test_wait_woken_by_publication);
  tcase_add_test (tc, test_wait_woken_by_reader_wake);

  tc = tcase_create ("lease");
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_leased_frame_stays_intact);
  tcase_add_test (tc, test_lease_limit_keeps_writer_going);
  tcase_add_test (tc, test_lease_limit_clamped);
  tcase_add_test (tc, test_dead_reader_loses_leases);

  tc = tcase_create ("open");
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_open_missing_file);
  tcase_add_test (tc, test_open_empty_file);
  tcase_add_test (tc, test_open_garbage_file);
  tcase_add_test (tc, test_open_truncated_file);
  tcase_add_test (tc, test_open_wrong_magic);
  tcase_add_test (tc, test_open_unknown_version);
  tcase_add_test (tc, test_open_invalid_fields);

  tc = tcase_create ("claim");
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_claim_busy_names_file_and_pid);
  tcase_add_test (tc, test_claim_refuses_large_foreign_file);
  tcase_add_test (tc, test_claim_refuses_small_foreign_file);
  tcase_add_test (tc, test_claim_refuses_tiny_foreign_file);
  tcase_add_test (tc, test_claim_refuses_symlink);
  tcase_add_test (tc, test_claim_takes_over_dead_writer);

  tc = tcase_create ("state");
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_release_marks_gone_and_removes);
  tcase_add_test (tc, test_replace_marks_old_replaced);
  tcase_add_test (tc, test_file_mode);

  return s;
}

int
main (int argc, char **argv)
{
  int failed;

  gst_check_init (&argc, &argv);
  mmap_test_init ();
  failed = gst_check_run_suite (ring_suite (), "ring", __FILE__);
  mmap_test_cleanup_all ();
  return failed;
}

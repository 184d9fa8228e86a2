/* Unit tests of libmmapring (lib/mmapring.h), through its public API only:
 * what a writer publishes is what a reader reads, a reader counts every
 * frame it could not deliver and never believes a number no slot holds,
 * refuses every file it cannot trust with a status and a message naming
 * the file, and a writer never takes a location that is not its to take.
 *
 * Where a test checks what the file itself says (state, waiters, leases,
 * reader entries), it maps the file on its own and reads it through the
 * structures of mmapring-format.h, as any other program could.  OFD locks
 * belong to an open file description, so a reader or a mapping opened
 * separately in this process meets the writer's locks exactly as another
 * process would; writers and readers that must die without a word are
 * forked children, killed with SIGKILL. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE             /* F_OFD_SETLK */
#endif

#include <gst/check/gstcheck.h>
#include <gst/video/video.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mmapring.h"
#include "mmapring-format.h"
#include "mmaptest.h"

#define TEST_CAPS "application/x-gst-mmap-test, variant=(int)1"
#define VIDEO_CAPS "video/x-raw, format=(string)RGB, width=(int)16, " \
  "height=(int)8, framerate=(fraction)30/1"
#define VIDEO_SIZE (16 * 3 * 8)

/* How long a test waits for something that takes milliseconds when it
 * works: only a hang reaches it. */
#define HANG_NS (10 * G_GINT64_CONSTANT (1000000000))
/* Far longer than a reader takes to see a frame that is there. */
#define SHORT_NS (1000 * G_GINT64_CONSTANT (1000000))

#define WAIT_UNTIL(cond, what) G_STMT_START {                             \
  gint64 _until = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;          \
  while (!(cond)) {                                                       \
    fail_unless (g_get_monotonic_time () < _until, "timed out: %s", what); \
    g_usleep (1000);                                                      \
  }                                                                       \
} G_STMT_END

/* --- writers --- */

static MmapRingWriter *
open_writer (const gchar * path, guint mode)
{
  MmapRingError err = { 0 };
  MmapRingWriter *w = mmapring_writer_open (path, mode, &err);

  fail_unless (w != NULL, "mmapring_writer_open (%s): %s", path, err.message);
  return w;
}

static void
set_format_full (MmapRingWriter * w, const MmapRingFormat * fmt)
{
  MmapRingError err = { 0 };

  fail_unless_equals_int (mmapring_writer_set_format (w, fmt, &err),
      MMAPRING_OK);
}

static void
set_format (MmapRingWriter * w, const gchar * caps, guint slots,
    guint64 capacity)
{
  MmapRingFormat fmt = { 0 };

  fmt.caps = caps;
  fmt.slot_count = slots;
  fmt.slot_capacity = capacity;
  set_format_full (w, &fmt);
}

/* Claims the location and makes a file there, as mmapsink does. */
static MmapRingWriter *
make_writer (const gchar * path, guint slots, guint64 capacity)
{
  MmapRingWriter *w = open_writer (path, 0600);

  set_format (w, TEST_CAPS, slots, capacity);
  return w;
}

static void
fill_pattern (guint8 * data, gsize size, guint64 seq)
{
  gsize i;
  for (i = 0; i < size; i++)
    data[i] = (guint8) (seq * 31 + i * 7 + (i >> 8));
}

static gboolean
is_pattern (const guint8 * data, gsize size, guint64 seq)
{
  guint8 *expect = g_malloc (size);
  gboolean same;

  fill_pattern (expect, size, seq);
  same = memcmp (data, expect, size) == 0;
  g_free (expect);
  return same;
}

/* The description of frame `seq`, every field derived from its number. */
static void
describe (MmapRingFrame * fr, guint64 seq, gsize size, guint32 flags)
{
  memset (fr, 0, sizeof (*fr));
  fr->pts = seq * 1000;
  fr->dts = seq * 1000 - 1;
  fr->duration = 33;
  fr->offset = seq + 100;
  fr->offset_end = seq + 101;
  fr->pts_monotonic_ns = seq * 5;
  fr->size = size;
  fr->buffer_flags = flags;
  fr->n_planes = 1;
  fr->plane_offset[0] = 0;
  fr->plane_stride[0] = 48;
}

/* Publishes the writer's next frame as mmapsink does when it copies:
 * `size` bytes of the frame's pattern, described by describe().  Returns
 * its number. */
static guint64
publish_flags (MmapRingWriter * w, gsize size, guint32 flags)
{
  MmapRingError err = { 0 };
  MmapRingSlot *s = mmapring_writer_acquire (w);
  guint64 seq = mmapring_writer_seq (w) + 1;
  MmapRingFrame fr;

  fail_unless (s != NULL, "no free slot for frame %" G_GUINT64_FORMAT, seq);
  fail_unless (mmapring_slot_capacity (s) >= size);
  fill_pattern (mmapring_slot_data (s), size, seq);
  describe (&fr, seq, size, flags);
  fail_unless (mmapring_writer_publish (w, s, &fr, &err) == MMAPRING_OK,
      "publish: %s", err.message);
  fail_unless_equals_uint64 (fr.seq, seq);
  mmapring_slot_release (s);
  return seq;
}

static guint64
publish (MmapRingWriter * w, gsize size)
{
  return publish_flags (w, size, MMAP_BUFFER_FLAG_LIVE);
}

/* --- readers --- */

static const gchar *
event_name (MmapRingEvent ev)
{
  switch (ev) {
    case MMAPRING_EVENT_FRAME:
      return "FRAME";
    case MMAPRING_EVENT_NEW_FILE:
      return "NEW_FILE";
    case MMAPRING_EVENT_WAITING:
      return "WAITING";
    case MMAPRING_EVENT_EOS:
      return "EOS";
    case MMAPRING_EVENT_TIMEOUT:
      return "TIMEOUT";
    case MMAPRING_EVENT_INTERRUPTED:
      return "INTERRUPTED";
    case MMAPRING_EVENT_ERROR:
      return "ERROR";
  }
  return "unknown event";
}

static MmapRingReader *
new_reader (const gchar * path)
{
  MmapRingError err = { 0 };
  MmapRingReader *r = mmapring_reader_new (path, &err);

  fail_unless (r != NULL, "mmapring_reader_new (%s): %s", path, err.message);
  return r;
}

/* The next event within `timeout_ns` must be `expect`.  `fr` and `err`
 * may be NULL. */
static void
expect_event (MmapRingReader * r, gint64 timeout_ns, MmapRingEvent expect,
    MmapRingFrame * fr, MmapRingError * err)
{
  MmapRingError e = { 0 };
  MmapRingFrame f;
  MmapRingEvent ev;

  if (!err)
    err = &e;
  err->message[0] = '\0';
  ev = mmapring_reader_next (r, timeout_ns, fr ? fr : &f, err);
  fail_unless (ev == expect, "event %s, expected %s (%s)", event_name (ev),
      event_name (expect), err->message);
}

/* The next frame within `timeout_ns`, past NEW_FILE events. */
static void
next_frame_within (MmapRingReader * r, gint64 timeout_ns, MmapRingFrame * fr)
{
  MmapRingError err = { 0 };
  MmapRingEvent ev;

  do {
    ev = mmapring_reader_next (r, timeout_ns, fr, &err);
  } while (ev == MMAPRING_EVENT_NEW_FILE);
  fail_unless (ev == MMAPRING_EVENT_FRAME, "event %s, expected a frame (%s)",
      event_name (ev), err.message);
}

/* Copies the frame the last FRAME event described; it must be intact and
 * the pattern of its number. */
static void
copy_intact (MmapRingReader * r, const MmapRingFrame * fr)
{
  MmapRingError err = { 0 };
  guint8 *buf = g_malloc (fr->size + 1);

  fail_unless (mmapring_reader_copy (r, buf, fr->size, &err) == MMAPRING_OK,
      "copy of frame %" G_GUINT64_FORMAT ": %s", fr->seq, err.message);
  fail_unless (is_pattern (buf, fr->size, fr->seq), "frame %" G_GUINT64_FORMAT
      ": bytes differ", fr->seq);
  g_free (buf);
}

/* The next frame must be frame `seq`, intact, after `skipped` lost ones. */
static void
expect_frame (MmapRingReader * r, guint64 seq, guint64 skipped)
{
  MmapRingFrame fr;

  next_frame_within (r, HANG_NS, &fr);
  fail_unless (fr.seq == seq && fr.skipped == skipped, "frame %"
      G_GUINT64_FORMAT " after %" G_GUINT64_FORMAT " skipped, expected %"
      G_GUINT64_FORMAT " after %" G_GUINT64_FORMAT, fr.seq, fr.skipped, seq,
      skipped);
  copy_intact (r, &fr);
}

/* Nothing within a short while (nothing to read, nothing happened). */
static void
expect_nothing (MmapRingReader * r)
{
  expect_event (r, 50 * G_GINT64_CONSTANT (1000000), MMAPRING_EVENT_TIMEOUT,
      NULL, NULL);
}

/* Reads up to NEW_FILE and returns what it describes. */
static const MmapRingFileInfo *
expect_new_file (MmapRingReader * r)
{
  const MmapRingFileInfo *fi;

  expect_event (r, HANG_NS, MMAPRING_EVENT_NEW_FILE, NULL, NULL);
  fi = mmapring_reader_file (r);
  fail_unless (fi != NULL);
  return fi;
}

static MmapRingReaderStats
stats_of (MmapRingReader * r)
{
  MmapRingReaderStats st;
  mmapring_reader_stats (r, &st);
  return st;
}

/* --- the file as another program sees it --- */

typedef struct
{
  guint8 *base;
  gsize size;
} Mapping;

static Mapping
map_file (const gchar * path, gboolean writable)
{
  Mapping m;

  m.base = mmap_test_map (path, writable, &m.size);
  fail_unless (m.base != NULL, "cannot map %s: %s", path, g_strerror (errno));
  fail_unless (m.size >= MMAP_SLOT_DESC_OFFSET);
  return m;
}

static void
unmap_file (Mapping * m)
{
  mmap_test_unmap (m->base, m->size);
}

#define HDR(m) ((MmapFileHeader *) (m)->base)
#define LIVE(m, field) __atomic_load_n (&HDR (m)->field, __ATOMIC_SEQ_CST)

static MmapReaderEntry *
entry_at (Mapping * m, guint k)
{
  return (MmapReaderEntry *) (m->base + MMAP_READER_TABLE_OFFSET +
      k * MMAP_READER_ENTRY_SIZE);
}

/* Slots some reader leases. */
static guint64
leased (Mapping * m)
{
  guint64 mask = 0;
  guint k;

  for (k = 0; k < MMAP_READER_MAX; k++)
    mask |= __atomic_load_n (&entry_at (m, k)->leases, __ATOMIC_SEQ_CST);
  return mask;
}

/* The entry of the reader whose pid is `pid`, or NULL. */
static MmapReaderEntry *
entry_of_pid (Mapping * m, pid_t pid)
{
  guint k;

  for (k = 0; k < MMAP_READER_MAX; k++) {
    MmapReaderEntry *e = entry_at (m, k);
    if (__atomic_load_n (&e->reader_id, __ATOMIC_SEQ_CST) &&
        __atomic_load_n (&e->pid, __ATOMIC_RELAXED) == (guint32) pid)
      return e;
  }
  return NULL;
}

static int
read_lock (int fd, off_t start, off_t len)
{
  struct flock fl;

  memset (&fl, 0, sizeof (fl));
  fl.l_type = F_RDLCK;
  fl.l_whence = SEEK_SET;
  fl.l_start = start;
  fl.l_len = len;
  return fcntl (fd, F_OFD_SETLK, &fl);
}

/* --- processes that die without a word --- */

typedef struct
{
  pid_t pid;
  int report;                   /* read end: the child writes one byte */
} Child;

/* Runs in the child; FALSE: it failed (reported as 'E'). */
typedef gboolean (*ChildBody) (const gchar * path, int report);

static Child
child_start (ChildBody body, const gchar * path)
{
  Child c;
  int fds[2];

  fail_unless (pipe (fds) == 0);
  c.pid = fork ();
  fail_unless (c.pid >= 0);
  if (c.pid == 0) {
    close (fds[0]);
    /* Dies with the test process, whatever becomes of it. */
    prctl (PR_SET_PDEATHSIG, SIGKILL);
    if (!body (path, fds[1])) {
      if (write (fds[1], "E", 1) < 0)
        _exit (2);
      _exit (1);
    }
    for (;;)
      pause ();
  }
  close (fds[1]);
  c.report = fds[0];
  return c;
}

static gboolean
child_report (int fd, char what)
{
  return write (fd, &what, 1) == 1;
}

static void
child_expect (Child * c, char expect, const gchar * what)
{
  struct pollfd p = { c->report, POLLIN, 0 };
  char got = 0;

  fail_unless (poll (&p, 1, 10000) == 1 && read (c->report, &got, 1) == 1,
      "the child did not report: %s", what);
  fail_unless (got == expect, "the child failed: %s", what);
}

static void
child_kill (Child * c)
{
  int status;

  kill (c->pid, SIGKILL);
  fail_unless (waitpid (c->pid, &status, 0) == c->pid);
  close (c->report);
}

/* A writer that has published frames 1 to 3 and then dies (is killed). */
static gboolean
writer_body (const gchar * path, int report)
{
  MmapRingWriter *w = mmapring_writer_open (path, 0644, NULL);
  MmapRingFormat fmt = { 0 };
  MmapRingFrame fr;
  guint8 data[256];
  guint64 seq;

  fmt.caps = TEST_CAPS;
  fmt.slot_count = 4;
  fmt.slot_capacity = 256;
  if (!w || mmapring_writer_set_format (w, &fmt, NULL) != MMAPRING_OK)
    return FALSE;
  for (seq = 1; seq <= 3; seq++) {
    fill_pattern (data, sizeof (data), seq);
    describe (&fr, seq, sizeof (data), MMAP_BUFFER_FLAG_LIVE);
    if (mmapring_writer_write (w, &fr, data, sizeof (data), NULL) !=
        MMAPRING_OK)
      return FALSE;
  }
  return child_report (report, 'w');
}

/* A registered reader that leases frames 1 and 2 and then dies. */
static gboolean
leasing_reader_body (const gchar * path, int report)
{
  MmapRingReader *r = mmapring_reader_new (path, NULL);
  MmapRingLease *lease;
  MmapRingFrame fr;
  guint n = 0;

  if (!r || mmapring_reader_next (r, HANG_NS, &fr, NULL) !=
      MMAPRING_EVENT_NEW_FILE || !mmapring_reader_file (r)->registered ||
      !child_report (report, 'r'))
    return FALSE;
  while (n < 2) {
    if (mmapring_reader_next (r, HANG_NS, &fr, NULL) != MMAPRING_EVENT_FRAME ||
        mmapring_reader_lease (r, &lease, NULL) != MMAPRING_OK)
      return FALSE;
    n++;
  }
  return child_report (report, 'l');
}

/* A registered reader that sleeps in mmapring_reader_next for ever. */
static gboolean
waiting_reader_body (const gchar * path, int report)
{
  MmapRingReader *r = mmapring_reader_new (path, NULL);
  MmapRingFrame fr;

  if (!r || mmapring_reader_next (r, HANG_NS, &fr, NULL) !=
      MMAPRING_EVENT_NEW_FILE || !mmapring_reader_file (r)->registered ||
      !child_report (report, 'r'))
    return FALSE;
  mmapring_reader_next (r, -1, &fr, NULL);
  return FALSE;
}

/* Who the read-only reader runs as: nobody when we may become it (root),
 * else ourselves on a file whose mode lets nobody write it. */
static gboolean drop_to_nobody;

/* A reader that may only read the file: it cannot open the lock file,
 * takes read locks on the data file, copies frame 1 and leases nothing. */
static gboolean
read_only_reader_body (const gchar * path, int report)
{
  gchar *lock = mmap_test_lock_path (path);
  const MmapRingFileInfo *fi;
  MmapRingLease *l = NULL;
  MmapRingReader *r;
  MmapRingFrame fr;
  guint8 buf[64];
  int fd;

  if (drop_to_nobody) {
    if (setgid (65534) < 0 || setuid (65534) < 0)
      return FALSE;
    if (open (lock, O_RDONLY) >= 0 || errno != EACCES ||
        open (lock, O_WRONLY) >= 0 || errno != EACCES)
      return FALSE;
  }
  fd = open (path, O_RDONLY);
  if (fd < 0 || read_lock (fd, 1, 0) < 0)
    return FALSE;
  r = mmapring_reader_new (path, NULL);
  if (!r || mmapring_reader_next (r, HANG_NS, &fr, NULL) !=
      MMAPRING_EVENT_NEW_FILE)
    return FALSE;
  fi = mmapring_reader_file (r);
  if (fi->writable || fi->registered || !child_report (report, 'n'))
    return FALSE;
  if (mmapring_reader_next (r, HANG_NS, &fr, NULL) != MMAPRING_EVENT_FRAME ||
      fr.seq != 1 || fr.size != sizeof (buf) ||
      mmapring_reader_lease (r, &l, NULL) != MMAPRING_ERR_NO_LEASE ||
      mmapring_reader_copy (r, buf, sizeof (buf), NULL) != MMAPRING_OK ||
      !is_pattern (buf, sizeof (buf), 1))
    return FALSE;
  return child_report (report, 'f');
}

/* --- publishing and reading --- */

GST_START_TEST (test_roundtrip_bytes_and_descriptor)
{
  gchar *path = mmap_test_path ("roundtrip");
  MmapRingWriter *w = make_writer (path, 4, 384);
  MmapRingReader *r = new_reader (path);
  const MmapRingFileInfo *fi;
  MmapRingFrame fr, sent[4];
  MmapRingError err = { 0 };
  guint64 seq;

  fail_unless_equals_int (mmapring_format_version (), 2);
  fail_unless (mmapring_version () && *mmapring_version ());

  /* What the file says about itself, as the writer made it. */
  fi = expect_new_file (r);
  fail_unless_equals_string (fi->path, path);
  fail_unless_equals_string (fi->caps, TEST_CAPS);
  fail_unless_equals_uint64 (fi->caps_seq, 1);
  fail_unless_equals_int (fi->slot_count, 4);
  fail_unless_equals_int (fi->lease_limit, 2);
  fail_unless_equals_uint64 (fi->slot_capacity, 384);
  fail_unless_equals_uint64 (fi->base_seq, 0);
  fail_unless_equals_int (fi->writer_pid, getpid ());
  fail_unless (fi->writer_pid_local);
  fail_unless (fi->writer_id != 0);
  fail_unless (fi->new_writer);
  fail_unless (fi->writable);
  fail_unless (fi->registered);
  /* Nothing published yet. */
  expect_nothing (r);

  for (seq = 1; seq <= 3; seq++) {
    MmapRingSlot *s = mmapring_writer_acquire (w);
    fail_unless (s != NULL);
    fill_pattern (mmapring_slot_data (s), 384 - seq, seq);
    describe (&sent[seq], seq, 384 - seq, MMAP_BUFFER_FLAG_LIVE |
        MMAP_BUFFER_FLAG_GAP);
    fail_unless_equals_int (mmapring_writer_publish (w, s, &sent[seq], &err),
        MMAPRING_OK);
    mmapring_slot_release (s);
    /* The writer filled in what it owns. */
    fail_unless_equals_uint64 (sent[seq].seq, seq);
    fail_unless_equals_uint64 (sent[seq].caps_seq, 1);
    fail_unless (sent[seq].publish_monotonic_ns != 0);
    fail_unless (sent[seq].publish_realtime_ns != 0);
  }
  fail_unless_equals_uint64 (mmapring_writer_seq (w), 3);

  for (seq = 1; seq <= 3; seq++) {
    next_frame_within (r, HANG_NS, &fr);
    fail_unless_equals_uint64 (fr.seq, seq);
    fail_unless_equals_uint64 (fr.size, 384 - seq);
    copy_intact (r, &fr);
    fail_unless_equals_uint64 (fr.pts, seq * 1000);
    fail_unless_equals_uint64 (fr.dts, seq * 1000 - 1);
    fail_unless_equals_uint64 (fr.duration, 33);
    fail_unless_equals_uint64 (fr.offset, seq + 100);
    fail_unless_equals_uint64 (fr.offset_end, seq + 101);
    fail_unless_equals_uint64 (fr.pts_monotonic_ns, seq * 5);
    fail_unless_equals_uint64 (fr.publish_monotonic_ns,
        sent[seq].publish_monotonic_ns);
    fail_unless_equals_uint64 (fr.publish_realtime_ns,
        sent[seq].publish_realtime_ns);
    fail_unless_equals_int (fr.buffer_flags, MMAP_BUFFER_FLAG_LIVE |
        MMAP_BUFFER_FLAG_GAP);
    fail_unless_equals_int (fr.n_planes, 1);
    fail_unless_equals_uint64 (fr.plane_offset[0], 0);
    fail_unless_equals_int (fr.plane_stride[0], 48);
    fail_unless_equals_uint64 (fr.caps_seq, 1);
    fail_unless_equals_int (fr.meta_size, 0);
    fail_unless_equals_int (fr.frame_flags, 0);
    fail_unless_equals_uint64 (fr.skipped, 0);
    fail_unless (fr.keyframe);
    /* The first frame after joining is a discontinuity, no other. */
    fail_unless_equals_int (fr.discont, seq == 1);
  }
  /* Frame 4 is not there before it is published. */
  expect_nothing (r);
  fail_unless_equals_uint64 (stats_of (r).frames_read, 3);
  fail_unless_equals_uint64 (stats_of (r).frames_skipped, 0);
  fail_unless_equals_uint64 (stats_of (r).files_seen, 1);
  fail_unless_equals_uint64 (stats_of (r).writers_seen, 1);

  mmapring_reader_free (r);
  mmapring_writer_close (w, 1);
  mmap_test_remove (path);
  g_free (path);
}

GST_END_TEST;

/* Records of metadata travel with their frame; sticky records reach a
 * reader that comes late. */
GST_START_TEST (test_records_reach_reader)
{
  gchar *path = mmap_test_path ("records");
  MmapRingWriter *w = open_writer (path, 0600);
  MmapRingFormat fmt = { 0 };
  MmapRingReader *r;
  MmapRingError err = { 0 };
  MmapRingFrame fr;
  /* Type 7, 5 bytes "hello", 3 bytes of padding. */
  const guint8 rec[16] = { 7, 0, 0, 0, 5, 0, 0, 0, 'h', 'e', 'l', 'l', 'o' };
  const guint8 sticky[16] = { 9, 0, 0, 0, 3, 0, 0, 0, 't', 'a', 'g' };
  const guint8 *got;
  guint8 data[64];
  guint32 size;

  fmt.caps = TEST_CAPS;
  fmt.slot_count = 4;
  fmt.slot_capacity = sizeof (data);
  fmt.meta_capacity = 64;
  fmt.sticky_capacity = 64;
  set_format_full (w, &fmt);
  fail_unless_equals_int (mmapring_writer_set_sticky (w, sticky,
          sizeof (sticky), &err), MMAPRING_OK);
  fill_pattern (data, sizeof (data), 1);
  describe (&fr, 1, sizeof (data), 0);
  fr.meta = rec;
  fr.meta_size = sizeof (rec);
  fail_unless_equals_int (mmapring_writer_write (w, &fr, data, sizeof (data),
          &err), MMAPRING_OK);
  /* More than the meta area holds: refused, nothing published. */
  fr.meta_size = 72;
  fail_unless_equals_int (mmapring_writer_write (w, &fr, data, sizeof (data),
          &err), MMAPRING_ERR_TOO_LARGE);
  fail_unless_equals_uint64 (mmapring_writer_seq (w), 1);

  r = new_reader (path);
  next_frame_within (r, HANG_NS, &fr);
  fail_unless_equals_uint64 (fr.seq, 1);
  fail_unless_equals_int (fr.meta_size, sizeof (rec));
  fail_unless (fr.meta && memcmp (fr.meta, rec, sizeof (rec)) == 0);
  got = mmapring_reader_sticky (r, &size);
  fail_unless_equals_int (size, sizeof (sticky));
  fail_unless (got && memcmp (got, sticky, sizeof (sticky)) == 0);

  mmapring_reader_free (r);
  mmapring_writer_close (w, 1);
  mmap_test_remove (path);
  g_free (path);
}

GST_END_TEST;

/* Frame numbers go on from the writer's count: the first frame of a file
 * is base_seq + 1. */
GST_START_TEST (test_base_seq_numbers_frames)
{
  gchar *path = mmap_test_path ("baseseq");
  MmapRingWriter *w = open_writer (path, 0600);
  MmapRingReader *r;
  const MmapRingFileInfo *fi;

  /* 41 frames counted (and lost) before there is a file. */
  mmapring_writer_skip (w, 41);
  fail_unless_equals_uint64 (mmapring_writer_seq (w), 41);
  set_format (w, TEST_CAPS, 4, 100);
  r = new_reader (path);
  fi = expect_new_file (r);
  fail_unless_equals_uint64 (fi->base_seq, 41);
  fail_unless_equals_uint64 (publish (w, 100), 42);
  expect_frame (r, 42, 0);
  fail_unless_equals_uint64 (mmapring_writer_seq (w), 42);

  mmapring_reader_free (r);
  mmapring_writer_close (w, 1);
  mmap_test_remove (path);
  g_free (path);
}

GST_END_TEST;

GST_START_TEST (test_frame_being_written_is_lost)
{
  gchar *path = mmap_test_path ("inflight");
  MmapRingWriter *w = make_writer (path, 2, 64);
  MmapRingReader *r = new_reader (path);
  MmapRingError err = { 0 };
  MmapRingSlot *s;
  MmapRingFrame fr;

  expect_new_file (r);
  publish (w, 64);
  publish (w, 64);
  /* Frame 3 goes where frame 1 was (the least recently published): while
   * it is being written, frame 1 is gone and must not be read. */
  s = mmapring_writer_acquire (w);
  fail_unless (s != NULL);
  /* Frame 2, in the other slot, is still there, after one lost. */
  next_frame_within (r, HANG_NS, &fr);
  fail_unless_equals_uint64 (fr.seq, 2);
  fail_unless_equals_uint64 (fr.skipped, 1);
  fail_unless (fr.discont);
  copy_intact (r, &fr);
  /* Frame 3 is not there before it is published. */
  expect_nothing (r);

  fill_pattern (mmapring_slot_data (s), 64, 3);
  describe (&fr, 3, 64, 0);
  fail_unless_equals_int (mmapring_writer_publish (w, s, &fr, &err),
      MMAPRING_OK);
  mmapring_slot_release (s);
  expect_frame (r, 3, 0);
  fail_unless_equals_uint64 (stats_of (r).frames_read, 2);
  fail_unless_equals_uint64 (stats_of (r).frames_skipped, 1);

  mmapring_reader_free (r);
  mmapring_writer_close (w, 1);
  mmap_test_remove (path);
  g_free (path);
}

GST_END_TEST;

/* A slot the writer gave up (mmapsink could not fill it) holds no frame:
 * its old frame is lost, the frames in other slots are not, and the
 * reader does not wait for the lost one. */
GST_START_TEST (test_abandoned_slot_holds_nothing)
{
  gchar *path = mmap_test_path ("abandon");
  MmapRingWriter *w = make_writer (path, 2, 64);
  MmapRingReader *r = new_reader (path);
  MmapRingFrame fr;
  MmapRingSlot *s;

  expect_new_file (r);
  publish (w, 64);
  publish (w, 64);
  s = mmapring_writer_acquire (w);
  fail_unless (s != NULL);
  mmapring_slot_release (s);
  fail_unless_equals_uint64 (mmapring_writer_seq (w), 2);
  /* Frame 1 is gone with its slot; frame 2 is there, at once. */
  next_frame_within (r, SHORT_NS, &fr);
  fail_unless (fr.seq == 2 && fr.skipped == 1, "frame %" G_GUINT64_FORMAT
      " after %" G_GUINT64_FORMAT " skipped, expected 2 after 1", fr.seq,
      fr.skipped);
  copy_intact (r, &fr);
  /* Publishing goes on with the next frame number. */
  fail_unless_equals_uint64 (publish (w, 64), 3);
  expect_frame (r, 3, 0);

  mmapring_reader_free (r);
  mmapring_writer_close (w, 1);
  mmap_test_remove (path);
  g_free (path);
}

GST_END_TEST;

GST_START_TEST (test_lapped_frame_is_lost)
{
  gchar *path = mmap_test_path ("lapped");
  MmapRingWriter *w = make_writer (path, 2, 256);
  MmapRingReader *r = new_reader (path);
  MmapRingError err = { 0 };
  MmapRingFrame fr;
  guint8 buf[256];
  guint i;

  expect_new_file (r);
  for (i = 1; i <= 5; i++)
    publish (w, 256);
  /* Two slots: the reader that fell behind goes to the newest frame and
   * says how many it lost on the way. */
  next_frame_within (r, HANG_NS, &fr);
  fail_unless_equals_uint64 (fr.seq, 5);
  fail_unless_equals_uint64 (fr.skipped, 4);
  fail_unless (fr.discont);
  copy_intact (r, &fr);

  /* The writer laps a reader in the middle of its copy: the copy must not
   * be reported intact, and the loss is counted. */
  publish (w, 256);
  next_frame_within (r, HANG_NS, &fr);
  fail_unless_equals_uint64 (fr.seq, 6);
  publish (w, 256);
  publish (w, 256);
  fail_unless_equals_int (mmapring_reader_copy (r, buf, sizeof (buf), &err),
      MMAPRING_ERR_LOST);
  fail_unless (strstr (err.message, path) != NULL, "%s", err.message);
  next_frame_within (r, HANG_NS, &fr);
  fail_unless_equals_uint64 (fr.seq, 7);
  fail_unless_equals_uint64 (fr.skipped, 1);
  fail_unless (fr.discont);
  copy_intact (r, &fr);
  fail_unless_equals_uint64 (stats_of (r).frames_read, 2);
  fail_unless_equals_uint64 (stats_of (r).frames_skipped, 5);

  mmapring_reader_free (r);
  mmapring_writer_close (w, 1);
  mmap_test_remove (path);
  g_free (path);
}

GST_END_TEST;

GST_START_TEST (test_eos_and_latency_reach_reader)
{
  gchar *path = mmap_test_path ("eos");
  MmapRingWriter *w = open_writer (path, 0600);
  MmapRingReader *r;

  /* Said before there is a file: the file says it from the start. */
  mmapring_writer_set_latency (w, 40 * GST_MSECOND);
  set_format (w, TEST_CAPS, 2, 64);
  r = new_reader (path);
  expect_new_file (r);
  fail_unless_equals_uint64 (mmapring_reader_latency (r), 40 * GST_MSECOND);

  publish (w, 64);
  expect_frame (r, 1, 0);
  expect_nothing (r);
  mmapring_writer_set_eos (w);
  expect_event (r, HANG_NS, MMAPRING_EVENT_EOS, NULL, NULL);
  /* Once; calling again waits for more. */
  expect_nothing (r);
  /* New data after EOS (a new stream) clears it. */
  mmapring_writer_set_latency (w, 25 * GST_MSECOND);
  publish (w, 64);
  expect_frame (r, 2, 0);
  expect_nothing (r);
  fail_unless_equals_uint64 (mmapring_reader_latency (r), 25 * GST_MSECOND);

  mmapring_reader_free (r);
  mmapring_writer_close (w, 1);
  mmap_test_remove (path);
  g_free (path);
}

GST_END_TEST;

/* --- waiting --- */

typedef struct
{
  MmapRingReader *r;
  MmapRingEvent ev;
  MmapRingFrame fr;
  gint finished;
} Waiter;

static gpointer
waiter_thread (gpointer data)
{
  Waiter *wt = data;
  MmapRingError err;

  /* For ever: only a publication or an interruption ends it. */
  wt->ev = mmapring_reader_next (wt->r, -1, &wt->fr, &err);
  g_atomic_int_set (&wt->finished, 1);
  return NULL;
}

/* Starts a thread in mmapring_reader_next and returns once it sleeps on
 * the file's futex (its entry's `waiting` flag counted in `waiters`), so
 * that what follows has to wake it rather than find it awake. */
static GThread *
start_waiter (Waiter * wt, Mapping * m)
{
  GThread *t = g_thread_new ("waiter", waiter_thread, wt);

  WAIT_UNTIL (LIVE (m, waiters) == 1, "the reader sleeps on the futex");
  fail_if (g_atomic_int_get (&wt->finished), "the wait ended by itself");
  /* From `waiters += 1` to FUTEX_WAIT is a few instructions. */
  g_usleep (20 * 1000);
  return t;
}

GST_START_TEST (test_wait_woken_by_publication)
{
  gchar *path = mmap_test_path ("wait");
  MmapRingWriter *w = make_writer (path, 2, 64);
  Mapping m = map_file (path, FALSE);
  Waiter wt = { 0 };
  GThread *t;

  wt.r = new_reader (path);
  expect_new_file (wt.r);
  t = start_waiter (&wt, &m);
  publish (w, 64);
  /* Hangs (and Check's timeout fails the test) if nothing wakes it. */
  g_thread_join (t);
  fail_unless_equals_int (wt.ev, MMAPRING_EVENT_FRAME);
  fail_unless_equals_uint64 (wt.fr.seq, 1);
  copy_intact (wt.r, &wt.fr);
  fail_unless_equals_int (LIVE (&m, waiters), 0);

  mmapring_reader_free (wt.r);
  unmap_file (&m);
  mmapring_writer_close (w, 1);
  mmap_test_remove (path);
  g_free (path);
}

GST_END_TEST;

/* What mmapsrc's unlock() does to a create() asleep on the file, and on
 * a location with no file yet. */
GST_START_TEST (test_wait_woken_by_interrupt)
{
  gchar *path = mmap_test_path ("interrupt");
  gchar *nothing = mmap_test_path ("interrupt-nothing");
  MmapRingWriter *w = make_writer (path, 2, 64);
  Mapping m = map_file (path, FALSE);
  Waiter wt = { 0 };
  GThread *t;

  wt.r = new_reader (path);
  expect_new_file (wt.r);
  t = start_waiter (&wt, &m);
  mmapring_reader_interrupt (wt.r);
  g_thread_join (t);
  fail_unless_equals_int (wt.ev, MMAPRING_EVENT_INTERRUPTED);
  /* Until resumed, every call returns at once. */
  expect_event (wt.r, HANG_NS, MMAPRING_EVENT_INTERRUPTED, NULL, NULL);
  mmapring_reader_resume (wt.r);
  expect_nothing (wt.r);
  publish (w, 64);
  expect_frame (wt.r, 1, 0);
  mmapring_reader_free (wt.r);

  /* Waiting for a file to appear. */
  memset (&wt, 0, sizeof (wt));
  wt.r = new_reader (nothing);
  expect_event (wt.r, HANG_NS, MMAPRING_EVENT_WAITING, NULL, NULL);
  t = g_thread_new ("waiter", waiter_thread, &wt);
  g_usleep (50 * 1000);
  fail_if (g_atomic_int_get (&wt.finished), "the wait ended by itself");
  mmapring_reader_interrupt (wt.r);
  g_thread_join (t);
  fail_unless_equals_int (wt.ev, MMAPRING_EVENT_INTERRUPTED);
  mmapring_reader_free (wt.r);

  unmap_file (&m);
  mmapring_writer_close (w, 1);
  mmap_test_remove (path);
  g_free (nothing);
  g_free (path);
}

GST_END_TEST;

/* --- leases (zero-copy readers) --- */

static MmapRingLease *
lease_ok (MmapRingReader * r)
{
  MmapRingError err = { 0 };
  MmapRingLease *l = NULL;

  fail_unless (mmapring_reader_lease (r, &l, &err) == MMAPRING_OK,
      "lease refused: %s", err.message);
  return l;
}

GST_START_TEST (test_leased_frame_stays_intact)
{
  gchar *path = mmap_test_path ("lease");
  MmapRingWriter *w = make_writer (path, 4, 256);
  Mapping m = map_file (path, FALSE);
  MmapRingReader *r = new_reader (path);
  MmapRingLease *l;
  MmapRingFrame fr;
  guint32 idx;
  guint i;

  expect_new_file (r);
  publish (w, 256);
  next_frame_within (r, HANG_NS, &fr);
  l = lease_ok (r);
  fail_unless_equals_uint64 (mmapring_lease_size (l), 256);
  idx = LIVE (&m, slot_log[1]);
  fail_unless_equals_uint64 (leased (&m), (guint64) 1 << idx);
  fail_unless_equals_uint64 (stats_of (r).frames_leased, 1);

  /* The writer laps the ring many times: the leased frame is left alone,
   * the others rotate through the remaining slots. */
  for (i = 2; i <= 40; i++) {
    publish (w, 256);
    fail_if (LIVE (&m, slot_log[i % MMAP_SLOT_LOG]) == idx, "frame %u went "
        "into the leased slot", i);
  }
  fail_unless (is_pattern (mmapring_lease_data (l), 256, 1),
      "a leased frame changed");
  /* The reader fell behind meanwhile: on to the newest. */
  next_frame_within (r, HANG_NS, &fr);
  fail_unless_equals_uint64 (fr.seq, 40);
  copy_intact (r, &fr);

  /* Given back (also after the reader is gone): the writer may reuse it. */
  mmapring_reader_free (r);
  fail_unless_equals_uint64 (leased (&m), (guint64) 1 << idx);
  mmapring_lease_release (l);
  fail_unless_equals_uint64 (leased (&m), 0);
  /* It holds the oldest frame: the next one goes there. */
  publish (w, 256);
  fail_unless_equals_int (LIVE (&m, slot_log[41 % MMAP_SLOT_LOG]), idx);

  unmap_file (&m);
  mmapring_writer_close (w, 1);
  mmap_test_remove (path);
  g_free (path);
}

GST_END_TEST;

GST_START_TEST (test_lease_limit_keeps_writer_going)
{
  gchar *path = mmap_test_path ("limit");
  MmapRingWriter *w = make_writer (path, 4, 64);        /* lease_limit 2 */
  Mapping m = map_file (path, FALSE);
  MmapRingReader *r1 = new_reader (path), *r2 = new_reader (path);
  MmapRingError err = { 0 };
  MmapRingLease *l1, *l2, *l3 = NULL;
  MmapRingFrame fr;
  guint i;

  fail_unless_equals_int (expect_new_file (r1)->lease_limit, 2);
  expect_new_file (r2);
  fail_unless_equals_int (mmapring_writer_spare_slots (w), 1);
  for (i = 1; i <= 3; i++)
    publish (w, 64);
  next_frame_within (r1, HANG_NS, &fr);
  l1 = lease_ok (r1);
  next_frame_within (r2, HANG_NS, &fr);
  next_frame_within (r2, HANG_NS, &fr);
  l2 = lease_ok (r2);
  /* Readers together may pin at most lease_limit slots: copy instead. */
  next_frame_within (r2, HANG_NS, &fr);
  fail_unless_equals_int (mmapring_reader_lease (r2, &l3, &err),
      MMAPRING_ERR_NO_LEASE);
  fail_unless (l3 == NULL);
  copy_intact (r2, &fr);
  fail_unless_equals_int (__builtin_popcountll (leased (&m)), 2);
  /* The writer always has slots left: stalled readers do not stop it. */
  for (i = 4; i <= 30; i++)
    fail_unless_equals_uint64 (publish (w, 64), i);
  fail_unless (is_pattern (mmapring_lease_data (l1), 64, 1));
  fail_unless (is_pattern (mmapring_lease_data (l2), 64, 2));

  mmapring_lease_release (l1);
  mmapring_lease_release (l2);
  mmapring_reader_free (r2);
  mmapring_reader_free (r1);
  unmap_file (&m);
  mmapring_writer_close (w, 1);
  mmap_test_remove (path);
  g_free (path);
}

GST_END_TEST;

GST_START_TEST (test_lease_limit_clamped)
{
  gchar *path = mmap_test_path ("clamp");
  MmapRingWriter *w = open_writer (path, 0600);
  MmapRingFormat fmt = { 0 };
  MmapRingReader *r;
  MmapRingLease *l = NULL;
  MmapRingFrame fr;

  fmt.caps = TEST_CAPS;
  fmt.slot_count = 3;
  fmt.slot_capacity = 64;
  fmt.lease_limit = 10;
  set_format_full (w, &fmt);
  r = new_reader (path);
  /* A slot to copy into and one for upstream always stay. */
  fail_unless_equals_int (expect_new_file (r)->lease_limit, 1);
  fail_unless_equals_int (mmapring_writer_spare_slots (w), 1);

  /* Two slots: none may be leased. */
  fmt.slot_count = 2;
  set_format_full (w, &fmt);
  publish (w, 64);
  next_frame_within (r, HANG_NS, &fr);
  fail_unless_equals_int (mmapring_reader_file (r)->lease_limit, 0);
  fail_unless_equals_int (mmapring_reader_lease (r, &l, NULL),
      MMAPRING_ERR_NO_LEASE);
  copy_intact (r, &fr);

  mmapring_reader_free (r);
  mmapring_writer_close (w, 1);
  mmap_test_remove (path);
  g_free (path);
}

GST_END_TEST;

GST_START_TEST (test_dead_reader_loses_leases)
{
  gchar *path = mmap_test_path ("deadreader");
  MmapRingWriter *w = make_writer (path, 4, 64);
  Mapping m = map_file (path, FALSE);
  MmapRingReader *r;
  MmapRingLease *l;
  MmapRingFrame fr;
  guint64 held;
  Child c;
  guint i;

  c = child_start (leasing_reader_body, path);
  child_expect (&c, 'r', "the reader registered");
  publish (w, 64);
  publish (w, 64);
  child_expect (&c, 'l', "the reader leased frames 1 and 2");
  held = leased (&m);
  fail_unless_equals_int (__builtin_popcountll (held), 2);
  /* The reader dies holding both: its entry's lock goes with it. */
  child_kill (&c);
  fail_unless_equals_uint64 (leased (&m), held);

  /* The writer notices and takes the slots back. */
  for (i = 3; i <= 200; i++)
    publish (w, 64);
  fail_unless_equals_uint64 (leased (&m), 0);
  fail_unless (entry_of_pid (&m, c.pid) == NULL);
  /* And a new reader can lease again. */
  r = new_reader (path);
  next_frame_within (r, HANG_NS, &fr);
  fail_unless_equals_uint64 (fr.seq, 200);
  l = lease_ok (r);
  fail_unless (is_pattern (mmapring_lease_data (l), 64, 200));
  mmapring_lease_release (l);

  mmapring_reader_free (r);
  unmap_file (&m);
  mmapring_writer_close (w, 1);
  mmap_test_remove (path);
  g_free (path);
}

GST_END_TEST;

/* A reader killed while it sleeps on the futex leaves its `waiting` flag
 * counted in `waiters` (the writer would make a wake-up call per frame
 * for ever) until the writer reclaims its entry. */
GST_START_TEST (test_killed_waiting_reader_reclaimed)
{
  gchar *path = mmap_test_path ("deadwaiter");
  MmapRingWriter *w = make_writer (path, 4, 64);
  Mapping m = map_file (path, FALSE);
  MmapReaderEntry *e;
  guint attempt, i;
  int status;
  Child c;

  c = child_start (waiting_reader_body, path);
  child_expect (&c, 'r', "the reader registered");
  /* Stopped inside its wait, so that it dies with the flag set (it wakes
   * every 100 ms to look at the writer, clearing it for a moment). */
  for (attempt = 0;; attempt++) {
    fail_unless (attempt < 100, "never caught the reader asleep");
    WAIT_UNTIL (LIVE (&m, waiters) == 1, "the reader sleeps on the futex");
    kill (c.pid, SIGSTOP);
    fail_unless (waitpid (c.pid, &status, WUNTRACED) == c.pid);
    if (LIVE (&m, waiters) == 1)
      break;
    kill (c.pid, SIGCONT);
  }
  e = entry_of_pid (&m, c.pid);
  fail_unless (e != NULL, "no entry of the reader's pid");
  fail_unless_equals_int (__atomic_load_n (&e->waiting, __ATOMIC_SEQ_CST), 1);
  child_kill (&c);

  fail_unless_equals_int (LIVE (&m, waiters), 1);
  for (i = 0; i < 200 && LIVE (&m, waiters) != 0; i++)
    publish (w, 64);
  fail_unless_equals_int (LIVE (&m, waiters), 0);
  fail_unless_equals_int (__atomic_load_n (&e->waiting, __ATOMIC_SEQ_CST), 0);
  fail_unless_equals_uint64 (__atomic_load_n (&e->reader_id,
          __ATOMIC_SEQ_CST), 0);
  GST_INFO ("waiters back to 0 after %u publications", i);

  unmap_file (&m);
  mmapring_writer_close (w, 1);
  mmap_test_remove (path);
  g_free (path);
}

GST_END_TEST;

/* Anyone who may read the file may take read locks on it.  Liveness is
 * tested with write locks only, and entries are owned in the lock file:
 * read locks on the data file stop neither a new writer nor a reader. */
GST_START_TEST (test_read_locks_stop_nobody)
{
  gchar *path = mmap_test_path ("rdlock");
  MmapRingError err = { 0 };
  MmapRingWriter *w;
  MmapRingReader *r;
  const MmapRingFileInfo *fi;
  MmapRingLease *l;
  MmapRingFrame fr;
  Mapping old;
  int fd, fd2;
  Child c;

  c = child_start (writer_body, path);
  child_expect (&c, 'w', "the writer published");
  child_kill (&c);
  old = map_file (path, FALSE);

  fd = open (path, O_RDONLY | O_CLOEXEC);
  fail_unless (fd >= 0);
  fail_unless (read_lock (fd, MMAP_WRITER_LOCK_OFFSET, 1) == 0, "%s",
      g_strerror (errno));
  fail_unless (read_lock (fd, MMAP_READER_TABLE_OFFSET,
          MMAP_READER_MAX * MMAP_READER_ENTRY_SIZE) == 0, "%s",
      g_strerror (errno));

  /* A reader does not take the read lock for a live writer. */
  r = new_reader (path);
  expect_event (r, HANG_NS, MMAPRING_EVENT_WAITING, NULL, &err);
  fail_unless (strstr (err.message, "died without stopping") != NULL, "%s",
      err.message);

  /* A new writer takes over. */
  w = open_writer (path, 0644);
  set_format (w, TEST_CAPS, 4, 256);
  fail_unless_equals_int (LIVE (&old, state), MMAP_STATE_REPLACED);

  /* The same read locks on the new file (byte 0 is the live writer's). */
  fd2 = open (path, O_RDONLY | O_CLOEXEC);
  fail_unless (fd2 >= 0);
  fail_unless (read_lock (fd2, MMAP_WRITER_LOCK_OFFSET, 1) < 0);
  fail_unless (read_lock (fd2, MMAP_READER_TABLE_OFFSET,
          MMAP_READER_MAX * MMAP_READER_ENTRY_SIZE) == 0, "%s",
      g_strerror (errno));
  fail_unless (read_lock (fd2, 1, 0) == 0, "%s", g_strerror (errno));

  fi = expect_new_file (r);
  fail_unless (fi->new_writer);
  fail_unless (fi->writable);
  fail_unless (fi->registered, "a read lock kept the reader from an entry");
  publish (w, 256);
  /* A new writer numbers its frames from 1. */
  next_frame_within (r, HANG_NS, &fr);
  fail_unless_equals_uint64 (fr.seq, 1);
  l = lease_ok (r);
  fail_unless (is_pattern (mmapring_lease_data (l), 256, 1));
  mmapring_lease_release (l);

  close (fd2);
  close (fd);
  mmapring_reader_free (r);
  unmap_file (&old);
  mmapring_writer_close (w, 1);
  mmap_test_remove (path);
  g_free (path);
}

GST_END_TEST;

/* A user who may only read the stream follows it (copies, polls) and
 * leaves no trace in the file: no entry, no waiting flag. */
GST_START_TEST (test_read_only_reader_copies)
{
  gchar *path = mmap_test_path ("readonly");
  MmapRingWriter *w;
  MmapRingReader *r;
  MmapRingFrame fr;
  Mapping m;
  Child c;
  guint i;

  drop_to_nobody = geteuid () == 0;
  w = open_writer (path, drop_to_nobody ? 0644 : 0444);
  set_format (w, TEST_CAPS, 4, 64);
  m = map_file (path, FALSE);
  r = new_reader (path);
  expect_new_file (r);

  c = child_start (read_only_reader_body, path);
  child_expect (&c, 'n', "the read-only reader found the file");
  for (i = 0; i < MMAP_READER_MAX; i++)
    fail_if (entry_at (&m, i)->pid == (guint32) c.pid &&
        entry_at (&m, i)->reader_id, "the read-only reader took entry %u", i);
  publish (w, 64);
  child_expect (&c, 'f', "the read-only reader copied frame 1");
  /* The reader that may write the file is not hindered. */
  next_frame_within (r, HANG_NS, &fr);
  mmapring_lease_release (lease_ok (r));
  fail_unless_equals_int (LIVE (&m, waiters), 0);
  child_kill (&c);

  mmapring_reader_free (r);
  unmap_file (&m);
  mmapring_writer_close (w, 1);
  mmap_test_remove (path);
  g_free (path);
}

GST_END_TEST;

/* Entries are owned through locks in the lock file: 64 readers take the
 * 64 entries, a 65th goes without (copies and polls), and an entry given
 * back is taken again. */
GST_START_TEST (test_reader_table_full)
{
  gchar *path = mmap_test_path ("full");
  MmapRingWriter *w = make_writer (path, 4, 64);
  MmapRingReader *r[MMAP_READER_MAX + 1], *again;
  MmapRingLease *l = NULL;
  MmapRingFrame fr;
  guint i;

  for (i = 0; i <= MMAP_READER_MAX; i++) {
    r[i] = new_reader (path);
    fail_unless_equals_int (expect_new_file (r[i])->registered,
        i < MMAP_READER_MAX);
  }
  publish (w, 64);
  next_frame_within (r[MMAP_READER_MAX], HANG_NS, &fr);
  fail_unless_equals_int (mmapring_reader_lease (r[MMAP_READER_MAX], &l,
          NULL), MMAPRING_ERR_NO_LEASE);
  copy_intact (r[MMAP_READER_MAX], &fr);

  mmapring_reader_free (r[7]);
  again = new_reader (path);
  fail_unless (expect_new_file (again)->registered);
  mmapring_reader_free (again);
  for (i = 0; i <= MMAP_READER_MAX; i++)
    if (i != 7)
      mmapring_reader_free (r[i]);
  mmapring_writer_close (w, 1);
  mmap_test_remove (path);
  g_free (path);
}

GST_END_TEST;

/* --- what a reader must not believe --- */

/* A broken or hostile process pokes write_seq far ahead while the writer
 * goes on: the reader neither jumps there nor counts absurd skips. */
GST_START_TEST (test_wild_write_seq_ignored)
{
  gchar *path = mmap_test_path ("wild");
  MmapRingWriter *w = make_writer (path, 8, 64);
  Mapping m = map_file (path, TRUE);
  MmapRingReader *r = new_reader (path);
  const guint64 wild = G_GUINT64_CONSTANT (1000000000000);
  MmapRingReaderStats st;
  MmapRingFrame fr;
  guint64 seq;

  expect_new_file (r);
  for (seq = 1; seq <= 20; seq++) {
    publish (w, 64);
    __atomic_store_n (&HDR (&m)->write_seq, wild, __ATOMIC_RELEASE);
    next_frame_within (r, HANG_NS, &fr);
    fail_unless_equals_uint64 (fr.seq, seq);
    fail_unless_equals_uint64 (fr.skipped, 0);
    copy_intact (r, &fr);
    /* Frame seq + 1 is nowhere: nothing to read. */
    expect_nothing (r);
  }
  /* The writer's next publications set it right; the reader reads on. */
  for (seq = 21; seq <= 25; seq++) {
    publish (w, 64);
    expect_frame (r, seq, 0);
  }
  st = stats_of (r);
  fail_unless_equals_uint64 (st.frames_read, 25);
  fail_unless_equals_uint64 (st.frames_skipped, 0);

  mmapring_reader_free (r);
  unmap_file (&m);
  mmapring_writer_close (w, 1);
  mmap_test_remove (path);
  g_free (path);
}

GST_END_TEST;

GST_START_TEST (test_unknown_state_is_error)
{
  gchar *path = mmap_test_path ("state");
  MmapRingWriter *w = make_writer (path, 2, 64);
  Mapping m = map_file (path, TRUE);
  MmapRingReader *r = new_reader (path), *r2;
  MmapRingError err = { 0 };

  expect_new_file (r);
  publish (w, 64);
  expect_frame (r, 1, 0);
  __atomic_store_n (&HDR (&m)->state, 7, __ATOMIC_RELEASE);
  expect_event (r, HANG_NS, MMAPRING_EVENT_ERROR, NULL, &err);
  fail_unless_equals_int (err.status, MMAPRING_ERR_INVALID);
  fail_unless (strstr (err.message, path) != NULL, "%s", err.message);
  fail_unless (strstr (err.message, "unknown state 7") != NULL, "%s",
      err.message);
  /* Reported once: the reader waits for the path to name another file. */
  expect_nothing (r);

  /* A reader that opens it so. */
  r2 = new_reader (path);
  expect_event (r2, HANG_NS, MMAPRING_EVENT_ERROR, NULL, &err);
  fail_unless_equals_int (err.status, MMAPRING_ERR_INVALID);
  fail_unless (strstr (err.message, "unknown state 7") != NULL, "%s",
      err.message);

  mmapring_reader_free (r2);
  mmapring_reader_free (r);
  unmap_file (&m);
  mmapring_writer_close (w, 1);
  mmap_test_remove (path);
  g_free (path);
}

GST_END_TEST;

static void
check_bad_planes (const gchar * caps, gint32 stride, const gchar * reason)
{
  gchar *path = mmap_test_path ("planes");
  MmapRingWriter *w = open_writer (path, 0600);
  MmapRingReader *r = new_reader (path);
  MmapRingError err = { 0 };
  MmapRingFrame fr;
  guint8 data[VIDEO_SIZE];

  set_format (w, caps, 2, VIDEO_SIZE);
  expect_new_file (r);
  fill_pattern (data, sizeof (data), 1);
  describe (&fr, 1, sizeof (data), 0);
  fr.plane_stride[0] = stride;
  fail_unless_equals_int (mmapring_writer_write (w, &fr, data, sizeof (data),
          &err), MMAPRING_OK);
  expect_event (r, HANG_NS, MMAPRING_EVENT_ERROR, NULL, &err);
  fail_unless_equals_int (err.status, MMAPRING_ERR_INVALID);
  fail_unless (strstr (err.message, path) != NULL, "%s", err.message);
  fail_unless (strstr (err.message, reason) != NULL, "\"%s\" does not say "
      "\"%s\"", err.message, reason);
  GST_INFO ("%s", err.message);

  mmapring_reader_free (r);
  mmapring_writer_close (w, 1);
  mmap_test_remove (path);
  g_free (path);
}

GST_START_TEST (test_bad_plane_stride_is_error)
{
  check_bad_planes (TEST_CAPS, -48, "stride -48");
  check_bad_planes (VIDEO_CAPS, -48, "stride -48");
  check_bad_planes (TEST_CAPS, 0, "stride 0");
  /* Raw video: every row of the plane must lie in the payload. */
  check_bad_planes (VIDEO_CAPS, 47, "does not hold 8 rows of 48 bytes");
  check_bad_planes (VIDEO_CAPS, 49, "does not hold 8 rows of 48 bytes");
}

GST_END_TEST;

/* --- skipping and counting --- */

/* The writer changes caps several times while the reader does not read:
 * the frames of the files it never saw are counted lost. */
GST_START_TEST (test_frames_of_replaced_files_counted)
{
  gchar *path = mmap_test_path ("replaced");
  MmapRingWriter *w = open_writer (path, 0600);
  MmapRingReader *r = new_reader (path);
  const MmapRingFileInfo *fi;
  MmapRingFrame fr;

  set_format (w, "application/x-a", 4, 64);
  expect_new_file (r);
  publish (w, 64);
  expect_frame (r, 1, 0);
  publish (w, 64);
  set_format (w, "application/x-b", 4, 64);
  publish (w, 64);
  publish (w, 64);
  set_format (w, "application/x-c", 4, 64);
  publish (w, 64);
  publish (w, 64);
  set_format (w, "application/x-a", 4, 64);
  publish (w, 64);

  /* Frame 2 is still in the file the reader follows. */
  expect_frame (r, 2, 0);
  fi = expect_new_file (r);
  fail_unless_equals_string (fi->caps, "application/x-a");
  fail_unless_equals_uint64 (fi->caps_seq, 4);
  fail_unless_equals_uint64 (fi->base_seq, 6);
  fail_if (fi->new_writer);
  next_frame_within (r, HANG_NS, &fr);
  fail_unless_equals_uint64 (fr.seq, 7);
  fail_unless_equals_uint64 (fr.skipped, 4);
  fail_unless (fr.discont);
  fail_unless_equals_uint64 (fr.caps_seq, 4);
  copy_intact (r, &fr);
  fail_unless_equals_uint64 (stats_of (r).frames_skipped, 4);
  fail_unless_equals_uint64 (stats_of (r).frames_read, 3);
  fail_unless_equals_uint64 (stats_of (r).files_seen, 2);
  fail_unless_equals_uint64 (stats_of (r).writers_seen, 1);

  mmapring_reader_free (r);
  mmapring_writer_close (w, 1);
  mmap_test_remove (path);
  g_free (path);
}

GST_END_TEST;

GST_START_TEST (test_max_lag_one_gives_newest)
{
  gchar *path = mmap_test_path ("maxlag");
  MmapRingWriter *w = make_writer (path, 8, 64);
  Mapping m = map_file (path, FALSE);
  MmapRingReader *r = new_reader (path);
  MmapReaderEntry *e;
  guint i;

  mmapring_reader_set_max_lag (r, 1);
  expect_new_file (r);
  e = entry_of_pid (&m, getpid ());
  fail_unless (e != NULL);
  fail_unless_equals_int (e->max_lag, 1);
  for (i = 1; i <= 5; i++)
    publish (w, 64);
  expect_frame (r, 5, 4);
  publish (w, 64);
  expect_frame (r, 6, 0);
  for (i = 7; i <= 9; i++)
    publish (w, 64);
  expect_frame (r, 9, 2);
  expect_nothing (r);
  fail_unless_equals_uint64 (stats_of (r).frames_read, 3);
  fail_unless_equals_uint64 (stats_of (r).frames_skipped, 6);
  /* What it publishes of itself in its entry. */
  fail_unless_equals_uint64 (e->last_seq, 9);
  fail_unless_equals_uint64 (e->frames_read, 3);
  fail_unless_equals_uint64 (e->frames_skipped, 6);

  mmapring_reader_free (r);
  unmap_file (&m);
  mmapring_writer_close (w, 1);
  mmap_test_remove (path);
  g_free (path);
}

GST_END_TEST;

/* Frames the writer had to drop are lost to every reader, and counted. */
GST_START_TEST (test_writer_skip_counted)
{
  gchar *path = mmap_test_path ("skip");
  MmapRingWriter *w = make_writer (path, 8, 64);
  MmapRingReader *r1 = new_reader (path), *r2 = new_reader (path);

  expect_new_file (r1);
  expect_new_file (r2);
  publish (w, 64);
  mmapring_writer_skip (w, 2);
  fail_unless_equals_uint64 (mmapring_writer_seq (w), 3);
  fail_unless_equals_uint64 (publish (w, 64), 4);
  expect_frame (r1, 1, 0);
  expect_frame (r1, 4, 2);
  expect_frame (r2, 1, 0);
  expect_frame (r2, 4, 2);
  /* More than the publication log holds. */
  mmapring_writer_skip (w, 100);
  fail_unless_equals_uint64 (publish (w, 64), 105);
  expect_frame (r1, 105, 100);
  fail_unless_equals_uint64 (stats_of (r1).frames_skipped, 102);
  fail_unless_equals_uint64 (stats_of (r2).frames_skipped, 2);

  mmapring_reader_free (r2);
  mmapring_reader_free (r1);
  mmapring_writer_close (w, 1);
  mmap_test_remove (path);
  g_free (path);
}

GST_END_TEST;

#define KEY 0
#define DELTA MMAP_BUFFER_FLAG_DELTA_UNIT

/* A reader that joins a stream with delta units starts at its newest
 * keyframe, when every frame since is still in the ring. */
GST_START_TEST (test_keyframe_late_reader_rewinds)
{
  gchar *path = mmap_test_path ("keyrewind");
  MmapRingWriter *w = make_writer (path, 8, 64);
  const guint32 flags[] = { KEY, DELTA, DELTA, KEY, DELTA, DELTA };
  MmapRingReader *r;
  MmapRingFrame fr;
  guint i;

  for (i = 0; i < G_N_ELEMENTS (flags); i++)
    publish_flags (w, 64, flags[i]);
  r = new_reader (path);
  next_frame_within (r, HANG_NS, &fr);
  fail_unless_equals_uint64 (fr.seq, 4);
  fail_unless (fr.keyframe);
  fail_unless_equals_uint64 (fr.skipped, 0);
  copy_intact (r, &fr);
  next_frame_within (r, HANG_NS, &fr);
  fail_unless_equals_uint64 (fr.seq, 5);
  fail_if (fr.keyframe);
  expect_frame (r, 6, 0);
  expect_nothing (r);
  fail_unless_equals_int (mmapring_writer_keyframe_requests (w), 0);
  mmapring_reader_free (r);

  /* Without keyframes, a late reader starts at the newest frame. */
  r = new_reader (path);
  mmapring_reader_set_keyframes (r, 0);
  expect_frame (r, 6, 0);
  mmapring_reader_free (r);

  mmapring_writer_close (w, 1);
  mmap_test_remove (path);
  g_free (path);
}

GST_END_TEST;

/* A reader whose keyframe is no longer in the ring asks for one and
 * waits for it, counting the delta units it drops. */
GST_START_TEST (test_keyframe_gone_waits_and_asks)
{
  gchar *path = mmap_test_path ("keywait");
  MmapRingWriter *w = make_writer (path, 4, 64);
  MmapRingReader *r;
  MmapRingFrame fr;
  guint i;

  publish_flags (w, 64, KEY);
  for (i = 2; i <= 7; i++)
    publish_flags (w, 64, DELTA);
  r = new_reader (path);
  expect_new_file (r);
  expect_nothing (r);
  fail_unless_equals_int (mmapring_writer_keyframe_requests (w), 1);
  publish_flags (w, 64, DELTA);
  expect_nothing (r);
  /* Asked once per gap. */
  fail_unless_equals_int (mmapring_writer_keyframe_requests (w), 1);
  fail_unless_equals_uint64 (publish_flags (w, 64, KEY), 9);
  next_frame_within (r, HANG_NS, &fr);
  fail_unless_equals_uint64 (fr.seq, 9);
  fail_unless (fr.keyframe);
  fail_unless (fr.discont);
  fail_unless_equals_uint64 (fr.skipped, 2);
  copy_intact (r, &fr);
  publish_flags (w, 64, DELTA);
  expect_frame (r, 10, 0);

  /* A gap later on: the reader resumes at the next keyframe. */
  for (i = 11; i <= 18; i++)
    publish_flags (w, 64, DELTA);
  expect_nothing (r);
  fail_unless_equals_int (mmapring_writer_keyframe_requests (w), 2);
  fail_unless_equals_uint64 (publish_flags (w, 64, KEY), 19);
  next_frame_within (r, HANG_NS, &fr);
  fail_unless_equals_uint64 (fr.seq, 19);
  fail_unless (fr.keyframe);
  fail_unless_equals_uint64 (fr.skipped, 8);
  fail_unless_equals_uint64 (stats_of (r).frames_skipped, 10);

  mmapring_reader_free (r);
  mmapring_writer_close (w, 1);
  mmap_test_remove (path);
  g_free (path);
}

GST_END_TEST;

/* The keyframe a late reader would rewind to is gone although fewer than
 * slot_count frames came since (another reader leases two of the four
 * slots, so the writer rotates through the other two): the reader must
 * give up on it, ask for a keyframe and wait for one. */
GST_START_TEST (test_keyframe_overwritten_early_asks)
{
  gchar *path = mmap_test_path ("keyspin");
  MmapRingWriter *w = make_writer (path, 4, 64);        /* lease_limit 2 */
  MmapRingReader *a = new_reader (path), *b;
  MmapRingLease *l1, *l2;
  MmapRingFrame fr;

  expect_new_file (a);
  publish_flags (w, 64, KEY);
  publish_flags (w, 64, DELTA);
  next_frame_within (a, HANG_NS, &fr);
  l1 = lease_ok (a);
  next_frame_within (a, HANG_NS, &fr);
  l2 = lease_ok (a);
  /* Frame 5 goes into frame 3's slot. */
  publish_flags (w, 64, KEY);
  publish_flags (w, 64, DELTA);
  publish_flags (w, 64, DELTA);

  b = new_reader (path);
  expect_new_file (b);
  expect_nothing (b);
  fail_unless_equals_int (mmapring_writer_keyframe_requests (w), 1);
  fail_unless_equals_uint64 (publish_flags (w, 64, KEY), 6);
  next_frame_within (b, HANG_NS, &fr);
  fail_unless_equals_uint64 (fr.seq, 6);
  fail_unless (fr.keyframe);
  fail_unless (fr.skipped >= 1 && fr.skipped <= 3, "%" G_GUINT64_FORMAT
      " skipped", fr.skipped);

  mmapring_lease_release (l1);
  mmapring_lease_release (l2);
  mmapring_reader_free (b);
  mmapring_reader_free (a);
  mmapring_writer_close (w, 1);
  mmap_test_remove (path);
  g_free (path);
}

GST_END_TEST;

/* --- files a reader must refuse --- */

/* A reader of `path` must report `status` in an ERROR event whose message
 * names the file, once. */
static void
assert_open_fails (const gchar * path, MmapRingStatus status,
    const gchar * what)
{
  MmapRingReader *r = new_reader (path);
  MmapRingError err = { 0 };
  MmapRingEvent ev = mmapring_reader_next (r, 0, NULL, &err);

  fail_unless (ev == MMAPRING_EVENT_ERROR, "%s: event %s (%s)", what,
      event_name (ev), err.message);
  fail_unless (err.status == status, "%s: status \"%s\", expected \"%s\" "
      "(%s)", what, mmapring_status_name (err.status),
      mmapring_status_name (status), err.message);
  fail_unless (strstr (err.message, path) != NULL,
      "%s: message does not name the file: %s", what, err.message);
  GST_INFO ("%s refused: %s", what, err.message);
  expect_event (r, 0, MMAPRING_EVENT_TIMEOUT, NULL, NULL);
  mmapring_reader_free (r);
}

/* A copy of a live writer's file: valid, its writer gone. */
static void
assert_opens (const gchar * path)
{
  MmapRingReader *r = new_reader (path);
  MmapRingError err = { 0 };

  expect_event (r, 0, MMAPRING_EVENT_WAITING, NULL, &err);
  fail_unless (strstr (err.message, "died without stopping") != NULL, "%s",
      err.message);
  mmapring_reader_free (r);
}

GST_START_TEST (test_open_missing_file)
{
  gchar *path = mmap_test_path ("missing");
  MmapRingReader *r = new_reader (path);
  MmapRingError err = { 0 };

  /* Not an error: the reader waits for a writer, and says why. */
  expect_event (r, 0, MMAPRING_EVENT_WAITING, NULL, &err);
  fail_unless_equals_int (err.status, MMAPRING_ERR_NOT_FOUND);
  fail_unless (strstr (err.message, path) != NULL, "%s", err.message);
  fail_unless (strstr (err.message, "no such file") != NULL, "%s", err.message);
  fail_unless_equals_string (mmapring_reader_waiting_reason (r), err.message);
  /* Once per wait. */
  expect_event (r, 0, MMAPRING_EVENT_TIMEOUT, NULL, NULL);
  mmapring_reader_free (r);
  g_free (path);
}

GST_END_TEST;

GST_START_TEST (test_open_empty_file)
{
  gchar *path = mmap_test_path ("empty");
  fail_unless (mmap_test_write_file (path, "", 0));
  assert_open_fails (path, MMAPRING_ERR_NOT_OURS, "empty file");
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
  assert_open_fails (path, MMAPRING_ERR_NOT_OURS, "64 KiB of random bytes");

  memset (junk, 0, 65536);
  fail_unless (mmap_test_write_file (path, junk, 65536));
  assert_open_fails (path, MMAPRING_ERR_NOT_OURS, "64 KiB of zeros");

  mmap_test_remove (path);
  g_rand_free (rand);
  g_free (junk);
  g_free (path);
}

GST_END_TEST;

/* A valid file's bytes (its writer running), to patch one field at a
 * time. */
static guint8 *
valid_file_bytes (gsize * len)
{
  gchar *path = mmap_test_path ("model");
  MmapRingWriter *w = open_writer (path, 0600);
  MmapRingFormat fmt = { 0 };
  gchar *data = NULL;

  fmt.caps = TEST_CAPS;
  fmt.slot_count = 4;
  fmt.slot_capacity = 4096;
  fmt.meta_capacity = 64;
  fmt.sticky_capacity = 64;
  set_format_full (w, &fmt);
  publish (w, 100);
  fail_unless (g_file_get_contents (path, &data, len, NULL));
  mmapring_writer_close (w, 1);
  mmap_test_remove (path);
  g_free (path);
  return (guint8 *) data;
}

GST_START_TEST (test_open_truncated_file)
{
  gchar *path = mmap_test_path ("truncated");
  gsize len;
  guint8 *data = valid_file_bytes (&len);

  /* The control: the untouched copy opens. */
  fail_unless (mmap_test_write_file (path, data, len));
  assert_opens (path);

  /* Cut after the slot descriptors: the header says the file is longer. */
  fail_unless (len > 12288);
  fail_unless (mmap_test_write_file (path, data, 12288));
  assert_open_fails (path, MMAPRING_ERR_TRUNCATED, "truncated to 12288 bytes");
  /* Cut inside the header. */
  fail_unless (mmap_test_write_file (path, data, 2000));
  assert_open_fails (path, MMAPRING_ERR_TRUNCATED, "truncated to 2000 bytes");
  /* One byte short of what the header promises. */
  fail_unless (mmap_test_write_file (path, data, len - 1));
  assert_open_fails (path, MMAPRING_ERR_TRUNCATED, "one byte short");

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
  assert_open_fails (path, MMAPRING_ERR_NOT_OURS, "wrong magic");

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
  const guint32 versions[] = { 0, 1, 3, 0x01000002 };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (versions); i++) {
    MmapRingReader *r;
    MmapRingError err = { 0 };
    gchar *text = g_strdup_printf ("version %u", versions[i]);

    h->version = versions[i];
    fail_unless (mmap_test_write_file (path, data, len));
    assert_open_fails (path, MMAPRING_ERR_VERSION, text);
    /* The message tells both versions. */
    r = new_reader (path);
    fail_unless_equals_int (mmapring_reader_next (r, 0, NULL, &err),
        MMAPRING_EVENT_ERROR);
    fail_unless (strstr (err.message, text) != NULL, "%s", err.message);
    fail_unless (strstr (err.message, "version 2") != NULL, "%s", err.message);
    mmapring_reader_free (r);
    g_free (text);
  }

  mmap_test_remove (path);
  g_free (data);
  g_free (path);
}

GST_END_TEST;

typedef void (*Patch) (MmapFileHeader * h, guint8 * data);

#define PATCH(name, body) \
  static void patch_##name (MmapFileHeader * h, guint8 * data) { body; }

PATCH (slot_count_0, h->slot_count = 0);
PATCH (slot_count_1, h->slot_count = 1);
PATCH (slot_count_65, h->slot_count = 65);
PATCH (slot_count_max, h->slot_count = G_MAXUINT32);
PATCH (data_offset_0, h->slot_data_offset = 0);
PATCH (data_offset_in_descs, h->slot_data_offset = MMAP_SLOT_DESC_OFFSET);
PATCH (data_offset_at_end, h->slot_data_offset = h->file_size);
PATCH (data_offset_huge, h->slot_data_offset = G_MAXUINT64 - 4095);
PATCH (data_offset_unaligned, h->slot_data_offset += 8);
PATCH (stride_past_end, h->slot_stride += 4096);
PATCH (stride_huge, h->slot_stride = G_MAXUINT64 / MMAP_SLOTS_MAX);
PATCH (stride_overflows, h->slot_stride = (G_MAXUINT64 / 4) + 4096);
PATCH (stride_times_count_wraps, h->slot_stride = G_GUINT64_CONSTANT (1) << 62);
PATCH (capacity_over_stride, h->slot_capacity = h->slot_stride + 1);
PATCH (file_size_small, h->file_size = MMAP_SLOT_DESC_OFFSET);
PATCH (caps_length_max, h->caps_length = MMAP_CAPS_MAX);
PATCH (caps_length_huge, h->caps_length = G_MAXUINT32);
PATCH (caps_unterminated, data[h->caps_offset + h->caps_length] = 'x');
PATCH (caps_length_short, h->caps_length = 3);
PATCH (caps_length_long, h->caps_length += 5);
PATCH (caps_offset_in_descs, h->caps_offset = MMAP_SLOT_DESC_OFFSET);
PATCH (caps_offset_past_end, h->caps_offset = h->file_size);
PATCH (sticky_over_caps, h->sticky_offset = h->caps_offset);
PATCH (sticky_past_end, h->sticky_capacity = h->file_size);
PATCH (meta_over_payload, h->meta_offset = 0);
PATCH (meta_past_slot, h->meta_capacity = h->slot_stride);
PATCH (header_size, h->header_size = 100);
PATCH (slot_desc_offset, h->slot_desc_offset = MMAP_READER_TABLE_OFFSET);
PATCH (slot_desc_size, h->slot_desc_size = 128);
PATCH (reader_table_offset, h->reader_table_offset = 0);
PATCH (reader_entry_size, h->reader_entry_size = 32);
PATCH (reader_count, h->reader_count = MMAP_READER_MAX + 1);
PATCH (lease_limit, h->lease_limit = h->slot_count);
PATCH (lock_base_0, h->lock_base = 0);
PATCH (lock_base_huge, h->lock_base = G_MAXUINT64);

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
  {"slot_data_offset not page aligned", patch_data_offset_unaligned},
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
  {"caps over the descriptors", patch_caps_offset_in_descs},
  {"caps past the end", patch_caps_offset_past_end},
  {"sticky area over the caps", patch_sticky_over_caps},
  {"sticky area past the end", patch_sticky_past_end},
  {"meta area over the payload", patch_meta_over_payload},
  {"meta area past its slot", patch_meta_past_slot},
  {"header_size 100", patch_header_size},
  {"slot_desc_offset over the reader table", patch_slot_desc_offset},
  {"slot_desc_size 128", patch_slot_desc_size},
  {"reader_table_offset 0", patch_reader_table_offset},
  {"reader_entry_size 32", patch_reader_entry_size},
  {"reader_count 65", patch_reader_count},
  {"lease_limit = slot_count", patch_lease_limit},
  {"lock_base 0 (the writer's byte)", patch_lock_base_0},
  {"lock_base 2^64-1", patch_lock_base_huge},
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
  assert_opens (path);

  for (i = 0; i < G_N_ELEMENTS (invalid_patches); i++) {
    memcpy (data, model, len);
    invalid_patches[i].patch ((MmapFileHeader *) data, data);
    fail_unless (mmap_test_write_file (path, data, len));
    assert_open_fails (path, MMAPRING_ERR_INVALID, invalid_patches[i].name);
  }

  mmap_test_remove (path);
  g_free (data);
  g_free (model);
  g_free (path);
}

GST_END_TEST;

/* --- claiming a location --- */

GST_START_TEST (test_busy_names_file_and_pid)
{
  gchar *path = mmap_test_path ("busy");
  MmapRingWriter *w = make_writer (path, 2, 64), *w2;
  Mapping m = map_file (path, FALSE);
  MmapRingError err = { 0 };
  MmapRingReader *r;
  gchar *pid_text = g_strdup_printf ("%s: in use by another writer (pid %d)",
      path, (int) getpid ());

  publish (w, 64);
  w2 = mmapring_writer_open (path, 0600, &err);
  fail_unless (w2 == NULL, "a second writer got the location of a live one");
  fail_unless_equals_int (err.status, MMAPRING_ERR_BUSY);
  fail_unless (strstr (err.message, pid_text) != NULL, "%s", err.message);
  GST_INFO ("second writer refused: %s", err.message);

  /* The first writer's file is as it was, and it goes on. */
  fail_unless_equals_int (LIVE (&m, state), MMAP_STATE_RUNNING);
  r = new_reader (path);
  expect_frame (r, 1, 0);
  publish (w, 64);
  expect_frame (r, 2, 0);

  mmapring_reader_free (r);
  unmap_file (&m);
  mmapring_writer_close (w, 1);
  mmap_test_remove (path);
  g_free (pid_text);
  g_free (path);
}

GST_END_TEST;

/* A file that is not ours at the location: the writer must refuse it with
 * NOT_OURS and leave every byte of it as it was. */
static void
check_writer_refuses_foreign_file (const gchar * what, const guint8 * content,
    gsize len)
{
  gchar *path = mmap_test_path ("foreign");
  MmapRingError err = { 0 };
  MmapRingWriter *w;
  gchar *after = NULL;
  gsize after_len = 0;

  fail_unless (mmap_test_write_file (path, content, len));
  w = mmapring_writer_open (path, 0600, &err);
  if (w) {
    /* Show what a writer would do with it next (mmapsink does this at its
     * first caps), to make the consequence visible. */
    set_format (w, TEST_CAPS, 2, 64);
    mmapring_writer_close (w, 1);
  }
  if (!g_file_get_contents (path, &after, &after_len, NULL))
    after = NULL;
  fail_if (w != NULL, "%s (%" G_GSIZE_FORMAT " bytes) was taken as a dead "
      "writer's file; a writer then replaced it: the file is %s", what, len,
      after ? "changed" : "gone");
  fail_unless_equals_int (err.status, MMAPRING_ERR_NOT_OURS);
  fail_unless (strstr (err.message, path) != NULL, "%s", err.message);
  GST_INFO ("%s refused: %s", what, err.message);
  fail_unless (after != NULL, "%s is gone", what);
  fail_unless (after_len == len && memcmp (after, content, len) == 0,
      "%s was changed", what);

  g_free (after);
  mmap_test_remove (path);
  g_free (path);
}

GST_START_TEST (test_refuses_large_foreign_file)
{
  gsize len = 20000, i;
  guint8 *content = g_malloc (len);

  for (i = 0; i < len; i++)
    content[i] = "some precious data\n"[i % 19];
  check_writer_refuses_foreign_file ("a 20000-byte text file", content, len);
  g_free (content);
}

GST_END_TEST;

GST_START_TEST (test_refuses_small_foreign_file)
{
  /* Shorter than a gst-mmap header, longer than the magic. */
  const gchar *text = "notes I want to keep: do not delete this file\n";
  check_writer_refuses_foreign_file ("a 46-byte text file",
      (const guint8 *) text, strlen (text));
}

GST_END_TEST;

GST_START_TEST (test_refuses_tiny_foreign_file)
{
  check_writer_refuses_foreign_file ("a 3-byte file", (const guint8 *) "hi\n",
      3);
}

GST_END_TEST;

GST_START_TEST (test_refuses_symlink)
{
  gchar *path = mmap_test_path ("link");
  gchar *target = mmap_test_path ("link-target");
  gchar *dangling = mmap_test_path ("link-nowhere");
  gchar *lock = mmap_test_lock_path (path);
  const gchar *text = "the link's target, which must not change\n";
  MmapRingError err = { 0 };
  gchar *after;
  GStatBuf st;

  fail_unless (mmap_test_write_file (target, text, strlen (text)));
  fail_unless (symlink (target, path) == 0);
  fail_if (mmapring_writer_open (path, 0600, &err), "took a symlink");
  fail_unless_equals_int (err.status, MMAPRING_ERR_NOT_OURS);
  fail_unless (strstr (err.message, path) != NULL, "%s", err.message);
  GST_INFO ("symlink refused: %s", err.message);
  fail_unless (g_file_get_contents (target, &after, NULL, NULL));
  fail_unless_equals_string (after, text);
  g_free (after);
  fail_unless (g_lstat (path, &st) == 0 && S_ISLNK (st.st_mode),
      "the symlink itself was replaced");

  /* A symlink to nowhere: refused too, and nothing appears at its target. */
  g_unlink (path);
  fail_unless (symlink (dangling, path) == 0);
  fail_if (mmapring_writer_open (path, 0600, &err), "took a dangling "
      "symlink");
  fail_if (g_file_test (dangling, G_FILE_TEST_EXISTS));
  g_unlink (path);

  /* A symlink where the lock file goes. */
  mmap_test_remove (path);
  fail_unless (symlink (target, lock) == 0);
  fail_if (mmapring_writer_open (path, 0600, &err), "followed a symlink "
      "at the lock file");
  fail_unless_equals_int (err.status, MMAPRING_ERR_NOT_OURS);
  fail_unless (strstr (err.message, path) != NULL, "%s", err.message);
  fail_unless (g_file_get_contents (target, &after, NULL, NULL));
  fail_unless_equals_string (after, text);
  g_free (after);
  fail_if (g_file_test (path, G_FILE_TEST_EXISTS));

  g_unlink (lock);
  mmap_test_remove (path);
  mmap_test_remove (target);
  g_free (lock);
  g_free (dangling);
  g_free (target);
  g_free (path);
}

GST_END_TEST;

GST_START_TEST (test_takes_over_dead_writer)
{
  gchar *path = mmap_test_path ("dead");
  MmapRingError err = { 0 };
  const MmapRingFileInfo *fi;
  MmapRingReader *r;
  MmapRingWriter *w;
  Mapping old;
  guint64 old_id;
  Child c;

  c = child_start (writer_body, path);
  child_expect (&c, 'w', "the writer published");
  old = map_file (path, FALSE);
  r = new_reader (path);
  fi = expect_new_file (r);
  old_id = fi->writer_id;
  fail_unless_equals_int (fi->writer_pid, c.pid);
  expect_frame (r, 3, 0);
  /* The writer dies without a word: its locks go with it. */
  child_kill (&c);
  expect_event (r, HANG_NS, MMAPRING_EVENT_WAITING, NULL, &err);
  fail_unless (strstr (err.message, path) != NULL, "%s", err.message);
  fail_unless (strstr (err.message, "died without stopping") != NULL, "%s",
      err.message);
  fail_unless_equals_int (LIVE (&old, state), MMAP_STATE_RUNNING);

  w = open_writer (path, 0600);
  set_format (w, "application/x-second", 2, 64);
  /* Readers of the old file learn that it was replaced. */
  fail_unless_equals_int (LIVE (&old, state), MMAP_STATE_REPLACED);
  fi = expect_new_file (r);
  fail_unless_equals_string (fi->caps, "application/x-second");
  fail_unless (fi->new_writer);
  fail_unless (fi->writer_id != old_id);
  fail_unless_equals_int (fi->writer_pid, getpid ());
  fail_unless_equals_int (mmap_test_count_temp_files (path), 0);
  /* A new writer numbers its own frames. */
  fail_unless_equals_uint64 (publish (w, 64), 1);
  expect_frame (r, 1, 0);
  fail_unless_equals_uint64 (stats_of (r).writers_seen, 2);

  mmapring_reader_free (r);
  unmap_file (&old);
  mmapring_writer_close (w, 1);
  mmap_test_remove (path);
  g_free (path);
}

GST_END_TEST;

GST_START_TEST (test_writer_bad_locations)
{
  gchar *dir = mmap_test_path ("dir");
  gchar *in_missing = g_strdup_printf ("%s/stream", dir);
  MmapRingError err = { 0 };

  fail_if (mmapring_writer_open ("", 0600, &err));
  fail_unless_equals_int (err.status, MMAPRING_ERR_ARGUMENT);
  fail_if (mmapring_writer_open (in_missing, 0600, &err));
  fail_unless_equals_int (err.status, MMAPRING_ERR_NOT_FOUND);
  fail_unless (strstr (err.message, in_missing) != NULL, "%s", err.message);
  fail_unless (strstr (err.message, "does not exist") != NULL, "%s",
      err.message);

  g_free (in_missing);
  g_free (dir);
}

GST_END_TEST;

/* A directory at the location is "not a regular file" (NOT_OURS) to a
 * writer as to a reader, and stays as it was. */
GST_START_TEST (test_writer_refuses_directory)
{
  gchar *dir = mmap_test_path ("dir");
  MmapRingError err = { 0 };

  fail_unless (g_mkdir (dir, 0700) == 0);
  assert_open_fails (dir, MMAPRING_ERR_NOT_OURS, "a directory");
  fail_if (mmapring_writer_open (dir, 0600, &err));
  GST_INFO ("directory refused: %s", err.message);
  fail_unless (strstr (err.message, dir) != NULL, "%s", err.message);
  fail_unless (g_file_test (dir, G_FILE_TEST_IS_DIR));
  mmap_test_remove (dir);
  fail_unless (g_rmdir (dir) == 0, "something was put in the directory");
  fail_unless (err.status == MMAPRING_ERR_NOT_OURS, "status \"%s\", "
      "expected \"%s\" (%s)", mmapring_status_name (err.status),
      mmapring_status_name (MMAPRING_ERR_NOT_OURS), err.message);
  g_free (dir);
}

GST_END_TEST;

/* A format the writer cannot make leaves it as it was: no file, or its
 * current file. */
GST_START_TEST (test_set_format_refuses_bad_format)
{
  gchar *path = mmap_test_path ("badformat");
  MmapRingWriter *w = open_writer (path, 0600);
  MmapRingFormat fmt = { 0 };
  MmapRingError err = { 0 };
  MmapRingReader *r;
  gchar *long_caps = g_strnfill (MMAP_CAPS_MAX, 'x');

  fail_unless_equals_int (mmapring_writer_set_format (w, &fmt, &err),
      MMAPRING_ERR_ARGUMENT);
  fmt.caps = TEST_CAPS;
  fmt.slot_capacity = 64;
  fmt.slot_count = 1;
  fail_unless_equals_int (mmapring_writer_set_format (w, &fmt, &err),
      MMAPRING_ERR_ARGUMENT);
  fmt.slot_count = 65;
  fail_unless_equals_int (mmapring_writer_set_format (w, &fmt, &err),
      MMAPRING_ERR_ARGUMENT);
  fmt.slot_count = 4;
  fmt.caps = long_caps;
  fail_unless_equals_int (mmapring_writer_set_format (w, &fmt, &err),
      MMAPRING_ERR_TOO_LARGE);
  fail_unless (strstr (err.message, path) != NULL, "%s", err.message);
  fail_if (g_file_test (path, G_FILE_TEST_EXISTS));
  fail_unless (mmapring_writer_acquire (w) == NULL);
  fail_unless_equals_int (mmap_test_count_temp_files (path), 0);

  fmt.caps = TEST_CAPS;
  set_format_full (w, &fmt);
  r = new_reader (path);
  fail_unless_equals_string (expect_new_file (r)->caps, TEST_CAPS);
  fmt.slot_capacity = G_GUINT64_CONSTANT (1) << 41;
  fail_unless_equals_int (mmapring_writer_set_format (w, &fmt, &err),
      MMAPRING_ERR_TOO_LARGE);
  /* Frames of more than a slot, or of more planes than a frame has. */
  {
    MmapRingFrame fr;
    guint8 data[65];

    describe (&fr, 0, 64, 0);
    fail_unless_equals_int (mmapring_writer_write (w, &fr, data, 65, &err),
        MMAPRING_ERR_TOO_LARGE);
    fr.n_planes = 5;
    fail_unless_equals_int (mmapring_writer_write (w, &fr, data, 64, &err),
        MMAPRING_ERR_TOO_LARGE);
  }
  fail_unless_equals_uint64 (mmapring_writer_seq (w), 0);
  publish (w, 64);
  expect_frame (r, 1, 0);

  mmapring_reader_free (r);
  mmapring_writer_close (w, 1);
  mmap_test_remove (path);
  g_free (long_caps);
  g_free (path);
}

GST_END_TEST;

/* --- state transitions --- */

GST_START_TEST (test_close_marks_gone_and_removes)
{
  gchar *path = mmap_test_path ("gone");
  gchar *lock = mmap_test_lock_path (path);
  MmapRingWriter *w = make_writer (path, 2, 64);
  Mapping m = map_file (path, FALSE);
  MmapRingReader *r = new_reader (path);
  MmapRingError err = { 0 };
  MmapRingSlot *s;

  expect_new_file (r);
  fail_unless (g_file_test (lock, G_FILE_TEST_EXISTS));
  publish (w, 64);
  s = mmapring_writer_acquire (w);
  fail_unless (s != NULL);
  mmapring_writer_close (w, 1);
  fail_unless_equals_int (LIVE (&m, state), MMAP_STATE_GONE);
  fail_if (g_file_test (path, G_FILE_TEST_EXISTS), "the file is still there");
  fail_if (g_file_test (lock, G_FILE_TEST_EXISTS), "the lock file is still "
      "there");
  /* A slot still out stays valid memory until released. */
  memset (mmapring_slot_data (s), 0x5a, 64);
  mmapring_slot_release (s);
  /* What was published before stays readable; then the reader waits. */
  expect_frame (r, 1, 0);
  expect_event (r, HANG_NS, MMAPRING_EVENT_WAITING, NULL, &err);
  fail_unless (strstr (err.message, "has stopped") != NULL, "%s", err.message);

  mmapring_reader_free (r);
  unmap_file (&m);
  mmap_test_remove (path);
  g_free (lock);
  g_free (path);
}

GST_END_TEST;

/* Closed without removing: the files stay for the next writer. */
GST_START_TEST (test_close_keeps_files_for_next_writer)
{
  gchar *path = mmap_test_path ("keep");
  gchar *lock = mmap_test_lock_path (path);
  MmapRingWriter *w = make_writer (path, 2, 64);
  Mapping m = map_file (path, FALSE);
  MmapRingReader *r = new_reader (path);
  const MmapRingFileInfo *fi;

  expect_new_file (r);
  publish (w, 64);
  mmapring_writer_close (w, 0);
  fail_unless_equals_int (LIVE (&m, state), MMAP_STATE_GONE);
  fail_unless (g_file_test (path, G_FILE_TEST_EXISTS));
  fail_unless (g_file_test (lock, G_FILE_TEST_EXISTS));
  expect_frame (r, 1, 0);
  expect_event (r, HANG_NS, MMAPRING_EVENT_WAITING, NULL, NULL);

  w = make_writer (path, 2, 64);
  fi = expect_new_file (r);
  fail_unless (fi->new_writer);
  publish (w, 64);
  expect_frame (r, 1, 0);

  mmapring_reader_free (r);
  unmap_file (&m);
  mmapring_writer_close (w, 1);
  fail_if (g_file_test (lock, G_FILE_TEST_EXISTS));
  mmap_test_remove (path);
  g_free (lock);
  g_free (path);
}

GST_END_TEST;

GST_START_TEST (test_replace_marks_old_replaced)
{
  gchar *path = mmap_test_path ("replace");
  MmapRingWriter *w = make_writer (path, 2, 64);
  Mapping m = map_file (path, FALSE);
  MmapRingReader *r = new_reader (path);
  const MmapRingFileInfo *fi;

  expect_new_file (r);
  publish (w, 64);
  /* New caps: the writer makes a new file replacing its own. */
  set_format (w, "application/x-new", 4, 128);
  fail_unless_equals_int (LIVE (&m, state), MMAP_STATE_REPLACED);
  fail_unless_equals_int (mmap_test_count_temp_files (path), 0);
  /* Frames published before the replacement are still read. */
  expect_frame (r, 1, 0);
  fi = expect_new_file (r);
  fail_unless_equals_string (fi->caps, "application/x-new");
  fail_unless_equals_int (fi->slot_count, 4);
  fail_unless_equals_uint64 (fi->slot_capacity, 128);
  fail_unless_equals_uint64 (fi->base_seq, 1);
  fail_unless_equals_uint64 (fi->caps_seq, 2);
  fail_if (fi->new_writer);
  publish (w, 128);
  expect_frame (r, 2, 0);

  /* A slot handed out before the replacement cannot be published. */
  {
    MmapRingSlot *s = mmapring_writer_acquire (w);
    MmapRingError err = { 0 };
    MmapRingFrame fr;

    fail_unless (s != NULL);
    set_format (w, "application/x-newer", 4, 128);
    describe (&fr, 0, 16, 0);
    fail_unless_equals_int (mmapring_writer_publish (w, s, &fr, &err),
        MMAPRING_ERR_REPLACED);
    mmapring_slot_release (s);
  }

  mmapring_reader_free (r);
  unmap_file (&m);
  mmapring_writer_close (w, 1);
  mmap_test_remove (path);
  g_free (path);
}

GST_END_TEST;

static guint
mode_of (const gchar * path)
{
  GStatBuf st;

  fail_unless (g_stat (path, &st) == 0, "%s: %s", path, g_strerror (errno));
  fail_unless (S_ISREG (st.st_mode));
  return st.st_mode & 07777;
}

GST_START_TEST (test_file_mode)
{
  gchar *path = mmap_test_path ("mode");
  gchar *lock = mmap_test_lock_path (path);
  mode_t old_umask = umask (022);
  MmapRingWriter *w;

  /* The lock file gets only the write bits: whoever may only read the
   * stream cannot even open it. */
  w = make_writer (path, 2, 64);
  fail_unless_equals_int (mode_of (path), 0600);
  fail_unless_equals_int (mode_of (lock), 0200);
  mmapring_writer_close (w, 1);

  /* The mode asked for, whatever the umask. */
  umask (077);
  w = open_writer (path, 0664);
  set_format (w, TEST_CAPS, 2, 64);
  fail_unless_equals_int (mode_of (path), 0664);
  fail_unless_equals_int (mode_of (lock), 0220);
  mmapring_writer_close (w, 1);

  umask (old_umask);
  mmap_test_remove (path);
  g_free (lock);
  g_free (path);
}

GST_END_TEST;

/* --- caps --- */

GST_START_TEST (test_caps_fields)
{
  const gchar *caps = "video/x-raw(memory:SystemMemory), "
      "format=(string)I420, width=(int)320, widthx=(int)7, "
      "framerate=(fraction)30/1, name=(string)\"a \\\"quoted\\\", value\", "
      "list=(string){ a, b }, plain=5; other/type, height=(int)9";
  gchar buf[64];
  gint64 v = 0;

  fail_unless (mmapring_caps_media_type (caps, buf, sizeof (buf)));
  fail_unless_equals_string (buf, "video/x-raw");
  fail_if (mmapring_caps_media_type (caps, buf, 5), "truncated media type");
  fail_unless (mmapring_caps_get_string (caps, "format", buf, sizeof (buf)));
  fail_unless_equals_string (buf, "I420");
  fail_unless (mmapring_caps_get_string (caps, "name", buf, sizeof (buf)));
  fail_unless_equals_string (buf, "a \"quoted\", value");
  fail_if (mmapring_caps_get_string (caps, "format", buf, 3),
      "a truncated value was reported found");
  fail_unless (mmapring_caps_get_int (caps, "width", &v));
  fail_unless_equals_int64 (v, 320);
  fail_unless (mmapring_caps_get_int (caps, "widthx", &v));
  fail_unless_equals_int64 (v, 7);
  fail_unless (mmapring_caps_get_int (caps, "plain", &v));
  fail_unless_equals_int64 (v, 5);
  fail_if (mmapring_caps_get_int (caps, "framerate", &v), "a fraction is "
      "not an int");
  fail_if (mmapring_caps_get_int (caps, "format", &v));
  fail_if (mmapring_caps_get_int (caps, "wid", &v));
  /* Only the first structure. */
  fail_if (mmapring_caps_get_int (caps, "height", &v));
  fail_if (mmapring_caps_get_string (caps, "missing", buf, sizeof (buf)));
}

GST_END_TEST;

/* The library's planes for `caps` agree with GStreamer's layout: as many
 * planes, rows of each plane's first component, and a default-layout
 * frame holds every row (what the reader checks). */
static MmapRingVideoLayout
layout_like_gst (const gchar * caps_str)
{
  GstCaps *caps = gst_caps_from_string (caps_str);
  MmapRingVideoLayout lo;
  GstVideoInfo vi;
  guint p, c;

  fail_unless (caps && gst_video_info_from_caps (&vi, caps), "%s", caps_str);
  gst_caps_unref (caps);
  fail_unless_equals_int (mmapring_video_layout (caps_str, &lo), MMAPRING_OK);
  fail_unless_equals_string (lo.format,
      gst_video_format_to_string (GST_VIDEO_INFO_FORMAT (&vi)));
  fail_unless_equals_int (lo.width, GST_VIDEO_INFO_WIDTH (&vi));
  fail_unless_equals_int (lo.height, GST_VIDEO_INFO_HEIGHT (&vi));
  fail_unless_equals_int (lo.n_planes, GST_VIDEO_INFO_N_PLANES (&vi));
  for (p = 0; p < lo.n_planes; p++) {
    const MmapRingPlane *pl = &lo.plane[p];
    guint64 end;

    for (c = 0; c < GST_VIDEO_INFO_N_COMPONENTS (&vi); c++)
      if (GST_VIDEO_INFO_COMP_PLANE (&vi, c) == p)
        break;
    fail_unless (c < GST_VIDEO_INFO_N_COMPONENTS (&vi));
    fail_unless_equals_int (pl->rows, GST_VIDEO_INFO_COMP_HEIGHT (&vi, c));
    fail_unless_equals_int (pl->row_bytes, pl->columns * pl->components *
        pl->component_bytes);
    fail_unless (pl->row_bytes >= (guint) (GST_VIDEO_INFO_COMP_WIDTH (&vi, c)
            * GST_VIDEO_INFO_COMP_PSTRIDE (&vi, c)), "%s plane %u: %u bytes "
        "a row", caps_str, p, pl->row_bytes);
    fail_unless (pl->row_bytes <= (guint) GST_VIDEO_INFO_PLANE_STRIDE (&vi, p));
    end = GST_VIDEO_INFO_PLANE_OFFSET (&vi, p) + (guint64) (pl->rows - 1) *
        GST_VIDEO_INFO_PLANE_STRIDE (&vi, p) + pl->row_bytes;
    fail_unless (end <= GST_VIDEO_INFO_SIZE (&vi), "%s plane %u ends at %"
        G_GUINT64_FORMAT ", the frame has %" G_GSIZE_FORMAT, caps_str, p, end,
        GST_VIDEO_INFO_SIZE (&vi));
  }
  return lo;
}

#define PLANE_IS(pl, r, c, n, b) G_STMT_START {                         \
  fail_unless_equals_int ((pl).rows, r);                                  \
  fail_unless_equals_int ((pl).columns, c);                               \
  fail_unless_equals_int ((pl).components, n);                            \
  fail_unless_equals_int ((pl).component_bytes, b);                       \
} G_STMT_END

GST_START_TEST (test_video_layout)
{
  MmapRingVideoLayout lo;

  lo = layout_like_gst ("video/x-raw, format=(string)I420, width=(int)33, "
      "height=(int)17, framerate=(fraction)30/1");
  fail_unless_equals_int (lo.n_planes, 3);
  PLANE_IS (lo.plane[0], 17, 33, 1, 1);
  PLANE_IS (lo.plane[1], 9, 17, 1, 1);
  PLANE_IS (lo.plane[2], 9, 17, 1, 1);

  lo = layout_like_gst ("video/x-raw, format=(string)NV12, width=(int)321, "
      "height=(int)241");
  fail_unless_equals_int (lo.n_planes, 2);
  PLANE_IS (lo.plane[0], 241, 321, 1, 1);
  PLANE_IS (lo.plane[1], 121, 161, 2, 1);
  fail_unless_equals_int (lo.plane[1].row_bytes, 322);

  /* Odd width: the last pixel pair is whole, chroma included. */
  lo = layout_like_gst ("video/x-raw, format=(string)YUY2, width=(int)319, "
      "height=(int)240");
  fail_unless_equals_int (lo.n_planes, 1);
  PLANE_IS (lo.plane[0], 240, 320, 2, 1);
  fail_unless_equals_int (lo.plane[0].row_bytes, 640);

  lo = layout_like_gst ("video/x-raw, format=(string)RGBA64_LE, "
      "width=(int)17, height=(int)9");
  PLANE_IS (lo.plane[0], 9, 17, 4, 2);
  fail_unless_equals_int (lo.plane[0].row_bytes, 136);
  fail_if (lo.big_endian);

  lo = layout_like_gst ("video/x-raw, format=(string)GRAY16_BE, "
      "width=(int)33, height=(int)7");
  PLANE_IS (lo.plane[0], 7, 33, 1, 2);
  fail_unless_equals_int (lo.plane[0].row_bytes, 66);
  fail_unless (lo.big_endian);

  layout_like_gst ("video/x-raw, format=(string)RGB, width=(int)16, "
      "height=(int)8");
  layout_like_gst ("video/x-raw, format=(string)Y444, width=(int)100, "
      "height=(int)75");
  layout_like_gst ("video/x-raw, format=(string)BGRx, width=(int)641, "
      "height=(int)479");

  /* What it does not know: the flat payload. */
  fail_unless_equals_int (mmapring_video_layout ("audio/x-raw, "
          "format=(string)S16LE, rate=(int)48000, channels=(int)2", &lo),
      MMAPRING_ERR_NOT_FOUND);
  fail_unless_equals_int (mmapring_video_layout ("video/x-raw, "
          "format=(string)v210, width=(int)64, height=(int)4", &lo),
      MMAPRING_ERR_NOT_FOUND);
  fail_unless_equals_int (mmapring_video_layout ("video/x-raw(memory:DMABuf), "
          "format=(string)NV12, width=(int)64, height=(int)4", &lo),
      MMAPRING_ERR_NOT_FOUND);
  fail_unless_equals_int (mmapring_video_layout ("video/x-raw, "
          "format=(string)NV12, width=(int)0, height=(int)4", &lo),
      MMAPRING_ERR_NOT_FOUND);
  fail_unless_equals_int (mmapring_video_layout ("video/x-raw, "
          "format=(string)NV12, width=(int)64", &lo), MMAPRING_ERR_NOT_FOUND);
}

GST_END_TEST;

static Suite *
lib_suite (void)
{
  Suite *s = suite_create ("libmmapring");
  TCase *tc;

  tc = tcase_create ("publish-read");
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_roundtrip_bytes_and_descriptor);
  tcase_add_test (tc, test_records_reach_reader);
  tcase_add_test (tc, test_base_seq_numbers_frames);
  tcase_add_test (tc, test_frame_being_written_is_lost);
  tcase_add_test (tc, test_abandoned_slot_holds_nothing);
  tcase_add_test (tc, test_lapped_frame_is_lost);
  tcase_add_test (tc, test_eos_and_latency_reach_reader);
  tcase_add_test (tc, test_wait_woken_by_publication);
  tcase_add_test (tc, test_wait_woken_by_interrupt);

  tc = tcase_create ("lease");
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_leased_frame_stays_intact);
  tcase_add_test (tc, test_lease_limit_keeps_writer_going);
  tcase_add_test (tc, test_lease_limit_clamped);
  tcase_add_test (tc, test_dead_reader_loses_leases);
  tcase_add_test (tc, test_killed_waiting_reader_reclaimed);
  tcase_add_test (tc, test_read_locks_stop_nobody);
  tcase_add_test (tc, test_read_only_reader_copies);
  tcase_add_test (tc, test_reader_table_full);

  tc = tcase_create ("distrust");
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_wild_write_seq_ignored);
  tcase_add_test (tc, test_unknown_state_is_error);
  tcase_add_test (tc, test_bad_plane_stride_is_error);

  tc = tcase_create ("skip");
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_frames_of_replaced_files_counted);
  tcase_add_test (tc, test_max_lag_one_gives_newest);
  tcase_add_test (tc, test_writer_skip_counted);
  tcase_add_test (tc, test_keyframe_late_reader_rewinds);
  tcase_add_test (tc, test_keyframe_gone_waits_and_asks);
  tcase_add_test (tc, test_keyframe_overwritten_early_asks);

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
  tcase_add_test (tc, test_busy_names_file_and_pid);
  tcase_add_test (tc, test_refuses_large_foreign_file);
  tcase_add_test (tc, test_refuses_small_foreign_file);
  tcase_add_test (tc, test_refuses_tiny_foreign_file);
  tcase_add_test (tc, test_refuses_symlink);
  tcase_add_test (tc, test_takes_over_dead_writer);
  tcase_add_test (tc, test_writer_bad_locations);
  tcase_add_test (tc, test_writer_refuses_directory);
  tcase_add_test (tc, test_set_format_refuses_bad_format);

  tc = tcase_create ("state");
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_close_marks_gone_and_removes);
  tcase_add_test (tc, test_close_keeps_files_for_next_writer);
  tcase_add_test (tc, test_replace_marks_old_replaced);
  tcase_add_test (tc, test_file_mode);

  tc = tcase_create ("caps");
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_caps_fields);
  tcase_add_test (tc, test_video_layout);

  return s;
}

int
main (int argc, char **argv)
{
  int failed;

  gst_check_init (&argc, &argv);
  mmap_test_init ();
  failed = gst_check_run_suite (lib_suite (), "lib", __FILE__);
  mmap_test_cleanup_all ();
  return failed;
}

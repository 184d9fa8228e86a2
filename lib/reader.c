/* mmapring: the reader side (FORMAT.md sections 6, 8 to 12, 15).
 *
 * A reader follows a path, not a file.  It keeps the current file mapped
 * and its position `next` (the number of the frame it wants), and moves
 * to the next file when the current one is REPLACED, GONE, its writer
 * died, or the path names another file.  Every frame it hands out was
 * checked against its slot's seqlock; every frame it cannot hand out is
 * counted as skipped, and the next frame says how many.  It only ever
 * moves its position to frame numbers it has seen in a slot, so a wild
 * write_seq (a broken or hostile writer) cannot make it jump, nor make
 * its skipped count absurd.
 *
 * Readers that may write the file own an entry of its reader table (the
 * write lock on byte lock_base + k of the location's lock file), where
 * they publish their position, lease slots and say when they sleep on
 * the futex.  Readers that may only read it touch nothing and poll. */
#include "mr-private.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#define BIT(i) ((uint64_t) 1 << (i))

typedef enum
{
  RD_OK,                        /* the frame, intact */
  RD_LOST,                      /* overwritten: its slot holds a newer one */
  RD_TORN,                      /* its slot is being rewritten */
  RD_DROPPED,                   /* the writer dropped it (slot_log NONE) */
  RD_UNPUBLISHED,               /* its slot holds an older frame: not there */
  RD_INVALID,                   /* a consistent copy fails the checks */
} ReadResult;

typedef enum
{
  STEP_NONE,                    /* nothing now: wait */
  STEP_AGAIN,                   /* look again at once */
  STEP_EVENT,                   /* return `ev` */
} Step;

struct MmapRingLease
{
  MrFile *file;
  uint32_t idx;
  const uint8_t *data;
  uint64_t size;
};

struct MmapRingReader
{
  char *path;
  char *dir;
  char *lock_path;

  /* Options: set before the first next(). */
  uint32_t max_lag;
  int zero_copy;
  uint32_t max_leases;
  uint64_t spin_ns;
  int keyframes;

  /* `mu` guards `file` against interrupt() from other threads. */
  pthread_mutex_t mu;
  MrFile *file;
  int usable;                   /* file has a live, running writer */
  int finished;                 /* read what is left, then move on */
  MrLockFile *lockf;            /* for our entries' locks */

  /* What the last NEW_FILE described (a ref keeps its caps valid). */
  MrFile *info_file;
  MmapRingFileInfo info;
  MmapRingVideoLayout layout;
  int layout_known;

  /* A finished or refused file, kept open so that its inode cannot be
   * reused: "the path names the same inode" then means "not yet". */
  int held;
  int held_fd;                  /* -1 when we could not open it */
  dev_t held_dev;
  ino_t held_ino;

  /* Position. */
  int positioned;
  int waited;                   /* no live writer when we looked */
  uint64_t next;
  uint64_t pos_writer;
  uint64_t pending_skipped;
  int pending_discont;
  int need_keyframe;            /* 1: wanted, 2: asked the writer */
  int in_gap;
  int rewound;                  /* went back to a keyframe in this gap */
  uint64_t gap_start;           /* a keyframe from here on may start us */
  uint64_t catch_up_to;         /* rewound to a keyframe: read up to here */
  int eos_reported;
  uint64_t next_check;
  int waiting_reported;
  char reason[512];

  /* The frame the last FRAME event described. */
  int have_frame;
  MrFile *fr_file;
  uint64_t fr_seq;
  uint32_t fr_idx;
  uint64_t fr_lock;
  uint64_t fr_size;
  uint32_t fr_flags;
  uint8_t *meta_buf;
  uint64_t meta_buf_size;
  uint8_t *sticky_buf;
  uint64_t sticky_buf_size;

  /* Predicting the next publication, for spin_ns (wait_frame). */
  uint64_t last_publish;        /* of the last frame delivered */
  uint64_t last_seq;
  uint64_t period;              /* expected interval, 0: unknown */
  uint64_t jitter;              /* mean |publication - prediction| */
  uint64_t lateness;            /* mean lateness of a timed wake-up */
  uint64_t wake_target;         /* what the pending timed wait aimed at */
  unsigned misses;              /* recent frames outside the window */

  /* Waking a waiting next(). */
  int interrupted;              /* atomic */
  int event_fd;
  int inotify_fd;
  int watching;

  /* Counters: atomics, read by stats() from any thread. */
  uint64_t frames_read;
  uint64_t frames_skipped;
  uint64_t frames_leased;
  uint64_t writers_seen;
  uint64_t files_seen;
  uint64_t latency;             /* the writer's, as it last said */
};

static void
count (uint64_t * c, int64_t d)
{
  __atomic_add_fetch (c, (uint64_t) d, __ATOMIC_RELAXED);
}

/* --- the reader table --- */

static MrLockFile *
reader_lock_file (MmapRingReader * r, MrFile * f)
{
  struct stat st;
  MrLockFile *l;
  int fd;

  if (r->lockf && (uint64_t) r->lockf->ino == f->hdr.lock_ino &&
      r->lockf->dev == f->dev)
    return r->lockf;
  /* Write-only: the lock file has no read permission for anyone. */
  fd = open (r->lock_path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY |
      O_NONBLOCK);
  if (fd < 0)
    return NULL;
  if (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode) ||
      (uint64_t) st.st_ino != f->hdr.lock_ino || st.st_dev != f->dev ||
      !(l = calloc (1, sizeof (*l)))) {
    close (fd);
    return NULL;
  }
  l->refcount = 1;
  l->fd = fd;
  l->dev = st.st_dev;
  l->ino = st.st_ino;
  mr_lockfile_unref (r->lockf);
  r->lockf = l;
  return l;
}

/* Takes a free entry: the first whose lock byte we can write-lock.  A
 * dead reader's leftovers in it (leases, a `waiting` flag) are ours to
 * clear.  Read-only users cannot open the lock file, so they can neither
 * take entries nor keep anyone else from them. */
static void
register_entry (MmapRingReader * r, MrFile * f)
{
  MmapFileHeader *h = MR_HDR (f);
  MrLockFile *l;
  uint32_t k;

  if (!f->writable || !(l = reader_lock_file (r, f)))
    return;
  for (k = 0; k < f->hdr.reader_count; k++) {
    MmapReaderEntry *e = mr_entry (f, k);

    if (mr_lock (l->fd, F_WRLCK, (off_t) (f->hdr.lock_base + k), 1) < 0)
      continue;
    __atomic_exchange_n (&e->leases, 0, __ATOMIC_SEQ_CST);
    if (__atomic_exchange_n (&e->waiting, 0, __ATOMIC_SEQ_CST))
      __atomic_sub_fetch (&h->waiters, 1, __ATOMIC_SEQ_CST);
    __atomic_store_n (&e->pid, (uint32_t) getpid (), __ATOMIC_RELAXED);
    __atomic_store_n (&e->pidns, mr_pidns (), __ATOMIC_RELAXED);
    __atomic_store_n (&e->flags, r->zero_copy ? MMAP_READER_FLAG_ZERO_COPY :
        0, __ATOMIC_RELAXED);
    __atomic_store_n (&e->max_lag, r->max_lag, __ATOMIC_RELAXED);
    __atomic_store_n (&e->last_seq, 0, __ATOMIC_RELAXED);
    __atomic_store_n (&e->frames_read, 0, __ATOMIC_RELAXED);
    __atomic_store_n (&e->frames_skipped, 0, __ATOMIC_RELAXED);
    __atomic_store_n (&e->reader_id, mr_random64 (), __ATOMIC_SEQ_CST);
    f->entry = k;
    f->lock = mr_lockfile_ref (l);
    return;
  }
}

/* When the last reference to the file goes: no lease is out. */
void
mr_entry_release (MrFile * f)
{
  MmapReaderEntry *e = mr_entry (f, f->entry);

  __atomic_store_n (&e->reader_id, 0, __ATOMIC_RELEASE);
  if (f->lock)
    mr_lock (f->lock->fd, F_UNLCK, (off_t) (f->hdr.lock_base + f->entry), 1);
  f->entry = -1;
}

/* Our position, for the writer and gst-mmap-info.  last_seq only once
 * the frame is copied or leased: the writer may then rewrite its slot
 * first (it is in the caches), and must not while we still copy it.
 * Release: the copy happens before the writer sees the new last_seq. */
static void
entry_update (MmapRingReader * r, MrFile * f, uint64_t seq)
{
  MmapReaderEntry *e;

  if (f->entry < 0)
    return;
  e = mr_entry (f, f->entry);
  __atomic_store_n (&e->frames_read, __atomic_load_n (&r->frames_read,
          __ATOMIC_RELAXED), __ATOMIC_RELAXED);
  __atomic_store_n (&e->frames_skipped, __atomic_load_n (&r->frames_skipped,
          __ATOMIC_RELAXED), __ATOMIC_RELAXED);
  __atomic_store_n (&e->last_seq, seq, __ATOMIC_RELEASE);
}

/* --- reading a slot --- */

/* Raw video of a format we interpret: every row of every plane lies in
 * the payload (FORMAT.md 6). */
static int
planes_fit (const MmapRingVideoLayout * lo, const MmapSlotDesc * d,
    char *why, size_t why_size)
{
  uint32_t p;

  if (d->n_planes != lo->n_planes) {
    snprintf (why, why_size, "%u planes for %s, which has %u", d->n_planes,
        lo->format, lo->n_planes);
    return 0;
  }
  for (p = 0; p < lo->n_planes; p++) {
    const MmapRingPlane *pl = &lo->plane[p];
    uint64_t end = d->plane_offset[p] +
        (uint64_t) (pl->rows - 1) * (uint64_t) d->plane_stride[p] +
        pl->row_bytes;
    if ((uint64_t) d->plane_stride[p] < pl->row_bytes || end > d->size) {
      snprintf (why, why_size, "plane %u (offset %llu, stride %d) does not "
          "hold %u rows of %u bytes within the %llu-byte payload", p,
          (unsigned long long) d->plane_offset[p], d->plane_stride[p],
          pl->rows, pl->row_bytes, (unsigned long long) d->size);
      return 0;
    }
  }
  return 1;
}

/* Copies frame s's descriptor (and its records into r->meta_buf) under
 * the slot's seqlock, then checks the copy (FORMAT.md 6 and 8). */
static ReadResult
read_desc (MmapRingReader * r, MrFile * f, uint64_t s, MmapSlotDesc * d,
    uint32_t * idx, uint64_t * lock, char *why, size_t why_size)
{
  MmapFileHeader *h = MR_HDR (f);
  MmapSlotDesc *sd;
  uint32_t i, tries;
  uint64_t l1 = 1, l2;
  int consistent = 0;

  /* Relaxed: ordered after the acquire load of write_seq that let us ask
   * for s, which the writer stored after this entry. */
  i = __atomic_load_n (&h->slot_log[s % MMAP_SLOT_LOG], __ATOMIC_RELAXED);
  *idx = i;
  *lock = 1;
  if (i == MR_SLOT_NONE)
    return RD_DROPPED;
  if (i >= f->hdr.slot_count) {
    snprintf (why, why_size, "slot_log names slot %u of %u", i,
        f->hdr.slot_count);
    return RD_INVALID;
  }
  sd = mr_desc (f, i);
  for (tries = 0; tries < MR_READ_TRIES && !consistent; tries++) {
    if (tries)
      sched_yield ();
    /* Pairs with the writer's release store that made the lock even. */
    l1 = __atomic_load_n (&sd->lock, __ATOMIC_ACQUIRE);
    if (l1 & 1)
      continue;
    memcpy (d, sd, sizeof (*d));
    if (d->seq == s && d->meta_size && d->meta_size <= f->hdr.meta_capacity)
      memcpy (r->meta_buf, mr_slot_data (f, i) + f->hdr.meta_offset,
          d->meta_size);
    /* Orders the copies before the second look at the lock. */
    __atomic_thread_fence (__ATOMIC_ACQUIRE);
    l2 = __atomic_load_n (&sd->lock, __ATOMIC_RELAXED);
    consistent = l1 == l2;
  }
  /* An odd or moving lock is a rewrite (or a writer backing off a leased
   * slot, which we retried): only a consistent copy tells which frame the
   * slot holds, and a failed check is only an error in such a copy. */
  if (!consistent)
    return RD_TORN;
  *lock = l1;
  if (d->seq > s)
    return RD_LOST;
  if (d->seq < s)
    return RD_UNPUBLISHED;
  if (mr_check_desc (&f->hdr, d, why, why_size))
    return RD_INVALID;
  if (mr_check_records (r->meta_buf, d->meta_size, why, why_size))
    return RD_INVALID;
  if (r->layout_known && !(d->frame_flags & MMAP_FRAME_FLAG_NO_BUFFER) &&
      !planes_fit (&r->layout, d, why, why_size))
    return RD_INVALID;
  return RD_OK;
}

/* The slot still holds frame s, untouched since `lock`: the lock has not
 * moved, or it moved only because the writer backed off a leased slot
 * (the content never changes then; a rewrite always ends with another
 * seq).  seq_cst: pairs with the writer's odd store then lease scan. */
static int
still_holds (MrFile * f, uint32_t idx, uint64_t s, uint64_t lock)
{
  MmapSlotDesc *sd = mr_desc (f, idx);
  uint32_t tries;

  for (tries = 0; tries < MR_READ_TRIES; tries++) {
    uint64_t l1 = __atomic_load_n (&sd->lock, __ATOMIC_SEQ_CST), l2, seq;
    if (l1 == lock)
      return !mr_file_broken (f);
    if (!(l1 & 1)) {
      seq = __atomic_load_n (&sd->seq, __ATOMIC_RELAXED);
      __atomic_thread_fence (__ATOMIC_ACQUIRE);
      l2 = __atomic_load_n (&sd->lock, __ATOMIC_RELAXED);
      if (l1 == l2)
        return seq == s && !mr_file_broken (f);
    }
    sched_yield ();
  }
  return 0;
}

/* The newest frame in (after, ws] that a slot really holds: ws itself
 * when the writer is sane, else the highest seq among the consistent
 * descriptors that slot_log names for it; 0 if none. */
static uint64_t
newest_present (MmapRingReader * r, MrFile * f, uint64_t ws, uint64_t after)
{
  MmapSlotDesc d;
  uint32_t idx, i;
  uint64_t lock, best = 0;
  char why[8];

  if (read_desc (r, f, ws, &d, &idx, &lock, why, sizeof (why)) == RD_OK)
    return ws;
  for (i = 0; i < f->hdr.slot_count; i++) {
    MmapSlotDesc *sd = mr_desc (f, i);
    uint64_t l1 = __atomic_load_n (&sd->lock, __ATOMIC_ACQUIRE), seq;
    if (l1 & 1)
      continue;
    seq = __atomic_load_n (&sd->seq, __ATOMIC_RELAXED);
    __atomic_thread_fence (__ATOMIC_ACQUIRE);
    if (__atomic_load_n (&sd->lock, __ATOMIC_RELAXED) != l1)
      continue;
    if (seq > after && seq <= ws && seq > best &&
        __atomic_load_n (&MR_HDR (f)->slot_log[seq % MMAP_SLOT_LOG],
            __ATOMIC_RELAXED) == i)
      best = seq;
  }
  return best;
}

/* Some frame after s is in a slot. */
static int
newer_present (MmapRingReader * r, MrFile * f, uint64_t s, uint64_t ws)
{
  MmapSlotDesc d;
  uint32_t idx;
  uint64_t lock;
  char why[8];
  ReadResult res;

  if (s >= ws)
    return 0;
  res = read_desc (r, f, s + 1, &d, &idx, &lock, why, sizeof (why));
  if (res == RD_OK || res == RD_LOST)
    return 1;
  return newest_present (r, f, ws, s) > s;
}

/* --- position and skips --- */

static void
start_gap (MmapRingReader * r, uint64_t from)
{
  if (!r->in_gap) {
    r->in_gap = 1;
    r->rewound = 0;
    r->gap_start = from;
    r->need_keyframe = r->keyframes;
  }
  r->pending_discont = 1;
}

/* Frames this reader will never output: counted now (stats, its entry),
 * and reported with the next frame it outputs. */
static void
lose (MmapRingReader * r, uint64_t n)
{
  if (!n)
    return;
  start_gap (r, r->next);
  r->pending_skipped += n;
  count (&r->frames_skipped, n);
}

static void
unlose (MmapRingReader * r, uint64_t n)
{
  n = MR_MIN (n, r->pending_skipped);
  r->pending_skipped -= n;
  count (&r->frames_skipped, -(int64_t) n);
}

static void set_reason (MmapRingReader * r, const char *fmt, ...)
    __attribute__((format (printf, 2, 3)));
static void
set_reason (MmapRingReader * r, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  vsnprintf (r->reason, sizeof (r->reason), fmt, ap);
  va_end (ap);
}

static MmapRingEvent
waiting (MmapRingReader * r, MmapRingStatus st, MmapRingError * err,
    int *report)
{
  r->waited = 1;
  *report = !r->waiting_reported;
  r->waiting_reported = 1;
  mr_error (err, st, 0, "%s", r->reason);
  return MMAPRING_EVENT_WAITING;
}

/* Remembers a file we are done with (fd >= 0: kept open, so that its
 * inode cannot be reused; else only its identity, from `st`). */
static void
hold (MmapRingReader * r, int fd, const struct stat *st)
{
  struct stat fst;

  if (r->held_fd >= 0)
    close (r->held_fd);
  r->held = 0;
  r->held_fd = -1;
  if (fd >= 0 && fstat (fd, &fst) == 0) {
    r->held_fd = fd;
    st = &fst;
  } else if (fd >= 0) {
    close (fd);
  }
  if (st) {
    r->held = 1;
    r->held_dev = st->st_dev;
    r->held_ino = st->st_ino;
  }
}

static void
set_file (MmapRingReader * r, MrFile * f)
{
  MrFile *old;

  pthread_mutex_lock (&r->mu);
  old = r->file;
  r->file = f;
  pthread_mutex_unlock (&r->mu);
  if (old) {
    if (!f)
      hold (r, dup (old->fd), NULL);
    mr_file_unref (old);
  }
}

/* Explains an empty location. */
static void
explain_missing (MmapRingReader * r, int e)
{
  struct stat st;

  if (e == ENOENT && stat (r->dir, &st) == 0)
    set_reason (r, "%s: no such file yet (no writer has started)", r->path);
  else if (e == ENOENT)
    set_reason (r, "%s: the directory %s does not exist", r->path, r->dir);
  else if (e == ENOTDIR)
    set_reason (r, "%s: a part of %s is not a directory", r->path, r->dir);
  else if (e == EACCES)
    set_reason (r, "%s: %s may not be searched (permission denied)", r->path,
        r->dir);
  else
    set_reason (r, "%s: %s", r->path, strerror (e));
}

static uint64_t
join_position (MmapRingReader * r, MrFile * f)
{
  MmapFileHeader *h = MR_HDR (f);
  uint64_t ws = __atomic_load_n (&h->write_seq, __ATOMIC_ACQUIRE), s;

  /* A reader that waited for this writer wants all of its frames; one
   * that finds it running starts at the newest. */
  if (r->waited || ws <= f->hdr.base_seq || ws - f->hdr.base_seq >
      UINT64_MAX / 4)
    return f->hdr.base_seq + 1;
  s = newest_present (r, f, ws, f->hdr.base_seq);
  return s ? s : f->hdr.base_seq + 1;
}

static void
position (MmapRingReader * r, MrFile * f, int new_writer)
{
  uint64_t first = f->hdr.base_seq + 1;

  if (!r->positioned || new_writer) {
    /* Joining, or a new writer: everything it has published is new to
     * us (or, joining a running writer, from its newest frame on). */
    r->next = r->positioned ? first : join_position (r, f);
    r->positioned = 1;
    r->in_gap = 0;
    start_gap (r, first);
  } else if (r->next < first) {
    /* The same writer: numbering goes on, and the frames of the files
     * we never saw are lost. */
    lose (r, first - r->next);
    r->next = first;
  }
  r->pos_writer = f->hdr.writer_id;
}

static void
fill_info (MmapRingReader * r, MrFile * f, int new_writer)
{
  MmapRingFileInfo *i = &r->info;
  uint64_t ours = mr_pidns ();

  if (r->info_file)
    mr_file_unref (r->info_file);
  r->info_file = mr_file_ref (f);
  memset (i, 0, sizeof (*i));
  i->path = r->path;
  i->caps = f->caps;
  i->caps_seq = f->hdr.caps_seq;
  i->writer_id = f->hdr.writer_id;
  i->writer_pid = f->hdr.writer_pid;
  i->writer_pid_local = !f->hdr.writer_pidns || !ours ||
      f->hdr.writer_pidns == ours;
  i->slot_count = f->hdr.slot_count;
  i->lease_limit = f->hdr.lease_limit;
  i->slot_capacity = f->hdr.slot_capacity;
  i->meta_capacity = f->hdr.meta_capacity;
  i->base_seq = f->hdr.base_seq;
  i->new_writer = new_writer;
  i->writable = f->writable;
  i->registered = f->entry >= 0;
  r->layout_known = mmapring_video_layout (f->caps, &r->layout) == MMAPRING_OK;
  __atomic_store_n (&r->latency, __atomic_load_n (&MR_HDR (f)->latency_ns,
          __ATOMIC_RELAXED), __ATOMIC_RELAXED);
}

static int
grow (uint8_t ** buf, uint64_t * have, uint64_t need)
{
  uint8_t *p;

  if (*have >= need)
    return 0;
  if (!(p = realloc (*buf, need ? need : 1)))
    return -1;
  *buf = p;
  *have = need;
  return 0;
}

/* What the path names was refused: remembered, reported once, and not
 * retried until the path names another file. */
static Step
refused (MmapRingReader * r, const struct stat *st, MmapRingError * oerr,
    MmapRingEvent * ev, MmapRingError * err, int *report)
{
  int fd;

  if (oerr->status == MMAPRING_ERR_NOT_FOUND)
    return STEP_AGAIN;
  fd = open (r->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  hold (r, fd, st);
  if (oerr->status == MMAPRING_ERR_PERMISSION) {
    /* A file we may not read: a writer may yet replace it. */
    set_reason (r, "%s", oerr->message);
    *ev = waiting (r, MMAPRING_ERR_PERMISSION, err, report);
    return STEP_EVENT;
  }
  if (err)
    *err = *oerr;
  *ev = MMAPRING_EVENT_ERROR;
  return STEP_EVENT;
}

/* A file with a live writer: where to start, our entry, its info. */
static void
begin_file (MmapRingReader * r, MrFile * f)
{
  int new_writer = f->hdr.writer_id != r->pos_writer;

  position (r, f, new_writer);
  register_entry (r, f);
  fill_info (r, f, new_writer);
  r->waiting_reported = 0;
  r->waited = 0;
  r->reason[0] = '\0';
  count (&r->files_seen, 1);
  if (new_writer)
    count (&r->writers_seen, 1);
}

/* No file: open what the path names. */
static Step
open_step (MmapRingReader * r, MmapRingEvent * ev, MmapRingError * err,
    int *report)
{
  MmapRingError oerr;
  struct stat st;
  MrFile *f;
  uint32_t state;
  char who[96];

  if (stat (r->path, &st) < 0) {
    explain_missing (r, errno);
    *ev = waiting (r, MMAPRING_ERR_NOT_FOUND, err, report);
    return STEP_EVENT;
  }
  if (r->held && st.st_dev == r->held_dev && st.st_ino == r->held_ino)
    return STEP_NONE;           /* not replaced yet */
  f = mr_file_open (r->path, -1, &oerr);
  if (!f)
    return refused (r, &st, &oerr, ev, err, report);
  if (grow (&r->meta_buf, &r->meta_buf_size, f->hdr.meta_capacity) < 0) {
    mr_file_unref (f);
    mr_error (err, MMAPRING_ERR_NO_MEMORY, ENOMEM, "%s: out of memory",
        r->path);
    *ev = MMAPRING_EVENT_ERROR;
    return STEP_EVENT;
  }
  hold (r, -1, NULL);
  state = __atomic_load_n (&MR_HDR (f)->state, __ATOMIC_ACQUIRE);
  if (state > MMAP_STATE_REPLACED) {
    mr_error (err, MMAPRING_ERR_INVALID, 0, "%s: invalid gst-mmap file: "
        "unknown state %u", r->path, state);
    hold (r, dup (f->fd), NULL);
    mr_file_unref (f);
    *ev = MMAPRING_EVENT_ERROR;
    return STEP_EVENT;
  }
  set_file (r, f);
  r->finished = 0;
  r->eos_reported = 0;
  r->next_check = 0;
  r->usable = state == MMAP_STATE_RUNNING && mr_writer_alive (f);
  if (!r->usable) {
    /* A leftover: its frames are stale.  Wait for the next writer. */
    mr_describe_writer (&f->hdr, who, sizeof (who));
    set_reason (r, "%s: its writer (%s) %s", r->path, who,
        state == MMAP_STATE_RUNNING ? "died without stopping" :
        state == MMAP_STATE_GONE ? "has stopped" : "has moved on");
    *ev = waiting (r, MMAPRING_ERR_NOT_FOUND, err, report);
    return STEP_EVENT;
  }
  begin_file (r, f);
  *ev = MMAPRING_EVENT_NEW_FILE;
  return STEP_EVENT;
}

/* --- frames --- */

/* The writer's rhythm, from consecutive frames: the period (the frames'
 * duration, else the interval between publications) and how far the
 * publications stray from where the period put them. */
static void
estimate_period (MmapRingReader * r, const MmapSlotDesc * d)
{
  uint64_t t = d->publish_monotonic_ns;
  int follows = r->last_publish && d->seq == r->last_seq + 1 &&
      t > r->last_publish && t - r->last_publish < MR_NS;

  if (follows && r->period) {
    uint64_t want = r->last_publish + r->period;
    uint64_t off = t > want ? t - want : want - t;
    r->jitter += ((int64_t) off - (int64_t) r->jitter) / 8;
  }
  if (d->duration != MMAP_TIME_NONE && d->duration && d->duration < MR_NS)
    r->period = d->duration;
  else if (follows)
    r->period = t - r->last_publish;
  else
    r->period = 0;
  r->last_publish = t;
  r->last_seq = d->seq;
  r->wake_target = 0;
}

static void
deliver (MmapRingReader * r, MrFile * f, const MmapSlotDesc * d,
    uint32_t idx, uint64_t lock, MmapRingFrame * fr)
{
  uint32_t p;

  memset (fr, 0, sizeof (*fr));
  fr->seq = d->seq;
  fr->pts = d->pts;
  fr->dts = d->dts;
  fr->duration = d->duration;
  fr->offset = d->offset;
  fr->offset_end = d->offset_end;
  fr->pts_monotonic_ns = d->pts_monotonic_ns;
  fr->publish_monotonic_ns = d->publish_monotonic_ns;
  fr->publish_realtime_ns = d->publish_realtime_ns;
  fr->size = d->size;
  fr->buffer_flags = d->buffer_flags;
  fr->n_planes = d->n_planes;
  for (p = 0; p < d->n_planes; p++) {
    fr->plane_offset[p] = d->plane_offset[p];
    fr->plane_stride[p] = d->plane_stride[p];
  }
  fr->caps_seq = d->caps_seq;
  fr->meta_size = d->meta_size;
  fr->frame_flags = d->frame_flags;
  fr->meta = d->meta_size ? r->meta_buf : NULL;
  fr->skipped = r->pending_skipped;
  fr->discont = r->pending_discont;
  fr->keyframe = !(d->buffer_flags & MMAP_BUFFER_FLAG_DELTA_UNIT);
  fr->found_monotonic_ns = mr_now (CLOCK_MONOTONIC);

  r->have_frame = 1;
  r->fr_file = f;
  r->fr_seq = d->seq;
  r->fr_idx = idx;
  r->fr_lock = lock;
  r->fr_size = d->size;
  r->fr_flags = d->frame_flags;
  r->next = d->seq + 1;
  r->in_gap = 0;
  r->eos_reported = 0;
  r->pending_skipped = 0;
  r->pending_discont = 0;
  count (&r->frames_read, 1);
  estimate_period (r, d);
  __atomic_store_n (&r->latency, __atomic_load_n (&MR_HDR (f)->latency_ns,
          __ATOMIC_RELAXED), __ATOMIC_RELAXED);
}

/* After a gap (or joining) in a stream with delta units: start at the
 * newest keyframe of the gap when every frame since is still in the
 * ring, or else at the next keyframe, asking the writer for one.  Called
 * with frame s, a delta unit: returns 1, having moved the position. */
static int
hold_back_delta (MmapRingReader * r, MrFile * f, uint64_t s, uint64_t ws)
{
  MmapFileHeader *h = MR_HDR (f);
  uint64_t k = __atomic_load_n (&h->keyframe_seq, __ATOMIC_RELAXED);

  MmapSlotDesc d;
  uint32_t idx;
  uint64_t lock;
  char why[8];

  /* Once per gap, and only to a keyframe that is really there. */
  if (!r->rewound && k >= r->gap_start && k < s && k > f->hdr.base_seq &&
      ws - k < f->hdr.slot_count &&
      read_desc (r, f, k, &d, &idx, &lock, why, sizeof (why)) == RD_OK) {
    r->rewound = 1;
    /* Go back: the frames from k on were not lost after all. */
    unlose (r, s - k);
    r->next = k;
    r->catch_up_to = ws;
    return 1;
  }
  if (r->need_keyframe == 1) {
    mmapring_reader_request_keyframe (r);
    r->need_keyframe = 2;
  }
  lose (r, 1);
  r->next = s + 1;
  return 1;
}

static Step
frame_step (MmapRingReader * r, MrFile * f, MmapRingFrame * fr,
    MmapRingEvent * ev, MmapRingError * err)
{
  MmapFileHeader *h = MR_HDR (f);
  MmapSlotDesc d;
  uint64_t ws, lock, limit;
  uint32_t idx;
  ReadResult res;
  char why[256];

  ws = __atomic_load_n (&h->write_seq, __ATOMIC_ACQUIRE);
  /* Nothing new.  A write_seq below what we have read is ignored: a
   * writer never lowers it within a file, and following it would output
   * frames a second time. */
  if (ws < r->next)
    return STEP_NONE;
  limit = r->max_lag ? MR_MIN (r->max_lag, MMAP_SLOT_LOG) : f->hdr.slot_count;
  /* Not while reading up from a keyframe we went back to. */
  if (ws - r->next >= limit && r->next > r->catch_up_to) {
    /* Too far behind: to the newest frame, if one is really there.  If
     * none is (write_seq is wild), wait: never walk frame by frame
     * across a range the writer may not have published. */
    uint64_t t = newest_present (r, f, ws, r->next - 1);
    if (!t)
      return STEP_NONE;
    if (t > r->next) {
      lose (r, t - r->next);
      r->next = t;
    }
  }
  res = read_desc (r, f, r->next, &d, &idx, &lock, why, sizeof (why));
  switch (res) {
    case RD_OK:
      break;
    case RD_TORN:
      /* Lost only once a newer frame is there: a slot that stays odd
       * with no frame after it proves nothing (a hostile file could make
       * us wait on it, never count for ever: the lag limit above bounds
       * this walk). */
      if (!newer_present (r, f, r->next, ws))
        return STEP_NONE;
      /* fall through */
    case RD_DROPPED:
    case RD_LOST:
      lose (r, 1);
      r->next++;
      return STEP_AGAIN;
    case RD_UNPUBLISHED:
      /* write_seq says it is there and no slot has it: a wild write_seq
       * (the writer's next publication overwrites it).  Wait. */
      return STEP_NONE;
    case RD_INVALID:
      mr_error (err, MMAPRING_ERR_INVALID, 0, "%s: invalid gst-mmap file: "
          "frame %llu: %s", r->path, (unsigned long long) r->next, why);
      *ev = MMAPRING_EVENT_ERROR;
      set_file (r, NULL);
      return STEP_EVENT;
  }
  /* A keyframe is a frame that is not a delta unit (h264parse flags its
   * IDR access units HEADER too); delta units flagged HEADER (in-band
   * stream headers) go through while we wait. */
  if (r->need_keyframe && !(d.frame_flags & MMAP_FRAME_FLAG_NO_BUFFER)) {
    if (!(d.buffer_flags & MMAP_BUFFER_FLAG_DELTA_UNIT))
      r->need_keyframe = 0;
    else if (!(d.buffer_flags & MMAP_BUFFER_FLAG_HEADER) &&
        hold_back_delta (r, f, r->next, ws))
      return STEP_AGAIN;
  }
  deliver (r, f, &d, idx, lock, fr);
  *ev = MMAPRING_EVENT_FRAME;
  return STEP_EVENT;
}

/* --- waiting --- */

static void
watch_dir (MmapRingReader * r)
{
  if (r->watching || r->inotify_fd < 0)
    return;
  /* Without the watch we still look every MR_CHECK_INTERVAL_NS. */
  if (inotify_add_watch (r->inotify_fd, r->dir, IN_CREATE | IN_MOVED_TO |
          IN_ATTRIB | IN_CLOSE_WRITE) >= 0)
    r->watching = 1;
}

/* Sleeps until the directory changes, interrupt(), or until `until`. */
static void
sleep_for_path (MmapRingReader * r, uint64_t until)
{
  struct pollfd pfd[2];
  uint64_t now = mr_now (CLOCK_MONOTONIC), t;
  char buf[4096];
  int n = 0;

  if (until <= now)
    return;
  t = MR_MIN (until - now, MR_CHECK_INTERVAL_NS);
  watch_dir (r);
  pfd[n].fd = r->event_fd;
  pfd[n++].events = POLLIN;
  if (r->watching) {
    pfd[n].fd = r->inotify_fd;
    pfd[n++].events = POLLIN;
  }
  poll (pfd, n, (int) ((t + MR_MS - 1) / MR_MS));
  if (r->watching)
    while (read (r->inotify_fd, buf, sizeof (buf)) > 0);
}

static int
interrupted (MmapRingReader * r)
{
  return __atomic_load_n (&r->interrupted, __ATOMIC_ACQUIRE);
}

static void
futex_sleep (MmapRingReader * r, MrFile * f, uint32_t seen, uint64_t t)
{
  MmapFileHeader *h = MR_HDR (f);
  MmapReaderEntry *e;

  if (f->entry < 0) {
    /* We cannot say that we sleep (read-only, or no entry), so the
     * writer will not wake us: poll. */
    mr_futex_wait (&h->futex, seen, MR_MIN (t, MR_POLL_NS));
    return;
  }
  e = mr_entry (f, f->entry);
  /* seq_cst pairs with the writer's futex += 1 then load of waiters:
   * either it sees us and wakes us, or we see the new futex value.  The
   * flag makes the count something a dead reader's entry gives back. */
  if (!__atomic_exchange_n (&e->waiting, 1, __ATOMIC_SEQ_CST))
    __atomic_add_fetch (&h->waiters, 1, __ATOMIC_SEQ_CST);
  if (__atomic_load_n (&h->futex, __ATOMIC_SEQ_CST) == seen && !interrupted (r))
    mr_futex_wait (&h->futex, seen, t);
  if (__atomic_exchange_n (&e->waiting, 0, __ATOMIC_SEQ_CST))
    __atomic_sub_fetch (&h->waiters, 1, __ATOMIC_SEQ_CST);
}

/* With spin_ns: this thread's timers fire within a microsecond of their
 * time rather than the default 50 (timer slack is per thread). */
static void
precise_timers (void)
{
  static __thread int done;

  if (!done) {
    prctl (PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
    done = 1;
  }
}

/* Waits for the writer's next publication or change, until `until`.
 *
 * Sleeping on the futex costs a wake-up when the frame comes: on a
 * virtual CPU tens of microseconds that polling would save.  With
 * spin_ns, the reader polls write_seq in a window of spin_ns around the
 * instant the writer's period predicts, and sleeps the rest of the time.
 * It gets there early by learning how late its timed wake-ups return,
 * and does not poll at all while publications stray from the prediction
 * by more than half the window (a writer without a steady rhythm), nor
 * for a while after frames kept missing the window: the cost stays the
 * window at most, and only when it pays.  While polling it is not
 * counted in `waiters`, so the writer saves its wake-up call too. */
static void
wait_frame (MmapRingReader * r, MrFile * f, uint32_t seen, uint64_t ws,
    uint64_t until)
{
  MmapFileHeader *h = MR_HDR (f);
  uint64_t now = mr_now (CLOCK_MONOTONIC), expect, start, end, wake;

  if (until <= now)
    return;
  if (!r->spin_ns || !r->period || !r->last_publish ||
      r->jitter > r->spin_ns / 2 || r->misses > 8) {
    if (r->misses)
      r->misses--;              /* try again, some frames later */
    futex_sleep (r, f, seen, until - now);
    return;
  }
  precise_timers ();
  if (r->wake_target) {
    /* Back from the timed wait with no frame: how late did it return?
     * A virtual CPU that was descheduled comes back hundreds of
     * microseconds late now and then; learning from those would put
     * every window far too early, so they count as the window's worth. */
    if (now > r->wake_target)
      r->lateness += ((int64_t) MR_MIN (now - r->wake_target, r->spin_ns) -
          (int64_t) r->lateness) / 4;
    r->wake_target = 0;
  }
  expect = r->last_publish + r->period;
  start = expect - r->spin_ns / 2;
  end = expect + r->spin_ns / 2;
  wake = start > r->lateness ? start - r->lateness : 0;
  if (now < wake) {
    /* Registered: a frame that comes early still wakes us. */
    r->wake_target = MR_MIN (wake, until);
    futex_sleep (r, f, seen, r->wake_target - now);
    return;
  }
  if (now < end) {
    unsigned n = 0;
    while (__atomic_load_n (&h->write_seq, __ATOMIC_ACQUIRE) == ws &&
        !interrupted (r) && (++n & 31 || mr_now (CLOCK_MONOTONIC) < end))
      mr_cpu_relax ();
    if (__atomic_load_n (&h->write_seq, __ATOMIC_ACQUIRE) != ws) {
      r->misses = 0;
      return;
    }
  }
  /* Past the window: sleep until it comes. */
  r->misses += 2;
  now = mr_now (CLOCK_MONOTONIC);
  if (now < until)
    futex_sleep (r, f, seen, until - now);
}

static int
path_names_other (MrFile * f)
{
  struct stat st;

  /* A missing path while our writer lives is not a reason to leave. */
  if (stat (f->path, &st) < 0)
    return 0;
  return st.st_dev != f->dev || st.st_ino != f->ino;
}

/* Done with a file: on to the next one, or say why there is none. */
static Step
leave_file (MmapRingReader * r, MrFile * f, uint32_t state,
    MmapRingEvent * ev, MmapRingError * err)
{
  char who[96];
  int report;

  mr_describe_writer (&f->hdr, who, sizeof (who));
  if (state == MMAP_STATE_RUNNING)
    set_reason (r, "%s: its writer (%s) died without stopping", r->path, who);
  else
    set_reason (r, "%s: its writer (%s) has stopped", r->path, who);
  set_file (r, NULL);
  if (state == MMAP_STATE_REPLACED)
    return STEP_AGAIN;          /* the new file is there already */
  *ev = waiting (r, MMAPRING_ERR_NOT_FOUND, err, &report);
  return report ? STEP_EVENT : STEP_AGAIN;
}

/* Truncated under us (the SIGBUS guard caught it): while its live writer
 * has not replaced it, wait; then open afresh. */
static Step
wait_broken (MmapRingReader * r, MrFile * f, uint64_t deadline)
{
  if (!path_names_other (f) && mr_writer_alive (f)) {
    sleep_for_path (r, MR_MIN (deadline, mr_now (CLOCK_MONOTONIC) +
            MR_CHECK_INTERVAL_NS));
    return STEP_NONE;
  }
  set_file (r, NULL);
  return STEP_AGAIN;
}

/* A dead writer's file: wait for the path to name another. */
static Step
wait_unusable (MmapRingReader * r, MrFile * f, uint32_t state,
    uint64_t deadline)
{
  if (state != MMAP_STATE_RUNNING || path_names_other (f)) {
    set_file (r, NULL);
    return STEP_AGAIN;
  }
  sleep_for_path (r, deadline);
  if (path_names_other (f) || __atomic_load_n (&MR_HDR (f)->state,
          __ATOMIC_ACQUIRE) != MMAP_STATE_RUNNING)
    set_file (r, NULL);
  return mr_now (CLOCK_MONOTONIC) >= deadline ? STEP_NONE : STEP_AGAIN;
}

/* Leaving a file: frames numbered and never readable (a slot the writer
 * stopped rewriting) are lost; but not numbers no slot says were
 * published. */
static uint64_t
unreadable (MmapRingReader * r, MrFile * f, uint64_t ws)
{
  uint64_t lost = 0, at, lock;
  MmapSlotDesc d;
  uint32_t idx;
  char why[8];

  for (at = r->next; at <= ws && ws - r->next < f->hdr.slot_count; at++) {
    if (read_desc (r, f, at, &d, &idx, &lock, why, sizeof (why)) ==
        RD_UNPUBLISHED)
      break;
    lost++;
  }
  return lost;
}

/* Following a file: frames, EOS, or the end of the file. */
static Step
follow_step (MmapRingReader * r, MrFile * f, uint64_t deadline,
    MmapRingFrame * fr, MmapRingEvent * ev, MmapRingError * err)
{
  MmapFileHeader *h = MR_HDR (f);
  uint64_t ws, now;
  uint32_t seen, state;
  Step s;

  if (mr_file_broken (f))
    return wait_broken (r, f, deadline);
  /* futex before write_seq: a publication after these loads changes the
   * word we would sleep on.  state before write_seq: a final state
   * implies the final write_seq. */
  seen = __atomic_load_n (&h->futex, __ATOMIC_ACQUIRE);
  state = __atomic_load_n (&h->state, __ATOMIC_ACQUIRE);
  if (state > MMAP_STATE_REPLACED) {
    mr_error (err, MMAPRING_ERR_INVALID, 0, "%s: invalid gst-mmap file: "
        "unknown state %u", r->path, state);
    set_file (r, NULL);
    *ev = MMAPRING_EVENT_ERROR;
    return STEP_EVENT;
  }
  if (!r->usable)
    return wait_unusable (r, f, state, deadline);
  if (state == MMAP_STATE_GONE || state == MMAP_STATE_REPLACED)
    r->finished = 1;
  s = frame_step (r, f, fr, ev, err);
  if (s != STEP_NONE)
    return s;

  ws = __atomic_load_n (&h->write_seq, __ATOMIC_ACQUIRE);
  /* eos before write_seq: the writer sets eos after its last frame, so
   * only a write_seq loaded after eos is sure to include that frame. */
  if (ws + 1 == r->next && !r->eos_reported &&
      __atomic_load_n (&h->eos, __ATOMIC_ACQUIRE) &&
      __atomic_load_n (&h->write_seq, __ATOMIC_ACQUIRE) + 1 == r->next) {
    r->eos_reported = 1;
    *ev = MMAPRING_EVENT_EOS;
    return STEP_EVENT;
  }
  if (r->finished) {
    lose (r, unreadable (r, f, ws));
    return leave_file (r, f, state, ev, err);
  }
  now = mr_now (CLOCK_MONOTONIC);
  if (now >= r->next_check) {
    r->next_check = now + MR_CHECK_INTERVAL_NS;
    if (!mr_writer_alive (f) || path_names_other (f)) {
      /* Frames published before it died or moved on are still there. */
      r->finished = 1;
      return STEP_AGAIN;
    }
  }
  if (now >= deadline)
    return STEP_NONE;
  wait_frame (r, f, seen, ws, MR_MIN (deadline, r->next_check));
  return STEP_AGAIN;
}

MR_EXPORT MmapRingEvent
mmapring_reader_next (MmapRingReader * r, int64_t timeout_ns,
    MmapRingFrame * fr, MmapRingError * err)
{
  uint64_t deadline = timeout_ns < 0 ? UINT64_MAX :
      mr_now (CLOCK_MONOTONIC) + (uint64_t) timeout_ns;
  MmapRingFrame scratch;
  unsigned steps = 0;

  if (!fr)
    fr = &scratch;
  r->have_frame = 0;
  for (;;) {
    MmapRingEvent ev = MMAPRING_EVENT_TIMEOUT;
    int report = 1;
    Step s;

    if (interrupted (r))
      return MMAPRING_EVENT_INTERRUPTED;
    /* Every step makes progress, and is bounded; still, a hostile file
     * must not keep a caller past its deadline. */
    if (++steps % 1024 == 0 && mr_now (CLOCK_MONOTONIC) >= deadline)
      return MMAPRING_EVENT_TIMEOUT;
    if (!r->file)
      s = open_step (r, &ev, err, &report);
    else
      s = follow_step (r, r->file, deadline, fr, &ev, err);
    if (s == STEP_EVENT && (ev != MMAPRING_EVENT_WAITING || report))
      return ev;
    if (s == STEP_AGAIN)
      continue;
    if (mr_now (CLOCK_MONOTONIC) >= deadline)
      return MMAPRING_EVENT_TIMEOUT;
    if (!r->file)
      sleep_for_path (r, deadline);
  }
}

/* --- payload --- */

static MmapRingStatus
frame_gone (MmapRingReader * r, MmapRingError * err)
{
  r->have_frame = 0;
  count (&r->frames_read, -1);
  lose (r, 1);
  mr_error (err, MMAPRING_ERR_LOST, 0, "%s: frame %llu was overwritten "
      "while read", r->path, (unsigned long long) r->fr_seq);
  return MMAPRING_ERR_LOST;
}

MR_EXPORT MmapRingStatus
mmapring_reader_copy (MmapRingReader * r, void *dst, uint64_t dst_size,
    MmapRingError * err)
{
  MrFile *f = r->fr_file;

  if (!r->have_frame || f != r->file || dst_size < r->fr_size) {
    mr_error (err, MMAPRING_ERR_ARGUMENT, 0, "%s: copy: no frame to copy, "
        "or %llu bytes are too few", r->path, (unsigned long long) dst_size);
    return MMAPRING_ERR_ARGUMENT;
  }
  memcpy (dst, mr_slot_data (f, r->fr_idx), r->fr_size);
  /* Orders the payload copy before the re-check: a writer that started
   * rewriting the slot meanwhile has changed the lock for good. */
  __atomic_thread_fence (__ATOMIC_ACQUIRE);
  if (!still_holds (f, r->fr_idx, r->fr_seq, r->fr_lock))
    return frame_gone (r, err);
  entry_update (r, f, r->fr_seq);
  return MMAPRING_OK;
}

static uint32_t
leases_total (MrFile * f)
{
  uint32_t k, n = 0;

  for (k = 0; k < f->hdr.reader_count; k++)
    n += __builtin_popcountll (__atomic_load_n (&mr_entry (f, k)->leases,
            __ATOMIC_SEQ_CST));
  return n;
}

MR_EXPORT MmapRingStatus
mmapring_reader_lease (MmapRingReader * r, MmapRingLease ** out,
    MmapRingError * err)
{
  MrFile *f = r->fr_file;
  MmapReaderEntry *e;
  MmapRingLease *l;
  uint64_t bit;

  *out = NULL;
  if (!r->have_frame || f != r->file) {
    mr_error (err, MMAPRING_ERR_ARGUMENT, 0, "%s: lease: no frame", r->path);
    return MMAPRING_ERR_ARGUMENT;
  }
  if (!r->zero_copy || f->entry < 0 || f->hdr.lease_limit == 0 ||
      (uint32_t) __atomic_load_n (&f->leases_out, __ATOMIC_RELAXED) >=
      r->max_leases) {
    mr_error (err, MMAPRING_ERR_NO_LEASE, 0, "%s: no lease available", r->path);
    return MMAPRING_ERR_NO_LEASE;
  }
  e = mr_entry (f, f->entry);
  bit = BIT (r->fr_idx);
  /* Set our bit first, then count: of two readers racing for the last
   * unit, at least one sees both bits (seq_cst) and backs off.  A dead
   * reader's bits go with its entry, so nothing can leak. */
  if (__atomic_fetch_or (&e->leases, bit, __ATOMIC_SEQ_CST) & bit) {
    mr_error (err, MMAPRING_ERR_NO_LEASE, 0, "%s: slot already leased",
        r->path);
    return MMAPRING_ERR_NO_LEASE;
  }
  if (leases_total (f) > f->hdr.lease_limit) {
    __atomic_fetch_and (&e->leases, ~bit, __ATOMIC_SEQ_CST);
    mr_error (err, MMAPRING_ERR_NO_LEASE, 0, "%s: the writer's lease limit "
        "is reached", r->path);
    return MMAPRING_ERR_NO_LEASE;
  }
  /* With our bit visible, a writer that has not yet taken the slot never
   * will; one that already has shows in the lock. */
  if (!still_holds (f, r->fr_idx, r->fr_seq, r->fr_lock)) {
    __atomic_fetch_and (&e->leases, ~bit, __ATOMIC_SEQ_CST);
    return frame_gone (r, err);
  }
  if (!(l = calloc (1, sizeof (*l)))) {
    __atomic_fetch_and (&e->leases, ~bit, __ATOMIC_SEQ_CST);
    mr_error (err, MMAPRING_ERR_NO_MEMORY, ENOMEM, "%s: out of memory",
        r->path);
    return MMAPRING_ERR_NO_MEMORY;
  }
  l->file = mr_file_ref (f);
  l->idx = r->fr_idx;
  l->data = mr_slot_data (f, r->fr_idx);
  l->size = r->fr_size;
  __atomic_add_fetch (&f->leases_out, 1, __ATOMIC_RELAXED);
  count (&r->frames_leased, 1);
  entry_update (r, f, r->fr_seq);
  *out = l;
  return MMAPRING_OK;
}

MR_EXPORT const uint8_t *
mmapring_lease_data (const MmapRingLease * l)
{
  return l->data;
}

MR_EXPORT uint64_t
mmapring_lease_size (const MmapRingLease * l)
{
  return l->size;
}

MR_EXPORT void
mmapring_lease_release (MmapRingLease * l)
{
  MrFile *f;

  if (!l)
    return;
  f = l->file;
  /* seq_cst (release at least): what downstream read from the slot
   * happens before the writer, which loads leases seq_cst, sees it free. */
  __atomic_fetch_and (&mr_entry (f, f->entry)->leases, ~BIT (l->idx),
      __ATOMIC_SEQ_CST);
  __atomic_sub_fetch (&f->leases_out, 1, __ATOMIC_RELAXED);
  mr_file_unref (f);
  free (l);
}

/* --- the rest --- */

MR_EXPORT MmapRingReader *
mmapring_reader_new (const char *path, MmapRingError * err)
{
  MmapRingReader *r;

  if (!path || !*path) {
    mr_error (err, MMAPRING_ERR_ARGUMENT, 0, "no location given");
    return NULL;
  }
  if (!(r = calloc (1, sizeof (*r)))) {
    mr_error (err, MMAPRING_ERR_NO_MEMORY, ENOMEM, "%s: out of memory", path);
    return NULL;
  }
  pthread_mutex_init (&r->mu, NULL);
  r->path = strdup (path);
  r->dir = mr_dirname (path);
  r->lock_path = mr_lock_path (path);
  r->zero_copy = 1;
  r->max_leases = 2;
  r->keyframes = 1;
  r->held_fd = -1;
  r->event_fd = eventfd (0, EFD_CLOEXEC | EFD_NONBLOCK);
  r->inotify_fd = inotify_init1 (IN_NONBLOCK | IN_CLOEXEC);
  if (!r->path || !r->dir || !r->lock_path || r->event_fd < 0) {
    mr_error (err, MMAPRING_ERR_NO_MEMORY, errno, "%s: cannot set up a "
        "reader: %s", path, strerror (errno));
    mmapring_reader_free (r);
    return NULL;
  }
  return r;
}

MR_EXPORT void
mmapring_reader_set_max_lag (MmapRingReader * r, uint32_t frames)
{
  r->max_lag = frames;
}

MR_EXPORT void
mmapring_reader_set_zero_copy (MmapRingReader * r, int enable,
    uint32_t max_leases)
{
  r->zero_copy = enable != 0;
  r->max_leases = max_leases ? max_leases : 1;
}

MR_EXPORT void
mmapring_reader_set_spin (MmapRingReader * r, uint64_t spin_ns)
{
  r->spin_ns = spin_ns;
}

MR_EXPORT void
mmapring_reader_set_keyframes (MmapRingReader * r, int enable)
{
  r->keyframes = enable != 0;
}

MR_EXPORT const MmapRingFileInfo *
mmapring_reader_file (MmapRingReader * r)
{
  return r->info_file ? &r->info : NULL;
}

MR_EXPORT uint64_t
mmapring_reader_latency (MmapRingReader * r)
{
  return __atomic_load_n (&r->latency, __ATOMIC_RELAXED);
}

MR_EXPORT const char *
mmapring_reader_waiting_reason (MmapRingReader * r)
{
  return r->reason;
}

MR_EXPORT const uint8_t *
mmapring_reader_sticky (MmapRingReader * r, uint32_t * size)
{
  MrFile *f = r->file;
  MmapFileHeader *h;
  unsigned tries;
  char why[8];

  *size = 0;
  if (!f || !f->hdr.sticky_capacity ||
      grow (&r->sticky_buf, &r->sticky_buf_size, f->hdr.sticky_capacity) < 0)
    return NULL;
  h = MR_HDR (f);
  for (tries = 0; tries < 100; tries++) {
    uint64_t l1 = __atomic_load_n (&h->sticky_lock, __ATOMIC_ACQUIRE), n;
    if (l1 & 1) {
      sched_yield ();
      continue;
    }
    n = __atomic_load_n (&h->sticky_size, __ATOMIC_RELAXED);
    if (n > f->hdr.sticky_capacity)
      return NULL;
    memcpy (r->sticky_buf, f->base + f->hdr.sticky_offset, n);
    __atomic_thread_fence (__ATOMIC_ACQUIRE);
    if (__atomic_load_n (&h->sticky_lock, __ATOMIC_RELAXED) != l1)
      continue;
    if (mr_check_records (r->sticky_buf, n, why, sizeof (why)))
      return NULL;
    *size = (uint32_t) n;
    return n ? r->sticky_buf : NULL;
  }
  return NULL;
}

MR_EXPORT void
mmapring_reader_stats (MmapRingReader * r, MmapRingReaderStats * s)
{
  s->frames_read = __atomic_load_n (&r->frames_read, __ATOMIC_RELAXED);
  s->frames_skipped = __atomic_load_n (&r->frames_skipped, __ATOMIC_RELAXED);
  s->frames_leased = __atomic_load_n (&r->frames_leased, __ATOMIC_RELAXED);
  s->writers_seen = __atomic_load_n (&r->writers_seen, __ATOMIC_RELAXED);
  s->files_seen = __atomic_load_n (&r->files_seen, __ATOMIC_RELAXED);
}

MR_EXPORT void
mmapring_reader_interrupt (MmapRingReader * r)
{
  uint64_t one = 1;

  __atomic_store_n (&r->interrupted, 1, __ATOMIC_RELEASE);
  pthread_mutex_lock (&r->mu);
  if (r->file) {
    /* Moving the futex word makes a reader about to sleep on it return
     * at once; other readers of the file take it for a spurious wake. */
    if (r->file->writable)
      __atomic_add_fetch (&MR_HDR (r->file)->futex, 1, __ATOMIC_SEQ_CST);
    mr_futex_wake (&MR_HDR (r->file)->futex);
  }
  pthread_mutex_unlock (&r->mu);
  if (write (r->event_fd, &one, sizeof (one)) < 0) {
    /* The counter is full: a wake-up is pending anyway. */
  }
}

MR_EXPORT void
mmapring_reader_resume (MmapRingReader * r)
{
  uint64_t v;

  __atomic_store_n (&r->interrupted, 0, __ATOMIC_RELEASE);
  while (read (r->event_fd, &v, sizeof (v)) > 0);
}

MR_EXPORT void
mmapring_reader_request_keyframe (MmapRingReader * r)
{
  MrFile *f = r->file;

  if (f && f->writable)
    __atomic_add_fetch (&MR_HDR (f)->keyframe_requests, 1, __ATOMIC_RELAXED);
}

MR_EXPORT void
mmapring_reader_free (MmapRingReader * r)
{
  if (!r)
    return;
  set_file (r, NULL);
  hold (r, -1, NULL);
  if (r->info_file)
    mr_file_unref (r->info_file);
  mr_lockfile_unref (r->lockf);
  if (r->event_fd >= 0)
    close (r->event_fd);
  if (r->inotify_fd >= 0)
    close (r->inotify_fd);
  pthread_mutex_destroy (&r->mu);
  free (r->meta_buf);
  free (r->sticky_buf);
  free (r->path);
  free (r->dir);
  free (r->lock_path);
  free (r);
}

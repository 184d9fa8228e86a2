/* gst-mmap reader, format version 1.  docs/FORMAT.md is the reference for
 * every rule followed here. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "mmapreader.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <linux/futex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* The futex wait timeout: also how often an idle reader looks for a dead
 * writer or a new file at the path, since neither wakes the futex. */
#define CHECK_INTERVAL_NS (100 * 1000000LL)
/* How often to look for the file while there is none to read. */
#define PATH_POLL_NS (10 * 1000000LL)
/* Sleep between polls when the futex cannot be used. */
#define SPIN_POLL_NS (1 * 1000000LL)
/* Further copies of a slot whose lock was odd or moved, before giving the
 * frame up for lost. */
#define READ_RETRIES 3

typedef struct
{
  int fd;                       /* -1: none */
  uint8_t *map;
  size_t map_size;
  dev_t dev;
  ino_t ino;
  int can_wait;                 /* mapping writable and futex usable */
  /* Copied from the validated header snapshot and used for every bounds
   * check afterwards, so a writer scribbling over the header later cannot
   * push us outside the mapping. */
  uint32_t slot_count;
  uint64_t slot_desc_offset;
  uint64_t slot_data_offset;
  uint64_t slot_stride;
  uint64_t slot_capacity;
  uint64_t base_seq;
  uint64_t writer_id;
  uint64_t caps_seq;
  char caps[MMAP_CAPS_MAX];
} MappedFile;

struct MmapReader
{
  char *path;
  MappedFile cur;
  int finished;                 /* cur will get no more frames */
  /* A file we are done with (finished or invalid).  Holding it open keeps
   * its inode number from being reused, so "the path still names the same
   * inode" stays a reliable test for "no new file yet". */
  int stale_fd;

  int have_pos;
  int waited;                   /* no writer when we first looked */
  uint64_t next_seq;
  uint64_t pos_writer_id;
  int eos_reported;

  uint8_t *buf;
  size_t buf_size;

  uint64_t frames_read;
  uint64_t frames_skipped;
  uint64_t pending_skipped;
  int64_t next_check_ns;
  char error[PATH_MAX + 256];
};

static int64_t
now_ns (clockid_t clock)
{
  struct timespec ts;
  clock_gettime (clock, &ts);
  return (int64_t) ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void
sleep_ns (int64_t ns)
{
  struct timespec ts;
  if (ns <= 0)
    return;
  ts.tv_sec = ns / 1000000000LL;
  ts.tv_nsec = ns % 1000000000LL;
  while (nanosleep (&ts, &ts) < 0 && errno == EINTR);
}

static void set_error (MmapReader * r, const char *fmt, ...)
    __attribute__((format (printf, 2, 3)));

static void
set_error (MmapReader * r, const char *fmt, ...)
{
  va_list ap;
  int n = snprintf (r->error, sizeof r->error, "%s: ", r->path);
  if (n < 0 || (size_t) n >= sizeof r->error)
    return;
  va_start (ap, fmt);
  vsnprintf (r->error + n, sizeof r->error - n, fmt, ap);
  va_end (ap);
}

int
mmap_header_check (const MmapFileHeader * h, uint64_t file_bytes,
    char *why, size_t why_size)
{
  uint64_t descs_end;

#define BAD(...) do { snprintf (why, why_size, __VA_ARGS__); return 0; } while (0)
  if (file_bytes < MMAP_HEADER_SIZE)
    BAD ("file is smaller than the 4096-byte header (%llu bytes)",
        (unsigned long long) file_bytes);
  if (memcmp (h->magic, MMAP_FORMAT_MAGIC, 8) != 0)
    BAD ("bad magic (not a gst-mmap file)");
  if (h->version != MMAP_FORMAT_VERSION)
    BAD ("unsupported format version %u (this reader knows %u)",
        h->version, MMAP_FORMAT_VERSION);
  if (h->header_size != MMAP_HEADER_SIZE)
    BAD ("header_size %u is not %u", h->header_size, MMAP_HEADER_SIZE);
  if (h->file_size < MMAP_HEADER_SIZE || h->file_size > file_bytes)
    BAD ("file_size %llu is larger than the file (%llu bytes)",
        (unsigned long long) h->file_size, (unsigned long long) file_bytes);
  if (h->slot_count < MMAP_SLOTS_MIN || h->slot_count > MMAP_SLOTS_MAX)
    BAD ("slot_count %u is outside %u..%u", h->slot_count, MMAP_SLOTS_MIN,
        MMAP_SLOTS_MAX);
  if (h->slot_desc_size != MMAP_SLOT_DESC_SIZE)
    BAD ("slot_desc_size %u is not %u", h->slot_desc_size, MMAP_SLOT_DESC_SIZE);
  /* slot_count <= 64 keeps the descriptor products from overflowing */
  if (h->slot_desc_offset < MMAP_HEADER_SIZE || h->slot_desc_offset % 8 != 0
      || h->slot_desc_offset > h->file_size
      || h->file_size - h->slot_desc_offset <
      (uint64_t) h->slot_count * MMAP_SLOT_DESC_SIZE)
    BAD ("slot descriptors at %llu lie outside the file",
        (unsigned long long) h->slot_desc_offset);
  descs_end = h->slot_desc_offset
      + (uint64_t) h->slot_count * MMAP_SLOT_DESC_SIZE;
  if (h->slot_data_offset < descs_end || h->slot_data_offset > h->file_size)
    BAD ("slot_data_offset %llu lies outside the file or over the "
        "descriptors", (unsigned long long) h->slot_data_offset);
  if (h->slot_stride > UINT64_MAX / MMAP_SLOTS_MAX
      || h->file_size - h->slot_data_offset <
      (uint64_t) h->slot_count * h->slot_stride)
    BAD ("%u slots of %llu bytes at %llu lie outside the file",
        h->slot_count, (unsigned long long) h->slot_stride,
        (unsigned long long) h->slot_data_offset);
  if (h->slot_capacity > h->slot_stride)
    BAD ("slot_capacity %llu is larger than slot_stride %llu",
        (unsigned long long) h->slot_capacity,
        (unsigned long long) h->slot_stride);
  if (h->caps_length >= MMAP_CAPS_MAX || h->caps[h->caps_length] != '\0'
      || memchr (h->caps, '\0', h->caps_length) != NULL)
    BAD ("caps string is not NUL terminated at caps_length %u", h->caps_length);
  if (h->state > MMAP_STATE_REPLACED)
    BAD ("unknown state %u", h->state);
#undef BAD
  return 1;
}

static const char *
check_desc (const MmapSlotDesc * d, uint64_t capacity)
{
  uint32_t p;

  if (d->size > capacity)
    return "slot descriptor size is larger than slot_capacity";
  if (d->n_planes > MMAP_MAX_PLANES)
    return "slot descriptor n_planes is larger than 4";
  for (p = 0; p < d->n_planes; p++) {
    int64_t stride = d->plane_stride[p];
    if (d->plane_offset[p] > d->size)
      return "plane offset is outside the payload";
    if ((uint64_t) (stride < 0 ? -stride : stride) > d->size)
      return "plane stride is larger than the payload";
  }
  return NULL;
}

MmapReader *
mmap_reader_new (const char *path)
{
  MmapReader *r = calloc (1, sizeof *r);
  if (!r)
    return NULL;
  r->path = strdup (path);
  if (!r->path) {
    free (r);
    return NULL;
  }
  r->cur.fd = -1;
  r->stale_fd = -1;
  return r;
}

static void
unmap_current (MmapReader * r)
{
  if (r->cur.map)
    munmap (r->cur.map, r->cur.map_size);
  r->cur.map = NULL;
  if (r->cur.fd >= 0) {
    if (r->stale_fd >= 0)
      close (r->stale_fd);
    r->stale_fd = r->cur.fd;
  }
  r->cur.fd = -1;
  r->finished = 0;
}

void
mmap_reader_free (MmapReader * r)
{
  if (!r)
    return;
  unmap_current (r);
  if (r->stale_fd >= 0)
    close (r->stale_fd);
  free (r->buf);
  free (r->path);
  free (r);
}

const char *
mmap_reader_error (const MmapReader * r)
{
  return r->error;
}

uint64_t
mmap_reader_frames_read (const MmapReader * r)
{
  return r->frames_read;
}

uint64_t
mmap_reader_frames_skipped (const MmapReader * r)
{
  return r->frames_skipped;
}

static int
same_file (int fd, dev_t dev, ino_t ino)
{
  struct stat st;
  return fd >= 0 && fstat (fd, &st) == 0 && st.st_dev == dev
      && st.st_ino == ino;
}

/* 1: the writer holds its lock (or we cannot tell), 0: nobody does. */
static int
writer_alive (int fd)
{
  /* Asking about a read lock finds exactly a conflicting write lock, and
   * works on a read-only descriptor too. */
  struct flock fl = {.l_type = F_RDLCK,.l_whence = SEEK_SET,
    .l_start = MMAP_WRITER_LOCK_OFFSET,.l_len = 1,.l_pid = 0
  };
  if (fcntl (fd, F_OFD_GETLK, &fl) < 0)
    return 1;
  return fl.l_type != F_UNLCK;
}

static int
path_names_other_file (MmapReader * r)
{
  struct stat st;
  if (stat (r->path, &st) < 0)
    return 0;
  return st.st_dev != r->cur.dev || st.st_ino != r->cur.ino;
}

static void
drop_bad (MmapReader * r, int fd)
{
  if (r->stale_fd >= 0)
    close (r->stale_fd);
  r->stale_fd = fd;
}

/* 1: opened a new valid file, 0: nothing new at the path yet, -1: error. */
static int
try_open (MmapReader * r)
{
  MmapFileHeader *h;
  struct stat st;
  char why[200];
  size_t done = 0;
  int fd, writable = 1;
  void *map;

  if (stat (r->path, &st) < 0) {
    if (errno == ENOENT || errno == ENOTDIR)
      return 0;
    set_error (r, "stat: %s", strerror (errno));
    return -1;
  }
  if (same_file (r->stale_fd, st.st_dev, st.st_ino))
    return 0;

  fd = open (r->path, O_RDWR | O_CLOEXEC);
  if (fd < 0 && (errno == EACCES || errno == EROFS || errno == EPERM)) {
    /* Still readable, but we cannot register as a futex waiter. */
    writable = 0;
    fd = open (r->path, O_RDONLY | O_CLOEXEC);
  }
  if (fd < 0) {
    if (errno == ENOENT)
      return 0;
    set_error (r, "open: %s", strerror (errno));
    return -1;
  }
  if (fstat (fd, &st) < 0) {
    set_error (r, "fstat: %s", strerror (errno));
    close (fd);
    return -1;
  }
  if (same_file (r->stale_fd, st.st_dev, st.st_ino)) {
    close (fd);
    return 0;
  }
  if (!S_ISREG (st.st_mode)) {
    set_error (r, "not a regular file");
    drop_bad (r, fd);
    return -1;
  }

  h = malloc (sizeof *h);
  if (!h) {
    set_error (r, "out of memory");
    close (fd);
    return -1;
  }
  if ((uint64_t) st.st_size >= sizeof *h) {
    while (done < sizeof *h) {
      ssize_t n = pread (fd, (char *) h + done, sizeof *h - done, done);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      done += n;
    }
  }
  if (done != sizeof *h)
    snprintf (why, sizeof why, "file is smaller than the 4096-byte header");
  if (done != sizeof *h || !mmap_header_check (h, st.st_size, why, sizeof why)) {
    set_error (r, "invalid gst-mmap file: %s", why);
    free (h);
    drop_bad (r, fd);
    return -1;
  }

  map = mmap (NULL, h->file_size, PROT_READ | (writable ? PROT_WRITE : 0),
      MAP_SHARED, fd, 0);
  if (map == MAP_FAILED) {
    set_error (r, "mmap: %s", strerror (errno));
    free (h);
    drop_bad (r, fd);
    return -1;
  }
  if (r->buf_size < h->slot_capacity || !r->buf) {
    uint8_t *nb = malloc (h->slot_capacity ? h->slot_capacity : 1);
    if (!nb) {
      set_error (r, "out of memory for a %llu-byte frame",
          (unsigned long long) h->slot_capacity);
      munmap (map, h->file_size);
      free (h);
      close (fd);
      return -1;
    }
    free (r->buf);
    r->buf = nb;
    r->buf_size = h->slot_capacity;
  }

  unmap_current (r);
  if (r->stale_fd >= 0)
    close (r->stale_fd);
  r->stale_fd = -1;

  r->cur.fd = fd;
  r->cur.map = map;
  r->cur.map_size = h->file_size;
  r->cur.dev = st.st_dev;
  r->cur.ino = st.st_ino;
  r->cur.can_wait = writable;
  r->cur.slot_count = h->slot_count;
  r->cur.slot_desc_offset = h->slot_desc_offset;
  r->cur.slot_data_offset = h->slot_data_offset;
  r->cur.slot_stride = h->slot_stride;
  r->cur.slot_capacity = h->slot_capacity;
  r->cur.base_seq = h->base_seq;
  r->cur.writer_id = h->writer_id;
  r->cur.caps_seq = h->caps_seq;
  memcpy (r->cur.caps, h->caps, h->caps_length + 1);
  free (h);

  r->finished = 0;
  r->eos_reported = 0;
  r->next_check_ns = 0;
  if (r->have_pos) {
    if (r->cur.writer_id != r->pos_writer_id) {
      /* Everything a new writer has published is new to us. */
      r->pos_writer_id = r->cur.writer_id;
      r->next_seq = r->cur.base_seq + 1;
    } else if (r->next_seq < r->cur.base_seq + 1) {
      /* Same writer: numbering continues; whatever we missed in the files
       * in between is lost. */
      r->pending_skipped += r->cur.base_seq + 1 - r->next_seq;
      r->next_seq = r->cur.base_seq + 1;
    }
  }
  return 1;
}

typedef enum
{ SLOT_OK, SLOT_LOST, SLOT_BAD } SlotResult;

static SlotResult
read_slot (MmapReader * r, uint64_t s, MmapSlotDesc * desc)
{
  MmapFileHeader *h = (MmapFileHeader *) r->cur.map;
  uint32_t i = __atomic_load_n (&h->slot_log[s % MMAP_SLOT_LOG],
      __ATOMIC_RELAXED);
  const uint8_t *d;
  const uint64_t *lock;
  const char *bad = NULL;
  uint64_t l1, l2;
  int attempt;

  if (i >= r->cur.slot_count) {
    set_error (r, "invalid gst-mmap file: slot_log names slot %u of %u",
        i, r->cur.slot_count);
    return SLOT_BAD;
  }
  d = r->cur.map + r->cur.slot_desc_offset + (uint64_t) i *MMAP_SLOT_DESC_SIZE;
  lock = (const uint64_t *) d;

  for (attempt = 0;; attempt++) {
    if (attempt > 0) {
      /* An odd or moved lock does not always mean a new frame: a writer
       * may make the lock odd, find the slot leased and make it even
       * again untouched.  Only seq != s proves the frame gone. */
      if (attempt > READ_RETRIES)
        return SLOT_LOST;
      sched_yield ();
    }
    l1 = __atomic_load_n (lock, __ATOMIC_ACQUIRE);
    if (l1 & 1)
      continue;
    memcpy (desc, d, sizeof *desc);
    if (desc->seq != s)
      return SLOT_LOST;
    /* The copy may be torn; only a copy that the lock confirms is worth
     * calling the file broken for. */
    bad = check_desc (desc, r->cur.slot_capacity);
    if (!bad)
      memcpy (r->buf, r->cur.map + r->cur.slot_data_offset
          + (uint64_t) i * r->cur.slot_stride, desc->size);
    __atomic_thread_fence (__ATOMIC_ACQUIRE);
    l2 = __atomic_load_n (lock, __ATOMIC_RELAXED);
    if (l1 == l2)
      break;
  }
  if (bad) {
    set_error (r, "invalid gst-mmap file: frame %llu: %s",
        (unsigned long long) s, bad);
    return SLOT_BAD;
  }
  return SLOT_OK;
}

static void
wait_publication (MmapReader * r, uint32_t seen_futex, int64_t wait_ns)
{
  MmapFileHeader *h = (MmapFileHeader *) r->cur.map;
  struct timespec ts;

  if (wait_ns <= 0)
    return;
  if (!r->cur.can_wait) {
    sleep_ns (wait_ns < SPIN_POLL_NS ? wait_ns : SPIN_POLL_NS);
    return;
  }
  ts.tv_sec = wait_ns / 1000000000LL;
  ts.tv_nsec = wait_ns % 1000000000LL;
  /* The writer only calls FUTEX_WAKE when it sees waiters != 0; the
   * seq_cst increment followed by a re-check of write_seq closes the race
   * with a publication that happened just before. */
  __atomic_fetch_add (&h->waiters, 1, __ATOMIC_SEQ_CST);
  if (__atomic_load_n (&h->write_seq, __ATOMIC_SEQ_CST) < r->next_seq
      && __atomic_load_n (&h->state, __ATOMIC_SEQ_CST) < MMAP_STATE_GONE) {
    /* Shared (not FUTEX_PRIVATE): the writer is another process. */
    if (syscall (SYS_futex, &h->futex, FUTEX_WAIT, seen_futex, &ts,
            NULL, 0) < 0 && errno == ENOSYS)
      r->cur.can_wait = 0;
  }
  __atomic_fetch_sub (&h->waiters, 1, __ATOMIC_SEQ_CST);
}

MmapReadResult
mmap_reader_read (MmapReader * r, MmapFrame * frame, int timeout_ms)
{
  int64_t deadline = timeout_ms < 0 ? INT64_MAX
      : now_ns (CLOCK_MONOTONIC) + (int64_t) timeout_ms * 1000000LL;

  for (;;) {
    MmapFileHeader *h;
    uint32_t seen_futex, state;
    uint64_t ws;
    int64_t now, until;

    if (r->cur.fd < 0) {
      int rc = try_open (r);
      if (rc < 0)
        return MMAP_READ_ERROR;
      if (rc == 0) {
        r->waited = 1;
        now = now_ns (CLOCK_MONOTONIC);
        if (now >= deadline)
          return MMAP_READ_TIMEOUT;
        sleep_ns (deadline - now < PATH_POLL_NS ? deadline - now :
            PATH_POLL_NS);
        continue;
      }
    }
    h = (MmapFileHeader *) r->cur.map;

    /* Order matters: futex before write_seq so a publication after our
     * check changes the futex word we wait on; state before write_seq so
     * that a final state implies we see the final write_seq. */
    seen_futex = __atomic_load_n (&h->futex, __ATOMIC_ACQUIRE);
    state = __atomic_load_n (&h->state, __ATOMIC_ACQUIRE);
    if (state > MMAP_STATE_REPLACED) {
      set_error (r, "invalid gst-mmap file: unknown state %u", state);
      unmap_current (r);
      return MMAP_READ_ERROR;
    }
    if (state == MMAP_STATE_GONE || state == MMAP_STATE_REPLACED)
      r->finished = 1;
    ws = __atomic_load_n (&h->write_seq, __ATOMIC_ACQUIRE);

    if (!r->have_pos) {
      if (!r->finished && !writer_alive (r->cur.fd))
        r->finished = 1;
      if (r->finished) {
        /* Joining: a file whose writer is done has nothing current. */
        unmap_current (r);
        r->waited = 1;
        continue;
      }
      r->have_pos = 1;
      r->pos_writer_id = r->cur.writer_id;
      /* A reader that waited for this writer wants all of its frames;
       * one that finds it running starts at the newest. */
      r->next_seq = ws > r->cur.base_seq && !r->waited ? ws :
          r->cur.base_seq + 1;
    }

    if (ws >= r->next_seq) {
      uint64_t s;
      SlotResult res;

      if (ws - r->next_seq >= MMAP_SLOT_LOG) {
        /* Older frames are no longer in the publication log. */
        r->pending_skipped += ws - (MMAP_SLOT_LOG - 1) - r->next_seq;
        r->next_seq = ws - (MMAP_SLOT_LOG - 1);
      }
      s = r->next_seq++;
      res = read_slot (r, s, &frame->desc);
      if (res == SLOT_BAD) {
        unmap_current (r);
        return MMAP_READ_ERROR;
      }
      if (res == SLOT_LOST) {
        r->pending_skipped++;
        continue;
      }
      frame->seq = s;
      frame->writer_id = r->cur.writer_id;
      frame->caps_seq = r->cur.caps_seq;
      frame->caps = r->cur.caps;
      frame->data = r->buf;
      frame->size = frame->desc.size;
      frame->latency_ns = frame->desc.publish_monotonic_ns == MMAP_TIME_NONE
          ? 0 : now_ns (CLOCK_MONOTONIC)
          - (int64_t) frame->desc.publish_monotonic_ns;
      frame->skipped = r->pending_skipped;
      r->frames_skipped += r->pending_skipped;
      r->pending_skipped = 0;
      r->frames_read++;
      r->eos_reported = 0;
      return MMAP_READ_FRAME;
    }

    if (__atomic_load_n (&h->eos, __ATOMIC_ACQUIRE) && !r->eos_reported) {
      r->eos_reported = 1;
      return MMAP_READ_EOS;
    }
    if (r->finished) {
      unmap_current (r);
      continue;
    }

    now = now_ns (CLOCK_MONOTONIC);
    if (now >= r->next_check_ns) {
      r->next_check_ns = now + CHECK_INTERVAL_NS;
      if (!writer_alive (r->cur.fd) || path_names_other_file (r)) {
        /* Loop again: frames published before the writer died or moved
         * on are still readable. */
        r->finished = 1;
        continue;
      }
    }
    if (now >= deadline)
      return MMAP_READ_TIMEOUT;
    until = deadline < r->next_check_ns ? deadline : r->next_check_ns;
    wait_publication (r, seen_futex, until - now);
  }
}

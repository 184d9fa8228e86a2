/* mmapring: looking at files from outside (gst-mmap-info): a snapshot of
 * one file through the same validation a reader does, read-only, and the
 * leftovers dead writers leave at a location. */
#include "mr-private.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct MmapRingInspector
{
  MrFile *file;
  int lock_fd;                  /* the location's lock file, or -1 */
  uint64_t pidns;
};

MR_EXPORT MmapRingInspector *
mmapring_inspector_open (const char *path, MmapRingError * err)
{
  MmapRingInspector *in;
  char *lock_path;
  struct stat st;
  int fd;

  fd = open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) {
    int e = errno;
    mr_error (err, mr_status_from_errno (e), e, "%s: cannot open: %s", path,
        strerror (e));
    return NULL;
  }
  if (!(in = calloc (1, sizeof (*in)))) {
    close (fd);
    mr_error (err, MMAPRING_ERR_NO_MEMORY, ENOMEM, "%s: out of memory", path);
    return NULL;
  }
  if (!(in->file = mr_file_open (path, fd, err))) {
    close (fd);
    free (in);
    return NULL;
  }
  in->pidns = mr_pidns ();
  /* Only to test readers' entry locks; write-only, as readers open it.
   * A user who may not open it sees their liveness as unknown. */
  in->lock_fd = -1;
  if ((lock_path = mr_lock_path (path))) {
    in->lock_fd = open (lock_path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW |
        O_NONBLOCK);
    if (in->lock_fd >= 0 && (fstat (in->lock_fd, &st) < 0 ||
            (uint64_t) st.st_ino != in->file->hdr.lock_ino)) {
      close (in->lock_fd);
      in->lock_fd = -1;
    }
    free (lock_path);
  }
  return in;
}

MR_EXPORT void
mmapring_inspector_free (MmapRingInspector * in)
{
  if (!in)
    return;
  if (in->lock_fd >= 0)
    close (in->lock_fd);
  mr_file_unref (in->file);
  free (in);
}

/* The publication rate, from the frames still in the ring: their numbers
 * over their publication times (the ring may hold less than a second).
 * 0 when nothing was published in the last second. */
static void
rate (MrFile * f, double *fps, uint64_t * last)
{
  uint64_t now = mr_now (CLOCK_MONOTONIC), t_new = 0, t_old = 0;
  uint64_t s_new = 0, s_old = 0;
  uint32_t i;

  *fps = 0;
  for (i = 0; i < f->hdr.slot_count; i++) {
    MmapSlotDesc *sd = mr_desc (f, i);
    uint64_t l1 = __atomic_load_n (&sd->lock, __ATOMIC_ACQUIRE), t, seq;
    if (l1 & 1)
      continue;
    t = __atomic_load_n (&sd->publish_monotonic_ns, __ATOMIC_RELAXED);
    seq = __atomic_load_n (&sd->seq, __ATOMIC_RELAXED);
    __atomic_thread_fence (__ATOMIC_ACQUIRE);
    if (__atomic_load_n (&sd->lock, __ATOMIC_RELAXED) != l1 || !seq)
      continue;
    if (seq > s_new) {
      s_new = seq;
      t_new = t;
    }
    if (!s_old || seq < s_old) {
      s_old = seq;
      t_old = t;
    }
  }
  *last = t_new;
  if (!s_new || t_new > now || now - t_new > MR_NS)
    return;
  if (s_new > s_old && t_new > t_old)
    *fps = (double) (s_new - s_old) * 1e9 / (double) (t_new - t_old);
}

MR_EXPORT void
mmapring_inspector_sample (MmapRingInspector * in, MmapRingInfo * i)
{
  MrFile *f = in->file;
  MmapFileHeader *h = MR_HDR (f);
  uint64_t leased = 0;
  uint32_t k;
  struct stat st;

  memset (i, 0, sizeof (*i));
  i->path = f->path;
  i->caps = f->caps;
  i->version = f->hdr.version;
  i->state = __atomic_load_n (&h->state, __ATOMIC_ACQUIRE);
  i->write_seq = __atomic_load_n (&h->write_seq, __ATOMIC_ACQUIRE);
  if (i->state == MMAP_STATE_GONE)
    i->writer_state = MMAPRING_WRITER_STOPPED;
  else if (i->state == MMAP_STATE_REPLACED)
    i->writer_state = MMAPRING_WRITER_REPLACED;
  else if (!mr_writer_alive (f))
    i->writer_state = MMAPRING_WRITER_DEAD;
  else if (__atomic_load_n (&h->eos, __ATOMIC_ACQUIRE))
    i->writer_state = MMAPRING_WRITER_EOS;
  else
    i->writer_state = MMAPRING_WRITER_RUNNING;
  i->writer_pid = f->hdr.writer_pid;
  i->writer_pid_local = !f->hdr.writer_pidns || !in->pidns ||
      f->hdr.writer_pidns == in->pidns;
  i->path_current = stat (f->path, &st) == 0 && st.st_dev == f->dev &&
      st.st_ino == f->ino;
  i->writer_id = f->hdr.writer_id;
  i->caps_seq = f->hdr.caps_seq;
  i->base_seq = f->hdr.base_seq;
  i->frames = i->write_seq >= f->hdr.base_seq ?
      i->write_seq - f->hdr.base_seq : 0;
  i->keyframe_seq = __atomic_load_n (&h->keyframe_seq, __ATOMIC_RELAXED);
  i->keyframe_requests = __atomic_load_n (&h->keyframe_requests,
      __ATOMIC_RELAXED);
  i->waiters = __atomic_load_n (&h->waiters, __ATOMIC_RELAXED);
  i->slot_count = f->hdr.slot_count;
  i->lease_limit = f->hdr.lease_limit;
  i->slot_capacity = f->hdr.slot_capacity;
  i->slot_stride = f->hdr.slot_stride;
  i->meta_capacity = f->hdr.meta_capacity;
  i->sticky_capacity = f->hdr.sticky_capacity;
  i->file_size = f->hdr.file_size;
  i->created_realtime_ns = f->hdr.created_realtime_ns;
  i->latency_ns = __atomic_load_n (&h->latency_ns, __ATOMIC_RELAXED);
  rate (f, &i->fps, &i->last_publish_monotonic_ns);
  for (k = 0; k < f->hdr.reader_count; k++) {
    MmapReaderEntry *e = mr_entry (f, k);
    if (__atomic_load_n (&e->reader_id, __ATOMIC_RELAXED))
      i->readers++;
    leased |= __atomic_load_n (&e->leases, __ATOMIC_RELAXED);
  }
  i->leased = __builtin_popcountll (leased);
}

MR_EXPORT uint32_t
mmapring_inspector_readers (MmapRingInspector * in, MmapRingReaderInfo * out,
    uint32_t max)
{
  MrFile *f = in->file;
  uint64_t ws = __atomic_load_n (&MR_HDR (f)->write_seq, __ATOMIC_ACQUIRE);
  uint32_t k, n = 0;

  for (k = 0; k < f->hdr.reader_count; k++) {
    MmapReaderEntry *e = mr_entry (f, k);
    MmapRingReaderInfo *r;
    uint64_t id = __atomic_load_n (&e->reader_id, __ATOMIC_ACQUIRE), pidns;

    if (!id)
      continue;
    if (n++ >= max)
      continue;
    r = &out[n - 1];
    memset (r, 0, sizeof (*r));
    r->index = k;
    r->reader_id = id;
    r->pid = __atomic_load_n (&e->pid, __ATOMIC_RELAXED);
    pidns = __atomic_load_n (&e->pidns, __ATOMIC_RELAXED);
    r->pid_local = !pidns || !in->pidns || pidns == in->pidns;
    r->alive = in->lock_fd < 0 ? -1 : mr_write_locked (in->lock_fd,
        (off_t) (f->hdr.lock_base + k), 1);
    r->flags = __atomic_load_n (&e->flags, __ATOMIC_RELAXED);
    r->waiting = __atomic_load_n (&e->waiting, __ATOMIC_RELAXED);
    r->leases = __atomic_load_n (&e->leases, __ATOMIC_RELAXED);
    r->last_seq = __atomic_load_n (&e->last_seq, __ATOMIC_RELAXED);
    r->lag = r->last_seq && ws > r->last_seq ? ws - r->last_seq : 0;
    r->frames_read = __atomic_load_n (&e->frames_read, __ATOMIC_RELAXED);
    r->frames_skipped = __atomic_load_n (&e->frames_skipped, __ATOMIC_RELAXED);
    r->max_lag = __atomic_load_n (&e->max_lag, __ATOMIC_RELAXED);
  }
  return n;
}

static void
add_path (char *paths, size_t size, uint32_t max, uint32_t * n, const char *p)
{
  if (*n < max)
    snprintf (paths + (size_t) *n * size, size, "%s", p);
  (*n)++;
}

MR_EXPORT uint32_t
mmapring_stale_files (const char *path, char *paths, size_t size, uint32_t max)
{
  char *dir = mr_dirname (path), *base = mr_basename (path);
  char *lock_path = mr_lock_path (path);
  DIR *d = dir ? opendir (dir) : NULL;
  struct dirent *de;
  uint32_t n = 0;
  size_t blen = base ? strlen (base) : 0;
  int fd;

  while (d && (de = readdir (d))) {
    const char *nm = de->d_name;
    char *full;
    if (nm[0] != '.' || strncmp (nm + 1, base, blen) != 0 ||
        nm[blen + 1] != '.' || strlen (nm) != blen + 8 ||
        strcmp (nm + blen + 1, MMAP_LOCK_FILE_SUFFIX) == 0)
      continue;
    if ((full = mr_strdup_printf ("%s/%s", dir, nm))) {
      add_path (paths, size, max, &n, full);
      free (full);
    }
  }
  if (d)
    closedir (d);
  /* A lock file nobody holds: its writer is gone.  Who may not open it
   * cannot tell, and does not list it. */
  if (lock_path && (fd = open (lock_path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW |
              O_NONBLOCK)) >= 0) {
    if (mr_write_locked (fd, MMAP_WRITER_LOCK_OFFSET, 1) == 0)
      add_path (paths, size, max, &n, lock_path);
    close (fd);
  }
  free (dir);
  free (base);
  free (lock_path);
  return n;
}

MR_EXPORT int
mmapring_location_owned (const char *path)
{
  char *lock_path = mr_lock_path (path);
  int fd, owned = -1;

  if (!lock_path)
    return -1;
  fd = open (lock_path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd >= 0) {
    owned = mr_write_locked (fd, MMAP_WRITER_LOCK_OFFSET, 1);
    close (fd);
  } else if (errno == ENOENT) {
    owned = 0;
  }
  free (lock_path);
  /* The lock file may not be opened: the data file's writer lock tells
   * whether its writer lives, which is the same while it has the name. */
  if (owned < 0 && (fd = open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW |
              O_NONBLOCK)) >= 0) {
    owned = mr_write_locked (fd, MMAP_WRITER_LOCK_OFFSET, 1);
    close (fd);
  }
  return owned;
}

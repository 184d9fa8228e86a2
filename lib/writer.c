/* mmapring: the writer side (FORMAT.md sections 3, 7, 11, 15).
 *
 * A writer first owns the location, through a write lock on byte 0 of
 * DIR/.NAME.lock.  That file is created with only the write permission
 * bits of the data file's mode, so a user who may only read the stream
 * cannot even open it, let alone lock it: reading never gives the power
 * to stop a writer.  Owning the location, the writer can replace whatever
 * data file a dead writer left there, whatever read locks it carries.
 * Each data file is created under a temporary name, locked (byte 0, the
 * lock readers test to know their writer lives) before anyone else can
 * open it, initialised, and only then given the public name. */
#include "mr-private.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define BIT(i) ((uint64_t) 1 << (i))

struct MmapRingWriter
{
  char *path;
  char *dir;
  char *base;
  char *lock_path;
  uint32_t mode;
  MrLockFile *lock;             /* the location, byte 0 write-locked */
  uint64_t writer_id;
  uint64_t pidns;

  /* `mu` guards `file`, which set_format swaps while other threads
   * acquire slots of it. */
  pthread_mutex_t mu;
  MrFile *file;
  MrFile *stale;                /* a dead writer's file at the path */
  dev_t stale_dev;
  ino_t stale_ino;
  int have_stale;

  /* The publishing thread's. */
  uint64_t seq;                 /* last frame published or skipped */
  uint64_t caps_seq;
  char *caps;
  uint64_t latency;
  uint64_t last_publish_ns;     /* CLOCK_MONOTONIC of the last frame */
};

struct MmapRingSlot
{
  MrFile *file;
  uint32_t idx;
  int published;
};

/* --- the location --- */

/* Creating the lock file with only the write bits of the data file's
 * mode: whoever may write the stream may lock it, nobody else may open
 * it.  Owner write always, so that the writer can reopen its own. */
static mode_t
lock_mode (uint32_t mode)
{
  return (mode & 0222) | 0200;
}

static MmapRingStatus
describe_busy (MmapRingWriter * w, MmapRingError * err)
{
  MmapFileHeader h;
  char who[96];
  int fd = open (w->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);

  /* The pid of the file at the path only if its writer lives: a live
   * owner may not have made its file yet (no caps), and the file there
   * may be a dead writer's. */
  snprintf (who, sizeof (who), "which has not created its file yet");
  if (fd >= 0) {
    if (pread (fd, &h, sizeof (h), 0) == (ssize_t) sizeof (h) &&
        memcmp (h.magic, MMAP_FORMAT_MAGIC, 8) == 0 &&
        mr_write_locked (fd, MMAP_WRITER_LOCK_OFFSET, 1) == 1) {
      char pid[80];
      mr_describe_writer (&h, pid, sizeof (pid));
      snprintf (who, sizeof (who), "%s", pid);
    }
    close (fd);
  }
  mr_error (err, MMAPRING_ERR_BUSY, EAGAIN, "%s: in use by another writer "
      "(%s)", w->path, who);
  return MMAPRING_ERR_BUSY;
}

static MmapRingStatus
open_lock_file (MmapRingWriter * w, MmapRingError * err)
{
  unsigned attempt;

  for (attempt = 0; attempt < 10; attempt++) {
    struct stat st, at;
    int fd, created = 0, e;

    /* Without O_CREAT first: in a sticky directory (/dev/shm) the kernel
     * may refuse O_CREAT on another user's file (protected_regular). */
    fd = open (w->lock_path, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
    if (fd < 0 && errno == ENOENT) {
      fd = open (w->lock_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC |
          O_NOFOLLOW | O_NOCTTY, lock_mode (w->mode));
      created = fd >= 0;
      if (fd < 0 && errno == EEXIST)
        continue;
    }
    if (fd < 0) {
      e = errno;
      if (e == ENOENT || e == ENOTDIR)
        mr_error (err, MMAPRING_ERR_NOT_FOUND, e, "%s: the directory %s does "
            "not exist", w->path, w->dir);
      else if (e == ELOOP)
        mr_error (err, MMAPRING_ERR_NOT_OURS, e, "%s: its lock file %s is a "
            "symbolic link, which a writer never follows", w->path,
            w->lock_path);
      else
        mr_error (err, mr_status_from_errno (e), e, "%s: cannot open its "
            "lock file %s: %s", w->path, w->lock_path, strerror (e));
      return err ? err->status : MMAPRING_ERR_IO;
    }
    if (created)
      fchmod (fd, lock_mode (w->mode)); /* whatever the umask */
    if (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode)) {
      close (fd);
      mr_error (err, MMAPRING_ERR_NOT_OURS, 0, "%s: its lock file %s is not "
          "a regular file", w->path, w->lock_path);
      return MMAPRING_ERR_NOT_OURS;
    }
    if (mr_lock (fd, F_WRLCK, MMAP_WRITER_LOCK_OFFSET, 1) < 0) {
      close (fd);
      return describe_busy (w, err);
    }
    /* A writer stopping removes its lock file: the one we locked may
     * have lost its name meanwhile. */
    if (stat (w->lock_path, &at) < 0 || at.st_ino != st.st_ino ||
        at.st_dev != st.st_dev) {
      close (fd);
      continue;
    }
    w->lock = calloc (1, sizeof (*w->lock));
    if (!w->lock) {
      close (fd);
      mr_error (err, MMAPRING_ERR_NO_MEMORY, ENOMEM, "%s: out of memory",
          w->path);
      return MMAPRING_ERR_NO_MEMORY;
    }
    w->lock->refcount = 1;
    w->lock->fd = fd;
    w->lock->dev = st.st_dev;
    w->lock->ino = st.st_ino;
    return MMAPRING_OK;
  }
  mr_error (err, MMAPRING_ERR_BUSY, 0, "%s: its lock file keeps changing: "
      "is another writer starting?", w->path);
  return MMAPRING_ERR_BUSY;
}

/* A writer that died between creating its temporary file and naming it
 * leaves DIR/.NAME.XXXXXX behind.  We own the location, so every one of
 * them is a dead writer's. */
static void
remove_temporaries (MmapRingWriter * w)
{
  DIR *d = opendir (w->dir);
  size_t plen = strlen (w->base) + 2;
  struct dirent *de;

  while (d && (de = readdir (d))) {
    const char *n = de->d_name;
    char *full;
    struct stat st;

    if (n[0] != '.' || strncmp (n + 1, w->base, plen - 2) != 0 ||
        n[plen - 1] != '.' || strlen (n) != plen + 6)
      continue;
    full = mr_strdup_printf ("%s/%s", w->dir, n);
    if (full && lstat (full, &st) == 0 && S_ISREG (st.st_mode) &&
        st.st_uid == geteuid ())
      unlink (full);
    free (full);
  }
  if (d)
    closedir (d);
}

/* What is at the path before our first file: nothing, a dead writer's
 * file (to replace), or something we must not touch. */
static MmapRingStatus
check_path (MmapRingWriter * w, MmapRingError * err)
{
  MmapRingError oerr;
  struct stat st;
  MrFile *f;
  int fd;

  /* O_NOFOLLOW: never write through a symlink planted at the location. */
  fd = open (w->path, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
  if (fd < 0 && errno == EISDIR) {
    mr_error (err, MMAPRING_ERR_NOT_OURS, EISDIR, "%s: exists and is not a "
        "regular file (a directory); not replacing it", w->path);
    return MMAPRING_ERR_NOT_OURS;
  }
  if (fd < 0 && (errno == EACCES || errno == EPERM || errno == EROFS))
    fd = open (w->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY |
        O_NONBLOCK);
  if (fd < 0) {
    int e = errno;
    if (e == ENOENT)
      return MMAPRING_OK;
    if (e == ELOOP)
      mr_error (err, MMAPRING_ERR_NOT_OURS, e, "%s: it is a symbolic link, "
          "which a writer never follows", w->path);
    else
      mr_error (err, mr_status_from_errno (e), e, "%s: cannot open: %s",
          w->path, strerror (e));
    return err ? err->status : MMAPRING_ERR_IO;
  }
  if (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode)) {
    close (fd);
    mr_error (err, MMAPRING_ERR_NOT_OURS, 0, "%s: exists and is not a "
        "regular file; not replacing it", w->path);
    return MMAPRING_ERR_NOT_OURS;
  }
  f = mr_file_open (w->path, fd, &oerr);
  if (!f && oerr.status == MMAPRING_ERR_NOT_OURS) {
    close (fd);
    mr_error (err, MMAPRING_ERR_NOT_OURS, 0, "%s: exists and is not a "
        "gst-mmap file; not replacing it", w->path);
    return MMAPRING_ERR_NOT_OURS;
  }
  /* Ours, valid or damaged (a crashed or older writer's).  A writer of
   * this version would hold the lock file; one that holds the data lock
   * without it is of another version, still alive: leave it. */
  if (mr_write_locked (fd, MMAP_WRITER_LOCK_OFFSET, 1) == 1) {
    if (f)
      mr_file_unref (f);
    else
      close (fd);
    return describe_busy (w, err);
  }
  w->stale_dev = st.st_dev;
  w->stale_ino = st.st_ino;
  w->have_stale = 1;
  /* Kept open (its inode cannot be reused meanwhile) to tell its readers
   * once our file has the name. */
  if (f)
    w->stale = f;
  else
    close (fd);
  return MMAPRING_OK;
}

MR_EXPORT MmapRingWriter *
mmapring_writer_open (const char *path, uint32_t mode, MmapRingError * err)
{
  MmapRingWriter *w;

  if (!path || !*path) {
    mr_error (err, MMAPRING_ERR_ARGUMENT, 0, "no location given");
    return NULL;
  }
  w = calloc (1, sizeof (*w));
  if (!w) {
    mr_error (err, MMAPRING_ERR_NO_MEMORY, ENOMEM, "%s: out of memory", path);
    return NULL;
  }
  pthread_mutex_init (&w->mu, NULL);
  w->path = strdup (path);
  w->dir = mr_dirname (path);
  w->base = mr_basename (path);
  w->lock_path = mr_lock_path (path);
  w->mode = mode & 07777;
  w->writer_id = mr_random64 ();
  w->pidns = mr_pidns ();
  w->latency = 0;
  if (!w->path || !w->dir || !w->base || !w->lock_path) {
    mr_error (err, MMAPRING_ERR_NO_MEMORY, ENOMEM, "%s: out of memory", path);
    goto fail;
  }
  if (!*w->base || strcmp (w->base, ".") == 0 || strcmp (w->base, "..") == 0) {
    mr_error (err, MMAPRING_ERR_ARGUMENT, 0, "%s: not a file name", path);
    goto fail;
  }
  if (open_lock_file (w, err) != MMAPRING_OK)
    goto fail;
  remove_temporaries (w);
  if (check_path (w, err) != MMAPRING_OK)
    goto fail;
  return w;

fail:
  /* A lock file we hold but never used would be litter. */
  mmapring_writer_close (w, 1);
  return NULL;
}

/* --- files --- */

static MmapRingStatus
check_space (MmapRingWriter * w, uint64_t size, MmapRingError * err)
{
  struct statvfs sv;

  if (statvfs (w->dir, &sv) == 0) {
    uint64_t avail = (uint64_t) sv.f_bavail * sv.f_frsize;
    if (avail < size) {
      mr_error (err, MMAPRING_ERR_NO_SPACE, ENOSPC, "%s: not enough space: "
          "the file needs %llu bytes, %s has %llu free", w->path,
          (unsigned long long) size, w->dir, (unsigned long long) avail);
      return MMAPRING_ERR_NO_SPACE;
    }
  }
  return MMAPRING_OK;
}

typedef struct
{
  uint32_t slots, lease_limit;
  uint64_t capacity, meta_off, meta_cap, stride, caps_off, caps_len;
  uint64_t sticky_off, sticky_cap, data_off, size;
} Geometry;

static MmapRingStatus
geometry (MmapRingWriter * w, const MmapRingFormat * fmt, Geometry * g,
    MmapRingError * err)
{
  g->slots = fmt->slot_count ? fmt->slot_count : 8;
  if (g->slots < MMAP_SLOTS_MIN || g->slots > MMAP_SLOTS_MAX) {
    mr_error (err, MMAPRING_ERR_ARGUMENT, 0, "%s: %u slots: a ring has 2 to "
        "64", w->path, g->slots);
    return MMAPRING_ERR_ARGUMENT;
  }
  g->lease_limit = fmt->lease_limit ? fmt->lease_limit : g->slots / 2;
  /* A slot for the writer to copy into always stays, and one more for
   * what upstream renders into. */
  g->lease_limit = MR_MIN (g->lease_limit, g->slots - 2);
  g->caps_len = strlen (fmt->caps);
  if (g->caps_len >= MMAP_CAPS_MAX) {
    mr_error (err, MMAPRING_ERR_TOO_LARGE, 0, "%s: caps of %llu bytes; at "
        "most %u", w->path, (unsigned long long) g->caps_len,
        MMAP_CAPS_MAX - 1);
    return MMAPRING_ERR_TOO_LARGE;
  }
  if (fmt->slot_capacity > ((uint64_t) 1 << 40) || fmt->meta_capacity >
      ((uint64_t) 1 << 30) || fmt->sticky_capacity > ((uint64_t) 1 << 30)) {
    mr_error (err, MMAPRING_ERR_TOO_LARGE, 0, "%s: slots or record areas "
        "too large", w->path);
    return MMAPRING_ERR_TOO_LARGE;
  }
  g->capacity = fmt->slot_capacity;
  g->meta_cap = MR_ALIGN (fmt->meta_capacity, 8);
  g->meta_off = MR_ALIGN (g->capacity, 8);
  g->stride = MR_ALIGN (MR_MAX (g->meta_off + g->meta_cap, 1), MMAP_PAGE_SIZE);
  g->caps_off = MMAP_SLOT_DESC_OFFSET +
      (uint64_t) g->slots * MMAP_SLOT_DESC_SIZE;
  g->sticky_cap = MR_ALIGN (fmt->sticky_capacity, 8);
  g->sticky_off = MR_ALIGN (g->caps_off + g->caps_len + 1, 8);
  g->data_off = MR_ALIGN (g->sticky_off + g->sticky_cap, MMAP_PAGE_SIZE);
  g->size = g->data_off + g->stride * g->slots;
  return MMAPRING_OK;
}

static void
fill_header (MmapRingWriter * w, MrFile * f, const Geometry * g,
    const char *caps)
{
  MmapFileHeader *h = MR_HDR (f);

  /* The file is ours alone until it has its name: plain stores. */
  memcpy (h->magic, MMAP_FORMAT_MAGIC, 8);
  h->version = MMAP_FORMAT_VERSION;
  h->header_size = MMAP_HEADER_SIZE;
  h->file_size = g->size;
  h->slot_count = g->slots;
  h->slot_desc_size = MMAP_SLOT_DESC_SIZE;
  h->slot_desc_offset = MMAP_SLOT_DESC_OFFSET;
  h->slot_data_offset = g->data_off;
  h->slot_stride = g->stride;
  h->slot_capacity = g->capacity;
  h->reader_table_offset = MMAP_READER_TABLE_OFFSET;
  h->reader_count = MMAP_READER_MAX;
  h->reader_entry_size = MMAP_READER_ENTRY_SIZE;
  h->caps_length = g->caps_len;
  h->caps_offset = g->caps_off;
  h->caps_seq = w->caps_seq;
  h->writer_id = w->writer_id;
  h->writer_pid = getpid ();
  h->writer_pidns = w->pidns;
  h->base_seq = w->seq;
  h->created_realtime_ns = mr_now (CLOCK_REALTIME);
  h->meta_offset = g->meta_off;
  h->meta_capacity = g->meta_cap;
  h->sticky_offset = g->sticky_cap ? g->sticky_off : 0;
  h->sticky_capacity = g->sticky_cap;
  h->lock_ino = w->lock->ino;
  /* A region of the lock file of this file's own: entries of an older
   * file, still locked by readers that lease its slots, never collide. */
  h->lock_base = 4096 + ((mr_random64 () & 0xffffff) << 6);
  h->lease_limit = g->lease_limit;
  h->state = MMAP_STATE_RUNNING;
  h->write_seq = w->seq;
  h->keyframe_seq = 0;
  h->latency_ns = w->latency;
  memcpy (f->base + g->caps_off, caps, g->caps_len + 1);
  f->hdr = *h;
}

/* Creates, sizes, locks and maps a temporary file next to the path. */
static MrFile *
create_temporary (MmapRingWriter * w, const Geometry * g, char **tmp_out,
    MmapRingError * err)
{
  char *tmp = mr_strdup_printf ("%s/.%s.XXXXXX", w->dir, w->base);
  MrFile *f = NULL;
  struct stat st;
  int fd, r, e;

  if (!tmp) {
    mr_error (err, MMAPRING_ERR_NO_MEMORY, ENOMEM, "%s: out of memory",
        w->path);
    return NULL;
  }
  fd = mkostemp (tmp, O_CLOEXEC);
  if (fd < 0) {
    e = errno;
    mr_error (err, mr_status_from_errno (e), e, "%s: cannot create a file "
        "next to it: %s", w->path, strerror (e));
    free (tmp);
    return NULL;
  }
  /* Locked while still 0600 and nameless to everyone else: no reader's
   * lock can be in the way. */
  if (mr_lock (fd, F_WRLCK, MMAP_WRITER_LOCK_OFFSET, 1) < 0 ||
      fchmod (fd, w->mode) < 0 || ftruncate (fd, g->size) < 0) {
    e = errno;
    mr_error (err, mr_status_from_errno (e), e, "%s: cannot lock or size "
        "%s: %s", w->path, tmp, strerror (e));
    goto fail;
  }
  /* On tmpfs a page that cannot be had raises SIGBUS at first touch;
   * reserving all of them now makes that an error here. */
  r = posix_fallocate (fd, 0, g->size);
  if (r != 0 && r != EOPNOTSUPP && r != EINVAL) {
    mr_error (err, mr_status_from_errno (r), r, "%s: cannot reserve %llu "
        "bytes: %s", w->path, (unsigned long long) g->size, strerror (r));
    goto fail;
  }
  f = mr_file_new (fd, w->path);
  if (!f || fstat (fd, &st) < 0) {
    mr_error (err, MMAPRING_ERR_NO_MEMORY, ENOMEM, "%s: out of memory",
        w->path);
    goto fail;
  }
  f->dev = st.st_dev;
  f->ino = st.st_ino;
  if (mr_file_map (f, g->size, 1, err) < 0)
    goto fail;
  f->lock = mr_lockfile_ref (w->lock);
  *tmp_out = tmp;
  return f;

fail:
  unlink (tmp);
  free (tmp);
  if (f)
    mr_file_unref (f);
  else
    close (fd);
  return NULL;
}

/* Gives the temporary file the public name.  We own the location, so the
 * path names our previous file, a dead writer's, or nothing; anything
 * else appeared behind our back and is left alone. */
static MmapRingStatus
name_file (MmapRingWriter * w, const char *tmp, MmapRingError * err)
{
  struct stat st;
  int r, e;

  if (lstat (w->path, &st) == 0) {
    int ours = w->file && st.st_dev == w->file->dev &&
        st.st_ino == w->file->ino;
    int stale = w->have_stale && st.st_dev == w->stale_dev &&
        st.st_ino == w->stale_ino;
    if (!ours && !stale) {
      mr_error (err, MMAPRING_ERR_BUSY, 0, "%s: another file was put there "
          "meanwhile; not replacing it", w->path);
      return MMAPRING_ERR_BUSY;
    }
    r = rename (tmp, w->path);
  } else {
    /* link() fails where someone created the path meanwhile, where
     * rename() would silently replace their file. */
    r = link (tmp, w->path);
    if (r == 0)
      unlink (tmp);
  }
  if (r < 0) {
    e = errno;
    mr_error (err, e == EEXIST ? MMAPRING_ERR_BUSY : mr_status_from_errno (e),
        e, "%s: cannot give the new file its name: %s", w->path, strerror (e));
    return err ? err->status : MMAPRING_ERR_IO;
  }
  return MMAPRING_OK;
}

static void
wake_all (MrFile * f)
{
  MmapFileHeader *h = MR_HDR (f);

  __atomic_add_fetch (&h->futex, 1, __ATOMIC_SEQ_CST);
  mr_futex_wake (&h->futex);
}

/* A replaced or stopped file: readers finish it and move on.  The state
 * store (release) follows the last publication, so a reader that sees
 * the final state sees the final write_seq. */
static void
retire (MrFile * f, uint32_t state)
{
  __atomic_store_n (&MR_HDR (f)->state, state, __ATOMIC_RELEASE);
  wake_all (f);
  mr_lock (f->fd, F_UNLCK, MMAP_WRITER_LOCK_OFFSET, 1);
}

/* A dead writer's file we just replaced: its readers would notice the
 * dead lock within 100 ms; REPLACED tells them at once. */
static void
retire_stale (MmapRingWriter * w)
{
  MrFile *f = w->stale;

  w->stale = NULL;
  w->have_stale = 0;
  if (!f)
    return;
  if (f->writable && __atomic_load_n (&MR_HDR (f)->state,
          __ATOMIC_ACQUIRE) == MMAP_STATE_RUNNING) {
    __atomic_store_n (&MR_HDR (f)->state, MMAP_STATE_REPLACED,
        __ATOMIC_RELEASE);
    wake_all (f);
  }
  mr_file_unref (f);
}

MR_EXPORT MmapRingStatus
mmapring_writer_set_format (MmapRingWriter * w, const MmapRingFormat * fmt,
    MmapRingError * err)
{
  Geometry g;
  MrFile *f, *old;
  char *tmp = NULL;
  MmapRingStatus st;
  int new_caps;

  if (!w || !fmt || !fmt->caps) {
    mr_error (err, MMAPRING_ERR_ARGUMENT, 0, "set_format: no caps given");
    return MMAPRING_ERR_ARGUMENT;
  }
  if ((st = geometry (w, fmt, &g, err)) != MMAPRING_OK)
    return st;
  if ((st = check_space (w, g.size, err)) != MMAPRING_OK)
    return st;
  new_caps = !w->caps || strcmp (w->caps, fmt->caps) != 0;
  if (!(f = create_temporary (w, &g, &tmp, err)))
    return err ? err->status : MMAPRING_ERR_IO;
  w->caps_seq += new_caps;
  fill_header (w, f, &g, fmt->caps);
  if (!(f->caps = strdup (fmt->caps))) {
    st = MMAPRING_ERR_NO_MEMORY;
    mr_error (err, st, ENOMEM, "%s: out of memory", w->path);
    goto fail;
  }
  /* The initialised file must be visible before its name is. */
  __atomic_thread_fence (__ATOMIC_RELEASE);
  if ((st = name_file (w, tmp, err)) != MMAPRING_OK)
    goto fail;
  free (tmp);
  if (new_caps) {
    free (w->caps);
    w->caps = strdup (fmt->caps);
  }
  pthread_mutex_lock (&w->mu);
  old = w->file;
  w->file = f;
  pthread_mutex_unlock (&w->mu);
  if (old) {
    retire (old, MMAP_STATE_REPLACED);
    mr_file_unref (old);
  }
  if (w->have_stale)
    retire_stale (w);
  return MMAPRING_OK;

fail:
  w->caps_seq -= new_caps;
  unlink (tmp);
  free (tmp);
  mr_file_unref (f);
  return st;
}

/* --- slots --- */

/* Every slot some reader leases.  seq_cst pairs with the reader's seq_cst
 * lease (set its bit, then look at the lock): one of the two always sees
 * the other.  Every entry, not only those with a reader_id: filtering on
 * it would add a load that is not ordered with the lease. */
uint64_t
mr_leased_slots (MrFile * f)
{
  uint64_t mask = 0;
  uint32_t k;

  for (k = 0; k < f->hdr.reader_count; k++)
    mask |= __atomic_load_n (&mr_entry (f, k)->leases, __ATOMIC_SEQ_CST);
  return mask;
}

/* Takes back what readers that died left in their entries: leases they
 * can never return, and `waiting` flags that would cost a wake-up call
 * per frame for ever.  A reader owns entry k while it holds the write
 * lock on byte lock_base + k of the lock file; we take that lock
 * ourselves while we clean, so that a new reader cannot register there
 * meanwhile. */
static void
reclaim_dead_readers (MrFile * f)
{
  MmapFileHeader *h = MR_HDR (f);
  uint32_t k;

  if (!f->lock)
    return;
  for (k = 0; k < f->hdr.reader_count; k++) {
    MmapReaderEntry *e = mr_entry (f, k);
    off_t at = (off_t) (f->hdr.lock_base + k);

    if (__atomic_load_n (&e->reader_id, __ATOMIC_RELAXED) == 0 &&
        __atomic_load_n (&e->leases, __ATOMIC_RELAXED) == 0 &&
        __atomic_load_n (&e->waiting, __ATOMIC_RELAXED) == 0)
      continue;
    if (mr_lock (f->lock->fd, F_WRLCK, at, 1) < 0)
      continue;                 /* alive */
    __atomic_exchange_n (&e->leases, 0, __ATOMIC_SEQ_CST);
    if (__atomic_exchange_n (&e->waiting, 0, __ATOMIC_SEQ_CST))
      __atomic_sub_fetch (&h->waiters, 1, __ATOMIC_SEQ_CST);
    __atomic_store_n (&e->reader_id, 0, __ATOMIC_RELEASE);
    mr_lock (f->lock->fd, F_UNLCK, at, 1);
  }
}

/* The oldest frame every registered reader has copied or leased (0 when
 * one has not yet; UINT64_MAX without readers).  Readers that may only
 * read the file are unknown to the writer. */
static uint64_t
all_readers_done (MrFile * f)
{
  uint64_t done = UINT64_MAX;
  uint32_t k;

  for (k = 0; k < f->hdr.reader_count; k++) {
    MmapReaderEntry *e = mr_entry (f, k);
    if (__atomic_load_n (&e->reader_id, __ATOMIC_RELAXED))
      done = MR_MIN (done, __atomic_load_n (&e->last_seq, __ATOMIC_ACQUIRE));
  }
  return done;
}

/* Which free slot to write.  Big slots: one whose frame every reader has
 * finished with, the most recently published first (it is still in the
 * caches: a writer that outruns its readers then alternates between two
 * warm slots, as it would between two buffers), never the newest frame's
 * (a reader joining now wants it).  Otherwise, or when no such slot is
 * free, the least recently published: the ring's depth is the slack of a
 * reader that is behind. */
static int
pick_slot (MrFile * f, uint64_t excluded)
{
  uint64_t done = 0, newest = 0;
  int best = -1, warm = -1;
  uint32_t i;

  if (f->hdr.slot_stride >= MR_WARM_SLOT_MIN)
    done = all_readers_done (f);
  for (i = 0; i < f->hdr.slot_count; i++)
    newest = MR_MAX (newest, f->slot_seq[i]);
  for (i = 0; i < f->hdr.slot_count; i++) {
    uint64_t seq = f->slot_seq[i];
    if (excluded & BIT (i))
      continue;
    if (best < 0 || seq < f->slot_seq[best])
      best = i;
    if (seq && seq <= done && seq != newest &&
        (warm < 0 || seq > f->slot_seq[warm]))
      warm = i;
  }
  return warm >= 0 ? warm : best;
}

static int
acquire_index (MrFile * f)
{
  uint64_t excluded;
  int reclaimed = 0, best;

  if (++f->since_reclaim >= 64) {
    struct stat st;
    f->since_reclaim = 0;
    reclaimed = 1;
    reclaim_dead_readers (f);
    /* Someone may have cut pages we never touch (the SIGBUS guard only
     * sees the ones we do): new readers would refuse the file. */
    if (fstat (f->fd, &st) == 0 && (uint64_t) st.st_size < f->hdr.file_size)
      __atomic_store_n (&f->broken, 1, __ATOMIC_RELAXED);
  }
  excluded = f->busy | mr_leased_slots (f);
  for (;;) {
    MmapSlotDesc *d;

    if ((best = pick_slot (f, excluded)) < 0) {
      if (reclaimed)
        return -1;
      /* Every slot is taken: perhaps by a reader that died. */
      reclaimed = 1;
      reclaim_dead_readers (f);
      excluded = f->busy | mr_leased_slots (f);
      continue;
    }
    d = mr_desc (f, best);
    /* Odd, seq_cst: a reader leasing now either sees this or we see its
     * lease just below. */
    __atomic_add_fetch (&d->lock, 1, __ATOMIC_SEQ_CST);
    if (mr_leased_slots (f) & BIT (best)) {
      /* Even again, content unchanged: the reader's lease stands. */
      __atomic_add_fetch (&d->lock, 1, __ATOMIC_RELEASE);
      excluded |= BIT (best);
      continue;
    }
    /* The payload writes that follow must not move above the odd lock. */
    __atomic_thread_fence (__ATOMIC_RELEASE);
    f->busy |= BIT (best);
    return best;
  }
}

/* Writes the descriptor (the lock is odd) and makes the lock even;
 * release pairs with the reader's acquire load of the lock. */
static void
store_desc (MmapSlotDesc * dst, const MmapSlotDesc * src)
{
  uint64_t lock = __atomic_load_n (&dst->lock, __ATOMIC_RELAXED);

  memcpy ((uint8_t *) dst + 8, (const uint8_t *) src + 8, sizeof (*dst) - 8);
  __atomic_store_n (&dst->lock, lock + 1, __ATOMIC_RELEASE);
}


/* Under f->mu.  A slot handed out and not published is abandoned empty,
 * with no frame number. */
static void
give_back (MrFile * f, uint32_t idx, int published)
{
  if (!published) {
    MmapFileHeader *h = MR_HDR (f);
    uint64_t old = f->slot_seq[idx];
    uint32_t *log = &h->slot_log[old % MMAP_SLOT_LOG];
    MmapSlotDesc empty;

    /* The frame the slot held is gone for good: say so in the log (if
     * it still names this slot for it), so that readers count it lost
     * rather than wait for it. */
    if (old && __atomic_load_n (log, __ATOMIC_RELAXED) == idx)
      __atomic_store_n (log, MR_SLOT_NONE, __ATOMIC_RELAXED);
    memset (&empty, 0, sizeof (empty));
    store_desc (mr_desc (f, idx), &empty);
    f->slot_seq[idx] = 0;
  }
  f->busy &= ~BIT (idx);
}

MR_EXPORT MmapRingSlot *
mmapring_writer_acquire (MmapRingWriter * w)
{
  MmapRingSlot *s;
  MrFile *f;
  int idx = -1;

  pthread_mutex_lock (&w->mu);
  f = w->file ? mr_file_ref (w->file) : NULL;
  pthread_mutex_unlock (&w->mu);
  if (!f)
    return NULL;
  if (!mr_file_broken (f)) {
    pthread_mutex_lock (&f->mu);
    idx = acquire_index (f);
    pthread_mutex_unlock (&f->mu);
  }
  if (idx < 0) {
    mr_file_unref (f);
    return NULL;
  }
  if (!(s = calloc (1, sizeof (*s)))) {
    pthread_mutex_lock (&f->mu);
    give_back (f, idx, 0);
    pthread_mutex_unlock (&f->mu);
    mr_file_unref (f);
    return NULL;
  }
  s->file = f;
  s->idx = idx;
  return s;
}

MR_EXPORT uint32_t
mmapring_writer_spare_slots (MmapRingWriter * w)
{
  uint32_t n = 0;

  pthread_mutex_lock (&w->mu);
  if (w->file)
    n = w->file->hdr.slot_count - w->file->hdr.lease_limit - 1;
  pthread_mutex_unlock (&w->mu);
  return n;
}

MR_EXPORT uint8_t *
mmapring_slot_data (MmapRingSlot * s)
{
  return mr_slot_data (s->file, s->idx);
}

MR_EXPORT uint64_t
mmapring_slot_capacity (MmapRingSlot * s)
{
  return s->file->hdr.slot_capacity;
}

MR_EXPORT uint32_t
mmapring_slot_index (MmapRingSlot * s)
{
  return s->idx;
}

MR_EXPORT int
mmapring_slot_broken (MmapRingSlot * s)
{
  return mr_file_broken (s->file);
}

MR_EXPORT void
mmapring_slot_release (MmapRingSlot * s)
{
  MrFile *f;

  if (!s)
    return;
  f = s->file;
  pthread_mutex_lock (&f->mu);
  give_back (f, s->idx, s->published);
  pthread_mutex_unlock (&f->mu);
  mr_file_unref (f);
  free (s);
}

/* Announces frames up to seq; true when it woke a sleeping reader. */
static int
announce (MrFile * f, uint64_t seq)
{
  MmapFileHeader *h = MR_HDR (f);

  __atomic_store_n (&h->eos, 0, __ATOMIC_RELAXED);
  /* Release pairs with the reader's acquire load of write_seq: the slot
   * and the slot_log entry of every frame up to seq are visible. */
  __atomic_store_n (&h->write_seq, seq, __ATOMIC_RELEASE);
  __atomic_add_fetch (&h->futex, 1, __ATOMIC_SEQ_CST);
  /* seq_cst pairs with a reader's waiters += 1 then futex re-check. */
  if (__atomic_load_n (&h->waiters, __ATOMIC_SEQ_CST) != 0)
    return mr_futex_wake (&h->futex) > 0;
  return 0;
}

/* Hands the CPU to the readers just woken, when frames come at most
 * MR_HANDOFF_FPS a second.  The scheduler often puts a woken reader on
 * the writer's CPU, where it waits until the writer sleeps or its slice
 * ends: behind a producer drawing its next frame, hundreds of
 * microseconds.  Yielding lets the reader take the frame now; the writer
 * loses the reader's few microseconds of work, which a writer as fast as
 * it can go would feel (and does not pay). */
static void
hand_off (MmapRingWriter * w, uint64_t publish_ns, int woke)
{
  uint64_t last = w->last_publish_ns;

  w->last_publish_ns = publish_ns;
  if (woke && last && publish_ns - last >= MR_NS / MR_HANDOFF_FPS)
    sched_yield ();
}

/* The descriptor of frame `seq`, published now. */
static void
describe (MmapSlotDesc * d, const MmapRingFrame * fr, uint64_t seq,
    uint64_t caps_seq)
{
  uint32_t p;

  memset (d, 0, sizeof (*d));
  d->seq = seq;
  d->pts = fr->pts;
  d->dts = fr->dts;
  d->duration = fr->duration;
  d->offset = fr->offset;
  d->offset_end = fr->offset_end;
  d->pts_monotonic_ns = fr->pts_monotonic_ns;
  d->publish_monotonic_ns = mr_now (CLOCK_MONOTONIC);
  d->publish_realtime_ns = mr_now (CLOCK_REALTIME);
  d->size = fr->size;
  d->buffer_flags = fr->buffer_flags;
  d->n_planes = fr->n_planes;
  for (p = 0; p < fr->n_planes; p++) {
    d->plane_offset[p] = fr->plane_offset[p];
    d->plane_stride[p] = fr->plane_stride[p];
  }
  d->caps_seq = caps_seq;
  d->meta_size = fr->meta_size;
  d->frame_flags = fr->frame_flags & MMAP_FRAME_FLAG_NO_BUFFER;
}

MR_EXPORT MmapRingStatus
mmapring_writer_publish (MmapRingWriter * w, MmapRingSlot * s,
    MmapRingFrame * fr, MmapRingError * err)
{
  MrFile *f = s->file;
  MmapFileHeader *h;
  MmapSlotDesc d;
  uint64_t seq = w->seq + 1;
  int woke;

  if (f != w->file) {
    mr_error (err, MMAPRING_ERR_REPLACED, 0, "%s: the slot is of a file "
        "the writer has replaced", w->path);
    return MMAPRING_ERR_REPLACED;
  }
  if (s->published) {
    mr_error (err, MMAPRING_ERR_ARGUMENT, 0, "%s: the slot is published "
        "already", w->path);
    return MMAPRING_ERR_ARGUMENT;
  }
  if (fr->size > f->hdr.slot_capacity || fr->n_planes > MMAP_MAX_PLANES) {
    mr_error (err, MMAPRING_ERR_TOO_LARGE, 0, "%s: a frame of %llu bytes "
        "and %u planes does not fit slots of %llu bytes", w->path,
        (unsigned long long) fr->size, fr->n_planes,
        (unsigned long long) f->hdr.slot_capacity);
    return MMAPRING_ERR_TOO_LARGE;
  }
  if (fr->meta_size > f->hdr.meta_capacity) {
    mr_error (err, MMAPRING_ERR_TOO_LARGE, 0, "%s: %u bytes of records do "
        "not fit the %llu-byte meta area", w->path, fr->meta_size,
        (unsigned long long) f->hdr.meta_capacity);
    return MMAPRING_ERR_TOO_LARGE;
  }
  h = MR_HDR (f);
  describe (&d, fr, seq, w->caps_seq);
  if (fr->meta_size)
    memcpy (mr_slot_data (f, s->idx) + f->hdr.meta_offset, fr->meta,
        fr->meta_size);
  store_desc (mr_desc (f, s->idx), &d);

  pthread_mutex_lock (&f->mu);
  f->slot_seq[s->idx] = seq;
  pthread_mutex_unlock (&f->mu);
  s->published = 1;
  if (!(d.buffer_flags & MMAP_BUFFER_FLAG_DELTA_UNIT) &&
      !(d.frame_flags & MMAP_FRAME_FLAG_NO_BUFFER))
    __atomic_store_n (&h->keyframe_seq, seq, __ATOMIC_RELAXED);
  __atomic_store_n (&h->slot_log[seq % MMAP_SLOT_LOG], s->idx,
      __ATOMIC_RELAXED);
  woke = announce (f, seq);
  w->seq = seq;
  fr->seq = seq;
  fr->publish_monotonic_ns = d.publish_monotonic_ns;
  fr->publish_realtime_ns = d.publish_realtime_ns;
  fr->caps_seq = d.caps_seq;
  hand_off (w, d.publish_monotonic_ns, woke);
  return MMAPRING_OK;
}

MR_EXPORT MmapRingStatus
mmapring_writer_write (MmapRingWriter * w, MmapRingFrame * fr,
    const void *data, uint64_t size, MmapRingError * err)
{
  MmapRingSlot *s = mmapring_writer_acquire (w);
  MmapRingStatus st;

  if (!s) {
    mr_error (err, MMAPRING_ERR_NO_LEASE, 0, "%s: no free slot (no format "
        "set, or every slot handed out or leased)", w->path);
    return MMAPRING_ERR_NO_LEASE;
  }
  if (size > mmapring_slot_capacity (s)) {
    mmapring_slot_release (s);
    mr_error (err, MMAPRING_ERR_TOO_LARGE, 0, "%s: a frame of %llu bytes "
        "does not fit slots of %llu bytes", w->path,
        (unsigned long long) size,
        (unsigned long long) w->file->hdr.slot_capacity);
    return MMAPRING_ERR_TOO_LARGE;
  }
  memcpy (mmapring_slot_data (s), data, size);
  fr->size = size;
  st = mmapring_writer_publish (w, s, fr, err);
  mmapring_slot_release (s);
  return st;
}

MR_EXPORT void
mmapring_writer_skip (MmapRingWriter * w, uint64_t n)
{
  MrFile *f = w->file;
  uint64_t i;

  if (!f || n == 0) {
    w->seq += n;
    return;
  }
  /* A number with no slot: every reader counts the frame lost. */
  for (i = 0; i < MR_MIN (n, MMAP_SLOT_LOG); i++)
    __atomic_store_n (&MR_HDR (f)->slot_log[(w->seq + n - i) % MMAP_SLOT_LOG],
        MR_SLOT_NONE, __ATOMIC_RELAXED);
  w->seq += n;
  announce (f, w->seq);
}

MR_EXPORT uint64_t
mmapring_writer_seq (MmapRingWriter * w)
{
  return w->seq;
}

MR_EXPORT void
mmapring_writer_set_eos (MmapRingWriter * w)
{
  if (!w->file)
    return;
  __atomic_store_n (&MR_HDR (w->file)->eos, 1, __ATOMIC_RELEASE);
  wake_all (w->file);
}

MR_EXPORT void
mmapring_writer_set_latency (MmapRingWriter * w, uint64_t latency_ns)
{
  w->latency = latency_ns;
  if (w->file)
    __atomic_store_n (&MR_HDR (w->file)->latency_ns, latency_ns,
        __ATOMIC_RELAXED);
}

MR_EXPORT MmapRingStatus
mmapring_writer_set_sticky (MmapRingWriter * w, const uint8_t * records,
    uint32_t size, MmapRingError * err)
{
  MrFile *f = w->file;
  MmapFileHeader *h;
  char why[160];

  if (!f || size > f->hdr.sticky_capacity) {
    mr_error (err, MMAPRING_ERR_TOO_LARGE, 0, "%s: %u bytes of sticky "
        "records do not fit its %llu-byte area", w->path, size,
        (unsigned long long) (f ? f->hdr.sticky_capacity : 0));
    return MMAPRING_ERR_TOO_LARGE;
  }
  if (mr_check_records (records, size, why, sizeof (why))) {
    mr_error (err, MMAPRING_ERR_ARGUMENT, 0, "%s: sticky records: %s",
        w->path, why);
    return MMAPRING_ERR_ARGUMENT;
  }
  h = MR_HDR (f);
  /* The same seqlock as a slot's: odd, fence, write, even. */
  __atomic_add_fetch (&h->sticky_lock, 1, __ATOMIC_SEQ_CST);
  __atomic_thread_fence (__ATOMIC_RELEASE);
  memcpy (f->base + f->hdr.sticky_offset, records, size);
  __atomic_store_n (&h->sticky_size, size, __ATOMIC_RELAXED);
  __atomic_add_fetch (&h->sticky_lock, 1, __ATOMIC_RELEASE);
  return MMAPRING_OK;
}

MR_EXPORT uint32_t
mmapring_writer_keyframe_requests (MmapRingWriter * w)
{
  MrFile *f;
  uint32_t n = 0;

  pthread_mutex_lock (&w->mu);
  if ((f = w->file))
    n = __atomic_load_n (&MR_HDR (f)->keyframe_requests, __ATOMIC_RELAXED);
  pthread_mutex_unlock (&w->mu);
  return n;
}

MR_EXPORT int
mmapring_writer_broken (MmapRingWriter * w)
{
  return w->file && mr_file_broken (w->file);
}

MR_EXPORT const char *
mmapring_writer_path (MmapRingWriter * w)
{
  return w->path;
}

static int
names (const char *path, dev_t dev, ino_t ino)
{
  struct stat st;
  return lstat (path, &st) == 0 && st.st_dev == dev && st.st_ino == ino;
}

MR_EXPORT void
mmapring_writer_close (MmapRingWriter * w, int remove)
{
  MrFile *f;

  if (!w)
    return;
  pthread_mutex_lock (&w->mu);
  f = w->file;
  w->file = NULL;
  pthread_mutex_unlock (&w->mu);
  if (f) {
    if (remove && names (w->path, f->dev, f->ino))
      unlink (w->path);
    retire (f, MMAP_STATE_GONE);
    mr_file_unref (f);
  }
  if (w->stale)
    mr_file_unref (w->stale);
  if (w->lock) {
    /* Unlinked while we still hold it: a writer that opened it just
     * before gets the lock, then sees the name gone and retries. */
    if (remove && names (w->lock_path, w->lock->dev, w->lock->ino))
      unlink (w->lock_path);
    mr_lock (w->lock->fd, F_UNLCK, MMAP_WRITER_LOCK_OFFSET, 1);
    mr_lockfile_unref (w->lock);
  }
  pthread_mutex_destroy (&w->mu);
  free (w->caps);
  free (w->path);
  free (w->dir);
  free (w->base);
  free (w->lock_path);
  free (w);
}

MR_EXPORT MmapRingStatus
mmapring_remove_stale (const char *path, MmapRingError * err)
{
  /* Owning the location, as a writer does, proves no writer lives; the
   * leftovers go with a clean close. */
  char one[1][8];
  char *lock_path = mr_lock_path (path);
  struct stat st;
  MmapRingWriter *w;
  int anything = lstat (path, &st) == 0 ||
      (lock_path && lstat (lock_path, &st) == 0) ||
      mmapring_stale_files (path, (char *) one, sizeof (one[0]), 0) > 0;

  free (lock_path);
  if (!anything) {
    mr_error (err, MMAPRING_ERR_NOT_FOUND, ENOENT, "%s: nothing there to "
        "remove", path);
    return MMAPRING_ERR_NOT_FOUND;
  }
  w = mmapring_writer_open (path, 0600, err);
  if (!w)
    return err ? err->status : MMAPRING_ERR_IO;
  if (w->have_stale && names (w->path, w->stale_dev, w->stale_ino))
    unlink (w->path);
  mmapring_writer_close (w, 1);
  return MMAPRING_OK;
}

/* mmapring: see mmapring.h and docs/FORMAT.md. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "mmapring.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <linux/futex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define PAGE_ALIGN(x) (((x) + 4095) & ~(guint64) 4095)

G_DEFINE_QUARK (mring - error - quark, mring_error);

#define HDR(m) ((MmapFileHeader *) (m)->base)

static MmapSlotDesc *
slot_desc (MringMap * m, guint idx)
{
  return (MmapSlotDesc *) (m->base + m->hdr.slot_desc_offset +
      (gsize) idx * MMAP_SLOT_DESC_SIZE);
}

guint8 *
mring_slot_data (MringMap * m, guint idx)
{
  return m->base + m->hdr.slot_data_offset + (gsize) idx *m->hdr.slot_stride;
}

static guint64
now_ns (clockid_t id)
{
  struct timespec ts;
  clock_gettime (id, &ts);
  return (guint64) ts.tv_sec * G_GUINT64_CONSTANT (1000000000) + ts.tv_nsec;
}

static int
futex_op (guint32 * addr, int op, guint32 val, const struct timespec *ts)
{
  /* Not FUTEX_PRIVATE_FLAG: the word is shared between processes. */
  return syscall (SYS_futex, addr, op, val, ts, NULL, 0);
}

/* OFD locks belong to the open file description, not the process: they
 * work across threads and PID namespaces and die with the last fd. */
static int
ofd_lock (int fd, short type, off_t start, off_t len)
{
  struct flock fl = { 0 };
  fl.l_type = type;
  fl.l_whence = SEEK_SET;
  fl.l_start = start;
  fl.l_len = len;
  return fcntl (fd, F_OFD_SETLK, &fl);
}

static gboolean
ofd_locked_by_other (int fd, off_t start, off_t len)
{
  struct flock fl = { 0 };
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  fl.l_start = start;
  fl.l_len = len;
  if (fcntl (fd, F_OFD_GETLK, &fl) < 0)
    return TRUE;                /* cannot tell: assume alive */
  return fl.l_type != F_UNLCK;
}

/* SIGBUS guard.  Touching a page of a shared mapping beyond the end of
 * its file raises SIGBUS, and anyone with write access to the file can
 * truncate it.  As wl_shm servers do, the handler below maps an anonymous
 * page over the faulting one when the fault is inside one of ours, flags
 * the map broken, and lets the access go on: readers then
 * discard the frame and reopen.  Faults elsewhere go to the previous
 * handler, or to the default action.  The table is read in the handler,
 * so it holds only plain words published with atomics. */
#define GUARD_ENTRIES 256
typedef struct
{
  gint claimed;
  gsize size;
  volatile gint *broken;
  guint8 *base;                 /* published last, cleared first */
} GuardEntry;
static GuardEntry guard_table[GUARD_ENTRIES];
static struct sigaction guard_old;
static guintptr guard_page_mask;

static void
guard_handler (int sig, siginfo_t * si, void *uc)
{
  guint8 *addr = si->si_addr;
  guint i;

  for (i = 0; i < GUARD_ENTRIES; i++) {
    guint8 *b = __atomic_load_n (&guard_table[i].base, __ATOMIC_ACQUIRE);
    if (b && addr >= b && addr < b + guard_table[i].size) {
      guint8 *page = (guint8 *) ((guintptr) addr & guard_page_mask);
      /* Only the faulting page: pages replaced by earlier faults keep
       * what was written to them since. */
      mmap (page, ~guard_page_mask + 1, PROT_READ | PROT_WRITE,
          MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      __atomic_store_n (guard_table[i].broken, 1, __ATOMIC_RELAXED);
      return;
    }
  }
  if ((guard_old.sa_flags & SA_SIGINFO) && guard_old.sa_sigaction) {
    guard_old.sa_sigaction (sig, si, uc);
  } else if (guard_old.sa_handler == SIG_DFL || guard_old.sa_handler == SIG_IGN) {
    /* Returning re-executes the access, which now gets the default. */
    sigaction (SIGBUS, &guard_old, NULL);
  } else {
    guard_old.sa_handler (sig);
  }
}

static void
guard_add (MringMap * m)
{
  static gsize installed = 0;
  guint i;

  if (g_once_init_enter (&installed)) {
    struct sigaction sa = { 0 };
    guard_page_mask = ~(guintptr) (sysconf (_SC_PAGESIZE) - 1);
    sa.sa_sigaction = guard_handler;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset (&sa.sa_mask);
    sigaction (SIGBUS, &sa, &guard_old);
    g_once_init_leave (&installed, 1);
  }
  m->guard = -1;
  for (i = 0; i < GUARD_ENTRIES; i++) {
    if (g_atomic_int_compare_and_exchange (&guard_table[i].claimed, 0, 1)) {
      guard_table[i].size = m->size;
      guard_table[i].broken = &m->broken;
      __atomic_store_n (&guard_table[i].base, m->base, __ATOMIC_RELEASE);
      m->guard = i;
      return;
    }
  }
}

static void
guard_remove (MringMap * m)
{
  if (m->guard < 0)
    return;
  __atomic_store_n (&guard_table[m->guard].base, NULL, __ATOMIC_RELEASE);
  g_atomic_int_set (&guard_table[m->guard].claimed, 0);
  m->guard = -1;
}

gboolean
mring_broken (MringMap * m)
{
  return __atomic_load_n (&m->broken, __ATOMIC_RELAXED) != 0;
}

MringMap *
mring_map_ref (MringMap * m)
{
  g_atomic_int_inc (&m->refcount);
  return m;
}

void
mring_map_unref (MringMap * m)
{
  if (!m || !g_atomic_int_dec_and_test (&m->refcount))
    return;
  if (m->base) {
    guard_remove (m);
    munmap (m->base, m->size);
  }
  if (m->fd >= 0)
    close (m->fd);
  g_free (m->path);
  g_mutex_clear (&m->wlock);
  g_free (m);
}

static MringMap *
map_new (int fd, const gchar * path)
{
  MringMap *m = g_new0 (MringMap, 1);
  m->fd = fd;
  m->refcount = 1;
  m->reader_idx = -1;
  m->guard = -1;
  g_mutex_init (&m->wlock);
  m->path = g_strdup (path);
  return m;
}

/* Checks the immutable part of a header against the size of the mapping.
 * `h` is a private copy, so nothing here can change under us. */
static gboolean
validate_header (const MmapFileHeader * h, guint64 real_size,
    const gchar * path, GError ** err)
{
  guint64 end;

  if (memcmp (h->magic, MMAP_FORMAT_MAGIC, 8) != 0) {
    g_set_error (err, MRING_ERROR, MRING_ERROR_NOT_OURS,
        "\"%s\" is not a gst-mmap file (bad magic)", path);
    return FALSE;
  }
  if (GUINT32_FROM_LE (h->version) != MMAP_FORMAT_VERSION) {
    g_set_error (err, MRING_ERROR, MRING_ERROR_VERSION,
        "\"%s\" has format version %u, this reader knows version %u", path,
        GUINT32_FROM_LE (h->version), MMAP_FORMAT_VERSION);
    return FALSE;
  }
  if (h->header_size != MMAP_HEADER_SIZE || h->slot_desc_size !=
      MMAP_SLOT_DESC_SIZE || h->reader_entry_size != MMAP_READER_ENTRY_SIZE
      || h->reader_table_offset != MMAP_READER_TABLE_OFFSET
      || h->slot_desc_offset != MMAP_SLOT_DESC_OFFSET
      || h->reader_count > MMAP_READER_MAX) {
    g_set_error (err, MRING_ERROR, MRING_ERROR_INVALID,
        "\"%s\" has an invalid header (fixed sizes or offsets differ)", path);
    return FALSE;
  }
  if (h->file_size > real_size) {
    g_set_error (err, MRING_ERROR, MRING_ERROR_TRUNCATED,
        "\"%s\" is truncated: %" G_GUINT64_FORMAT " bytes, header says %"
        G_GUINT64_FORMAT, path, real_size, (guint64) h->file_size);
    return FALSE;
  }
  if (h->slot_count < MMAP_SLOTS_MIN || h->slot_count > MMAP_SLOTS_MAX) {
    g_set_error (err, MRING_ERROR, MRING_ERROR_INVALID,
        "\"%s\" has an invalid slot count %u", path, h->slot_count);
    return FALSE;
  }
  if (h->slot_data_offset < MMAP_SLOT_DESC_OFFSET +
      (guint64) h->slot_count * MMAP_SLOT_DESC_SIZE
      || h->slot_capacity > h->slot_stride
      || h->slot_stride > G_MAXUINT64 / MMAP_SLOTS_MAX
      || h->slot_data_offset > h->file_size
      || !g_uint64_checked_mul (&end, h->slot_stride, h->slot_count)
      || end > h->file_size - h->slot_data_offset) {
    g_set_error (err, MRING_ERROR, MRING_ERROR_INVALID,
        "\"%s\" has slots outside the file (data at %" G_GUINT64_FORMAT
        ", %u slots of %" G_GUINT64_FORMAT " bytes, file %" G_GUINT64_FORMAT
        " bytes)", path, (guint64) h->slot_data_offset, h->slot_count,
        (guint64) h->slot_stride, (guint64) h->file_size);
    return FALSE;
  }
  if (h->lease_limit >= h->slot_count) {
    g_set_error (err, MRING_ERROR, MRING_ERROR_INVALID,
        "\"%s\" has an invalid lease limit %u for %u slots", path,
        h->lease_limit, h->slot_count);
    return FALSE;
  }
  if (h->caps_length >= MMAP_CAPS_MAX || h->caps[h->caps_length] != '\0'
      || strlen (h->caps) != h->caps_length) {
    g_set_error (err, MRING_ERROR, MRING_ERROR_INVALID,
        "\"%s\" has an invalid caps string", path);
    return FALSE;
  }
  return TRUE;
}

MringMap *
mring_open (const gchar * path, GError ** err)
{
  struct stat st;
  MringMap *m;
  int fd;
  gboolean writable = TRUE;

  fd = open (path, O_RDWR | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0 && (errno == EACCES || errno == EROFS)) {
    writable = FALSE;
    fd = open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  }
  if (fd < 0) {
    int e = errno;
    g_set_error (err, MRING_ERROR, e == ENOENT ? MRING_ERROR_NOT_FOUND :
        MRING_ERROR_IO, "Could not open \"%s\": %s", path, g_strerror (e));
    return NULL;
  }
  if (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode)) {
    g_set_error (err, MRING_ERROR, MRING_ERROR_NOT_OURS,
        "\"%s\" is not a regular file", path);
    close (fd);
    return NULL;
  }
  if (st.st_size >= 8) {
    /* The magic first: a short file of someone else's is "not ours", not
     * "truncated" (a writer replaces truncated files of ours). */
    gchar magic[8];
    if (pread (fd, magic, 8, 0) != 8 || memcmp (magic, MMAP_FORMAT_MAGIC, 8)) {
      g_set_error (err, MRING_ERROR, MRING_ERROR_NOT_OURS,
          "\"%s\" is not a gst-mmap file (bad magic)", path);
      close (fd);
      return NULL;
    }
  }
  if ((guint64) st.st_size < MMAP_SLOT_DESC_OFFSET) {
    g_set_error (err, MRING_ERROR, st.st_size < 8 ? MRING_ERROR_NOT_OURS :
        MRING_ERROR_TRUNCATED, "\"%s\" is too short for a gst-mmap file "
        "(%" G_GUINT64_FORMAT " bytes)", path, (guint64) st.st_size);
    close (fd);
    return NULL;
  }

  m = map_new (fd, path);
  m->writable = writable;
  m->dev = st.st_dev;
  m->ino = st.st_ino;
  m->size = st.st_size;
  m->base = mmap (NULL, m->size, PROT_READ | (writable ? PROT_WRITE : 0),
      MAP_SHARED, fd, 0);
  if (m->base == MAP_FAILED) {
    int e = errno;
    m->base = NULL;
    g_set_error (err, MRING_ERROR, MRING_ERROR_IO, "Could not map \"%s\": %s",
        path, g_strerror (e));
    mring_map_unref (m);
    return NULL;
  }
  guard_add (m);
  memcpy (&m->hdr, m->base, sizeof (m->hdr));
  /* Only little-endian hosts are supported (the format is LE). */
  G_STATIC_ASSERT (G_BYTE_ORDER == G_LITTLE_ENDIAN);
  if (!validate_header (&m->hdr, m->size, path, err)) {
    mring_map_unref (m);
    return NULL;
  }
  return m;
}

guint32
mring_state (MringMap * m)
{
  return __atomic_load_n (&HDR (m)->state, __ATOMIC_ACQUIRE);
}

guint64
mring_write_seq (MringMap * m)
{
  /* Pairs with the release store in mring_slot_publish: the slot and the
   * slot_log entry of every frame <= the value read are visible. */
  return __atomic_load_n (&HDR (m)->write_seq, __ATOMIC_ACQUIRE);
}

gboolean
mring_eos (MringMap * m)
{
  return __atomic_load_n (&HDR (m)->eos, __ATOMIC_ACQUIRE) != 0;
}

guint64
mring_latency (MringMap * m)
{
  return __atomic_load_n (&HDR (m)->latency_ns, __ATOMIC_RELAXED);
}

gboolean
mring_writer_alive (MringMap * m)
{
  return ofd_locked_by_other (m->fd, MMAP_WRITER_LOCK_OFFSET, 1);
}

gboolean
mring_path_changed (MringMap * m)
{
  struct stat st;
  if (stat (m->path, &st) < 0)
    return TRUE;
  return st.st_dev != m->dev || st.st_ino != m->ino;
}

MringReadResult
mring_read_begin (MringMap * m, guint64 seq, MmapSlotDesc * d, guint * idx,
    guint64 * lock)
{
  MmapFileHeader *h = HDR (m);
  MmapSlotDesc *s;
  guint32 i;
  guint64 l1, l2;
  guint p, tries;

  i = __atomic_load_n (&h->slot_log[seq % MMAP_SLOT_LOG], __ATOMIC_RELAXED);
  *idx = i;
  *lock = 1;                    /* odd: never matches in mring_read_end */
  if (i >= m->hdr.slot_count)
    return MRING_READ_INVALID;
  s = slot_desc (m, i);
  /* An odd lock may only be a writer backing off a leased slot (content
   * unchanged): look a few times before calling the frame lost. */
  for (tries = 0;; tries++) {
    /* Pairs with the release store that made the lock even. */
    l1 = __atomic_load_n (&s->lock, __ATOMIC_ACQUIRE);
    if (!(l1 & 1)) {
      memcpy (d, s, sizeof (*d));
      /* Orders the copy before the second look at the lock. */
      __atomic_thread_fence (__ATOMIC_ACQUIRE);
      l2 = __atomic_load_n (&s->lock, __ATOMIC_RELAXED);
      if (l1 == l2)
        break;
    }
    if (tries == 3)
      return MRING_READ_LOST;
    sched_yield ();
  }
  *lock = l1;
  if (d->seq != seq)
    return MRING_READ_LOST;

  if (d->size > m->hdr.slot_capacity || d->n_planes > MMAP_MAX_PLANES)
    return MRING_READ_INVALID;
  for (p = 0; p < d->n_planes; p++) {
    if (d->plane_offset[p] > d->size || d->plane_stride[p] <= 0)
      return MRING_READ_INVALID;
  }
  return MRING_READ_OK;
}

gboolean
mring_read_end (MringMap * m, guint idx, guint64 lock)
{
  if (idx >= m->hdr.slot_count)
    return FALSE;
  /* Orders the payload copy before the re-check: a writer that started
   * rewriting the slot meanwhile has changed the lock. */
  __atomic_thread_fence (__ATOMIC_ACQUIRE);
  return __atomic_load_n (&slot_desc (m, idx)->lock, __ATOMIC_RELAXED) == lock
      && !mring_broken (m);
}

guint32
mring_futex (MringMap * m)
{
  return __atomic_load_n (&HDR (m)->futex, __ATOMIC_ACQUIRE);
}

void
mring_wait (MringMap * m, guint32 seen, guint64 timeout_ns)
{
  MmapFileHeader *h = HDR (m);
  struct timespec ts;

  ts.tv_sec = timeout_ns / 1000000000;
  ts.tv_nsec = timeout_ns % 1000000000;
  if (!m->writable) {
    /* A reader without write access cannot announce itself in `waiters`,
     * so the writer may not wake it: sleep briefly instead. */
    ts.tv_sec = 0;
    ts.tv_nsec = 2 * 1000000L;
    futex_op (&h->futex, FUTEX_WAIT, seen, &ts);
    return;
  }
  /* seq_cst pairs with the writer's seq_cst futex increment followed by
   * its read of `waiters`: either it sees us and wakes, or we see the new
   * futex value and FUTEX_WAIT returns at once. */
  __atomic_add_fetch (&h->waiters, 1, __ATOMIC_SEQ_CST);
  if (__atomic_load_n (&h->futex, __ATOMIC_SEQ_CST) == seen)
    futex_op (&h->futex, FUTEX_WAIT, seen, &ts);
  __atomic_sub_fetch (&h->waiters, 1, __ATOMIC_SEQ_CST);
}

void
mring_wake (MringMap * m)
{
  MmapFileHeader *h = HDR (m);
  if (m->writable)
    __atomic_add_fetch (&h->futex, 1, __ATOMIC_SEQ_CST);
  futex_op (&h->futex, FUTEX_WAKE, INT_MAX, NULL);
}

/* --- writer --- */

static gboolean
same_file_at_path (int fd, const gchar * path)
{
  struct stat a, b;
  if (fstat (fd, &a) < 0 || lstat (path, &b) < 0)
    return FALSE;
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* A writer that died between creating its temporary file and renaming it
 * leaves ".NAME.XXXXXX" behind.  Remove those that nobody has locked and
 * that are old enough not to be another writer's file being made now. */
static void
remove_stale_temporaries (const gchar * path)
{
  gchar *dir = g_path_get_dirname (path);
  gchar *base = g_path_get_basename (path);
  gchar *prefix = g_strdup_printf (".%s.", base);
  gsize plen = strlen (prefix);
  const gchar *name;
  GDir *d = g_dir_open (dir, 0, NULL);

  while (d && (name = g_dir_read_name (d))) {
    gchar *full;
    struct stat st;
    int fd;

    if (strncmp (name, prefix, plen) != 0 || strlen (name) != plen + 6)
      continue;
    full = g_build_filename (dir, name, NULL);
    fd = open (full, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd >= 0 && fstat (fd, &st) == 0 && S_ISREG (st.st_mode) &&
        st.st_uid == geteuid () && time (NULL) - st.st_mtime > 10 &&
        !ofd_locked_by_other (fd, MMAP_WRITER_LOCK_OFFSET, 1))
      unlink (full);
    if (fd >= 0)
      close (fd);
    g_free (full);
  }
  if (d)
    g_dir_close (d);
  g_free (prefix);
  g_free (base);
  g_free (dir);
}

gboolean
mring_claim (const gchar * path, MringMap ** stale, GError ** err)
{
  guint attempt;

  *stale = NULL;
  remove_stale_temporaries (path);
  for (attempt = 0; attempt < 10; attempt++) {
    GError *oerr = NULL;
    MringMap *m;
    int fd;
    struct stat st;

    /* O_NOFOLLOW: never write through a symlink planted at the location. */
    fd = open (path, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
      int e = errno;
      if (e == ENOENT)
        return TRUE;
      g_set_error (err, MRING_ERROR, MRING_ERROR_IO,
          "Could not open \"%s\": %s", path, e == ELOOP ?
          "it is a symbolic link, which a writer never follows" :
          g_strerror (e));
      return FALSE;
    }
    if (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode)) {
      g_set_error (err, MRING_ERROR, MRING_ERROR_NOT_OURS,
          "\"%s\" exists and is not a regular file; not replacing it", path);
      close (fd);
      return FALSE;
    }
    if (ofd_lock (fd, F_WRLCK, MMAP_WRITER_LOCK_OFFSET, 1) < 0) {
      MmapFileHeader h;
      guint pid = 0;
      if (pread (fd, &h, sizeof (h), 0) == sizeof (h)
          && memcmp (h.magic, MMAP_FORMAT_MAGIC, 8) == 0)
        pid = h.writer_pid;
      g_set_error (err, MRING_ERROR, MRING_ERROR_BUSY,
          "\"%s\" is in use by another writer (pid %u)", path, pid);
      close (fd);
      return FALSE;
    }
    /* The location may have been replaced between open and lock. */
    if (!same_file_at_path (fd, path)) {
      close (fd);
      continue;
    }
    /* Map it as a reader would, to check it is ours before replacing it. */
    m = mring_open (path, &oerr);
    if (!m) {
      if (oerr->code == MRING_ERROR_NOT_FOUND) {
        g_clear_error (&oerr);
        close (fd);
        continue;
      }
      if (oerr->code == MRING_ERROR_NOT_OURS) {
        g_set_error (err, MRING_ERROR, MRING_ERROR_NOT_OURS,
            "\"%s\" exists and is not a gst-mmap file; not replacing it", path);
        g_clear_error (&oerr);
        close (fd);
        return FALSE;
      }
      /* Ours but damaged (or from another version): a crashed or old
       * writer's leftover, safe to replace once we hold its lock.  Keep
       * our fd so the lock stays held until the rename. */
      g_clear_error (&oerr);
      m = map_new (fd, path);
      m->dev = st.st_dev;
      m->ino = st.st_ino;
      *stale = m;
      return TRUE;
    }
    /* Keep the fd holding the lock, drop the reader's. */
    close (m->fd);
    m->fd = fd;
    *stale = m;
    return TRUE;
  }
  g_set_error (err, MRING_ERROR, MRING_ERROR_BUSY,
      "\"%s\" keeps changing under us: is another writer starting?", path);
  return FALSE;
}

static gboolean
check_space (const gchar * dir, guint64 size, const gchar * path, GError ** err)
{
  struct statvfs sv;
  if (statvfs (dir, &sv) == 0) {
    guint64 avail = (guint64) sv.f_bavail * sv.f_frsize;
    if (avail < size) {
      g_set_error (err, MRING_ERROR, MRING_ERROR_NO_SPACE,
          "Not enough space for \"%s\": it needs %" G_GUINT64_FORMAT
          " bytes, %s has %" G_GUINT64_FORMAT " free", path, size, dir, avail);
      return FALSE;
    }
  }
  return TRUE;
}

MringMap *
mring_create (const gchar * path, const MringParams * p,
    MringMap * replacing, GError ** err)
{
  gchar *dir = g_path_get_dirname (path);
  gchar *base = g_path_get_basename (path);
  gchar *tmp = g_strdup_printf ("%s/.%s.XXXXXX", dir, base);
  MmapFileHeader *h;
  MringMap *m = NULL;
  guint64 stride, data_off, size;
  gsize caps_len = strlen (p->caps);
  struct stat st;
  int fd = -1, r;

  g_return_val_if_fail (p->slot_count >= MMAP_SLOTS_MIN &&
      p->slot_count <= MMAP_SLOTS_MAX, NULL);

  if (caps_len >= MMAP_CAPS_MAX) {
    g_set_error (err, MRING_ERROR, MRING_ERROR_INVALID,
        "Caps too long for \"%s\" (%" G_GSIZE_FORMAT " bytes, at most %u)",
        path, caps_len, MMAP_CAPS_MAX - 1);
    goto out;
  }
  stride = PAGE_ALIGN (MAX (p->slot_capacity, 1));
  data_off = PAGE_ALIGN (MMAP_SLOT_DESC_OFFSET +
      (guint64) p->slot_count * MMAP_SLOT_DESC_SIZE);
  size = data_off + stride * p->slot_count;
  if (!check_space (dir, size, path, err))
    goto out;

  fd = mkostemp (tmp, O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    g_set_error (err, MRING_ERROR, MRING_ERROR_IO,
        "Could not create a file next to \"%s\": %s", path, g_strerror (e));
    goto out;
  }
  if (fchmod (fd, p->mode & 07777) < 0 || ftruncate (fd, size) < 0) {
    int e = errno;
    g_set_error (err, MRING_ERROR, MRING_ERROR_IO,
        "Could not size \"%s\": %s", tmp, g_strerror (e));
    goto fail;
  }
  /* On tmpfs a page that cannot be had raises SIGBUS at first touch;
   * reserving all of them now turns that into an error here. */
  r = posix_fallocate (fd, 0, size);
  if (r != 0 && r != EOPNOTSUPP && r != EINVAL) {
    g_set_error (err, MRING_ERROR, r == ENOSPC ? MRING_ERROR_NO_SPACE :
        MRING_ERROR_IO, "Could not reserve %" G_GUINT64_FORMAT
        " bytes for \"%s\": %s", size, path, g_strerror (r));
    goto fail;
  }
  if (ofd_lock (fd, F_WRLCK, MMAP_WRITER_LOCK_OFFSET, 1) < 0) {
    int e = errno;
    g_set_error (err, MRING_ERROR, MRING_ERROR_IO,
        "Could not lock \"%s\": %s", tmp, g_strerror (e));
    goto fail;
  }
  fstat (fd, &st);
  m = map_new (fd, path);
  m->writable = TRUE;
  m->dev = st.st_dev;
  m->ino = st.st_ino;
  m->size = size;
  m->base = mmap (NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (m->base == MAP_FAILED) {
    int e = errno;
    m->base = NULL;
    g_set_error (err, MRING_ERROR, MRING_ERROR_IO,
        "Could not map \"%s\": %s", tmp, g_strerror (e));
    goto fail;
  }
  guard_add (m);

  /* The file is private until it gets its name: plain stores suffice. */
  h = HDR (m);
  memcpy (h->magic, MMAP_FORMAT_MAGIC, 8);
  h->version = MMAP_FORMAT_VERSION;
  h->header_size = MMAP_HEADER_SIZE;
  h->file_size = size;
  h->slot_count = p->slot_count;
  h->slot_desc_size = MMAP_SLOT_DESC_SIZE;
  h->slot_desc_offset = MMAP_SLOT_DESC_OFFSET;
  h->slot_data_offset = data_off;
  h->slot_stride = stride;
  h->slot_capacity = p->slot_capacity;
  h->reader_table_offset = MMAP_READER_TABLE_OFFSET;
  h->reader_count = MMAP_READER_MAX;
  h->reader_entry_size = MMAP_READER_ENTRY_SIZE;
  h->caps_length = caps_len;
  h->caps_seq = p->caps_seq;
  h->writer_id = p->writer_id;
  h->writer_pid = getpid ();
  h->base_seq = p->base_seq;
  h->created_realtime_ns = now_ns (CLOCK_REALTIME);
  h->write_seq = p->base_seq;
  h->lease_limit = MIN (p->lease_limit, p->slot_count - 1);
  h->state = MMAP_STATE_RUNNING;
  memcpy (h->caps, p->caps, caps_len + 1);
  memcpy (&m->hdr, h, sizeof (m->hdr));

  /* Make the initialised file visible before its name is. */
  __atomic_thread_fence (__ATOMIC_RELEASE);
  if (replacing) {
    r = rename (tmp, path);
  } else {
    /* link() fails if someone else created the location meanwhile, where
     * rename() would silently replace their file. */
    r = link (tmp, path);
    if (r == 0)
      unlink (tmp);
  }
  if (r < 0) {
    int e = errno;
    if (e == EEXIST)
      g_set_error (err, MRING_ERROR, MRING_ERROR_BUSY,
          "\"%s\" was created by another writer meanwhile", path);
    else
      g_set_error (err, MRING_ERROR, MRING_ERROR_IO,
          "Could not give \"%s\" its name: %s", path, g_strerror (e));
    goto fail;
  }
  if (replacing)
    mring_release (replacing, FALSE);
  goto out;

fail:
  unlink (tmp);
  if (m) {
    mring_map_unref (m);
    m = NULL;
  } else if (fd >= 0) {
    close (fd);
  }
out:
  g_free (dir);
  g_free (base);
  g_free (tmp);
  return m;
}

static MmapReaderEntry *
reader_entry (MringMap * m, guint i)
{
  return (MmapReaderEntry *) (m->base + MMAP_READER_TABLE_OFFSET +
      (gsize) i * MMAP_READER_ENTRY_SIZE);
}

static off_t
reader_entry_offset (guint i)
{
  return MMAP_READER_TABLE_OFFSET + (off_t) i *MMAP_READER_ENTRY_SIZE;
}

/* Drops the leases of readers whose entry lock the kernel released (the
 * reader died): they can never give them back themselves. */
static void
reclaim_dead_readers (MringMap * m)
{
  MmapFileHeader *h = HDR (m);
  guint i;

  for (i = 0; i < m->hdr.reader_count; i++) {
    MmapReaderEntry *e = reader_entry (m, i);
    guint64 leases;

    if (__atomic_load_n (&e->reader_id, __ATOMIC_RELAXED) == 0)
      continue;
    /* Take the entry's lock ourselves while we clean it: a new reader
     * registering in it meanwhile would otherwise lose its leases. */
    if (ofd_lock (m->fd, F_WRLCK, reader_entry_offset (i),
            MMAP_READER_ENTRY_SIZE) < 0)
      continue;
    leases = __atomic_exchange_n (&e->leases, 0, __ATOMIC_SEQ_CST);
    if (leases)
      __atomic_sub_fetch (&h->leases_held, __builtin_popcountll (leases),
          __ATOMIC_SEQ_CST);
    __atomic_store_n (&e->reader_id, 0, __ATOMIC_RELAXED);
    ofd_lock (m->fd, F_UNLCK, reader_entry_offset (i), MMAP_READER_ENTRY_SIZE);
  }
}

static guint64
leased_slots (MringMap * m)
{
  guint64 mask = 0;
  guint i;

  /* seq_cst pairs with the reader's seq_cst lease (see mmapformat.h).
   * Every entry: a free one has no leases, and filtering on reader_id
   * would add a load that is not ordered with the lease. */
  for (i = 0; i < m->hdr.reader_count; i++)
    mask |= __atomic_load_n (&reader_entry (m, i)->leases, __ATOMIC_SEQ_CST);
  return mask;
}

gint
mring_slot_acquire (MringMap * m)
{
  guint n = m->hdr.slot_count, i;
  guint64 excluded;
  gint ret = -1;

  g_mutex_lock (&m->wlock);
  if (++m->since_reclaim >= 64) {
    m->since_reclaim = 0;
    reclaim_dead_readers (m);
  }
  excluded = m->busy | leased_slots (m);
  for (;;) {
    MmapSlotDesc *s;
    gint best = -1;

    for (i = 0; i < n; i++) {
      if (excluded & (G_GUINT64_CONSTANT (1) << i))
        continue;
      if (best < 0 || m->slot_seq[i] < m->slot_seq[best])
        best = i;
    }
    if (best < 0) {
      if (m->since_reclaim == 0)
        break;
      /* Every slot is taken: perhaps by a reader that died. */
      m->since_reclaim = 0;
      reclaim_dead_readers (m);
      excluded = m->busy | leased_slots (m);
      continue;
    }
    s = slot_desc (m, best);
    /* Odd, seq_cst: a reader leasing now either sees this or we see its
     * lease just below. */
    __atomic_add_fetch (&s->lock, 1, __ATOMIC_SEQ_CST);
    if (leased_slots (m) & (G_GUINT64_CONSTANT (1) << best)) {
      /* Back to even: content unchanged, the reader's lease stands. */
      __atomic_add_fetch (&s->lock, 1, __ATOMIC_RELEASE);
      excluded |= G_GUINT64_CONSTANT (1) << best;
      continue;
    }
    /* The payload writes that follow must not move above the odd store. */
    __atomic_thread_fence (__ATOMIC_RELEASE);
    m->busy |= G_GUINT64_CONSTANT (1) << best;
    ret = best;
    break;
  }
  g_mutex_unlock (&m->wlock);
  return ret;
}

static void
slot_store_even (MmapSlotDesc * s, const MmapSlotDesc * d)
{
  guint64 lock = s->lock;

  memcpy ((guint8 *) s + 8, (const guint8 *) d + 8, sizeof (*s) - 8);
  /* Even again; release pairs with the reader's acquire of the lock. */
  __atomic_store_n (&s->lock, lock + 1, __ATOMIC_RELEASE);
}

void
mring_slot_publish (MringMap * m, guint idx, const MmapSlotDesc * d)
{
  MmapFileHeader *h = HDR (m);

  slot_store_even (slot_desc (m, idx), d);
  g_mutex_lock (&m->wlock);
  m->slot_seq[idx] = d->seq;
  g_mutex_unlock (&m->wlock);
  __atomic_store_n (&h->slot_log[d->seq % MMAP_SLOT_LOG], idx,
      __ATOMIC_RELAXED);
  __atomic_store_n (&h->eos, 0, __ATOMIC_RELAXED);
  /* Release pairs with mring_write_seq's acquire. */
  __atomic_store_n (&h->write_seq, d->seq, __ATOMIC_RELEASE);
  __atomic_add_fetch (&h->futex, 1, __ATOMIC_SEQ_CST);
  /* seq_cst pairs with the reader's increment of waiters (mring_wait). */
  if (__atomic_load_n (&h->waiters, __ATOMIC_SEQ_CST) != 0)
    futex_op (&h->futex, FUTEX_WAKE, INT_MAX, NULL);
}

void
mring_slot_abandon (MringMap * m, guint idx)
{
  MmapSlotDesc empty = { 0 };

  slot_store_even (slot_desc (m, idx), &empty);
  g_mutex_lock (&m->wlock);
  m->slot_seq[idx] = 0;
  g_mutex_unlock (&m->wlock);
  mring_slot_done (m, idx);
}

void
mring_slot_done (MringMap * m, guint idx)
{
  g_mutex_lock (&m->wlock);
  m->busy &= ~(G_GUINT64_CONSTANT (1) << idx);
  g_mutex_unlock (&m->wlock);
}

gboolean
mring_reader_register (MringMap * m)
{
  MmapFileHeader *h = HDR (m);
  guint i;

  if (m->reader_idx >= 0)
    return TRUE;
  if (!m->writable || m->hdr.lease_limit == 0)
    return FALSE;
  for (i = 0; i < m->hdr.reader_count; i++) {
    MmapReaderEntry *e = reader_entry (m, i);
    guint64 stale, id;

    if (ofd_lock (m->fd, F_WRLCK, reader_entry_offset (i),
            MMAP_READER_ENTRY_SIZE) < 0)
      continue;
    /* A dead reader's leases the writer has not reclaimed yet. */
    stale = __atomic_exchange_n (&e->leases, 0, __ATOMIC_SEQ_CST);
    if (stale)
      __atomic_sub_fetch (&h->leases_held, __builtin_popcountll (stale),
          __ATOMIC_SEQ_CST);
    id = ((guint64) g_random_int () << 32) | g_random_int () | 1;
    e->pid = getpid ();
    __atomic_store_n (&e->reader_id, id, __ATOMIC_SEQ_CST);
    m->reader_idx = i;
    return TRUE;
  }
  return FALSE;
}

gboolean
mring_lease (MringMap * m, guint idx, guint64 lock)
{
  MmapFileHeader *h = HDR (m);
  MmapReaderEntry *e;
  MmapSlotDesc *s = slot_desc (m, idx);
  guint64 bit = G_GUINT64_CONSTANT (1) << idx;
  guint32 held, limit = m->hdr.lease_limit;

  if (m->reader_idx < 0)
    return FALSE;
  e = reader_entry (m, m->reader_idx);
  held = __atomic_load_n (&h->leases_held, __ATOMIC_RELAXED);
  do {
    if (held >= limit)
      return FALSE;
  } while (!__atomic_compare_exchange_n (&h->leases_held, &held, held + 1,
          TRUE, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED));
  if (__atomic_fetch_or (&e->leases, bit, __ATOMIC_SEQ_CST) & bit) {
    /* Already ours (cannot happen for distinct frames): keep one unit. */
    __atomic_sub_fetch (&h->leases_held, 1, __ATOMIC_SEQ_CST);
    return FALSE;
  }
  /* seq_cst pairs with the writer's odd store then lease scan. */
  if (__atomic_load_n (&s->lock, __ATOMIC_SEQ_CST) != lock) {
    mring_unlease (m, idx);
    return FALSE;
  }
  return TRUE;
}

void
mring_unlease (MringMap * m, guint idx)
{
  MmapFileHeader *h = HDR (m);
  MmapReaderEntry *e = reader_entry (m, m->reader_idx);
  guint64 bit = G_GUINT64_CONSTANT (1) << idx;

  /* Release: everything downstream read from the slot happens before the
   * writer, which loads leases seq_cst, can see it free. */
  if (__atomic_fetch_and (&e->leases, ~bit, __ATOMIC_SEQ_CST) & bit)
    __atomic_sub_fetch (&h->leases_held, 1, __ATOMIC_SEQ_CST);
}

void
mring_set_eos (MringMap * m)
{
  __atomic_store_n (&HDR (m)->eos, 1, __ATOMIC_RELEASE);
  mring_wake (m);
}

void
mring_set_latency (MringMap * m, guint64 latency_ns)
{
  __atomic_store_n (&HDR (m)->latency_ns, latency_ns, __ATOMIC_RELAXED);
}

void
mring_release (MringMap * m, gboolean unlink_path)
{
  if (m->base && m->writable) {
    __atomic_store_n (&HDR (m)->state,
        unlink_path ? MMAP_STATE_GONE : MMAP_STATE_REPLACED, __ATOMIC_RELEASE);
    mring_wake (m);
  }
  if (unlink_path && same_file_at_path (m->fd, m->path))
    unlink (m->path);
  ofd_lock (m->fd, F_UNLCK, MMAP_WRITER_LOCK_OFFSET, 1);
}

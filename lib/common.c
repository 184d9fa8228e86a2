/* mmapring: what the writer and the reader share.  Errors, system
 * wrappers (futex, OFD locks), the one validator of a header and of a
 * descriptor, opening and mapping a file, and the SIGBUS guard. */
#include "mr-private.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

_Static_assert (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
    "the format is little-endian; big-endian hosts are not supported");

MR_EXPORT const char *
mmapring_status_name (MmapRingStatus status)
{
  static const char *names[] = {
    "ok", "not found", "not a gst-mmap file", "truncated",
    "unknown version", "invalid", "busy", "no space", "permission denied",
    "I/O error", "bad argument", "out of memory", "lost", "no lease",
    "too large", "replaced",
  };
  if ((unsigned) status < sizeof (names) / sizeof (names[0]))
    return names[status];
  return "unknown status";
}

MR_EXPORT const char *
mmapring_status_id (MmapRingStatus status)
{
  static const char *ids[] = {
    "ok", "not_found", "not_ours", "truncated", "version", "invalid",
    "busy", "no_space", "permission", "io", "argument", "no_memory",
    "lost", "no_lease", "too_large", "replaced",
  };
  if ((unsigned) status < sizeof (ids) / sizeof (ids[0]))
    return ids[status];
  return "unknown";
}

MR_EXPORT const char *
mmapring_version (void)
{
  return MMAPRING_VERSION_STRING;
}

MR_EXPORT uint32_t
mmapring_format_version (void)
{
  return MMAP_FORMAT_VERSION;
}

void
mr_error (MmapRingError * err, MmapRingStatus status, int sys_errno,
    const char *fmt, ...)
{
  va_list ap;

  if (!err)
    return;
  err->status = status;
  err->sys_errno = sys_errno;
  va_start (ap, fmt);
  vsnprintf (err->message, sizeof (err->message), fmt, ap);
  va_end (ap);
}

MmapRingStatus
mr_status_from_errno (int e)
{
  switch (e) {
    case ENOENT:
    case ENOTDIR:
      return MMAPRING_ERR_NOT_FOUND;
    case EACCES:
    case EPERM:
    case EROFS:
      return MMAPRING_ERR_PERMISSION;
    case ENOSPC:
    case EDQUOT:
      return MMAPRING_ERR_NO_SPACE;
    case ENOMEM:
      return MMAPRING_ERR_NO_MEMORY;
    default:
      return MMAPRING_ERR_IO;
  }
}

uint64_t
mr_now (clockid_t id)
{
  struct timespec ts;
  clock_gettime (id, &ts);
  return (uint64_t) ts.tv_sec * MR_NS + (uint64_t) ts.tv_nsec;
}

uint64_t
mr_random64 (void)
{
  uint64_t v = 0;

  if (getrandom (&v, sizeof (v), GRND_NONBLOCK) != sizeof (v))
    v = mr_now (CLOCK_MONOTONIC) ^ ((uint64_t) getpid () << 32) ^
        (uint64_t) (uintptr_t) & v;
  return v ? v : 1;
}

/* The inode of our PID namespace: two processes see each other's pids
 * only when it is the same. */
uint64_t
mr_pidns (void)
{
  struct stat st;
  if (stat ("/proc/self/ns/pid", &st) < 0)
    return 0;
  return (uint64_t) st.st_ino;
}

void
mr_describe_writer (const MmapFileHeader * h, char *buf, size_t size)
{
  uint64_t ours = mr_pidns ();

  if (h->writer_pidns && ours && h->writer_pidns != ours)
    snprintf (buf, size, "pid %u in another PID namespace", h->writer_pid);
  else
    snprintf (buf, size, "pid %u", h->writer_pid);
}

/* --- futex and OFD locks --- */

int
mr_futex_wait (uint32_t * addr, uint32_t val, uint64_t timeout_ns)
{
  struct timespec ts;

  ts.tv_sec = timeout_ns / MR_NS;
  ts.tv_nsec = timeout_ns % MR_NS;
  /* Not FUTEX_PRIVATE_FLAG: the word is shared between processes. */
  return syscall (SYS_futex, addr, FUTEX_WAIT, val, &ts, NULL, 0);
}

/* The number of threads woken (0 on error). */
int
mr_futex_wake (uint32_t * addr)
{
  long n = syscall (SYS_futex, addr, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);

  return n > 0 ? (int) n : 0;
}

/* OFD locks belong to the open file description, not to the process:
 * they work across threads and PID namespaces and go with the last fd. */
int
mr_lock (int fd, short type, off_t start, off_t len)
{
  struct flock fl;

  memset (&fl, 0, sizeof (fl));
  fl.l_type = type;
  fl.l_whence = SEEK_SET;
  fl.l_start = start;
  fl.l_len = len;
  return fcntl (fd, F_OFD_SETLK, &fl);
}

int
mr_write_locked (int fd, off_t start, off_t len)
{
  struct flock fl;

  /* Asking whether a read lock would be refused finds exactly the write
   * locks: the read locks anyone who can open the file may take never
   * count.  Works on a read-only descriptor. */
  memset (&fl, 0, sizeof (fl));
  fl.l_type = F_RDLCK;
  fl.l_whence = SEEK_SET;
  fl.l_start = start;
  fl.l_len = len;
  if (fcntl (fd, F_OFD_GETLK, &fl) < 0)
    return -1;
  return fl.l_type != F_UNLCK;
}

/* --- paths --- */

char *
mr_strdup (const char *s)
{
  return s ? strdup (s) : NULL;
}

char *
mr_strdup_printf (const char *fmt, ...)
{
  va_list ap;
  char *s = NULL;

  va_start (ap, fmt);
  if (vasprintf (&s, fmt, ap) < 0)
    s = NULL;
  va_end (ap);
  return s;
}

char *
mr_dirname (const char *path)
{
  const char *slash = strrchr (path, '/');

  if (!slash)
    return strdup (".");
  if (slash == path)
    return strdup ("/");
  return strndup (path, slash - path);
}

char *
mr_basename (const char *path)
{
  const char *slash = strrchr (path, '/');
  return strdup (slash ? slash + 1 : path);
}

char *
mr_lock_path (const char *path)
{
  char *dir = mr_dirname (path), *base = mr_basename (path), *lp = NULL;

  if (dir && base)
    lp = mr_strdup_printf ("%s/.%s" MMAP_LOCK_FILE_SUFFIX, dir, base);
  free (dir);
  free (base);
  return lp;
}

/* --- validation --- */

static int
region_ok (uint64_t off, uint64_t len, uint64_t lo, uint64_t hi)
{
  return off >= lo && off <= hi && len <= hi - off;
}

MmapRingStatus
mr_validate_header (const MmapFileHeader * h, uint64_t real_size,
    const char *path, MmapRingError * err)
{
  uint64_t desc_end, caps_end, sticky_end, slots_end;
  const char *why = NULL;

  if (memcmp (h->magic, MMAP_FORMAT_MAGIC, 8) != 0) {
    mr_error (err, MMAPRING_ERR_NOT_OURS, 0,
        "%s: not a gst-mmap file (bad magic)", path);
    return MMAPRING_ERR_NOT_OURS;
  }
  if (h->version != MMAP_FORMAT_VERSION) {
    mr_error (err, MMAPRING_ERR_VERSION, 0, "%s: gst-mmap file format "
        "version %u; this reader knows version %u", path, h->version,
        MMAP_FORMAT_VERSION);
    return MMAPRING_ERR_VERSION;
  }
  if (h->file_size > real_size) {
    mr_error (err, MMAPRING_ERR_TRUNCATED, 0, "%s: truncated: %llu bytes, "
        "its header says %llu", path, (unsigned long long) real_size,
        (unsigned long long) h->file_size);
    return MMAPRING_ERR_TRUNCATED;
  }
  desc_end = MMAP_SLOT_DESC_OFFSET +
      (uint64_t) h->slot_count * MMAP_SLOT_DESC_SIZE;
  caps_end = h->caps_offset + h->caps_length + 1;
  sticky_end = h->sticky_offset + h->sticky_capacity;
  if (h->header_size != MMAP_HEADER_SIZE)
    why = "header_size is not 4096";
  else if (h->slot_desc_size != MMAP_SLOT_DESC_SIZE)
    why = "slot_desc_size is not 256";
  else if (h->reader_entry_size != MMAP_READER_ENTRY_SIZE)
    why = "reader_entry_size is not 64";
  else if (h->reader_table_offset != MMAP_READER_TABLE_OFFSET)
    why = "reader_table_offset is not 4096";
  else if (h->slot_desc_offset != MMAP_SLOT_DESC_OFFSET)
    why = "slot_desc_offset is not 8192";
  else if (h->reader_count > MMAP_READER_MAX)
    why = "reader_count is larger than 64";
  else if (h->slot_count < MMAP_SLOTS_MIN || h->slot_count > MMAP_SLOTS_MAX)
    why = "slot_count is outside 2..64";
  else if (h->file_size < desc_end)
    why = "file_size is smaller than its header and descriptors";
  else if (h->caps_length >= MMAP_CAPS_MAX)
    why = "caps_length is 1 MiB or more";
  else if (!region_ok (h->caps_offset, h->caps_length + 1, desc_end,
          h->file_size))
    why = "the caps lie outside the file or over the descriptors";
  else if (h->sticky_capacity && !region_ok (h->sticky_offset,
          h->sticky_capacity, caps_end, h->file_size))
    why = "the sticky area lies outside the file or over the caps";
  else if (h->slot_data_offset % MMAP_PAGE_SIZE)
    why = "slot_data_offset is not a multiple of 4096";
  else if (h->slot_data_offset < MR_MAX (caps_end, h->sticky_capacity ?
          sticky_end : 0) || h->slot_data_offset > h->file_size)
    why = "the slots start outside the file or over the areas before them";
  else if (h->slot_stride > UINT64_MAX / MMAP_SLOTS_MAX ||
      (slots_end = h->slot_stride * h->slot_count) >
      h->file_size - h->slot_data_offset)
    why = "the slots lie outside the file";
  else if (h->slot_capacity > h->slot_stride)
    why = "slot_capacity is larger than slot_stride";
  else if (h->meta_capacity && (h->meta_offset < h->slot_capacity ||
          h->meta_offset % 8 || h->meta_offset > h->slot_stride ||
          h->meta_capacity > h->slot_stride - h->meta_offset))
    why = "the meta area lies outside its slot or over the payload";
  else if (h->meta_capacity > UINT32_MAX || h->sticky_capacity > UINT32_MAX)
    why = "a record area is 4 GiB or larger";
  else if (h->lease_limit >= h->slot_count)
    why = "lease_limit is not smaller than slot_count";
  else if (h->lock_base < 1 || h->lock_base > (uint64_t) INT64_MAX - 64)
    why = "lock_base is out of range";
  (void) slots_end;
  if (why) {
    mr_error (err, MMAPRING_ERR_INVALID, 0, "%s: invalid gst-mmap file: %s",
        path, why);
    return MMAPRING_ERR_INVALID;
  }
  return MMAPRING_OK;
}

const char *
mr_check_desc (const MmapFileHeader * h, const MmapSlotDesc * d, char *why,
    size_t size)
{
  uint32_t p;

  if (d->size > h->slot_capacity) {
    snprintf (why, size, "size %llu is larger than slot_capacity %llu",
        (unsigned long long) d->size, (unsigned long long) h->slot_capacity);
    return why;
  }
  if (d->n_planes > MMAP_MAX_PLANES) {
    snprintf (why, size, "n_planes %u is larger than 4", d->n_planes);
    return why;
  }
  for (p = 0; p < d->n_planes; p++) {
    if (d->plane_offset[p] > d->size || d->plane_stride[p] <= 0 ||
        (uint64_t) d->plane_stride[p] > d->size) {
      snprintf (why, size, "plane %u (offset %llu, stride %d) is outside the "
          "%llu-byte payload or its stride is not positive", p,
          (unsigned long long) d->plane_offset[p], d->plane_stride[p],
          (unsigned long long) d->size);
      return why;
    }
  }
  if (d->meta_size > h->meta_capacity) {
    snprintf (why, size, "meta_size %u is larger than meta_capacity %llu",
        d->meta_size, (unsigned long long) h->meta_capacity);
    return why;
  }
  if (d->frame_flags & ~(uint32_t) MMAP_FRAME_FLAG_NO_BUFFER) {
    snprintf (why, size, "unknown frame_flags 0x%x", d->frame_flags);
    return why;
  }
  return NULL;
}

const char *
mr_check_records (const uint8_t * p, uint64_t size, char *why, size_t why_size)
{
  uint64_t at = 0;

  while (at < size) {
    MmapRecordHeader rh;
    if (size - at < sizeof (rh)) {
      snprintf (why, why_size, "a record header at byte %llu runs past the "
          "%llu record bytes", (unsigned long long) at,
          (unsigned long long) size);
      return why;
    }
    memcpy (&rh, p + at, sizeof (rh));
    at += sizeof (rh);
    if (rh.size > size - at) {
      snprintf (why, why_size, "record of type %u runs %u bytes past the end "
          "of its area", rh.type, (unsigned) (rh.size - (size - at)));
      return why;
    }
    at += MR_MIN (MR_ALIGN ((uint64_t) rh.size, 8), size - at);
  }
  return NULL;
}

/* --- the SIGBUS guard --- */

#define GUARD_ENTRIES 256
typedef struct
{
  int claimed;
  uint64_t size;
  int *broken;
  uint8_t *base;                /* published last, cleared first */
} GuardEntry;
static GuardEntry guard_table[GUARD_ENTRIES];
static struct sigaction guard_old;
static uintptr_t guard_page_mask;
static int guard_installed;     /* atomic */
static pthread_once_t guard_once = PTHREAD_ONCE_INIT;

static void
guard_handler (int sig, siginfo_t * si, void *uc)
{
  uint8_t *addr = si->si_addr;
  unsigned i;

  for (i = 0; i < GUARD_ENTRIES; i++) {
    uint8_t *b = __atomic_load_n (&guard_table[i].base, __ATOMIC_ACQUIRE);
    if (b && addr >= b && addr < b + guard_table[i].size) {
      uint8_t *page = (uint8_t *) ((uintptr_t) addr & guard_page_mask);
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
guard_install_once (void)
{
  struct sigaction sa;

  memset (&sa, 0, sizeof (sa));
  guard_page_mask = ~(uintptr_t) (sysconf (_SC_PAGESIZE) - 1);
  sa.sa_sigaction = guard_handler;
  sa.sa_flags = SA_SIGINFO | SA_NODEFER;
  sigemptyset (&sa.sa_mask);
  if (sigaction (SIGBUS, &sa, &guard_old) == 0)
    __atomic_store_n (&guard_installed, 1, __ATOMIC_RELEASE);
}

MR_EXPORT MmapRingStatus
mmapring_install_sigbus_guard (MmapRingError * err)
{
  pthread_once (&guard_once, guard_install_once);
  if (!__atomic_load_n (&guard_installed, __ATOMIC_ACQUIRE)) {
    mr_error (err, MMAPRING_ERR_IO, errno, "cannot install a SIGBUS "
        "handler: %s", strerror (errno));
    return MMAPRING_ERR_IO;
  }
  return MMAPRING_OK;
}

static void
guard_add (MrFile * f)
{
  unsigned i;

  f->guard = -1;
  if (!__atomic_load_n (&guard_installed, __ATOMIC_ACQUIRE))
    return;
  for (i = 0; i < GUARD_ENTRIES; i++) {
    int zero = 0;
    if (__atomic_compare_exchange_n (&guard_table[i].claimed, &zero, 1, 0,
            __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
      guard_table[i].size = f->size;
      guard_table[i].broken = &f->broken;
      __atomic_store_n (&guard_table[i].base, f->base, __ATOMIC_RELEASE);
      f->guard = i;
      return;
    }
  }
}

static void
guard_remove (MrFile * f)
{
  if (f->guard < 0)
    return;
  __atomic_store_n (&guard_table[f->guard].base, NULL, __ATOMIC_RELEASE);
  __atomic_store_n (&guard_table[f->guard].claimed, 0, __ATOMIC_RELEASE);
  f->guard = -1;
}

/* --- files --- */

MrFile *
mr_file_new (int fd, const char *path)
{
  MrFile *f = calloc (1, sizeof (*f));

  if (!f)
    return NULL;
  f->refcount = 1;
  f->fd = fd;
  f->entry = -1;
  f->guard = -1;
  f->path = mr_strdup (path);
  pthread_mutex_init (&f->mu, NULL);
  return f;
}

MrFile *
mr_file_ref (MrFile * f)
{
  __atomic_add_fetch (&f->refcount, 1, __ATOMIC_RELAXED);
  return f;
}

void
mr_file_unref (MrFile * f)
{
  if (!f || __atomic_sub_fetch (&f->refcount, 1, __ATOMIC_ACQ_REL) != 0)
    return;
  if (f->entry >= 0)
    mr_entry_release (f);
  if (f->base) {
    guard_remove (f);
    munmap (f->base, f->size);
  }
  if (f->fd >= 0)
    close (f->fd);
  mr_lockfile_unref (f->lock);
  pthread_mutex_destroy (&f->mu);
  free (f->caps);
  free (f->path);
  free (f);
}

int
mr_file_broken (MrFile * f)
{
  return __atomic_load_n (&f->broken, __ATOMIC_RELAXED) != 0;
}

int
mr_file_map (MrFile * f, uint64_t size, int writable, MmapRingError * err)
{
  void *p = mmap (NULL, size, PROT_READ | (writable ? PROT_WRITE : 0),
      MAP_SHARED, f->fd, 0);

  if (p == MAP_FAILED) {
    int e = errno;
    mr_error (err, mr_status_from_errno (e), e, "%s: cannot map %llu "
        "bytes: %s", f->path, (unsigned long long) size, strerror (e));
    return -1;
  }
  f->base = p;
  f->size = size;
  f->writable = writable;
  guard_add (f);
  return 0;
}

MrLockFile *
mr_lockfile_ref (MrLockFile * l)
{
  __atomic_add_fetch (&l->refcount, 1, __ATOMIC_RELAXED);
  return l;
}

void
mr_lockfile_unref (MrLockFile * l)
{
  if (!l || __atomic_sub_fetch (&l->refcount, 1, __ATOMIC_ACQ_REL) != 0)
    return;
  close (l->fd);
  free (l);
}

/* Copies and checks the caps from the mapping (untrusted: no NUL before
 * caps_length, a NUL at it). */
static int
copy_caps (MrFile * f, MmapRingError * err)
{
  const MmapFileHeader *h = &f->hdr;
  const char *src = (const char *) f->base + h->caps_offset;

  f->caps = malloc ((size_t) h->caps_length + 1);
  if (!f->caps) {
    mr_error (err, MMAPRING_ERR_NO_MEMORY, ENOMEM, "%s: out of memory",
        f->path);
    return -1;
  }
  memcpy (f->caps, src, (size_t) h->caps_length + 1);
  if (f->caps[h->caps_length] != '\0' || memchr (f->caps, '\0', h->caps_length)) {
    mr_error (err, MMAPRING_ERR_INVALID, 0, "%s: invalid gst-mmap file: the "
        "caps string is not %u bytes and a NUL", f->path, h->caps_length);
    return -1;
  }
  return 0;
}

static int
open_for_reading (const char *path, int *writable, MmapRingError * err)
{
  int fd, e;

  *writable = 1;
  fd = open (path, O_RDWR | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0 && (errno == EACCES || errno == EPERM || errno == EROFS)) {
    /* Readable only: we copy, poll, and touch nothing in the file. */
    *writable = 0;
    fd = open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  }
  if (fd >= 0)
    return fd;
  e = errno;
  if (e == EISDIR)
    mr_error (err, MMAPRING_ERR_NOT_OURS, e, "%s: not a gst-mmap file (a "
        "directory)", path);
  else if (e == ENOENT)
    mr_error (err, MMAPRING_ERR_NOT_FOUND, e, "%s: no such file", path);
  else
    mr_error (err, mr_status_from_errno (e), e, "%s: cannot open: %s", path,
        strerror (e));
  return -1;
}

MrFile *
mr_file_open (const char *path, int fd_hint, MmapRingError * err)
{
  MmapFileHeader h;
  struct stat st;
  MrFile *f;
  int fd = fd_hint, writable = 1;
  ssize_t n;

  if (fd < 0 && (fd = open_for_reading (path, &writable, err)) < 0)
    return NULL;
  if (fd_hint >= 0)
    writable = (fcntl (fd, F_GETFL) & O_ACCMODE) == O_RDWR;
  if (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode)) {
    mr_error (err, MMAPRING_ERR_NOT_OURS, 0, "%s: not a gst-mmap file (not "
        "a regular file)", path);
    goto fail;
  }
  /* The magic first: a short file of someone else's is "not ours", not
   * "truncated" (a writer takes over truncated files of ours). */
  memset (&h, 0, sizeof (h));
  n = pread (fd, &h, sizeof (h), 0);
  if (n < 8 || memcmp (h.magic, MMAP_FORMAT_MAGIC, 8) != 0) {
    mr_error (err, MMAPRING_ERR_NOT_OURS, 0, "%s: not a gst-mmap file (%s)",
        path, n < 8 ? "shorter than its magic" : "bad magic");
    goto fail;
  }
  if (n >= 12 && h.version != MMAP_FORMAT_VERSION) {
    mr_error (err, MMAPRING_ERR_VERSION, 0, "%s: gst-mmap file format "
        "version %u; this reader knows version %u", path, h.version,
        MMAP_FORMAT_VERSION);
    goto fail;
  }
  if (n < (ssize_t) sizeof (h)) {
    mr_error (err, MMAPRING_ERR_TRUNCATED, 0, "%s: truncated: %lld bytes, "
        "shorter than the 4096-byte header", path, (long long) st.st_size);
    goto fail;
  }
  if (mr_validate_header (&h, st.st_size, path, err) != MMAPRING_OK)
    goto fail;

  f = mr_file_new (fd, path);
  if (!f) {
    mr_error (err, MMAPRING_ERR_NO_MEMORY, ENOMEM, "%s: out of memory", path);
    goto fail;
  }
  f->dev = st.st_dev;
  f->ino = st.st_ino;
  /* From now on every offset comes from this validated copy, never from
   * the mapping: a writer changing its fixed fields cannot move a read
   * outside the mapping. */
  f->hdr = h;
  if (mr_file_map (f, h.file_size, writable, err) < 0 || copy_caps (f, err)) {
    f->fd = -1;                 /* the caller's fd on failure */
    mr_file_unref (f);
    if (fd_hint < 0)
      close (fd);
    return NULL;
  }
  return f;

fail:
  if (fd_hint < 0)
    close (fd);
  return NULL;
}

int
mr_writer_alive (MrFile * f)
{
  /* Cannot tell (kernel without OFD locks): assume alive. */
  return mr_write_locked (f->fd, MMAP_WRITER_LOCK_OFFSET, 1) != 0;
}

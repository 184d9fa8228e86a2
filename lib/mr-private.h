/* Internal to the mmapring library: the mapped-file object shared by the
 * writer and the reader, and the small system wrappers they use. */
#ifndef MR_PRIVATE_H
#define MR_PRIVATE_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "mmapring.h"
#include "mmapring-format.h"

#define MR_EXPORT __attribute__ ((visibility ("default")))
#define MR_UNUSED __attribute__ ((unused))

#define MR_NS 1000000000ull
#define MR_MS 1000000ull
/* How often an idle reader checks that its writer lives and that the path
 * still names its file: neither wakes the futex. */
#define MR_CHECK_INTERVAL_NS (100 * MR_MS)
/* Sleep between polls of a reader that cannot sleep on the futex. */
#define MR_POLL_NS (1 * MR_MS)
/* Looks at a slot whose lock was odd or moved, before calling it lost. */
#define MR_READ_TRIES 4
/* Slots this large are reused warm first (writer.c, pick_slot): bigger
 * than the caches can hold many of. */
#define MR_WARM_SLOT_MIN (1024 * 1024)
/* Up to this many frames a second, a writer that woke readers yields
 * the CPU to them (writer.c, hand_off). */
#define MR_HANDOFF_FPS 1000
/* slot_log value of a frame number the writer dropped (FORMAT.md 7). */
#define MR_SLOT_NONE UINT32_MAX

#define MR_MIN(a, b) ((a) < (b) ? (a) : (b))
#define MR_MAX(a, b) ((a) > (b) ? (a) : (b))
#define MR_ALIGN(x, a) (((x) + ((a) - 1)) & ~(uint64_t) ((a) - 1))

/* The location's lock file, shared by the files whose reader-table
 * entries are locked in it (reader) or held for the writer's life. */
typedef struct
{
  int refcount;                 /* atomic */
  int fd;
  dev_t dev;
  ino_t ino;
} MrLockFile;

/* One mapped, validated data file. */
typedef struct
{
  int refcount;                 /* atomic */
  int fd;
  uint8_t *base;
  uint64_t size;                /* mapped bytes: hdr.file_size */
  dev_t dev;
  ino_t ino;
  int writable;
  char *path;
  MmapFileHeader hdr;           /* validated copy of the fixed fields */
  char *caps;                   /* validated copy of the caps */
  int broken;                   /* atomic; set by the SIGBUS guard */
  int guard;                    /* index in the guard table, or -1 */
  MrLockFile *lock;             /* entry locks (reader), location (writer) */

  /* Writer only, under `mu` (slots are acquired and released from any
   * thread while one thread publishes). */
  pthread_mutex_t mu;
  uint64_t busy;                /* slots handed out */
  uint64_t slot_seq[MMAP_SLOTS_MAX];    /* frame each slot holds */
  unsigned since_reclaim;

  /* Reader only: our reader-table entry or -1, and leases out (atomic:
   * released from any thread). */
  int entry;
  int leases_out;
} MrFile;

/* --- errors --- */
void mr_error (MmapRingError * err, MmapRingStatus status, int sys_errno,
    const char *fmt, ...) __attribute__((format (printf, 4, 5)));
MmapRingStatus mr_status_from_errno (int e);

/* --- time, randomness, identity --- */
uint64_t mr_now (clockid_t id);
uint64_t mr_random64 (void);
uint64_t mr_pidns (void);

/* --- futex, OFD locks --- */
int mr_futex_wait (uint32_t * addr, uint32_t val, uint64_t timeout_ns);
int mr_futex_wake (uint32_t * addr);
int mr_lock (int fd, short type, off_t start, off_t len);
/* 1: another open file description holds a write lock there, 0: none
 * (read locks do not count), -1: cannot tell. */
int mr_write_locked (int fd, off_t start, off_t len);
static inline void
mr_cpu_relax (void)
{
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause ();
#elif defined(__aarch64__)
  __asm__ __volatile__ ("yield");
#endif
}

/* --- paths --- */
char *mr_dirname (const char *path);
char *mr_basename (const char *path);
char *mr_lock_path (const char *path);
char *mr_strdup (const char *s);
char *mr_strdup_printf (const char *fmt, ...)
    __attribute__((format (printf, 1, 2)));
/* The writer pid of what is at `path`, for messages, as "pid N" or
 * "pid N in another PID namespace". */
void mr_describe_writer (const MmapFileHeader * h, char *buf, size_t size);

/* --- files --- */
#define MR_HDR(f) ((MmapFileHeader *) (f)->base)
static inline MmapSlotDesc *
mr_desc (MrFile * f, uint32_t i)
{
  return (MmapSlotDesc *) (f->base + f->hdr.slot_desc_offset +
      (uint64_t) i * MMAP_SLOT_DESC_SIZE);
}

static inline uint8_t *
mr_slot_data (MrFile * f, uint32_t i)
{
  return f->base + f->hdr.slot_data_offset + (uint64_t) i *f->hdr.slot_stride;
}

static inline MmapReaderEntry *
mr_entry (MrFile * f, uint32_t k)
{
  return (MmapReaderEntry *) (f->base + MMAP_READER_TABLE_OFFSET +
      (uint64_t) k * MMAP_READER_ENTRY_SIZE);
}

/* Checks the fixed header fields (a private copy) against the real size
 * of the file.  The one header validator: every path that reads a header
 * goes through it (FORMAT.md section 6). */
MmapRingStatus mr_validate_header (const MmapFileHeader * h,
    uint64_t real_size, const char *path, MmapRingError * err);
/* Checks a descriptor copy against the validated header (FORMAT.md 6). */
const char *mr_check_desc (const MmapFileHeader * h, const MmapSlotDesc * d,
    char *why, size_t size);
/* Checks the framing of `size` bytes of records. */
const char *mr_check_records (const uint8_t * p, uint64_t size, char *why,
    size_t why_size);

/* Opens, validates and maps what `path` names, read-write if allowed,
 * else read-only.  A file that is not ours is refused before mapping. */
MrFile *mr_file_open (const char *path, int fd_hint, MmapRingError * err);
MrFile *mr_file_new (int fd, const char *path);
MrFile *mr_file_ref (MrFile * f);
void mr_file_unref (MrFile * f);
int mr_file_broken (MrFile * f);
int mr_file_map (MrFile * f, uint64_t size, int writable, MmapRingError * err);
int mr_writer_alive (MrFile * f);
/* 1 when the path now names another file or nothing. */

MrLockFile *mr_lockfile_ref (MrLockFile * l);
void mr_lockfile_unref (MrLockFile * l);

/* Reader-table entries.  Implemented in reader.c (register, release)
 * and writer.c (reclaim). */
void mr_entry_release (MrFile * f);
uint64_t mr_leased_slots (MrFile * f);

#endif /* MR_PRIVATE_H */

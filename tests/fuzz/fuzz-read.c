/* libFuzzer target: libmmapring's reader against an untrusted file.
 *
 * The input becomes the whole data file of a location in a directory of
 * our own, with a lock file next to it, and the harness holds the data
 * file's writer lock: to the reader it is a live writer's file, so that
 * every path of mmapring_reader_next (joining, skipping, the delta-unit
 * rules, leases, records, sticky area) sees the bytes.  Whatever they
 * are, the reader must neither crash nor touch memory outside its
 * mapping, and every refusal must name the file. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mmapring.h"
#include "mmapring-format.h"

int LLVMFuzzerTestOneInput (const uint8_t * data, size_t size);

static char dir[64], path[96], lock_path[96];
static uint64_t lock_ino;

/* Nothing left in /dev/shm when libFuzzer exits. */
static void
cleanup (void)
{
  unlink (path);
  unlink (lock_path);
  rmdir (dir);
}

static void
setup (void)
{
  struct stat st;
  int fd;

  snprintf (dir, sizeof dir, "/dev/shm/mmapring-fuzz-XXXXXX");
  if (!mkdtemp (dir))
    abort ();
  snprintf (path, sizeof path, "%s/f", dir);
  snprintf (lock_path, sizeof lock_path, "%s/.f.lock", dir);
  fd = open (lock_path, O_RDWR | O_CREAT, 0600);
  if (fd < 0 || fstat (fd, &st) < 0)
    abort ();
  lock_ino = st.st_ino;
  close (fd);
  atexit (cleanup);
}

static void
drain (MmapRingReader * r, const char *p, uint8_t * buf, size_t cap)
{
  unsigned n;

  for (n = 0; n < 200; n++) {
    MmapRingFrame f;
    MmapRingError err;
    MmapRingLease *lease;
    uint32_t sticky;
    MmapRingEvent ev = mmapring_reader_next (r, 0, &f, &err);

    if (ev == MMAPRING_EVENT_TIMEOUT)
      return;
    if (ev == MMAPRING_EVENT_ERROR || ev == MMAPRING_EVENT_WAITING) {
      if (!strstr (err.message, p))
        __builtin_trap ();
      if (ev == MMAPRING_EVENT_ERROR)
        return;
      continue;
    }
    if (ev == MMAPRING_EVENT_NEW_FILE)
      (void) mmapring_reader_sticky (r, &sticky);
    if (ev != MMAPRING_EVENT_FRAME)
      continue;
    /* Every byte the frame claims must be inside the mapping. */
    if (f.size > cap)
      __builtin_trap ();
    if (f.meta_size && f.meta)
      memcpy (buf, f.meta, f.meta_size < cap ? f.meta_size : cap);
    if (n & 1 && mmapring_reader_lease (r, &lease, &err) == MMAPRING_OK) {
      memcpy (buf, mmapring_lease_data (lease), f.size);
      mmapring_lease_release (lease);
    } else {
      (void) mmapring_reader_copy (r, buf, cap, &err);
    }
  }
}

int
LLVMFuzzerTestOneInput (const uint8_t * data, size_t size)
{
  static uint8_t *buf;
  static size_t buf_size;
  MmapRingReader *r;
  MmapRingError err;
  int fd, lock_fd;
  struct flock fl = {.l_type = F_WRLCK,.l_whence = SEEK_SET,.l_len = 1 };

  if (!dir[0])
    setup ();
  if (size > (1u << 22))
    return 0;
  if (buf_size < size + 1 && !(buf = realloc (buf, buf_size = size + 1)))
    abort ();
  unlink (path);
  fd = open (path, O_RDWR | O_CREAT | O_EXCL, 0600);
  if (fd < 0 || write (fd, data, size) != (ssize_t) size)
    abort ();
  /* The lock file the input names is ours, so that readers register. */
  if (size >= offsetof (MmapFileHeader, lock_ino) + 8)
    pwrite (fd, &lock_ino, 8, offsetof (MmapFileHeader, lock_ino));
  /* A live writer holds byte 0. */
  lock_fd = open (path, O_RDWR);
  if (lock_fd < 0 || fcntl (lock_fd, F_OFD_SETLK, &fl) < 0)
    abort ();

  r = mmapring_reader_new (path, &err);
  if (!r)
    abort ();
  mmapring_reader_set_max_lag (r, size & 3);
  drain (r, path, buf, buf_size);
  mmapring_reader_free (r);
  close (lock_fd);
  close (fd);
  return 0;
}

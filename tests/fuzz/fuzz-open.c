/* libFuzzer target: the reader's view of an untrusted file.
 *
 * The input becomes the whole file (a memfd opened through /proc, so
 * mring_open sees a real file and a real mapping), then every frame the
 * header claims is read as mmapsrc reads it.  A reader must neither crash
 * nor touch memory outside the mapping, whatever the bytes. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "mmapring.h"

int LLVMFuzzerTestOneInput (const uint8_t * data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t * data, size_t size)
{
  static guint8 sink[1 << 16];
  char path[64];
  GError *err = NULL;
  MringMap *m;
  guint64 w, seq, lo;
  guint n;
  int fd;

  fd = memfd_create ("fuzz", MFD_CLOEXEC);
  if (fd < 0)
    return 0;
  if (write (fd, data, size) != (ssize_t) size) {
    close (fd);
    return 0;
  }
  snprintf (path, sizeof (path), "/proc/self/fd/%d", fd);

  m = mring_open (path, &err);
  if (!m) {
    /* Every refusal explains itself and names the file. */
    if (!err || !strstr (err->message, path))
      __builtin_trap ();
    g_error_free (err);
    close (fd);
    return 0;
  }

  (void) mring_state (m);
  (void) mring_eos (m);
  (void) mring_writer_alive (m);
  w = mring_write_seq (m);
  lo = w > 80 ? w - 80 : 0;
  /* Counted, not `seq <= w + 1`: that never ends for w = 2^64 - 2. */
  for (seq = lo, n = 0; n < 82 && seq <= w; seq++, n++) {
    MmapSlotDesc d;
    guint idx;
    guint64 lock;

    if (mring_read_begin (m, seq, &d, &idx, &lock) != MRING_READ_OK)
      continue;
    /* mmapsrc copies d.size bytes from the slot: it must be inside. */
    if (d.size > sizeof (sink)) {
      memcpy (sink, mring_slot_data (m, idx), sizeof (sink));
      memcpy (sink, mring_slot_data (m, idx) + d.size - sizeof (sink),
          sizeof (sink));
    } else {
      memcpy (sink, mring_slot_data (m, idx), d.size);
    }
    (void) mring_read_end (m, idx, lock);
  }
  if (mring_reader_register (m)) {
    MmapSlotDesc d;
    guint idx;
    guint64 lock;
    if (w > 0 && mring_read_begin (m, w, &d, &idx, &lock) == MRING_READ_OK
        && mring_lease (m, idx, lock))
      mring_unlease (m, idx);
  }
  mring_map_unref (m);
  close (fd);
  return 0;
}

/* Minimal reader for gst-mmap files (format version 1), without GStreamer
 * or GLib.  See docs/FORMAT.md for the protocol it implements.
 *
 * A reader follows one path: it waits for the file to appear, joins at the
 * newest frame, then returns every later frame once (counting the ones the
 * writer overwrote before they could be copied), and moves on by itself to
 * the next file when the writer replaces the file (caps change), stops, or
 * dies.  Frames are copied out under the slot's seqlock, so a returned
 * frame is never torn.
 *
 * A reader is not thread safe; use one per thread.
 */
#ifndef MMAP_READER_H
#define MMAP_READER_H

#include <stddef.h>
#include <stdint.h>

#include "mmapformat.h"

#ifdef __cplusplus
extern "C"
{
#endif

  typedef struct MmapReader MmapReader;

  typedef enum
  {
    MMAP_READ_ERROR = -1,       /* see mmap_reader_error() */
    MMAP_READ_FRAME = 0,        /* *frame is filled */
    MMAP_READ_TIMEOUT = 1,      /* nothing new within the timeout */
    MMAP_READ_EOS = 2,          /* the writer signalled end of stream; a
                                 * later call waits for more data or for a
                                 * new writer */
  } MmapReadResult;

  typedef struct
  {
    uint64_t seq;               /* frame number, continues across files of
                                 * the same writer */
    uint64_t writer_id;
    uint64_t caps_seq;          /* of the file the frame came from */
    const char *caps;           /* GStreamer caps string */
    const uint8_t *data;        /* private copy of the payload */
    uint64_t size;
    int64_t latency_ns;         /* CLOCK_MONOTONIC now - publication */
    uint64_t skipped;           /* frames lost just before this one */
    /* The descriptor as it was when the frame was copied: timestamps,
     * flags and plane layout.  desc.lock has no meaning here. */
    MmapSlotDesc desc;
  } MmapFrame;

/* Returns NULL only when out of memory.  Does not touch the path yet. */
  MmapReader *mmap_reader_new (const char *path);
  void mmap_reader_free (MmapReader * reader);

/* Waits up to timeout_ms (negative: forever, 0: do not wait) for the next
 * frame.  frame->data and frame->caps stay valid until the next call or
 * mmap_reader_free().  On MMAP_READ_ERROR (a file that fails validation,
 * or a system error) the bad file is dropped; calling again retries the
 * path once it names a different file. */
  MmapReadResult mmap_reader_read (MmapReader * reader, MmapFrame * frame,
      int timeout_ms);

/* "path: reason" for the last MMAP_READ_ERROR. */
  const char *mmap_reader_error (const MmapReader * reader);

  uint64_t mmap_reader_frames_read (const MmapReader * reader);
  uint64_t mmap_reader_frames_skipped (const MmapReader * reader);

/* Checks a header snapshot of a file of file_bytes bytes.  Returns 1 if it
 * is a valid version 1 header, else 0 with the reason in why. */
  int mmap_header_check (const MmapFileHeader * header, uint64_t file_bytes,
      char *why, size_t why_size);

#ifdef __cplusplus
}
#endif
#endif                          /* MMAP_READER_H */

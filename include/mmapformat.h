/* gst-mmap shared file format, version 1.
 *
 * This header is the whole contract between a writer (mmapsink) and any
 * reader (mmapsrc, clients/c, clients/python).  It needs nothing but a C11
 * compiler: no GStreamer, no GLib.  docs/FORMAT.md describes the same
 * layout and protocol in prose.
 *
 * All integers are little-endian and naturally aligned.  Offsets below are
 * from the start of the file.  A "time" is nanoseconds in a uint64_t; the
 * value MMAP_TIME_NONE (all ones) means "unknown", as GST_CLOCK_TIME_NONE.
 *
 *   0      MmapFileHeader       4096 bytes: identity, geometry, caps, live words
 *   4096   MmapReaderEntry[]    reader_count * 64 bytes (reader table)
 *   8192   MmapSlotDesc[]       slot_count * 256 bytes (one per slot)
 *   data   slot payloads        slot_count * slot_stride bytes, page aligned
 *
 * The identity and geometry (offsets 0..127), lease_limit and the caps
 * are written once, before the file is given its public name (create under
 * a temporary name, then link/rename), and never change afterwards: a
 * change of caps or of slot size makes a new file (same writer_id, frame
 * numbers going on from base_seq), and the old one is marked
 * MMAP_STATE_REPLACED.  Everything else is live and accessed atomically.
 *
 * Publishing frame s = write_seq + 1 (writer):
 *   1. pick a slot i that no reader leases (mmapsink takes the least
 *      recently published one) and make its lock odd (lock + 1, seq_cst),
 *      then a release fence, so that no payload write becomes visible
 *      before the odd lock; check the leases (below);
 *   2. write the payload and the descriptor fields, seq = s;
 *   3. make the lock even again (lock + 1, release);
 *   4. slot_log[s % MMAP_SLOT_LOG] = i, then write_seq = s (release),
 *      futex += 1 (seq_cst); if waiters (seq_cst load) != 0, FUTEX_WAKE (a
 *      shared futex, not FUTEX_PRIVATE) on futex, waking all.
 * Changing `eos` or `state` is likewise followed by futex += 1 and a wake.
 *
 * Reading frame s (reader), s <= write_seq (acquire):
 *   i = slot_log[s % MMAP_SLOT_LOG], i < slot_count;
 *   l1 = slot i lock (acquire); copy the descriptor and payload; acquire
 *   fence; l2 = lock (relaxed); intact only if l1 == l2, l1 is even and
 *   the copied descriptor's seq == s.  An odd lock can be transient (a
 *   writer backing off a leased slot leaves the content unchanged): look
 *   again a few times before counting the frame lost.
 *   Every field of the copy is checked against the mapping before use;
 *   plane strides are > 0 in version 1.  Unknown bits in `flags` are
 *   ignored.
 *
 * Waiting (reader): f = futex (acquire); if write_seq has not moved,
 * waiters += 1 (seq_cst); re-check write_seq; FUTEX_WAIT(futex, f, timeout);
 * waiters -= 1.  The timeout (100 ms in mmapsrc) only serves to notice a
 * writer that died without saying so (see writer lock).
 *
 * Writer lock: the writer holds an OFD write lock (F_OFD_SETLK) on byte 0
 * of the file for as long as it owns it; the kernel drops it when the
 * process dies.  A reader that sees state RUNNING but can take the lock
 * itself (F_OFD_GETLK says unlocked) knows the writer is gone.
 *
 * Reader table: entry i is owned by whoever holds an OFD write lock on its
 * 64 bytes; a reader that dies loses the lock and the writer reclaims its
 * leases.  A lease is bit (slot index) in the entry's `leases`: the writer
 * never rewrites a leased slot.  Zero-copy readers lease the slot whose
 * memory they hand downstream; a reader that copies needs no entry.
 *
 * Leasing slot i for frame s (reader): first take one unit of
 * `leases_held` with a compare-and-swap that keeps it <= lease_limit (if
 * none is left, copy instead); set bit i in leases (seq_cst); then the
 * lease is good only if the slot's lock is even and its seq is s (seq_cst
 * loads), else clear the bit and give the unit back.  The writer, after
 * making a lock odd (seq_cst), reads every live entry's leases (seq_cst):
 * if the slot is leased it makes the lock even again, content unchanged,
 * and takes another slot.  One of the two always sees the other.
 * `lease_limit` < slot_count guarantees the writer a free slot, so a
 * frozen reader costs it nothing.
 */
#ifndef MMAP_FORMAT_H
#define MMAP_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#define MMAP_FORMAT_MAGIC        "GSTMMAP"      /* 8 bytes with the NUL */
#define MMAP_FORMAT_VERSION      1u
#define MMAP_HEADER_SIZE         4096u
#define MMAP_READER_TABLE_OFFSET 4096u
#define MMAP_READER_ENTRY_SIZE   64u
#define MMAP_READER_MAX          64u
#define MMAP_SLOT_DESC_OFFSET    8192u
#define MMAP_SLOT_DESC_SIZE      256u
#define MMAP_SLOTS_MIN           2u
#define MMAP_SLOTS_MAX           64u
#define MMAP_CAPS_OFFSET         1024u
#define MMAP_CAPS_MAX            3072u  /* including the terminating NUL */
#define MMAP_MAX_PLANES          4u
#define MMAP_SLOT_LOG_OFFSET     256u
#define MMAP_SLOT_LOG            64u    /* entries in the publication log */
#define MMAP_TIME_NONE           UINT64_MAX
#define MMAP_WRITER_LOCK_OFFSET  0u     /* byte locked by the writer */

enum {
  MMAP_STATE_INIT = 0,          /* never seen under the public name */
  MMAP_STATE_RUNNING = 1,       /* a writer owns the file */
  MMAP_STATE_GONE = 2,          /* the writer stopped; a new one may come */
  MMAP_STATE_REPLACED = 3,      /* a newer file has the public name: reopen */
};

/* Bits of MmapSlotDesc.buffer_flags: the values of GstBufferFlags. */
enum {
  MMAP_BUFFER_FLAG_LIVE = 1u << 4,
  MMAP_BUFFER_FLAG_DISCONT = 1u << 6,
  MMAP_BUFFER_FLAG_DELTA_UNIT = 1u << 13,
};

typedef struct {
  /* Written once before publication, never changed after. */
  char magic[8];                /*    0 "GSTMMAP\0" */
  uint32_t version;             /*    8 MMAP_FORMAT_VERSION */
  uint32_t header_size;         /*   12 MMAP_HEADER_SIZE */
  uint64_t file_size;           /*   16 total bytes, <= the file's size */
  uint32_t slot_count;          /*   24 MMAP_SLOTS_MIN..MMAP_SLOTS_MAX */
  uint32_t slot_desc_size;      /*   28 MMAP_SLOT_DESC_SIZE */
  uint64_t slot_desc_offset;    /*   32 MMAP_SLOT_DESC_OFFSET */
  uint64_t slot_data_offset;    /*   40 first payload, page aligned */
  uint64_t slot_stride;         /*   48 bytes from one payload to the next */
  uint64_t slot_capacity;       /*   56 max payload bytes, <= slot_stride */
  uint32_t reader_table_offset; /*   64 MMAP_READER_TABLE_OFFSET */
  uint32_t reader_count;        /*   68 entries, <= MMAP_READER_MAX */
  uint32_t reader_entry_size;   /*   72 MMAP_READER_ENTRY_SIZE */
  uint32_t caps_length;         /*   76 strlen(caps), < MMAP_CAPS_MAX */
  uint64_t caps_seq;            /*   80 changes whenever the caps change */
  uint64_t writer_id;           /*   88 random, new for every writer */
  uint32_t writer_pid;          /*   96 in the writer's PID namespace */
  uint32_t flags;               /*  100 0 in version 1 */
  uint64_t base_seq;            /*  104 first frame here is base_seq + 1 */
  uint64_t created_realtime_ns; /*  112 CLOCK_REALTIME at creation */
  uint8_t reserved0[8];         /*  120 */
  /* Live words, changed by the writer (and `waiters` by readers) with
   * atomic operations only. */
  uint32_t state;               /*  128 MMAP_STATE_* */
  uint32_t futex;               /*  132 incremented at every publication */
  uint32_t waiters;             /*  136 readers inside FUTEX_WAIT */
  uint32_t eos;                 /*  140 1 after EOS, 0 again on new data */
  uint64_t write_seq;           /*  144 last published frame, base_seq: none */
  uint64_t latency_ns;          /*  152 writer pipeline's upstream latency */
  uint32_t lease_limit;         /*  160 most slots readers may lease at once */
  uint32_t leases_held;         /*  164 slots leased now, all readers */
  uint8_t reserved1[MMAP_SLOT_LOG_OFFSET - 168];        /*  168 */
  uint32_t slot_log[MMAP_SLOT_LOG];     /*  256 slot of frame s at s % 64 */
  uint8_t reserved2[MMAP_CAPS_OFFSET - MMAP_SLOT_LOG_OFFSET - 4 * MMAP_SLOT_LOG];
  char caps[MMAP_CAPS_MAX];     /* 1024 GstCaps string, NUL terminated */
} MmapFileHeader;

typedef struct {
  uint64_t reader_id;           /*  0 random, 0 when the entry is free */
  uint32_t pid;                 /*  8 */
  uint32_t flags;               /* 12 0 in version 1 */
  uint64_t leases;              /* 16 bit i: slot i may not be rewritten */
  uint64_t last_seq;            /* 24 last frame this reader output */
  uint64_t frames_read;         /* 32 */
  uint64_t frames_skipped;      /* 40 */
  uint64_t reserved[2];         /* 48 */
} MmapReaderEntry;

typedef struct {
  uint64_t lock;                /*   0 seqlock: odd while being written */
  uint64_t seq;                 /*   8 frame number held, 0: never written */
  uint64_t pts;                 /*  16 the buffer's PTS as the writer had it */
  uint64_t dts;                 /*  24 */
  uint64_t duration;            /*  32 */
  uint64_t offset;              /*  40 GstBuffer offset */
  uint64_t offset_end;          /*  48 */
  uint64_t pts_monotonic_ns;    /*  56 CLOCK_MONOTONIC time of the PTS on
                                 *     the writer's pipeline clock, or NONE */
  uint64_t publish_monotonic_ns;/*  64 CLOCK_MONOTONIC at publication */
  uint64_t publish_realtime_ns; /*  72 CLOCK_REALTIME at publication */
  uint64_t size;                /*  80 payload bytes, <= slot_capacity */
  uint32_t buffer_flags;        /*  88 MMAP_BUFFER_FLAG_* (GstBufferFlags) */
  uint32_t n_planes;            /*  92 0 (not raw video) .. MMAP_MAX_PLANES */
  uint64_t plane_offset[MMAP_MAX_PLANES];       /*  96 from payload start */
  int32_t plane_stride[MMAP_MAX_PLANES];        /* 128 bytes per row */
  uint64_t caps_seq;            /* 144 caps_seq of the file it was written in */
  uint8_t reserved[MMAP_SLOT_DESC_SIZE - 152];  /* 152 */
} MmapSlotDesc;

_Static_assert (sizeof (MmapFileHeader) == MMAP_HEADER_SIZE, "header size");
_Static_assert (offsetof (MmapFileHeader, version) == 8, "version");
_Static_assert (offsetof (MmapFileHeader, slot_count) == 24, "slot_count");
_Static_assert (offsetof (MmapFileHeader, reader_table_offset) == 64, "rt");
_Static_assert (offsetof (MmapFileHeader, caps_seq) == 80, "caps_seq");
_Static_assert (offsetof (MmapFileHeader, base_seq) == 104, "base_seq");
_Static_assert (offsetof (MmapFileHeader, state) == 128, "state");
_Static_assert (offsetof (MmapFileHeader, futex) == 132, "futex");
_Static_assert (offsetof (MmapFileHeader, waiters) == 136, "waiters");
_Static_assert (offsetof (MmapFileHeader, eos) == 140, "eos");
_Static_assert (offsetof (MmapFileHeader, write_seq) == 144, "write_seq");
_Static_assert (offsetof (MmapFileHeader, latency_ns) == 152, "latency");
_Static_assert (offsetof (MmapFileHeader, lease_limit) == 160, "lease_limit");
_Static_assert (offsetof (MmapFileHeader, slot_log) == MMAP_SLOT_LOG_OFFSET,
    "slot_log");
_Static_assert (offsetof (MmapFileHeader, caps) == MMAP_CAPS_OFFSET, "caps");
_Static_assert (sizeof (MmapReaderEntry) == MMAP_READER_ENTRY_SIZE, "entry");
_Static_assert (offsetof (MmapReaderEntry, leases) == 16, "leases");
_Static_assert (sizeof (MmapSlotDesc) == MMAP_SLOT_DESC_SIZE, "slot desc");
_Static_assert (offsetof (MmapSlotDesc, size) == 80, "size");
_Static_assert (offsetof (MmapSlotDesc, plane_offset) == 96, "planes");
_Static_assert (offsetof (MmapSlotDesc, plane_stride) == 128, "strides");
_Static_assert (offsetof (MmapSlotDesc, caps_seq) == 144, "slot caps_seq");
_Static_assert (MMAP_READER_TABLE_OFFSET +
    MMAP_READER_MAX * MMAP_READER_ENTRY_SIZE <= MMAP_SLOT_DESC_OFFSET,
    "reader table fits before the slot descriptors");

#endif /* MMAP_FORMAT_H */

/* mmapring-format.h: the layout of a gst-mmap file, format version 2.
 *
 * The bytes every reader and writer agree on, and nothing else: no code.
 * docs/FORMAT.md is the normative description (rules, orderings, what a
 * reader must check); this header spells out the same offsets, and the
 * _Static_asserts at the end pin every offset FORMAT.md promises.  The
 * only code that touches a mapping is the mmapring library (mmapring.h);
 * other programs include this header to read files by hand, or to check
 * their own layout tables against it.
 *
 *   0               MmapFileHeader      4096 bytes: identity, geometry, live words
 *   4096            MmapReaderEntry[64] reader table, 64 bytes each
 *   8192            MmapSlotDesc[n]     one 256-byte descriptor per slot
 *   caps_offset     caps string         caps_length bytes and a NUL
 *   sticky_offset   sticky area         records every late reader gets first
 *   slot_data_off   slots               n * slot_stride bytes, page aligned:
 *                                       payload, then the slot's meta area
 *
 * Every integer is little-endian and naturally aligned; a "time" is
 * nanoseconds in a uint64_t, MMAP_TIME_NONE meaning unknown.
 *
 * Version 2 against version 1: the caps moved out of the header into a
 * region of their own (no 3 KiB limit), writers exclude each other with a
 * lock file that read-only users cannot open, reader-table entries are
 * owned through that lock file too, `waiters` is made of per-entry flags a
 * dead reader's entry gives back, and slots carry a meta area.  A version
 * 1 reader refuses a version 2 file (it names the version).
 */
#ifndef MMAPRING_FORMAT_H
#define MMAPRING_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#define MMAP_FORMAT_MAGIC        "GSTMMAP"      /* 8 bytes with the NUL */
#define MMAP_FORMAT_VERSION      2u
#define MMAP_HEADER_SIZE         4096u
#define MMAP_READER_TABLE_OFFSET 4096u
#define MMAP_READER_ENTRY_SIZE   64u
#define MMAP_READER_MAX          64u
#define MMAP_SLOT_DESC_OFFSET    8192u
#define MMAP_SLOT_DESC_SIZE      256u
#define MMAP_SLOTS_MIN           2u
#define MMAP_SLOTS_MAX           64u
#define MMAP_MAX_PLANES          4u
#define MMAP_SLOT_LOG_OFFSET     512u
#define MMAP_SLOT_LOG            64u    /* entries in the publication log */
#define MMAP_CAPS_MAX            (1u << 20)     /* caps_length limit */
#define MMAP_TIME_NONE           UINT64_MAX
/* Byte 0 of the data file: locked (F_WRLCK) by its writer while it lives.
 * Byte 0 of the lock file: locked by the writer that owns the location. */
#define MMAP_WRITER_LOCK_OFFSET  0u
/* The lock file of location DIR/NAME is DIR/.NAME.lock */
#define MMAP_LOCK_FILE_SUFFIX    ".lock"

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
  MMAP_BUFFER_FLAG_HEADER = 1u << 10,
  MMAP_BUFFER_FLAG_GAP = 1u << 11,
  MMAP_BUFFER_FLAG_DELTA_UNIT = 1u << 13,
};

/* Bits of MmapSlotDesc.frame_flags. */
enum {
  /* The slot carries only records (events) that precede the next frame:
   * there is no buffer to output. */
  MMAP_FRAME_FLAG_NO_BUFFER = 1u << 0,
};

/* Bits of MmapReaderEntry.flags. */
enum {
  MMAP_READER_FLAG_ZERO_COPY = 1u << 0, /* leases slots */
};

typedef struct {
  /* Fixed: written before the file has its public name, never changed. */
  char magic[8];                /*    0 "GSTMMAP\0" */
  uint32_t version;             /*    8 MMAP_FORMAT_VERSION */
  uint32_t header_size;         /*   12 MMAP_HEADER_SIZE */
  uint64_t file_size;           /*   16 bytes used, <= the file's size */
  uint32_t slot_count;          /*   24 MMAP_SLOTS_MIN..MMAP_SLOTS_MAX */
  uint32_t slot_desc_size;      /*   28 MMAP_SLOT_DESC_SIZE */
  uint64_t slot_desc_offset;    /*   32 MMAP_SLOT_DESC_OFFSET */
  uint64_t slot_data_offset;    /*   40 first slot, page aligned */
  uint64_t slot_stride;         /*   48 bytes from one slot to the next */
  uint64_t slot_capacity;       /*   56 max payload bytes of a slot */
  uint32_t reader_table_offset; /*   64 MMAP_READER_TABLE_OFFSET */
  uint32_t reader_count;        /*   68 entries, <= MMAP_READER_MAX */
  uint32_t reader_entry_size;   /*   72 MMAP_READER_ENTRY_SIZE */
  uint32_t caps_length;         /*   76 strlen(caps), < MMAP_CAPS_MAX */
  uint64_t caps_offset;         /*   80 where the caps string is */
  uint64_t caps_seq;            /*   88 1 for a writer's first caps, +1 each change */
  uint64_t writer_id;           /*   96 random, new for every writer run */
  uint32_t writer_pid;          /*  104 in the writer's PID namespace */
  uint32_t flags;               /*  108 0 in version 2 */
  uint64_t writer_pidns;        /*  112 inode of that PID namespace, 0: unknown */
  uint64_t base_seq;            /*  120 first frame here is base_seq + 1 */
  uint64_t created_realtime_ns; /*  128 CLOCK_REALTIME at creation */
  uint64_t meta_offset;         /*  136 meta area, from the start of a slot */
  uint64_t meta_capacity;       /*  144 meta area bytes, 0: none */
  uint64_t sticky_offset;       /*  152 sticky area */
  uint64_t sticky_capacity;     /*  160 its size, 0: none */
  uint64_t lock_ino;            /*  168 inode of the location's lock file */
  uint64_t lock_base;           /*  176 lock-file byte of reader entry 0 */
  uint32_t lease_limit;         /*  184 most slots all readers may lease */
  uint32_t reserved0;           /*  188 */
  uint8_t reserved1[64];        /*  192 */
  /* Live: changed while readers watch, with atomic accesses only. */
  uint32_t state;               /*  256 MMAP_STATE_* */
  uint32_t futex;               /*  260 +1 at every publication or change */
  uint32_t waiters;             /*  264 entries whose `waiting` is 1 */
  uint32_t eos;                 /*  268 1 after EOS, 0 again on new data */
  uint64_t write_seq;           /*  272 last published frame, base_seq: none */
  uint64_t latency_ns;          /*  280 writer pipeline's upstream latency */
  uint64_t keyframe_seq;        /*  288 newest frame without DELTA_UNIT */
  uint32_t keyframe_requests;   /*  296 readers add 1 to ask for a keyframe */
  uint32_t reserved2;           /*  300 */
  uint64_t sticky_lock;         /*  304 seqlock of the sticky area */
  uint64_t sticky_size;         /*  312 record bytes in it (under the lock) */
  uint8_t reserved3[MMAP_SLOT_LOG_OFFSET - 320];        /*  320 */
  uint32_t slot_log[MMAP_SLOT_LOG];     /*  512 slot of frame s at s % 64 */
  uint8_t reserved4[MMAP_HEADER_SIZE - MMAP_SLOT_LOG_OFFSET
      - 4 * MMAP_SLOT_LOG];     /*  768 */
} MmapFileHeader;

typedef struct {
  uint64_t reader_id;           /*  0 random, 0 when the entry is free */
  uint32_t pid;                 /*  8 in the reader's PID namespace */
  uint32_t flags;               /* 12 MMAP_READER_FLAG_* */
  uint64_t leases;              /* 16 bit i: slot i may not be rewritten */
  uint64_t last_seq;            /* 24 last frame it copied or leased */
  uint64_t frames_read;         /* 32 */
  uint64_t frames_skipped;      /* 40 */
  uint32_t waiting;             /* 48 1 while inside FUTEX_WAIT */
  uint32_t max_lag;             /* 52 the reader's max-lag, 0: the ring */
  uint64_t pidns;               /* 56 inode of the reader's PID namespace */
} MmapReaderEntry;

typedef struct {
  uint64_t lock;                /*   0 seqlock: odd while being written */
  uint64_t seq;                 /*   8 frame number held, 0: none */
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
  uint32_t n_planes;            /*  92 0 (no plane layout) .. MMAP_MAX_PLANES */
  uint64_t plane_offset[MMAP_MAX_PLANES];       /*  96 from payload start */
  int32_t plane_stride[MMAP_MAX_PLANES];        /* 128 bytes per row, > 0 */
  uint64_t caps_seq;            /* 144 caps_seq of the file it was written in */
  uint32_t meta_size;           /* 152 record bytes in the meta area */
  uint32_t frame_flags;         /* 156 MMAP_FRAME_FLAG_* */
  uint8_t reserved[MMAP_SLOT_DESC_SIZE - 160];  /* 160 */
} MmapSlotDesc;

/* A record in a meta area or the sticky area: this header, `size` bytes
 * of body, then zeros up to the next multiple of 8. */
typedef struct {
  uint32_t type;                /* 0 MMAP_RECORD_* */
  uint32_t size;                /* 4 body bytes */
} MmapRecordHeader;

#define MMAP_PAGE_SIZE 4096u

_Static_assert (sizeof (MmapFileHeader) == MMAP_HEADER_SIZE, "header size");
_Static_assert (offsetof (MmapFileHeader, version) == 8, "version");
_Static_assert (offsetof (MmapFileHeader, file_size) == 16, "file_size");
_Static_assert (offsetof (MmapFileHeader, slot_count) == 24, "slot_count");
_Static_assert (offsetof (MmapFileHeader, slot_data_offset) == 40, "data");
_Static_assert (offsetof (MmapFileHeader, slot_capacity) == 56, "capacity");
_Static_assert (offsetof (MmapFileHeader, reader_table_offset) == 64, "rt");
_Static_assert (offsetof (MmapFileHeader, caps_length) == 76, "caps_len");
_Static_assert (offsetof (MmapFileHeader, caps_offset) == 80, "caps_off");
_Static_assert (offsetof (MmapFileHeader, caps_seq) == 88, "caps_seq");
_Static_assert (offsetof (MmapFileHeader, writer_id) == 96, "writer_id");
_Static_assert (offsetof (MmapFileHeader, writer_pid) == 104, "pid");
_Static_assert (offsetof (MmapFileHeader, writer_pidns) == 112, "pidns");
_Static_assert (offsetof (MmapFileHeader, base_seq) == 120, "base_seq");
_Static_assert (offsetof (MmapFileHeader, created_realtime_ns) == 128, "ct");
_Static_assert (offsetof (MmapFileHeader, meta_offset) == 136, "meta_off");
_Static_assert (offsetof (MmapFileHeader, meta_capacity) == 144, "meta_cap");
_Static_assert (offsetof (MmapFileHeader, sticky_offset) == 152, "sticky");
_Static_assert (offsetof (MmapFileHeader, sticky_capacity) == 160, "st_cap");
_Static_assert (offsetof (MmapFileHeader, lock_ino) == 168, "lock_ino");
_Static_assert (offsetof (MmapFileHeader, lock_base) == 176, "lock_base");
_Static_assert (offsetof (MmapFileHeader, lease_limit) == 184, "lease_lim");
_Static_assert (offsetof (MmapFileHeader, state) == 256, "state");
_Static_assert (offsetof (MmapFileHeader, futex) == 260, "futex");
_Static_assert (offsetof (MmapFileHeader, waiters) == 264, "waiters");
_Static_assert (offsetof (MmapFileHeader, eos) == 268, "eos");
_Static_assert (offsetof (MmapFileHeader, write_seq) == 272, "write_seq");
_Static_assert (offsetof (MmapFileHeader, latency_ns) == 280, "latency");
_Static_assert (offsetof (MmapFileHeader, keyframe_seq) == 288, "kf_seq");
_Static_assert (offsetof (MmapFileHeader, keyframe_requests) == 296, "kf_rq");
_Static_assert (offsetof (MmapFileHeader, sticky_lock) == 304, "st_lock");
_Static_assert (offsetof (MmapFileHeader, sticky_size) == 312, "st_size");
_Static_assert (offsetof (MmapFileHeader, slot_log) == MMAP_SLOT_LOG_OFFSET,
    "slot_log");
_Static_assert (sizeof (MmapReaderEntry) == MMAP_READER_ENTRY_SIZE, "entry");
_Static_assert (offsetof (MmapReaderEntry, leases) == 16, "leases");
_Static_assert (offsetof (MmapReaderEntry, last_seq) == 24, "last_seq");
_Static_assert (offsetof (MmapReaderEntry, waiting) == 48, "waiting");
_Static_assert (offsetof (MmapReaderEntry, pidns) == 56, "entry pidns");
_Static_assert (sizeof (MmapSlotDesc) == MMAP_SLOT_DESC_SIZE, "slot desc");
_Static_assert (offsetof (MmapSlotDesc, seq) == 8, "seq");
_Static_assert (offsetof (MmapSlotDesc, size) == 80, "size");
_Static_assert (offsetof (MmapSlotDesc, buffer_flags) == 88, "flags");
_Static_assert (offsetof (MmapSlotDesc, plane_offset) == 96, "planes");
_Static_assert (offsetof (MmapSlotDesc, plane_stride) == 128, "strides");
_Static_assert (offsetof (MmapSlotDesc, caps_seq) == 144, "slot caps_seq");
_Static_assert (offsetof (MmapSlotDesc, meta_size) == 152, "meta_size");
_Static_assert (offsetof (MmapSlotDesc, frame_flags) == 156, "frame_flags");
_Static_assert (sizeof (MmapRecordHeader) == 8, "record header");
/* The API header's copies of format constants. */
#ifdef MMAPRING_H
_Static_assert (MMAPRING_TIME_NONE == MMAP_TIME_NONE, "time none");
_Static_assert (MMAPRING_FRAME_FLAG_NO_BUFFER == MMAP_FRAME_FLAG_NO_BUFFER,
    "no buffer");
_Static_assert (MMAPRING_SLOTS_MIN == MMAP_SLOTS_MIN, "slots min");
_Static_assert (MMAPRING_SLOTS_MAX == MMAP_SLOTS_MAX, "slots max");
#endif
_Static_assert (MMAP_READER_TABLE_OFFSET +
    MMAP_READER_MAX * MMAP_READER_ENTRY_SIZE <= MMAP_SLOT_DESC_OFFSET,
    "reader table fits before the slot descriptors");

#endif /* MMAPRING_FORMAT_H */

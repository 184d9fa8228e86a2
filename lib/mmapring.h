/* mmapring: the gst-mmap file protocol, once.
 *
 * A writer publishes frames (bytes with timestamps, flags, a plane layout
 * and records of metadata) into a ring of slots in a memory-mapped file;
 * any number of readers in other processes follow it.  This library is
 * the only code that touches such a mapping: mmapsink and mmapsrc, the
 * Python module and gst-mmap-info are front ends over it.  Plain C11 and
 * POSIX, no GLib, no GStreamer; Linux (futex, OFD locks, CLOCK_MONOTONIC).
 *
 * The file format is docs/FORMAT.md (normative) and mmapring-format.h
 * (the layout).  In short: the writer numbers frames 1, 2, 3...; frame s
 * goes into a free slot under a per-slot seqlock, then write_seq = s and
 * a futex wake announce it.  Readers copy a frame and check the seqlock
 * (or lease the slot, and the writer leaves leased slots alone), wait on
 * the futex, and follow the writer from file to file: every change of
 * caps or slot size makes a new file and marks the old one REPLACED.
 * The writer never waits for a reader.  Writers hold a lock file
 * (DIR/.NAME.lock) that read-only users cannot open, and a write lock on
 * their data file that readers test to know the writer is alive.
 *
 * Errors: functions that can fail take an MmapRingError * (may be NULL)
 * and fill it with a status and a message naming the file and the
 * reason.  Threads: each function says what it allows; "one thread at a
 * time" means the caller serialises calls on that handle.  Nothing
 * process-wide happens unless asked for (mmapring_install_sigbus_guard).
 *
 * The declarations between the cdef markers are plain C that the Python
 * binding (python/mmapring) reads as they are: no preprocessor lines in
 * that region but `#define NAME number`.
 */
#ifndef MMAPRING_H
#define MMAPRING_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
#define MMAPRING_BEGIN_DECLS extern "C" {
#define MMAPRING_END_DECLS }
#else
#define MMAPRING_BEGIN_DECLS
#define MMAPRING_END_DECLS
#endif

MMAPRING_BEGIN_DECLS

/* @cdef-begin */

#define MMAPRING_TIME_NONE 0xffffffffffffffff
#define MMAPRING_FRAME_FLAG_NO_BUFFER 1
#define MMAPRING_SLOTS_MIN 2
#define MMAPRING_SLOTS_MAX 64

typedef enum {
  MMAPRING_OK = 0,
  MMAPRING_ERR_NOT_FOUND = 1, /* nothing at the location (yet) */
  MMAPRING_ERR_NOT_OURS = 2,  /* not a gst-mmap file, or not a regular file */
  MMAPRING_ERR_TRUNCATED = 3, /* shorter than its header says */
  MMAPRING_ERR_VERSION = 4,   /* a format version this library does not know */
  MMAPRING_ERR_INVALID = 5,   /* inconsistent or out-of-bounds fields */
  MMAPRING_ERR_BUSY = 6,      /* a live writer owns the location */
  MMAPRING_ERR_NO_SPACE = 7,  /* the file system cannot hold the file */
  MMAPRING_ERR_PERMISSION = 8,        /* may not open or create it */
  MMAPRING_ERR_IO = 9,        /* any other system error */
  MMAPRING_ERR_ARGUMENT = 10, /* a bad call */
  MMAPRING_ERR_NO_MEMORY = 11,
  MMAPRING_ERR_LOST = 12,     /* the frame was overwritten while read */
  MMAPRING_ERR_NO_LEASE = 13, /* no lease to be had now: copy instead */
  MMAPRING_ERR_TOO_LARGE = 14,        /* does not fit the slot or the area */
  MMAPRING_ERR_REPLACED = 15  /* the slot is of a file the writer replaced */
} MmapRingStatus;

typedef struct {
  MmapRingStatus status;
  int sys_errno;              /* errno of the system call that failed, or 0 */
  char message[512];          /* "PATH: reason" */
} MmapRingError;

/* Thread-safe.  The name is prose ("not a gst-mmap file"); the id is
 * stable, for scripts ("not_ours"). */
const char *mmapring_status_name (MmapRingStatus status);
const char *mmapring_status_id (MmapRingStatus status);
const char *mmapring_version (void);
uint32_t mmapring_format_version (void);

/* Touching a page of a shared mapping past the end of its file raises
 * SIGBUS, and anyone who may write the file can truncate it.  This
 * installs (once per process) a SIGBUS handler that maps an anonymous
 * page over a faulting page of one of our mappings and flags that file
 * broken, so that readers drop the frame and writers make a new file;
 * faults elsewhere go to the previous handler.  Without it, a truncated
 * file kills the process.  Thread-safe; idempotent. */
MmapRingStatus mmapring_install_sigbus_guard (MmapRingError * err);

/* One frame's description, written by mmapring_writer_publish and filled
 * by mmapring_reader_next.  Times are nanoseconds, UINT64_MAX unknown. */
typedef struct {
  uint64_t seq;               /* frame number (set by the writer) */
  uint64_t pts;               /* as the writer's pipeline had it */
  uint64_t dts;
  uint64_t duration;
  uint64_t offset;
  uint64_t offset_end;
  uint64_t pts_monotonic_ns;  /* CLOCK_MONOTONIC instant of the PTS */
  uint64_t publish_monotonic_ns;      /* set by the writer at publication */
  uint64_t publish_realtime_ns;
  uint64_t size;              /* payload bytes */
  uint32_t buffer_flags;      /* GstBufferFlags values */
  uint32_t n_planes;          /* 0: no plane layout */
  uint64_t plane_offset[4];
  int32_t plane_stride[4];
  uint64_t caps_seq;          /* of the file the frame is in */
  uint32_t meta_size;         /* record bytes at `meta` */
  uint32_t frame_flags;       /* MMAP_FRAME_FLAG_*: NO_BUFFER = 1 */
  const uint8_t *meta;        /* reader: the frame's records, valid until
                               * the next call on the reader; writer:
                               * records to copy into the slot */
  uint64_t skipped;           /* reader: frames lost just before this one */
  int32_t discont;            /* reader: a gap, or a new writer, before it */
  int32_t keyframe;           /* reader: not a delta unit */
  int32_t reserved;
  uint64_t found_monotonic_ns;  /* reader: CLOCK_MONOTONIC when it found the
                                 * frame (publication to here is the
                                 * wake-up, here to output the caller's) */
} MmapRingFrame;

/* ---------------------------------------------------------------- writer */

typedef struct MmapRingWriter MmapRingWriter;
typedef struct MmapRingSlot MmapRingSlot;

/* What a writer's file holds.  Zero fields take defaults. */
typedef struct {
  const char *caps;           /* GStreamer caps string, required */
  uint32_t slot_count;        /* 2..64, default 8 */
  uint32_t lease_limit;       /* slots all readers may lease at once;
                               * default slot_count / 2, at most
                               * slot_count - 2 */
  uint64_t slot_capacity;     /* payload bytes a slot holds, required */
  uint64_t meta_capacity;     /* record bytes per slot, default 0 */
  uint64_t sticky_capacity;   /* sticky record bytes, default 0 */
} MmapRingFormat;

/* Claims the location for a new writer: takes its lock file, removes a
 * crashed writer's temporary files, and checks that what is at the path
 * (if anything) is a gst-mmap file whose writer is gone.  A live writer
 * there: MMAPRING_ERR_BUSY, naming its pid.  No data file exists until
 * mmapring_writer_set_format.  `mode`: permission bits of the files. */
MmapRingWriter *mmapring_writer_open (const char *path, uint32_t mode,
    MmapRingError * err);

/* Makes a new data file for `format` and gives it the public name,
 * replacing the writer's previous file (marked REPLACED) or a dead
 * writer's.  Frame numbers go on across files.  The previous file's slots
 * that upstream still holds stay valid memory, but can no longer be
 * published (MMAPRING_ERR_REPLACED).  One thread at a time, with publish. */
MmapRingStatus mmapring_writer_set_format (MmapRingWriter * w,
    const MmapRingFormat * format, MmapRingError * err);

/* The least recently published slot that no reader leases and the writer
 * has not handed out, for writing frame data into; NULL if there is none
 * (or no file).  Its old frame is gone from this moment.  Thread-safe. */
MmapRingSlot *mmapring_writer_acquire (MmapRingWriter * w);
/* Slots the writer may hand out at once and still always find a free one
 * to copy into: slot_count - lease_limit - 1.  Thread-safe. */
uint32_t mmapring_writer_spare_slots (MmapRingWriter * w);
uint8_t *mmapring_slot_data (MmapRingSlot * slot);
uint64_t mmapring_slot_capacity (MmapRingSlot * slot);
uint32_t mmapring_slot_index (MmapRingSlot * slot);
/* TRUE when the slot's file was truncated under us (SIGBUS guard): what
 * was drawn into it may be lost, do not publish it. */
int mmapring_slot_broken (MmapRingSlot * slot);
/* Publishes the slot as frame mmapring_writer_seq () + 1, described by
 * `frame` (seq, publication times and caps_seq are filled in; they are
 * written back into *frame), and wakes the readers that wait.  The slot
 * stays out of the ring until mmapring_slot_release.  One thread at a
 * time, with set_format. */
MmapRingStatus mmapring_writer_publish (MmapRingWriter * w,
    MmapRingSlot * slot, MmapRingFrame * frame, MmapRingError * err);
/* Gives the slot back: a published one keeps its frame for the readers,
 * an unpublished one is abandoned empty.  Thread-safe, any thread, also
 * after the writer is closed. */
void mmapring_slot_release (MmapRingSlot * slot);
/* acquire + copy `size` bytes + publish + release. */
MmapRingStatus mmapring_writer_write (MmapRingWriter * w,
    MmapRingFrame * frame, const void *data, uint64_t size,
    MmapRingError * err);
/* Counts `n` frames as published and lost: every reader adds them to its
 * skipped count.  For a frame the writer had to drop. */
void mmapring_writer_skip (MmapRingWriter * w, uint64_t n);
/* Number of the last frame published (or skipped). */
uint64_t mmapring_writer_seq (MmapRingWriter * w);
void mmapring_writer_set_eos (MmapRingWriter * w);
void mmapring_writer_set_latency (MmapRingWriter * w, uint64_t latency_ns);
/* Replaces the sticky records (stream-start, tags, stream headers) that
 * late readers receive before their first frame. */
MmapRingStatus mmapring_writer_set_sticky (MmapRingWriter * w,
    const uint8_t * records, uint32_t size, MmapRingError * err);
/* How many times readers asked for a keyframe so far (compare with the
 * last value seen).  Thread-safe. */
uint32_t mmapring_writer_keyframe_requests (MmapRingWriter * w);
/* TRUE when the current file was truncated under us: make a new one. */
int mmapring_writer_broken (MmapRingWriter * w);
const char *mmapring_writer_path (MmapRingWriter * w);
/* Leaves the location: the file is marked GONE (readers finish it and
 * wait for the next writer) and, with `remove`, its name and the lock
 * file are removed; without, they stay for the next writer to take
 * over.  Slots still out stay valid until released. */
void mmapring_writer_close (MmapRingWriter * w, int remove);

/* ---------------------------------------------------------------- reader */

typedef struct MmapRingReader MmapRingReader;
typedef struct MmapRingLease MmapRingLease;

typedef enum {
  MMAPRING_EVENT_FRAME = 1,   /* *frame describes the next frame: copy
                               * or lease it before the next call */
  MMAPRING_EVENT_NEW_FILE = 2,        /* now following another file (first one,
                                       * new caps, new writer): see
                                       * mmapring_reader_file */
  MMAPRING_EVENT_WAITING = 3, /* no live writer; once per wait, *err
                               * says why (mmapring_reader_waiting_reason) */
  MMAPRING_EVENT_EOS = 4,     /* the writer ended its stream; calling
                               * again waits for more or a new writer */
  MMAPRING_EVENT_TIMEOUT = 5,
  MMAPRING_EVENT_INTERRUPTED = 6,     /* mmapring_reader_interrupt */
  MMAPRING_EVENT_ERROR = 7    /* *err; calling again goes on once the
                               * location names another file */
} MmapRingEvent;

typedef struct {
  const char *path;
  const char *caps;           /* valid until the next NEW_FILE */
  uint64_t caps_seq;
  uint64_t writer_id;
  uint32_t writer_pid;        /* in the writer's PID namespace */
  int32_t writer_pid_local;   /* that namespace is ours: the pid is usable */
  uint32_t slot_count;
  uint32_t lease_limit;
  uint64_t slot_capacity;
  uint64_t meta_capacity;
  uint64_t base_seq;
  int32_t new_writer;         /* not the writer of the previous file */
  int32_t writable;           /* futex waits and leases are possible */
  int32_t registered;         /* holds a reader-table entry */
  int32_t reserved;
} MmapRingFileInfo;

typedef struct {
  uint64_t frames_read;       /* delivered (copied or leased) */
  uint64_t frames_skipped;    /* lost: lapped, behind max-lag, overwritten */
  uint64_t frames_leased;     /* of frames_read, zero-copy */
  uint64_t writers_seen;
  uint64_t files_seen;
} MmapRingReaderStats;

/* A reader of `path`, which need not exist yet: the first call to
 * mmapring_reader_next opens it, or waits for it. */
MmapRingReader *mmapring_reader_new (const char *path, MmapRingError * err);
/* Options, before the first mmapring_reader_next. */
/* Most frames this reader may be behind the newest before it skips to the
 * newest, counting what it skipped: 0 (default) the ring, 1 always the
 * freshest frame. */
void mmapring_reader_set_max_lag (MmapRingReader * r, uint32_t frames);
/* Take a reader-table entry and allow leases (at most max_leases at
 * once).  Default: on, 2. */
void mmapring_reader_set_zero_copy (MmapRingReader * r, int enable,
    uint32_t max_leases);
/* Poll for the next frame in a window of spin_ns around the instant the
 * writer's period predicts, rather than sleep through it (a sleeping
 * reader pays a wake-up, tens of microseconds on a virtual CPU): at most
 * spin_ns of CPU a frame, and none while the writer has no steady rhythm.
 * Sets the calling thread's timer slack to 1 us.  0 (default): always
 * sleep. */
void mmapring_reader_set_spin (MmapRingReader * r, uint64_t spin_ns);
/* Start, and resume after a gap, at a keyframe (streams with delta units
 * only), asking the writer for one.  Default: on. */
void mmapring_reader_set_keyframes (MmapRingReader * r, int enable);

/* Waits at most timeout_ns (-1: for ever, 0: just look) for the next
 * event.  One thread at a time. */
MmapRingEvent mmapring_reader_next (MmapRingReader * r, int64_t timeout_ns,
    MmapRingFrame * frame, MmapRingError * err);
/* Copies the payload of the frame the last FRAME event described into
 * dst (at least frame->size bytes) and checks that it was not overwritten
 * meanwhile.  MMAPRING_ERR_LOST: it was (counted as skipped; the next
 * frame says so).  Same thread as next. */
MmapRingStatus mmapring_reader_copy (MmapRingReader * r, void *dst,
    uint64_t dst_size, MmapRingError * err);
/* Pins the last frame's slot so that its payload can be used in place
 * until mmapring_lease_release.  MMAPRING_ERR_NO_LEASE: none available
 * (copy instead); MMAPRING_ERR_LOST: overwritten already.  Same thread
 * as next. */
MmapRingStatus mmapring_reader_lease (MmapRingReader * r,
    MmapRingLease ** lease, MmapRingError * err);
const uint8_t *mmapring_lease_data (const MmapRingLease * lease);
uint64_t mmapring_lease_size (const MmapRingLease * lease);
/* Thread-safe, any thread, also after mmapring_reader_free. */
void mmapring_lease_release (MmapRingLease * lease);

/* The file being followed, NULL before the first NEW_FILE.  Same thread
 * as next. */
const MmapRingFileInfo *mmapring_reader_file (MmapRingReader * r);
/* The writer pipeline's latency as it last said, 0 unknown.
 * Thread-safe. */
uint64_t mmapring_reader_latency (MmapRingReader * r);
/* What is at the location while there is no live writer: "no such file",
 * "the writer (pid 12) died", ...  Same thread as next. */
const char *mmapring_reader_waiting_reason (MmapRingReader * r);
/* The sticky records of the current file (stream-start, tags, headers),
 * copied; *size 0 if none.  Valid until the next call.  Same thread. */
const uint8_t *mmapring_reader_sticky (MmapRingReader * r, uint32_t * size);
/* Thread-safe. */
void mmapring_reader_stats (MmapRingReader * r, MmapRingReaderStats * stats);
/* Makes a waiting or future mmapring_reader_next return INTERRUPTED until
 * mmapring_reader_resume.  Thread-safe. */
void mmapring_reader_interrupt (MmapRingReader * r);
void mmapring_reader_resume (MmapRingReader * r);
/* Asks the writer for a keyframe (needs write access).  Same thread. */
void mmapring_reader_request_keyframe (MmapRingReader * r);
/* Leases still out stay valid until released. */
void mmapring_reader_free (MmapRingReader * r);

/* ---------------------------------------------------------------- records */

/* Record types (FORMAT.md section 16).  Metas travel in a frame's meta
 * area; events in the meta area of the frame they precede (or of a
 * NO_BUFFER slot); the sticky area holds what a late reader must get
 * first: the last stream-start, tags and stream headers. */
typedef enum {
  MMAPRING_RECORD_ROI = 1,      /* GstVideoRegionOfInterestMeta */
  MMAPRING_RECORD_REFERENCE_TIMESTAMP = 2,      /* GstReferenceTimestampMeta */
  MMAPRING_RECORD_TIMECODE = 3, /* GstVideoTimeCodeMeta */
  MMAPRING_RECORD_CAPTION = 4,  /* GstVideoCaptionMeta */
  MMAPRING_RECORD_CUSTOM_META = 5,      /* GstCustomMeta */
  MMAPRING_RECORD_STREAM_START = 256,
  MMAPRING_RECORD_TAGS = 257,
  MMAPRING_RECORD_EVENT = 258,  /* a custom downstream serialized event */
  MMAPRING_RECORD_HEADER_BUFFER = 512   /* sticky: a stream header buffer */
} MmapRingRecordType;

typedef struct {
  uint32_t type;
  uint32_t size;
  const uint8_t *body;          /* a value (see below) */
} MmapRingRecord;

/* Iterates over `size` bytes of records (a frame's meta, the sticky
 * area): *at starts at 0; returns 1 and fills *rec while there is one.
 * The library checked the framing before handing the bytes out. */
int mmapring_records_next (const uint8_t *area, uint32_t size, uint32_t *at,
    MmapRingRecord *rec);

/* Values: the body of every record is one value, a small self-describing
 * encoding (FORMAT.md 16).  Lists, arrays, maps and structures end with
 * an END item; map and structure entries are a STRING key then a value. */
typedef enum {
  MMAPRING_VALUE_END = 0,
  MMAPRING_VALUE_INT = 1,       /* .i */
  MMAPRING_VALUE_UINT = 2,      /* .u */
  MMAPRING_VALUE_DOUBLE = 3,    /* .d */
  MMAPRING_VALUE_BOOL = 4,      /* .i, 0 or 1 */
  MMAPRING_VALUE_STRING = 5,    /* .data, .size (UTF-8, no NUL) */
  MMAPRING_VALUE_BYTES = 6,     /* .data, .size */
  MMAPRING_VALUE_LIST = 7,      /* items up to END */
  MMAPRING_VALUE_MAP = 8,       /* key, value pairs up to END */
  MMAPRING_VALUE_STRUCTURE = 9, /* .data, .size: its name; then as MAP */
  MMAPRING_VALUE_FRACTION = 10, /* .i numerator, .u denominator */
  MMAPRING_VALUE_ARRAY = 11,    /* items up to END (GstValueArray) */
  MMAPRING_VALUE_SERIALIZED = 12        /* .type_name/.type_size: a GType
                                         * name; .data/.size: the value as
                                         * gst_value_serialize() wrote it */
} MmapRingValueType;

typedef struct {
  MmapRingValueType type;
  int64_t i;
  uint64_t u;
  double d;
  const uint8_t *data;
  uint32_t size;
  uint32_t type_size;
  const uint8_t *type_name;
} MmapRingValue;

/* Reads the item at *at of a value of `size` bytes and moves *at past
 * it (past the opening of a container: its items follow).  Returns 0 at
 * the end of the bytes or on malformed bytes. */
int mmapring_value_next (const uint8_t *p, uint32_t size, uint32_t *at,
    MmapRingValue *v);
/* The value as JSON (structures as {"name": .., "fields": {..}},
 * fractions as [num, den], bytes as {"bytes": "<base64>"}, serialized
 * values as {"type": .., "value": ".."}) into out (NUL-terminated, cut
 * at `size`); returns the length it needs, 0 for a malformed value. */
size_t mmapring_value_to_json (const uint8_t *p, uint32_t size, char *out,
    size_t out_size);

/* Writing records: into a buffer of the caller's, each record whole or
 * not at all (a record that does not fit is dropped, and the function
 * that ends it says so). */
typedef struct {
  uint8_t *buf;
  uint32_t capacity;
  uint32_t size;                /* bytes of complete records */
  uint32_t open;                /* the record being built starts here */
  uint32_t at;                  /* its end so far */
  int32_t overflow;             /* it no longer fits */
  int32_t depth;
} MmapRingRecords;

void mmapring_records_init (MmapRingRecords *r, uint8_t *buf,
    uint32_t capacity);
void mmapring_records_begin (MmapRingRecords *r, uint32_t type);
/* 1: the record is in; 0: it did not fit, or was malformed, and is gone. */
int mmapring_records_end (MmapRingRecords *r);
void mmapring_value_int (MmapRingRecords *r, int64_t v);
void mmapring_value_uint (MmapRingRecords *r, uint64_t v);
void mmapring_value_double (MmapRingRecords *r, double v);
void mmapring_value_bool (MmapRingRecords *r, int v);
void mmapring_value_string (MmapRingRecords *r, const char *s);
void mmapring_value_bytes (MmapRingRecords *r, const void *data,
    uint32_t size);
void mmapring_value_fraction (MmapRingRecords *r, int32_t num, int32_t den);
void mmapring_value_serialized (MmapRingRecords *r, const char *type_name,
    const char *text);
void mmapring_value_begin_list (MmapRingRecords *r);
void mmapring_value_begin_array (MmapRingRecords *r);
void mmapring_value_begin_map (MmapRingRecords *r);
void mmapring_value_begin_structure (MmapRingRecords *r, const char *name);
/* A map's or structure's key: call before its value. */
void mmapring_value_key (MmapRingRecords *r, const char *key);
void mmapring_value_end (MmapRingRecords *r);

/* ---------------------------------------------------------------- inspect */

/* A look at a file from outside, as gst-mmap-info shows it: validated as
 * a reader would, mapped read-only, touching nothing. */
typedef struct MmapRingInspector MmapRingInspector;

typedef enum {
  MMAPRING_WRITER_RUNNING = 0,        /* RUNNING, its writer lives */
  MMAPRING_WRITER_EOS = 1,    /* RUNNING, after end-of-stream */
  MMAPRING_WRITER_DEAD = 2,   /* RUNNING, no writer lock: it died */
  MMAPRING_WRITER_STOPPED = 3,        /* GONE */
  MMAPRING_WRITER_REPLACED = 4        /* REPLACED */
} MmapRingWriterState;

typedef struct {
  const char *path;
  const char *caps;           /* valid until mmapring_inspector_free */
  uint32_t version;
  uint32_t state;             /* MMAP_STATE_* */
  MmapRingWriterState writer_state;
  uint32_t writer_pid;
  int32_t writer_pid_local;
  int32_t path_current;       /* the path still names this file */
  uint64_t writer_id;
  uint64_t caps_seq;
  uint64_t base_seq;
  uint64_t write_seq;
  uint64_t frames;            /* published in this file: write_seq - base_seq */
  uint64_t keyframe_seq;
  uint32_t keyframe_requests;
  uint32_t waiters;
  uint32_t slot_count;
  uint32_t lease_limit;
  uint64_t slot_capacity;
  uint64_t slot_stride;
  uint64_t meta_capacity;
  uint64_t sticky_capacity;
  uint64_t file_size;
  uint64_t created_realtime_ns;
  uint64_t latency_ns;
  uint64_t last_publish_monotonic_ns; /* 0: none */
  double fps;                 /* publications in the last second */
  uint32_t readers;           /* entries in use */
  uint32_t leased;            /* slots leased now */
} MmapRingInfo;

typedef struct {
  uint32_t index;
  uint32_t pid;
  int32_t pid_local;
  int32_t alive;              /* 1, 0 (left by a dead reader), -1: cannot tell */
  uint64_t reader_id;
  uint32_t flags;             /* MMAP_READER_FLAG_* */
  uint32_t waiting;
  uint64_t leases;            /* bit i: slot i */
  uint64_t last_seq;
  uint64_t lag;               /* write_seq - last_seq, 0 before its first frame */
  uint64_t frames_read;
  uint64_t frames_skipped;
  uint32_t max_lag;
  uint32_t reserved;
} MmapRingReaderInfo;

/* Opens the file at path (not following a location: this very file).
 * Thread-safe for different inspectors. */
MmapRingInspector *mmapring_inspector_open (const char *path,
    MmapRingError * err);
/* The file now (live words, writer liveness, fps). */
void mmapring_inspector_sample (MmapRingInspector * in, MmapRingInfo * info);
/* Up to max entries in use of the reader table; returns how many there
 * are in all. */
uint32_t mmapring_inspector_readers (MmapRingInspector * in,
    MmapRingReaderInfo * out, uint32_t max);
void mmapring_inspector_free (MmapRingInspector * in);

/* Files a location's dead writers left next to it: their temporary files
 * (DIR/.NAME.XXXXXX) and, when no writer owns the location, its lock
 * file.  Fills up to max paths of `size` bytes each (e.g. char[n][4096])
 * and returns how many there are. */
uint32_t mmapring_stale_files (const char *path, char *paths, size_t size,
    uint32_t max);
/* Whether a live writer owns the location (holds its lock file): 1, 0,
 * or -1 when this process cannot tell (it may not open the lock file,
 * and the data file does not say). */
int mmapring_location_owned (const char *path);
/* Removes what a dead writer left at a location: the data file (only if
 * no live writer holds it), its temporaries and the lock file.  Claims
 * the location as a writer would, so it never removes a live stream:
 * MMAPRING_ERR_BUSY then; MMAPRING_ERR_NOT_FOUND when nothing is there. */
MmapRingStatus mmapring_remove_stale (const char *path, MmapRingError * err);

/* ---------------------------------------------------------------- caps */

/* Simple fields of a caps string, without GStreamer: the media type, and
 * `name=(type)value` fields of its first structure.  Return 1 if found. */
int mmapring_caps_media_type (const char *caps, char *buf, size_t size);
int mmapring_caps_get_string (const char *caps, const char *field,
    char *buf, size_t size);
int mmapring_caps_get_int (const char *caps, const char *field,
    int64_t * value);

typedef struct {
  uint32_t rows;              /* lines of the plane */
  uint32_t columns;           /* samples (pixels or pixel pairs) per line */
  uint32_t components;        /* values per sample */
  uint32_t component_bytes;   /* 1, 2 */
  uint32_t row_bytes;         /* columns * components * component_bytes */
} MmapRingPlane;

typedef struct {
  char format[32];            /* GStreamer's name, e.g. "I420" */
  int32_t width;
  int32_t height;
  uint32_t n_planes;
  int32_t big_endian;         /* 2-byte components are big-endian */
  MmapRingPlane plane[4];
} MmapRingVideoLayout;

/* The planes of raw video in the caps, for the formats this library
 * knows.  MMAPRING_ERR_NOT_FOUND: not raw video, or another format (use
 * the flat payload). */
MmapRingStatus mmapring_video_layout (const char *caps,
    MmapRingVideoLayout * layout);

/* @cdef-end */

MMAPRING_END_DECLS
#endif /* MMAPRING_H */

/* mmapring: the shared file of gst-mmap, for the writer and the readers.
 *
 * Plain C on GLib (GError only): no GObject, no GStreamer, never prints.
 * The layout and the protocol are in include/mmapformat.h and
 * docs/FORMAT.md; this module is the one place that touches the mapping.
 *
 * A MringMap is one mapped file.  The writer creates files (a new one for
 * every change of caps or slot size, and one per writer), readers open
 * whatever file the location names and follow the writer from file to file
 * through the REPLACED state.  Everything a reader learns from the file is
 * validated against the mapping before it is used: the immutable part of
 * the header once at open (into `hdr`, a private copy), slot descriptors at
 * every read.
 */
#ifndef MMAP_RING_H
#define MMAP_RING_H

#include <glib.h>
#include <sys/types.h>
#include "mmapformat.h"

G_BEGIN_DECLS
#define MRING_ERROR (mring_error_quark ())
    GQuark mring_error_quark (void);

typedef enum
{
  MRING_ERROR_NOT_FOUND,        /* nothing at the location (yet) */
  MRING_ERROR_NOT_OURS,         /* not a gst-mmap file */
  MRING_ERROR_TRUNCATED,        /* shorter than its header says */
  MRING_ERROR_VERSION,          /* a format version we do not know */
  MRING_ERROR_INVALID,          /* inconsistent or out-of-bounds fields */
  MRING_ERROR_BUSY,             /* another writer owns the location */
  MRING_ERROR_NO_SPACE,         /* the file system cannot hold the file */
  MRING_ERROR_IO,               /* any other system error */
} MringError;

typedef struct
{
  int fd;
  guint8 *base;
  gsize size;
  dev_t dev;
  ino_t ino;
  gboolean writable;
  gchar *path;
  MmapFileHeader hdr;           /* validated copy of the immutable fields */
  volatile gint refcount;
  /* Set (from the SIGBUS handler) when the file was truncated under the
   * mapping: the rest of the mapping is now anonymous zero pages. */
  volatile gint broken;
  gint guard;                   /* our entry in the SIGBUS guard table */

  /* Writer only, under wlock (upstream threads acquire slots while the
   * streaming thread publishes). */
  GMutex wlock;
  guint64 busy;                 /* slots the writer has handed out */
  guint64 slot_seq[MMAP_SLOTS_MAX];     /* frame each slot holds */
  guint since_reclaim;

  /* Reader only: our entry in the reader table, or -1, and how many
   * leases we hold (atomic: released from downstream threads). */
  gint reader_idx;
  gint leases_out;
} MringMap;

/* What a writer asks for when it creates a file. */
typedef struct
{
  guint slot_count;
  guint64 slot_capacity;
  const gchar *caps;
  guint64 caps_seq;
  guint64 writer_id;
  guint64 base_seq;
  guint mode;                   /* permission bits of the new file */
  guint lease_limit;            /* < slot_count */
} MringParams;

typedef enum
{
  MRING_READ_OK,
  MRING_READ_LOST,              /* overwritten, or being written */
  MRING_READ_INVALID,           /* the descriptor is out of bounds */
} MringReadResult;

MringMap *mring_map_ref (MringMap * m);
/* TRUE when the file was truncated under us (see `broken`). */
gboolean mring_broken (MringMap * m);
void mring_map_unref (MringMap * m);

/* --- writer --- */

/* Takes the location for a writer: if a file is there, it must be ours and
 * not locked by a live writer, and it is locked (and returned in *stale, to
 * be handed to mring_create as `replacing`).  No file: *stale = NULL. */
gboolean mring_claim (const gchar * path, MringMap ** stale, GError ** err);

/* Creates a file under a temporary name, initialises it, locks it and
 * gives it the public name, replacing `replacing` (a map we hold the lock
 * of, or NULL), which is then marked REPLACED and its readers woken. */
MringMap *mring_create (const gchar * path, const MringParams * p,
    MringMap * replacing, GError ** err);

/* Hands out the least recently published slot that no reader leases and
 * the writer does not hold, its lock made odd (its old frame is gone).
 * -1 if there is none. */
gint mring_slot_acquire (MringMap * m);
guint8 *mring_slot_data (MringMap * m, guint idx);
/* Fills the slot's descriptor from *d (lock ignored), publishes frame
 * d->seq, which must be the last one + 1, and wakes the readers that
 * wait.  The slot stays the writer's until mring_slot_done. */
void mring_slot_publish (MringMap * m, guint idx, const MmapSlotDesc * d);
/* Gives up an acquired slot without publishing it. */
void mring_slot_abandon (MringMap * m, guint idx);
/* The writer no longer touches the slot: it may be handed out again. */
void mring_slot_done (MringMap * m, guint idx);
void mring_set_eos (MringMap * m);
void mring_set_latency (MringMap * m, guint64 latency_ns);
/* Leaves the file to the readers: state GONE (or REPLACED), readers woken,
 * the public name removed if it is still ours, the lock released. */
void mring_release (MringMap * m, gboolean unlink_path);

/* --- reader --- */

MringMap *mring_open (const gchar * path, GError ** err);
guint32 mring_state (MringMap * m);
guint64 mring_write_seq (MringMap * m);
gboolean mring_eos (MringMap * m);
guint64 mring_latency (MringMap * m);
gboolean mring_writer_alive (MringMap * m);
/* TRUE when the location now names another file, or nothing. */
gboolean mring_path_changed (MringMap * m);

/* Copies frame `seq`'s descriptor into *d, validated against the mapping.
 * On MRING_READ_OK, the payload is at mring_slot_data (m, *idx), d->size
 * bytes; the copy of it is only good if mring_read_end says so.  *idx and
 * *lock are always set, so that mring_read_end can tell whether an
 * INVALID descriptor was only a slot being rewritten. */
MringReadResult mring_read_begin (MringMap * m, guint64 seq, MmapSlotDesc * d,
    guint * idx, guint64 * lock);
gboolean mring_read_end (MringMap * m, guint idx, guint64 lock);

/* Zero-copy reading.  mring_reader_register takes an entry in the reader
 * table (FALSE: none free, or a read-only mapping); mring_lease then pins
 * the slot read by mring_read_begin (lock as it returned) until
 * mring_unlease.  FALSE: the writer's lease limit is reached, or the slot
 * moved on; copy instead. */
gboolean mring_reader_register (MringMap * m);
gboolean mring_lease (MringMap * m, guint idx, guint64 lock);
void mring_unlease (MringMap * m, guint idx);

/* Waits until the futex word moves away from `seen` (a value read with
 * mring_futex before checking write_seq), at most timeout_ns. */
guint32 mring_futex (MringMap * m);
void mring_wait (MringMap * m, guint32 seen, guint64 timeout_ns);
/* Wakes every waiter of this file, our own threads included. */
void mring_wake (MringMap * m);

G_END_DECLS
#endif /* MMAP_RING_H */

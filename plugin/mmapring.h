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

typedef enum {
  MRING_ERROR_NOT_FOUND,        /* nothing at the location (yet) */
  MRING_ERROR_NOT_OURS,         /* not a gst-mmap file */
  MRING_ERROR_TRUNCATED,        /* shorter than its header says */
  MRING_ERROR_VERSION,          /* a format version we do not know */
  MRING_ERROR_INVALID,          /* inconsistent or out-of-bounds fields */
  MRING_ERROR_BUSY,             /* another writer owns the location */
  MRING_ERROR_NO_SPACE,         /* the file system cannot hold the file */
  MRING_ERROR_IO,               /* any other system error */
} MringError;

typedef struct {
  int fd;
  guint8 *base;
  gsize size;
  dev_t dev;
  ino_t ino;
  gboolean writable;
  gchar *path;
  MmapFileHeader hdr;           /* validated copy of the immutable fields */
  volatile gint refcount;
} MringMap;

/* What a writer asks for when it creates a file. */
typedef struct {
  guint slot_count;
  guint64 slot_capacity;
  const gchar *caps;
  guint64 caps_seq;
  guint64 writer_id;
  guint64 base_seq;
  guint mode;                   /* permission bits of the new file */
} MringParams;

typedef enum {
  MRING_READ_OK,
  MRING_READ_LOST,              /* overwritten, or being written */
  MRING_READ_INVALID,           /* the descriptor is out of bounds */
} MringReadResult;

MringMap *mring_map_ref (MringMap * m);
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

/* Starts writing frame `seq`: returns the slot index, its lock made odd. */
guint mring_write_begin (MringMap * m, guint64 seq);
guint8 *mring_slot_data (MringMap * m, guint idx);
/* Fills the slot's descriptor from *d (lock ignored), publishes frame
 * d->seq and wakes the readers that wait. */
void mring_write_end (MringMap * m, guint idx, const MmapSlotDesc * d);
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
 * bytes; the copy of it is only good if mring_read_end says so. */
MringReadResult mring_read_begin (MringMap * m, guint64 seq, MmapSlotDesc * d,
    guint * idx, guint64 * lock);
gboolean mring_read_end (MringMap * m, guint idx, guint64 lock);

/* Waits until the futex word moves away from `seen` (a value read with
 * mring_futex before checking write_seq), at most timeout_ms. */
guint32 mring_futex (MringMap * m);
void mring_wait (MringMap * m, guint32 seen, guint timeout_ms);
/* Wakes every waiter of this file, our own threads included. */
void mring_wake (MringMap * m);

G_END_DECLS

#endif /* MMAP_RING_H */

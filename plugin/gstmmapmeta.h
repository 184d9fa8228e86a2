/* Metas, tags and events as records of the file (FORMAT.md section 16),
 * both ways: what mmapsink writes, what mmapsrc gives back. */
#ifndef GST_MMAP_META_H
#define GST_MMAP_META_H

#include <gst/gst.h>
#include <mmapring.h>

G_BEGIN_DECLS
/* Appends a record for each meta of `buf` this format carries
 * (GstVideoRegionOfInterestMeta, GstReferenceTimestampMeta,
 * GstVideoTimeCodeMeta, GstVideoCaptionMeta, GstCustomMeta).  Returns
 * how many did not fit (left out whole). */
    guint gst_mmap_records_add_metas (MmapRingRecords * r, GstBuffer * buf);

/* Appends the record of an event that travels (stream-start, tags,
 * custom downstream serialized events).  FALSE: the event does not
 * travel, or did not fit. */
gboolean gst_mmap_records_add_event (MmapRingRecords * r, GstEvent * event);

/* Whether an event of this type travels with the frames. */
gboolean gst_mmap_event_travels (GstEvent * event);

/* Adds to `buf` the metas among the records. */
void gst_mmap_buffer_add_metas (GstBuffer * buf, const guint8 * records,
    guint32 size);

/* The event a record carries, or NULL (a meta, or malformed). */
GstEvent *gst_mmap_event_from_record (const MmapRingRecord * rec);

G_END_DECLS
#endif

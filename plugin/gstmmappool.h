#ifndef GST_MMAP_POOL_H
#define GST_MMAP_POOL_H

#include <gst/gst.h>
#include <gst/video/video.h>
#include <mmapring.h>
#include <mmapring-format.h>

G_BEGIN_DECLS
#define GST_TYPE_MMAP_POOL (gst_mmap_pool_get_type ())
G_DECLARE_FINAL_TYPE (GstMmapPool, gst_mmap_pool, GST, MMAP_POOL, GstBufferPool)
/* A pool whose buffers are free slots of `writer`'s current file, laid out
 * as `info`, so that upstream renders straight into the shared file.  It
 * hands out at most mmapring_writer_spare_slots() at once and waits for
 * one of those to come back beyond that: the writer always keeps a slot
 * to copy other buffers into, so it never has to drop a frame. */
     GstBufferPool *gst_mmap_pool_new (MmapRingWriter * writer,
    const GstVideoInfo * info);

/* Before the writer goes: the pool hands out nothing more. */
     void gst_mmap_pool_detach (GstBufferPool * pool);

/* If `buf` is a not yet published slot of this pool, returns it and marks
 * it published (the caller publishes it now); else NULL. */
     MmapRingSlot *gst_mmap_pool_take_slot (GstBufferPool * pool,
    GstBuffer * buf);

/* TRUE when `buf` is a slot whose file was truncated under us. */
     gboolean gst_mmap_pool_slot_broken (GstBuffer * buf);

G_END_DECLS
#endif

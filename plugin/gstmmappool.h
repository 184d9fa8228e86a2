#ifndef GST_MMAP_POOL_H
#define GST_MMAP_POOL_H

#include <gst/gst.h>
#include <gst/video/video.h>
#include "mmapring.h"

G_BEGIN_DECLS
#define GST_TYPE_MMAP_POOL (gst_mmap_pool_get_type ())
G_DECLARE_FINAL_TYPE (GstMmapPool, gst_mmap_pool, GST, MMAP_POOL, GstBufferPool)
/* A pool whose buffers are free slots of `map`, laid out as `info`, so
 * upstream renders straight into the shared file. */
     GstBufferPool *gst_mmap_pool_new (MringMap * map,
    const GstVideoInfo * info);

/* If `buf` is a not yet published slot of `map`, returns its index and
 * marks it published (the caller publishes it now); else -1. */
     gint gst_mmap_pool_take_slot (GstBuffer * buf, MringMap * map);

/* Hands out slots of `map` from now on (the writer replaced its file
 * without a change of caps). */
     void gst_mmap_pool_set_map (GstBufferPool * pool, MringMap * map);

/* The map whose slot `buf` is, or NULL for any other buffer. */
     MringMap *gst_mmap_pool_slot_map (GstBuffer * buf);

G_END_DECLS
#endif

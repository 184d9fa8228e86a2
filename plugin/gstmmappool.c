/* GstMmapPool: buffers that are slots of the shared file (zero-copy
 * writing).  Buffers are not recycled through the pool's queue: every
 * acquire takes whichever slot is free now (least recently published, not
 * leased by a reader) and a released buffer gives its slot back to the
 * ring.  When no slot is free, acquire falls back to system memory, which
 * mmapsink then copies: upstream never blocks on readers. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstmmappool.h"

GST_DEBUG_CATEGORY_EXTERN (gst_mmap_sink_debug);
#define GST_CAT_DEFAULT gst_mmap_sink_debug

struct _GstMmapPool
{
  GstBufferPool parent;

  /* Set at construction, read-only afterwards. */
  GstVideoInfo info;
  /* Under the pool's object lock (set_config and set_map vs. acquire). */
  MringMap *map;
  gboolean add_meta;
};

G_DEFINE_TYPE (GstMmapPool, gst_mmap_pool, GST_TYPE_BUFFER_POOL);

typedef struct
{
  MringMap *map;
  guint idx;
  gint published;
} SlotRef;

static GQuark
slot_ref_quark (void)
{
  static GQuark q;
  if (!q)
    q = g_quark_from_static_string ("GstMmapPoolSlot");
  return q;
}

static void
slot_ref_free (gpointer data)
{
  SlotRef *ref = data;

  /* Upstream dropped the buffer without pushing it: give the slot back
   * empty.  Published: the slot keeps its frame for the readers. */
  if (!g_atomic_int_get (&ref->published))
    mring_slot_abandon (ref->map, ref->idx);
  else
    mring_slot_done (ref->map, ref->idx);
  mring_map_unref (ref->map);
  g_free (ref);
}

static const gchar **
gst_mmap_pool_get_options (GstBufferPool * pool)
{
  static const gchar *options[] = { GST_BUFFER_POOL_OPTION_VIDEO_META, NULL };
  return options;
}

static gboolean
gst_mmap_pool_set_config (GstBufferPool * bpool, GstStructure * config)
{
  GstMmapPool *self = GST_MMAP_POOL (bpool);
  guint size, min, max;
  GstCaps *caps;

  if (!gst_buffer_pool_config_get_params (config, &caps, &size, &min, &max))
    return FALSE;
  if (size > GST_VIDEO_INFO_SIZE (&self->info)) {
    GST_WARNING_OBJECT (self, "buffers of %u bytes do not fit slots of %"
        G_GSIZE_FORMAT, size, GST_VIDEO_INFO_SIZE (&self->info));
    return FALSE;
  }
  GST_OBJECT_LOCK (self);
  self->add_meta = gst_buffer_pool_config_has_option (config,
      GST_BUFFER_POOL_OPTION_VIDEO_META);
  GST_OBJECT_UNLOCK (self);
  return GST_BUFFER_POOL_CLASS (gst_mmap_pool_parent_class)->set_config
      (bpool, config);
}

static gboolean
gst_mmap_pool_start (GstBufferPool * bpool)
{
  /* Nothing to preallocate: buffers are made at acquire. */
  return TRUE;
}

static gboolean
gst_mmap_pool_stop (GstBufferPool * bpool)
{
  return TRUE;
}

static GstFlowReturn
gst_mmap_pool_acquire_buffer (GstBufferPool * bpool, GstBuffer ** buffer,
    GstBufferPoolAcquireParams * params)
{
  GstMmapPool *self = GST_MMAP_POOL (bpool);
  gsize size = GST_VIDEO_INFO_SIZE (&self->info);
  GstBuffer *buf;
  gboolean add_meta;
  MringMap *map;
  gint idx;

  if (!gst_buffer_pool_is_active (bpool))
    return GST_FLOW_FLUSHING;
  GST_OBJECT_LOCK (self);
  add_meta = self->add_meta;
  map = mring_map_ref (self->map);
  GST_OBJECT_UNLOCK (self);

  /* A truncated file's slots may be gone: its frames would be lost. */
  idx = mring_broken (map) ? -1 : mring_slot_acquire (map);
  if (idx >= 0) {
    SlotRef *ref = g_new0 (SlotRef, 1);
    GstMemory *mem;

    ref->map = mring_map_ref (map);
    ref->idx = idx;
    mem = gst_memory_new_wrapped (0, mring_slot_data (map, idx),
        map->hdr.slot_capacity, 0, size, NULL, NULL);
    gst_mini_object_set_qdata (GST_MINI_OBJECT_CAST (mem), slot_ref_quark (),
        ref, slot_ref_free);
    buf = gst_buffer_new ();
    gst_buffer_append_memory (buf, mem);
    GST_TRACE_OBJECT (self, "slot %d", idx);
  } else {
    GST_DEBUG_OBJECT (self, "no free slot, handing out system memory");
    buf = gst_buffer_new_allocate (NULL, size, NULL);
  }
  mring_map_unref (map);
  if (add_meta) {
    const GstVideoInfo *vi = &self->info;
    gst_buffer_add_video_meta_full (buf, GST_VIDEO_FRAME_FLAG_NONE,
        GST_VIDEO_INFO_FORMAT (vi), GST_VIDEO_INFO_WIDTH (vi),
        GST_VIDEO_INFO_HEIGHT (vi), GST_VIDEO_INFO_N_PLANES (vi),
        (gsize *) vi->offset, (gint *) vi->stride);
  }
  *buffer = buf;
  return GST_FLOW_OK;
}

static void
gst_mmap_pool_release_buffer (GstBufferPool * bpool, GstBuffer * buffer)
{
  /* Not recycled: freeing the memory hands the slot back to the ring. */
  gst_buffer_unref (buffer);
}

void
gst_mmap_pool_set_map (GstBufferPool * pool, MringMap * map)
{
  GstMmapPool *self = GST_MMAP_POOL (pool);
  MringMap *old;

  GST_OBJECT_LOCK (self);
  old = self->map;
  self->map = mring_map_ref (map);
  GST_OBJECT_UNLOCK (self);
  mring_map_unref (old);
}

MringMap *
gst_mmap_pool_slot_map (GstBuffer * buf)
{
  SlotRef *ref;

  if (gst_buffer_n_memory (buf) != 1)
    return NULL;
  ref = gst_mini_object_get_qdata (GST_MINI_OBJECT_CAST
      (gst_buffer_peek_memory (buf, 0)), slot_ref_quark ());
  return ref ? ref->map : NULL;
}

gint
gst_mmap_pool_take_slot (GstBuffer * buf, MringMap * map)
{
  GstMemory *mem;
  SlotRef *ref;

  if (gst_buffer_n_memory (buf) != 1)
    return -1;
  mem = gst_buffer_peek_memory (buf, 0);
  ref = gst_mini_object_get_qdata (GST_MINI_OBJECT_CAST (mem),
      slot_ref_quark ());
  if (!ref || ref->map != map || mem->offset != 0)
    return -1;
  /* A buffer pushed twice is published once; the second push copies. */
  if (!g_atomic_int_compare_and_exchange (&ref->published, FALSE, TRUE))
    return -1;
  return ref->idx;
}

GstBufferPool *
gst_mmap_pool_new (MringMap * map, const GstVideoInfo * info)
{
  GstMmapPool *self = g_object_new (GST_TYPE_MMAP_POOL, NULL);

  gst_object_ref_sink (self);
  self->map = mring_map_ref (map);
  self->info = *info;
  return GST_BUFFER_POOL_CAST (self);
}

static void
gst_mmap_pool_finalize (GObject * object)
{
  GstMmapPool *self = GST_MMAP_POOL (object);

  mring_map_unref (self->map);
  G_OBJECT_CLASS (gst_mmap_pool_parent_class)->finalize (object);
}

static void
gst_mmap_pool_init (GstMmapPool * self)
{
}

static void
gst_mmap_pool_class_init (GstMmapPoolClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstBufferPoolClass *pool_class = GST_BUFFER_POOL_CLASS (klass);

  gobject_class->finalize = gst_mmap_pool_finalize;
  pool_class->get_options = gst_mmap_pool_get_options;
  pool_class->set_config = gst_mmap_pool_set_config;
  pool_class->start = gst_mmap_pool_start;
  pool_class->stop = gst_mmap_pool_stop;
  pool_class->acquire_buffer = gst_mmap_pool_acquire_buffer;
  pool_class->release_buffer = gst_mmap_pool_release_buffer;
}

/* GstMmapPool: buffers that are slots of the shared file (zero-copy
 * writing).  Buffers are not recycled through the pool's queue: every
 * acquire takes whichever slot the writer can spare now (least recently
 * published, not leased by a reader) and a freed buffer gives its slot
 * back to the ring.
 *
 * The pool is bounded: upstream may hold mmapring_writer_spare_slots()
 * slots at once (slots minus what readers may lease minus one) and waits
 * in acquire for one of them to come back, like any pool with a maximum.
 * A queue before the sink therefore holds that many frames instead of
 * every slot, and the sink always has a slot left to copy a buffer that
 * came from elsewhere into: it never drops one.  Readers can never make
 * it wait: their leases are bounded apart. */
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
  /* Under `lock`: the writer (NULL once detached), how many slots are out,
   * whether waiting acquires must give up. */
  GMutex lock;
  GCond cond;
  MmapRingWriter *writer;
  guint out;
  guint max;
  gboolean flushing;
  gboolean add_meta;
};

G_DEFINE_TYPE (GstMmapPool, gst_mmap_pool, GST_TYPE_BUFFER_POOL);

typedef struct
{
  GstMmapPool *pool;            /* a ref */
  MmapRingSlot *slot;
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

/* The memory is freed: the slot goes back to the ring (keeping its frame
 * if it was published, empty if upstream dropped the buffer unpushed). */
static void
slot_ref_free (gpointer data)
{
  SlotRef *ref = data;
  GstMmapPool *self = ref->pool;

  mmapring_slot_release (ref->slot);
  g_mutex_lock (&self->lock);
  self->out--;
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
  gst_object_unref (self);
  g_free (ref);
}

static SlotRef *
slot_ref_get (GstBuffer * buf)
{
  if (gst_buffer_n_memory (buf) != 1)
    return NULL;
  return gst_mini_object_get_qdata (GST_MINI_OBJECT_CAST
      (gst_buffer_peek_memory (buf, 0)), slot_ref_quark ());
}

static const gchar **
gst_mmap_pool_get_options (GstBufferPool * pool)
{
  static const gchar *options[] = { GST_BUFFER_POOL_OPTION_VIDEO_META, NULL };
  return options;
}

/* Clamps the maximum to what the writer can spare; a minimum above it
 * cannot be had, and is lowered so that upstream sees the config is not
 * acceptable and takes a pool of its own (its buffers are then copied). */
static gboolean
gst_mmap_pool_set_config (GstBufferPool * bpool, GstStructure * config)
{
  GstMmapPool *self = GST_MMAP_POOL (bpool);
  guint size, min, max, spare;
  GstCaps *caps;
  gboolean ok = TRUE;

  if (!gst_buffer_pool_config_get_params (config, &caps, &size, &min, &max))
    return FALSE;
  if (size > GST_VIDEO_INFO_SIZE (&self->info)) {
    GST_WARNING_OBJECT (self, "buffers of %u bytes do not fit slots of %"
        G_GSIZE_FORMAT, size, GST_VIDEO_INFO_SIZE (&self->info));
    return FALSE;
  }
  g_mutex_lock (&self->lock);
  spare = self->max;
  self->add_meta = gst_buffer_pool_config_has_option (config,
      GST_BUFFER_POOL_OPTION_VIDEO_META);
  g_mutex_unlock (&self->lock);
  if (max == 0 || max > spare) {
    max = spare;
    ok = FALSE;
  }
  if (min > spare) {
    GST_INFO_OBJECT (self, "upstream needs %u buffers, the ring can spare %u",
        min, spare);
    min = spare;
    ok = FALSE;
  }
  gst_buffer_pool_config_set_params (config, caps, size, min, max);
  return GST_BUFFER_POOL_CLASS (gst_mmap_pool_parent_class)->set_config
      (bpool, config) && ok;
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

static void
gst_mmap_pool_flush_start (GstBufferPool * bpool)
{
  GstMmapPool *self = GST_MMAP_POOL (bpool);

  g_mutex_lock (&self->lock);
  self->flushing = TRUE;
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
}

static void
gst_mmap_pool_flush_stop (GstBufferPool * bpool)
{
  GstMmapPool *self = GST_MMAP_POOL (bpool);

  g_mutex_lock (&self->lock);
  self->flushing = FALSE;
  g_mutex_unlock (&self->lock);
}

static GstBuffer *
wrap_slot (GstMmapPool * self, MmapRingSlot * slot)
{
  SlotRef *ref = g_new0 (SlotRef, 1);
  GstMemory *mem;
  GstBuffer *buf;

  ref->pool = gst_object_ref (self);
  ref->slot = slot;
  mem = gst_memory_new_wrapped (0, mmapring_slot_data (slot),
      mmapring_slot_capacity (slot), 0, GST_VIDEO_INFO_SIZE (&self->info),
      NULL, NULL);
  gst_mini_object_set_qdata (GST_MINI_OBJECT_CAST (mem), slot_ref_quark (),
      ref, slot_ref_free);
  buf = gst_buffer_new ();
  gst_buffer_append_memory (buf, mem);
  return buf;
}

static GstFlowReturn
gst_mmap_pool_acquire_buffer (GstBufferPool * bpool, GstBuffer ** buffer,
    GstBufferPoolAcquireParams * params)
{
  GstMmapPool *self = GST_MMAP_POOL (bpool);
  const GstVideoInfo *vi = &self->info;
  MmapRingSlot *slot = NULL;
  gboolean add_meta;
  GstBuffer *buf;

  g_mutex_lock (&self->lock);
  /* Wait for one of ours to come back: upstream holds them all. */
  while (self->writer && !self->flushing && self->out >= self->max) {
    if (params && (params->flags & GST_BUFFER_POOL_ACQUIRE_FLAG_DONTWAIT)) {
      g_mutex_unlock (&self->lock);
      return GST_FLOW_EOS;
    }
    g_cond_wait (&self->cond, &self->lock);
  }
  if (self->flushing || !self->writer) {
    g_mutex_unlock (&self->lock);
    return GST_FLOW_FLUSHING;
  }
  slot = mmapring_writer_acquire (self->writer);
  if (slot)
    self->out++;
  add_meta = self->add_meta;
  g_mutex_unlock (&self->lock);

  if (slot) {
    buf = wrap_slot (self, slot);
    GST_TRACE_OBJECT (self, "slot %u", mmapring_slot_index (slot));
  } else {
    /* No file yet, or it was truncated: the sink copies this one. */
    GST_DEBUG_OBJECT (self, "no slot, handing out system memory");
    buf = gst_buffer_new_allocate (NULL, GST_VIDEO_INFO_SIZE (vi), NULL);
  }
  if (add_meta)
    gst_buffer_add_video_meta_full (buf, GST_VIDEO_FRAME_FLAG_NONE,
        GST_VIDEO_INFO_FORMAT (vi), GST_VIDEO_INFO_WIDTH (vi),
        GST_VIDEO_INFO_HEIGHT (vi), GST_VIDEO_INFO_N_PLANES (vi),
        (gsize *) vi->offset, (gint *) vi->stride);
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
gst_mmap_pool_detach (GstBufferPool * pool)
{
  GstMmapPool *self = GST_MMAP_POOL (pool);

  g_mutex_lock (&self->lock);
  self->writer = NULL;
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
}

MmapRingSlot *
gst_mmap_pool_take_slot (GstBufferPool * pool, GstBuffer * buf)
{
  SlotRef *ref = slot_ref_get (buf);
  GstMemory *mem;

  if (!ref || ref->pool != GST_MMAP_POOL (pool))
    return NULL;
  mem = gst_buffer_peek_memory (buf, 0);
  if (mem->offset != 0)
    return NULL;
  /* A buffer pushed twice is published once; the second push copies. */
  if (!g_atomic_int_compare_and_exchange (&ref->published, FALSE, TRUE))
    return NULL;
  return ref->slot;
}

gboolean
gst_mmap_pool_slot_broken (GstBuffer * buf)
{
  SlotRef *ref = slot_ref_get (buf);
  return ref && mmapring_slot_broken (ref->slot);
}

GstBufferPool *
gst_mmap_pool_new (MmapRingWriter * writer, const GstVideoInfo * info)
{
  GstMmapPool *self = g_object_new (GST_TYPE_MMAP_POOL, NULL);

  gst_object_ref_sink (self);
  self->writer = writer;
  self->max = MAX (1, mmapring_writer_spare_slots (writer));
  self->info = *info;
  return GST_BUFFER_POOL_CAST (self);
}

static void
gst_mmap_pool_finalize (GObject * object)
{
  GstMmapPool *self = GST_MMAP_POOL (object);

  g_mutex_clear (&self->lock);
  g_cond_clear (&self->cond);
  G_OBJECT_CLASS (gst_mmap_pool_parent_class)->finalize (object);
}

static void
gst_mmap_pool_init (GstMmapPool * self)
{
  g_mutex_init (&self->lock);
  g_cond_init (&self->cond);
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
  pool_class->flush_start = gst_mmap_pool_flush_start;
  pool_class->flush_stop = gst_mmap_pool_flush_stop;
  pool_class->acquire_buffer = gst_mmap_pool_acquire_buffer;
  pool_class->release_buffer = gst_mmap_pool_release_buffer;
}

/* GStreamer
 * Copyright (C) 2026 gst-mmap developers
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2 of the License, or (at your option) any later version.
 */
/**
 * SECTION:element-mmapsink
 * @title: mmapsink
 * @see_also: mmapsrc
 *
 * Publishes every buffer it receives into a ring of slots in a
 * memory-mapped file (by default under /dev/shm), with its caps and
 * timestamps, for any number of mmapsrc elements (or programs that read
 * the documented format, see docs/FORMAT.md) in other processes.
 *
 * The writer never waits for readers: a slow or frozen reader only misses
 * frames.  With a live upstream (a camera, `videotestsrc is-live=true`)
 * each frame is published as soon as it arrives, whatever #GstBaseSink:sync
 * says: its timestamps tell readers when it was captured.  A non-live
 * stream is paced by the clock when sync is on (the default).  The file is created under a temporary name and renamed into
 * place, replaced by a new one when the caps change, marked at EOS and
 * removed on a clean stop.  A second writer on the same location is
 * refused while the first one lives.
 *
 * ## Example launch lines
 * |[
 * gst-launch-1.0 v4l2src ! mmapsink location=/dev/shm/cam
 * gst-launch-1.0 videotestsrc is-live=true ! video/x-raw,width=1280,height=720 ! mmapsink location=/dev/shm/cam
 * ]|
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <string.h>
#include <time.h>
#include <gst/video/video.h>

#include "gstmmapsink.h"
#include "gstmmapelements.h"
#include "mmapring.h"
#include "gstmmappool.h"

GST_DEBUG_CATEGORY (gst_mmap_sink_debug);
#define GST_CAT_DEFAULT gst_mmap_sink_debug

#define DEFAULT_LOCATION "/dev/shm/gst-mmap"
#define DEFAULT_SLOTS 8
#define DEFAULT_SLOT_SIZE 0
#define DEFAULT_FILE_MODE 0600
/* Slot size for payloads whose size the caps do not tell. */
#define MIN_VARIABLE_SLOT (64 * 1024)

enum
{
  PROP_0,
  PROP_LOCATION,
  PROP_SLOTS,
  PROP_SLOT_SIZE,
  PROP_FILE_MODE,
  PROP_STATS,
};

struct _GstMmapSink
{
  GstBaseSink parent;

  /* Properties: GST_OBJECT_LOCK. */
  gchar *location;
  guint slots;
  guint64 slot_size;
  guint file_mode;

  /* Streaming thread only (and start/stop, which it does not overlap):
   * copies of the properties taken at start(), the current file. */
  gchar *path;
  guint n_slots;
  guint64 min_slot_size;
  guint mode;
  MringMap *map;
  MringMap *stale;              /* a crashed writer's file, locked by us */
  GstCaps *caps;
  gboolean is_video;
  gboolean need_file;           /* caps changed, the file has old caps */
  GstVideoInfo vinfo;
  guint64 writer_id;
  guint64 seq;                  /* last frame published */
  guint64 caps_seq;
  guint64 latency;
  GstBufferPool *pool;          /* hands out slots of `map` upstream */
  gint upstream_live;           /* -1: not asked yet since start/caps */

  /* Counters: GST_OBJECT_LOCK (written here, read by the stats property). */
  guint64 frames_written;
  guint64 frames_zero_copy;
  guint64 frames_dropped;
};

G_DEFINE_TYPE (GstMmapSink, gst_mmap_sink, GST_TYPE_BASE_SINK);
GST_ELEMENT_REGISTER_DEFINE_WITH_CODE (mmapsink, "mmapsink", GST_RANK_NONE,
    GST_TYPE_MMAP_SINK, GST_DEBUG_CATEGORY_INIT (gst_mmap_sink_debug,
        "mmapsink", 0, "mmapsink element"));

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS_ANY);

static GstStructure *gst_mmap_sink_stats (GstMmapSink * self);

static void
gst_mmap_sink_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec)
{
  GstMmapSink *self = GST_MMAP_SINK (object);

  GST_OBJECT_LOCK (self);
  if (!gst_mmap_element_is_stopped (GST_ELEMENT (self))) {
    GST_OBJECT_UNLOCK (self);
    g_warning ("mmapsink: changing property \"%s\" is only allowed in the "
        "NULL or READY state", pspec->name);
    return;
  }
  switch (prop_id) {
    case PROP_LOCATION:
      g_free (self->location);
      self->location = g_value_dup_string (value);
      break;
    case PROP_SLOTS:
      self->slots = g_value_get_uint (value);
      break;
    case PROP_SLOT_SIZE:
      self->slot_size = g_value_get_uint64 (value);
      break;
    case PROP_FILE_MODE:
      self->file_mode = g_value_get_uint (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_mmap_sink_get_property (GObject * object, guint prop_id, GValue * value,
    GParamSpec * pspec)
{
  GstMmapSink *self = GST_MMAP_SINK (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_LOCATION:
      g_value_set_string (value, self->location);
      break;
    case PROP_SLOTS:
      g_value_set_uint (value, self->slots);
      break;
    case PROP_SLOT_SIZE:
      g_value_set_uint64 (value, self->slot_size);
      break;
    case PROP_FILE_MODE:
      g_value_set_uint (value, self->file_mode);
      break;
    case PROP_STATS:
      GST_OBJECT_UNLOCK (self);
      g_value_take_boxed (value, gst_mmap_sink_stats (self));
      return;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static gboolean
gst_mmap_sink_start (GstBaseSink * bsink)
{
  GstMmapSink *self = GST_MMAP_SINK (bsink);
  GError *err = NULL;

  GST_OBJECT_LOCK (self);
  self->path = g_strdup (self->location);
  self->n_slots = self->slots;
  self->min_slot_size = self->slot_size;
  self->mode = self->file_mode;
  GST_OBJECT_UNLOCK (self);

  if (!self->path || !*self->path) {
    GST_ELEMENT_ERROR (self, RESOURCE, NOT_FOUND,
        ("No file location given."), ("Set the \"location\" property."));
    g_clear_pointer (&self->path, g_free);
    return FALSE;
  }

  /* Refuse a second writer now, not at the first buffer. */
  if (!mring_claim (self->path, &self->stale, &err)) {
    GST_ELEMENT_ERROR (self, RESOURCE, OPEN_WRITE,
        ("%s", err->message), ("location: %s", self->path));
    g_error_free (err);
    g_clear_pointer (&self->path, g_free);
    return FALSE;
  }
  if (self->stale)
    GST_INFO_OBJECT (self, "taking over %s left by a writer that is gone",
        self->path);

  self->writer_id = ((guint64) g_random_int () << 32) | g_random_int ();
  if (self->writer_id == 0)
    self->writer_id = 1;
  self->seq = 0;
  self->caps_seq = 0;
  self->upstream_live = -1;
  GST_OBJECT_LOCK (self);
  self->frames_written = self->frames_zero_copy = self->frames_dropped = 0;
  GST_OBJECT_UNLOCK (self);
  self->latency = GST_CLOCK_TIME_NONE;
  GST_DEBUG_OBJECT (self, "started on %s, writer id %016" G_GINT64_MODIFIER
      "x", self->path, self->writer_id);
  return TRUE;
}

static gboolean
gst_mmap_sink_stop (GstBaseSink * bsink)
{
  GstMmapSink *self = GST_MMAP_SINK (bsink);

  gst_clear_object (&self->pool);
  if (self->map) {
    mring_release (self->map, TRUE);
    g_clear_pointer (&self->map, mring_map_unref);
  }
  if (self->stale) {
    /* We never wrote: leave the stale file as it was, just unlocked. */
    mring_map_unref (self->stale);
    self->stale = NULL;
  }
  gst_clear_caps (&self->caps);
  g_clear_pointer (&self->path, g_free);
  GST_DEBUG_OBJECT (self, "stopped after %" G_GUINT64_FORMAT " frames",
      self->seq);
  return TRUE;
}

/* Makes a new file for the current caps with room for `payload` bytes a
 * slot, replacing the one readers have now. */
static gboolean
gst_mmap_sink_make_file (GstMmapSink * self, guint64 payload)
{
  MringParams p = { 0 };
  GError *err = NULL;
  gchar *caps_str;
  MringMap *map;

  caps_str = gst_caps_to_string (self->caps);
  p.slot_count = self->n_slots;
  p.slot_capacity = MAX (payload, self->min_slot_size);
  p.caps = caps_str;
  p.caps_seq = self->caps_seq;
  p.writer_id = self->writer_id;
  p.base_seq = self->seq;
  p.mode = self->mode;
  /* Readers may pin at most half the ring; the rest is the writer's, so a
   * frozen reader never leaves it without a slot. */
  p.lease_limit = MAX (1, self->n_slots / 2);

  map = mring_create (self->path, &p,
      self->map ? self->map : self->stale, &err);
  if (!map) {
    GST_ELEMENT_ERROR (self, RESOURCE, OPEN_WRITE,
        ("%s", err->message), ("location: %s", self->path));
    g_error_free (err);
    g_free (caps_str);
    return FALSE;
  }
  GST_INFO_OBJECT (self, "new file %s: %u slots of %" G_GUINT64_FORMAT
      " bytes, caps %s", self->path, p.slot_count, p.slot_capacity, caps_str);
  g_free (caps_str);
  /* The old file was marked REPLACED and unlocked by mring_create; readers
   * still map it until they have moved on. */
  g_clear_pointer (&self->map, mring_map_unref);
  g_clear_pointer (&self->stale, mring_map_unref);
  /* Same caps, new file (the old one was truncated): upstream keeps the
   * pool it has, which must hand out the new file's slots. */
  if (self->pool)
    gst_mmap_pool_set_map (self->pool, map);
  self->map = map;
  self->need_file = FALSE;
  if (GST_CLOCK_TIME_IS_VALID (self->latency))
    mring_set_latency (map, self->latency);
  return TRUE;
}

static gboolean
gst_mmap_sink_set_caps (GstBaseSink * bsink, GstCaps * caps)
{
  GstMmapSink *self = GST_MMAP_SINK (bsink);
  GstStructure *s = gst_caps_get_structure (caps, 0);

  if (self->caps && gst_caps_is_equal (caps, self->caps))
    return TRUE;

  GST_DEBUG_OBJECT (self, "caps %" GST_PTR_FORMAT, caps);
  self->is_video = gst_structure_has_name (s, "video/x-raw") &&
      !gst_caps_features_contains (gst_caps_get_features (caps, 0),
      "memory:GLMemory") && gst_video_info_from_caps (&self->vinfo, caps);
  if (gst_structure_has_name (s, "video/x-raw") && !self->is_video) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, (NULL),
        ("Could not parse video caps %" GST_PTR_FORMAT, caps));
    return FALSE;
  }
  gst_caps_replace (&self->caps, caps);
  self->caps_seq++;
  /* Upstream asks for a new pool with the new caps. */
  gst_clear_object (&self->pool);
  self->upstream_live = -1;

  /* Raw video: the caps tell the frame size, so readers can see the caps
   * before the first frame.  Otherwise wait for a buffer to size slots. */
  if (self->is_video || self->min_slot_size > 0) {
    if (!gst_mmap_sink_make_file (self, self->is_video ?
            GST_VIDEO_INFO_SIZE (&self->vinfo) : self->min_slot_size)) {
      /* The old file does not fit these caps: refuse buffers until a
       * file for new caps exists (a sticky caps event retries). */
      gst_clear_caps (&self->caps);
      return FALSE;
    }
    return TRUE;
  }
  /* The next buffer makes the new file; until then readers keep the old
   * one, which gets no more frames. */
  self->need_file = TRUE;
  return TRUE;
}

static guint64
monotonic_ns (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (guint64) ts.tv_sec * GST_SECOND + ts.tv_nsec;
}

/* The CLOCK_MONOTONIC instant at which the pipeline clock reads the
 * buffer's PTS running time: what lets a reader place the frame on its
 * own clock.  NONE without a clock. */
static guint64
gst_mmap_sink_pts_monotonic (GstMmapSink * self, GstClockTime pts,
    guint64 mono_now)
{
  GstBaseSink *bsink = GST_BASE_SINK (self);
  GstClockTime rt, base, clock_now;
  GstClock *clock;

  if (!GST_CLOCK_TIME_IS_VALID (pts))
    return MMAP_TIME_NONE;
  rt = gst_segment_to_running_time (&bsink->segment, GST_FORMAT_TIME, pts);
  if (!GST_CLOCK_TIME_IS_VALID (rt))
    return MMAP_TIME_NONE;
  GST_OBJECT_LOCK (self);
  clock = GST_ELEMENT_CLOCK (self) ? gst_object_ref (GST_ELEMENT_CLOCK (self))
      : NULL;
  base = GST_ELEMENT_CAST (self)->base_time;
  GST_OBJECT_UNLOCK (self);
  if (!clock)
    return MMAP_TIME_NONE;
  clock_now = gst_clock_get_time (clock);
  gst_object_unref (clock);
  /* mono = clock time of the PTS + (mono_now - clock_now) */
  return (guint64) ((gint64) (rt + base) + (gint64) mono_now -
      (gint64) clock_now);
}

static GstFlowReturn
gst_mmap_sink_render (GstBaseSink * bsink, GstBuffer * buf)
{
  GstMmapSink *self = GST_MMAP_SINK (bsink);
  MmapSlotDesc d = { 0 };
  gsize size = gst_buffer_get_size (buf);
  GstClockTime latency;
  guint8 *data;
  gint idx;
  guint p;
  gboolean zero_copy;
  struct timespec rt;

  if (!self->caps) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, (NULL),
        ("Received a buffer before caps"));
    return GST_FLOW_NOT_NEGOTIATED;
  }
  if (self->map && mring_broken (self->map))
    GST_WARNING_OBJECT (self, "%s was truncated by someone else, making a "
        "new file", self->path);
  {
    /* Upstream rendered into a slot of a file truncated meanwhile: what
     * it drew may be gone with the file's pages.  Never publish that. */
    MringMap *slot_map = gst_mmap_pool_slot_map (buf);
    if (slot_map && mring_broken (slot_map)) {
      GST_WARNING_OBJECT (self, "dropping a frame drawn into a truncated "
          "file");
      GST_OBJECT_LOCK (self);
      self->frames_dropped++;
      GST_OBJECT_UNLOCK (self);
      if (slot_map == self->map && !gst_mmap_sink_make_file (self,
              self->map->hdr.slot_capacity))
        return GST_FLOW_ERROR;
      return GST_FLOW_OK;
    }
  }
  if (!self->map || self->need_file || mring_broken (self->map) ||
      (self->is_video && GST_VIDEO_INFO_SIZE (&self->vinfo) >
          self->map->hdr.slot_capacity) ||
      (!self->is_video && size > self->map->hdr.slot_capacity)) {
    guint64 want = self->is_video ? GST_VIDEO_INFO_SIZE (&self->vinfo) :
        MAX (size * 2, MIN_VARIABLE_SLOT);
    if (!gst_mmap_sink_make_file (self, want))
      return GST_FLOW_ERROR;
  }

  latency = gst_base_sink_get_latency (bsink);
  if (latency != self->latency) {
    self->latency = latency;
    mring_set_latency (self->map, latency);
  }

  d.seq = self->seq + 1;
  zero_copy = (idx = gst_mmap_pool_take_slot (buf, self->map)) >= 0;
  if (!zero_copy) {
    idx = mring_slot_acquire (self->map);
    if (idx < 0) {
      /* Every slot is upstream's or leased: readers must not stall us. */
      GST_WARNING_OBJECT (self, "no free slot, dropping a frame");
      GST_OBJECT_LOCK (self);
      self->frames_dropped++;
      GST_OBJECT_UNLOCK (self);
      return GST_FLOW_OK;
    }
  }
  data = mring_slot_data (self->map, idx);

  if (self->is_video) {
    GstVideoInfo *vi = &self->vinfo;
    GstVideoMeta *meta = gst_buffer_get_video_meta (buf);

    if (zero_copy) {
      /* Upstream rendered into the slot with the layout the pool gave. */
    } else if (meta || size != GST_VIDEO_INFO_SIZE (vi)) {
      /* Upstream's layout differs from the caps' default one: copy plane
       * by plane, honouring its strides and offsets. */
      GstVideoFrame in, out;
      GstBuffer *wrap = gst_buffer_new_wrapped_full (0, data,
          GST_VIDEO_INFO_SIZE (vi), 0, GST_VIDEO_INFO_SIZE (vi), NULL, NULL);
      gboolean ok = FALSE;

      if (gst_video_frame_map (&in, vi, buf, GST_MAP_READ)) {
        if (gst_video_frame_map (&out, vi, wrap, GST_MAP_WRITE)) {
          ok = gst_video_frame_copy (&out, &in);
          gst_video_frame_unmap (&out);
        }
        gst_video_frame_unmap (&in);
      }
      gst_buffer_unref (wrap);
      if (!ok) {
        mring_slot_abandon (self->map, idx);
        GST_ELEMENT_ERROR (self, STREAM, FORMAT, (NULL),
            ("Could not map a video buffer of %" G_GSIZE_FORMAT " bytes "
                "for the caps %" GST_PTR_FORMAT, size, self->caps));
        return GST_FLOW_ERROR;
      }
    } else {
      gst_buffer_extract (buf, 0, data, size);
    }
    size = GST_VIDEO_INFO_SIZE (vi);
    d.n_planes = GST_VIDEO_INFO_N_PLANES (vi);
    for (p = 0; p < d.n_planes && p < MMAP_MAX_PLANES; p++) {
      d.plane_offset[p] = GST_VIDEO_INFO_PLANE_OFFSET (vi, p);
      d.plane_stride[p] = GST_VIDEO_INFO_PLANE_STRIDE (vi, p);
    }
  } else {
    gst_buffer_extract (buf, 0, data, size);
  }

  d.size = size;
  d.pts = GST_BUFFER_PTS (buf);
  d.dts = GST_BUFFER_DTS (buf);
  d.duration = GST_BUFFER_DURATION (buf);
  d.offset = GST_BUFFER_OFFSET (buf);
  d.offset_end = GST_BUFFER_OFFSET_END (buf);
  d.buffer_flags = GST_BUFFER_FLAGS (buf) & (GST_BUFFER_FLAG_LIVE |
      GST_BUFFER_FLAG_DISCONT | GST_BUFFER_FLAG_DELTA_UNIT |
      GST_BUFFER_FLAG_HEADER | GST_BUFFER_FLAG_GAP |
      GST_BUFFER_FLAG_CORRUPTED | GST_BUFFER_FLAG_MARKER |
      GST_BUFFER_FLAG_DROPPABLE);
  d.caps_seq = self->caps_seq;
  d.publish_monotonic_ns = monotonic_ns ();
  clock_gettime (CLOCK_REALTIME, &rt);
  d.publish_realtime_ns = (guint64) rt.tv_sec * GST_SECOND + rt.tv_nsec;
  d.pts_monotonic_ns = gst_mmap_sink_pts_monotonic (self, d.pts,
      d.publish_monotonic_ns);

  mring_slot_publish (self->map, idx, &d);
  if (!zero_copy)
    mring_slot_done (self->map, idx);
  self->seq = d.seq;
  GST_OBJECT_LOCK (self);
  self->frames_written++;
  if (zero_copy)
    self->frames_zero_copy++;
  GST_OBJECT_UNLOCK (self);
  GST_LOG_OBJECT (self, "published frame %" G_GUINT64_FORMAT " in slot %d, %"
      G_GSIZE_FORMAT " bytes, pts %" GST_TIME_FORMAT, d.seq, idx, size,
      GST_TIME_ARGS (d.pts));
  return GST_FLOW_OK;
}

/* With a live upstream, a frame is published the moment it arrives: its
 * timestamps tell readers when it was captured, and waiting for the clock
 * (PTS + pipeline latency, a frame or more) would only add latency for
 * every reader.  A non-live stream (a file) is paced by the clock as
 * usual when sync is on. */
static void
gst_mmap_sink_get_times (GstBaseSink * bsink, GstBuffer * buf,
    GstClockTime * start, GstClockTime * end)
{
  GstMmapSink *self = GST_MMAP_SINK (bsink);

  if (self->upstream_live < 0) {
    GstQuery *q = gst_query_new_latency ();
    gboolean upstream_live = FALSE;

    if (gst_pad_peer_query (GST_BASE_SINK_PAD (bsink), q))
      gst_query_parse_latency (q, &upstream_live, NULL, NULL);
    gst_query_unref (q);
    self->upstream_live = upstream_live;
    GST_DEBUG_OBJECT (self, "upstream is %slive: %s", upstream_live ? "" :
        "not ", upstream_live ? "publishing on arrival" :
        "publishing on the clock");
  }
  if (self->upstream_live)
    return;
  *start = GST_BUFFER_PTS_IS_VALID (buf) ? GST_BUFFER_PTS (buf) :
      GST_BUFFER_DTS (buf);
  if (GST_CLOCK_TIME_IS_VALID (*start) && GST_BUFFER_DURATION_IS_VALID (buf))
    *end = *start + GST_BUFFER_DURATION (buf);
}

static gboolean
gst_mmap_sink_propose_allocation (GstBaseSink * bsink, GstQuery * query)
{
  GstMmapSink *self = GST_MMAP_SINK (bsink);
  GstCaps *caps;
  gboolean need_pool;

  gst_query_parse_allocation (query, &caps, &need_pool);
  gst_query_add_allocation_meta (query, GST_VIDEO_META_API_TYPE, NULL);

  /* Offer slots of the file only for the caps the file was made for. */
  if (!caps || !self->is_video || !self->map || self->need_file ||
      !self->caps || !gst_caps_is_equal (caps, self->caps))
    return TRUE;

  if (!self->pool) {
    GstStructure *config;
    self->pool = gst_mmap_pool_new (self->map, &self->vinfo);
    config = gst_buffer_pool_get_config (self->pool);
    gst_buffer_pool_config_set_params (config, caps,
        GST_VIDEO_INFO_SIZE (&self->vinfo), 0, 0);
    gst_buffer_pool_config_add_option (config,
        GST_BUFFER_POOL_OPTION_VIDEO_META);
    if (!gst_buffer_pool_set_config (self->pool, config)) {
      gst_clear_object (&self->pool);
      return TRUE;
    }
  }
  GST_DEBUG_OBJECT (self, "offering the file's slots to upstream");
  gst_query_add_allocation_pool (query, self->pool,
      GST_VIDEO_INFO_SIZE (&self->vinfo), 0, 0);
  return TRUE;
}

static GstStructure *
gst_mmap_sink_stats (GstMmapSink * self)
{
  GstStructure *s;

  GST_OBJECT_LOCK (self);
  s = gst_structure_new ("mmapsink-stats",
      "frames-written", G_TYPE_UINT64, self->frames_written,
      "frames-zero-copy", G_TYPE_UINT64, self->frames_zero_copy,
      "frames-copied", G_TYPE_UINT64,
      self->frames_written - self->frames_zero_copy,
      "frames-dropped", G_TYPE_UINT64, self->frames_dropped, NULL);
  GST_OBJECT_UNLOCK (self);
  return s;
}

static gboolean
gst_mmap_sink_event (GstBaseSink * bsink, GstEvent * event)
{
  GstMmapSink *self = GST_MMAP_SINK (bsink);

  if (GST_EVENT_TYPE (event) == GST_EVENT_EOS && self->map) {
    GST_DEBUG_OBJECT (self, "EOS after frame %" G_GUINT64_FORMAT, self->seq);
    mring_set_eos (self->map);
  }
  return GST_BASE_SINK_CLASS (gst_mmap_sink_parent_class)->event (bsink, event);
}

static void
gst_mmap_sink_finalize (GObject * object)
{
  GstMmapSink *self = GST_MMAP_SINK (object);

  g_free (self->location);
  G_OBJECT_CLASS (gst_mmap_sink_parent_class)->finalize (object);
}

static void
gst_mmap_sink_init (GstMmapSink * self)
{
  self->location = g_strdup (DEFAULT_LOCATION);
  self->slots = DEFAULT_SLOTS;
  self->slot_size = DEFAULT_SLOT_SIZE;
  self->file_mode = DEFAULT_FILE_MODE;
  /* The last sample would pin a slot for nothing. */
  gst_base_sink_set_last_sample_enabled (GST_BASE_SINK (self), FALSE);
}

static void
gst_mmap_sink_class_init (GstMmapSinkClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseSinkClass *bsink_class = GST_BASE_SINK_CLASS (klass);

  gobject_class->set_property = gst_mmap_sink_set_property;
  gobject_class->get_property = gst_mmap_sink_get_property;
  gobject_class->finalize = gst_mmap_sink_finalize;

  /**
   * GstMmapSink:location:
   *
   * Path of the shared file.  It is created (and replaced when the caps
   * change) under a temporary name in the same directory, then renamed
   * into place; a symbolic link there is never followed.
   */
  g_object_class_install_property (gobject_class, PROP_LOCATION,
      g_param_spec_string ("location", "Location",
          "Path of the shared file readers open (use a tmpfs such as "
          "/dev/shm for speed)", DEFAULT_LOCATION,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  /**
   * GstMmapSink:slots:
   *
   * Number of frames the ring holds.  A reader that falls more than this
   * many frames behind skips to the newest frame.
   */
  g_object_class_install_property (gobject_class, PROP_SLOTS,
      g_param_spec_uint ("slots", "Slots",
          "Number of frames the ring in the file holds", MMAP_SLOTS_MIN,
          MMAP_SLOTS_MAX, DEFAULT_SLOTS,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  /**
   * GstMmapSink:slot-size:
   *
   * Minimum size of a slot in bytes.  0 sizes slots from the caps (raw
   * video) or from the first buffer (other payloads, twice its size); a
   * bigger buffer makes the writer replace the file with larger slots.
   */
  g_object_class_install_property (gobject_class, PROP_SLOT_SIZE,
      g_param_spec_uint64 ("slot-size", "Slot size",
          "Minimum bytes per slot (0 = from the caps or the first buffer)",
          0, G_MAXUINT32, DEFAULT_SLOT_SIZE,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  /**
   * GstMmapSink:file-mode:
   *
   * Permission bits of the file.  The default lets only the writer's user
   * read it; 0660 or 0644 open it to a group or to everyone.  Readers need
   * write access to sleep on the futex; read-only readers poll.
   */
  g_object_class_install_property (gobject_class, PROP_FILE_MODE,
      g_param_spec_uint ("file-mode", "File mode",
          "Permission bits of the created file (e.g. 0600 = 384, 0660 = 432)",
          0, 0777, DEFAULT_FILE_MODE,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));

  /**
   * GstMmapSink:stats:
   *
   * Counters since the last start: frames-written, frames-zero-copy
   * (rendered by upstream straight into a slot), frames-copied,
   * frames-dropped (no free slot; should stay 0).
   */
  g_object_class_install_property (gobject_class, PROP_STATS,
      g_param_spec_boxed ("stats", "Statistics",
          "Frames written, zero-copy, copied and dropped since start",
          GST_TYPE_STRUCTURE, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_set_static_metadata (element_class,
      "Memory-mapped file sink", "Sink/Video",
      "Publishes buffers with their caps and timestamps into a ring of slots "
      "in a memory-mapped file (under /dev/shm by default) that any number "
      "of mmapsrc readers in other processes follow, without ever waiting "
      "for them. Upstream renders straight into the file (zero-copy). "
      "Example: gst-launch-1.0 v4l2src ! mmapsink location=/dev/shm/cam",
      "gst-mmap developers");

  bsink_class->start = GST_DEBUG_FUNCPTR (gst_mmap_sink_start);
  bsink_class->stop = GST_DEBUG_FUNCPTR (gst_mmap_sink_stop);
  bsink_class->set_caps = GST_DEBUG_FUNCPTR (gst_mmap_sink_set_caps);
  bsink_class->render = GST_DEBUG_FUNCPTR (gst_mmap_sink_render);
  bsink_class->event = GST_DEBUG_FUNCPTR (gst_mmap_sink_event);
  bsink_class->get_times = GST_DEBUG_FUNCPTR (gst_mmap_sink_get_times);
  bsink_class->propose_allocation =
      GST_DEBUG_FUNCPTR (gst_mmap_sink_propose_allocation);
}

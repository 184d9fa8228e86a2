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
 * frames, and the writer never drops one on its own (a frame that ever
 * has to go still takes a number, so every reader counts it).  When
 * upstream renders into the file's slots it may hold only so many at
 * once; beyond that it waits for one to come back, as with any bounded
 * pool.  With a live upstream (a camera, `videotestsrc is-live=true`)
 * each frame is published as soon as it arrives, whatever #GstBaseSink:sync
 * says: its timestamps tell readers when it was captured.  A non-live
 * stream is paced by the clock when sync is on (the default).  The file
 * is created under a temporary name and renamed into place, replaced by a
 * new one when the caps change, marked at EOS and removed on a clean stop.  A second writer on the same location is
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
#include <gst/video/video.h>

#include "gstmmapsink.h"
#include "gstmmaputils.h"
#include "gstmmapmeta.h"
#include "gstmmappool.h"

GST_DEBUG_CATEGORY (gst_mmap_sink_debug);
#define GST_CAT_DEFAULT gst_mmap_sink_debug

#define DEFAULT_LOCATION "/dev/shm/gst-mmap"
#define DEFAULT_SLOTS 8
#define DEFAULT_SLOT_SIZE 0
#define DEFAULT_FILE_MODE 0600
#define DEFAULT_META_SIZE 16384
#define DEFAULT_STICKY_SIZE 65536
/* Readers' keyframe requests reach upstream at most this often. */
#define KEYFRAME_REQUEST_INTERVAL (500 * GST_MSECOND)
/* Header buffers larger than this are keyframes carrying headers. */
#define MAX_HEADER_BUFFER (64 * 1024)
/* Slot size for payloads whose size the caps do not tell. */
#define MIN_VARIABLE_SLOT (64 * 1024)

enum
{
  PROP_0,
  PROP_LOCATION,
  PROP_SLOTS,
  PROP_SLOT_SIZE,
  PROP_FILE_MODE,
  PROP_META_SIZE,
  PROP_STICKY_SIZE,
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
  guint meta_size;
  guint sticky_size;

  /* Streaming thread only (and start/stop, which it does not overlap):
   * copies of the properties taken at start(), the writer. */
  gchar *path;
  guint n_slots;
  guint64 min_slot_size;
  guint mode;
  guint meta_cap;
  guint sticky_cap;
  MmapRingWriter *writer;
  guint64 capacity;             /* of the current file's slots, 0: none */
  GstCaps *caps;
  gboolean is_video;
  gboolean need_file;           /* caps changed, the file has old caps */
  GstVideoInfo vinfo;
  GstClockTime latency;
  GstBufferPool *pool;          /* hands out slots of the file upstream */
  gint upstream_live;           /* -1: not asked yet since start/caps */
  gboolean drop_warned;
  gboolean records_warned;
  /* Records: events waiting for the next frame; the frame's own records
   * (both meta_cap bytes); what late readers get first. */
  MmapRingRecords pending;
  guint8 *pending_buf;
  guint8 *frame_buf;
  GBytes *sticky_stream_start;
  GstTagList *tags[2];          /* stream, global: merged so far */
  GPtrArray *sticky_headers;    /* GBytes records */
  GPtrArray *header_candidates; /* HEADER buffers not yet known to be so */
  guint32 keyframe_requests;    /* readers' count as last seen */
  GstClockTime keyframe_sent;   /* monotonic, of the last one upstream */

  /* Counters: GST_OBJECT_LOCK (written here, read by the stats property). */
  guint64 frames_written;
  guint64 frames_zero_copy;
  guint64 frames_dropped;
  guint64 records_dropped;
  guint64 keyframes_requested;
};

static void gst_mmap_sink_uri_handler_init (gpointer iface, gpointer data);

G_DEFINE_TYPE_WITH_CODE (GstMmapSink, gst_mmap_sink, GST_TYPE_BASE_SINK,
    G_IMPLEMENT_INTERFACE (GST_TYPE_URI_HANDLER,
        gst_mmap_sink_uri_handler_init));
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
    GST_WARNING_OBJECT (self, "changing property \"%s\" is only allowed in "
        "the NULL or READY state", pspec->name);
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
    case PROP_META_SIZE:
      self->meta_size = g_value_get_uint (value);
      break;
    case PROP_STICKY_SIZE:
      self->sticky_size = g_value_get_uint (value);
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
    case PROP_META_SIZE:
      g_value_set_uint (value, self->meta_size);
      break;
    case PROP_STICKY_SIZE:
      g_value_set_uint (value, self->sticky_size);
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

/* Claims the location (called before GstBaseSink starts us: see
 * change_state). */
static gboolean
gst_mmap_sink_begin (GstMmapSink * self)
{
  MmapRingError err;

  GST_OBJECT_LOCK (self);
  self->path = g_strdup (self->location);
  self->n_slots = self->slots;
  self->min_slot_size = self->slot_size;
  self->mode = self->file_mode;
  self->meta_cap = self->meta_size;
  self->sticky_cap = self->sticky_size;
  self->frames_written = self->frames_zero_copy = self->frames_dropped = 0;
  self->records_dropped = self->keyframes_requested = 0;
  GST_OBJECT_UNLOCK (self);

  if (!self->path || !*self->path) {
    GST_ELEMENT_ERROR (self, RESOURCE, NOT_FOUND,
        ("No file location given."), ("Set the \"location\" property."));
    g_clear_pointer (&self->path, g_free);
    return FALSE;
  }
  /* A file truncated under us would otherwise kill the process. */
  if (mmapring_install_sigbus_guard (&err) != MMAPRING_OK)
    GST_WARNING_OBJECT (self, "%s", err.message);
  /* Refuse a second writer now, not at the first buffer. */
  self->writer = mmapring_writer_open (self->path, self->mode, &err);
  if (!self->writer) {
    GST_MMAP_ELEMENT_ERROR (self, TRUE, &err);
    g_clear_pointer (&self->path, g_free);
    return FALSE;
  }
  self->capacity = 0;
  self->upstream_live = -1;
  self->latency = GST_CLOCK_TIME_NONE;
  self->drop_warned = self->records_warned = FALSE;
  self->pending_buf = g_malloc (MAX (self->meta_cap, 1));
  self->frame_buf = g_malloc (MAX (self->meta_cap, 1));
  mmapring_records_init (&self->pending, self->pending_buf, self->meta_cap);
  self->sticky_headers = g_ptr_array_new_with_free_func ((GDestroyNotify)
      g_bytes_unref);
  self->header_candidates = g_ptr_array_new_with_free_func ((GDestroyNotify)
      g_bytes_unref);
  self->keyframe_requests = 0;
  self->keyframe_sent = 0;
  GST_DEBUG_OBJECT (self, "started on %s", self->path);
  return TRUE;
}

static gboolean
gst_mmap_sink_start (GstBaseSink * bsink)
{
  /* gst_mmap_sink_change_state has claimed the location. */
  return GST_MMAP_SINK (bsink)->writer != NULL;
}

static gboolean gst_mmap_sink_stop (GstBaseSink * bsink);

/* The location is claimed before GstBaseSink's start(): a start() that
 * fails makes GstBaseSink post a generic "Failed to start" error after
 * ours, which gst-launch-1.0 prints as "some element failed to post a
 * proper error message". */
static GstStateChangeReturn
gst_mmap_sink_change_state (GstElement * element, GstStateChange transition)
{
  GstMmapSink *self = GST_MMAP_SINK (element);
  GstStateChangeReturn ret;

  if (transition == GST_STATE_CHANGE_NULL_TO_READY &&
      !gst_mmap_sink_begin (self))
    return GST_STATE_CHANGE_FAILURE;
  ret = GST_ELEMENT_CLASS (gst_mmap_sink_parent_class)->change_state
      (element, transition);
  if (transition == GST_STATE_CHANGE_NULL_TO_READY &&
      ret == GST_STATE_CHANGE_FAILURE)
    gst_mmap_sink_stop (GST_BASE_SINK (self));
  return ret;
}

static gboolean
gst_mmap_sink_stop (GstBaseSink * bsink)
{
  GstMmapSink *self = GST_MMAP_SINK (bsink);

  if (self->pool) {
    gst_mmap_pool_detach (self->pool);
    gst_clear_object (&self->pool);
  }
  if (self->writer) {
    GST_DEBUG_OBJECT (self, "stopped after %" G_GUINT64_FORMAT " frames",
        mmapring_writer_seq (self->writer));
    /* Slots upstream still holds stay valid until it frees them. */
    mmapring_writer_close (self->writer, TRUE);
    self->writer = NULL;
  }
  gst_clear_caps (&self->caps);
  g_clear_pointer (&self->path, g_free);
  g_clear_pointer (&self->pending_buf, g_free);
  g_clear_pointer (&self->frame_buf, g_free);
  g_clear_pointer (&self->sticky_stream_start, g_bytes_unref);
  gst_clear_tag_list (&self->tags[0]);
  gst_clear_tag_list (&self->tags[1]);
  g_clear_pointer (&self->sticky_headers, g_ptr_array_unref);
  g_clear_pointer (&self->header_candidates, g_ptr_array_unref);
  return TRUE;
}

/* --- records: metas, events, what late readers get first --- */

static void
gst_mmap_sink_records_lost (GstMmapSink * self, guint n, const gchar * what)
{
  gboolean warn;

  if (!n)
    return;
  GST_OBJECT_LOCK (self);
  self->records_dropped += n;
  warn = !self->records_warned;
  self->records_warned = TRUE;
  GST_OBJECT_UNLOCK (self);
  GST_WARNING_OBJECT (self, "%u %s left out: no room", n, what);
  if (warn)
    GST_ELEMENT_WARNING (self, STREAM, FAILED,
        ("%s: %s left out: they do not fit the %u bytes a frame has for "
            "them (meta-size)", self->path, what, self->meta_cap),
        ("stats records-dropped counts every one"));
}

/* One record, alone, as bytes (for the sticky area). */
static GBytes *
gst_mmap_sink_one_record (GstMmapSink * self, GstEvent * event)
{
  guint8 *buf = g_malloc (MAX (self->sticky_cap, 1));
  MmapRingRecords r;

  mmapring_records_init (&r, buf, self->sticky_cap);
  if (!gst_mmap_records_add_event (&r, event)) {
    g_free (buf);
    return NULL;
  }
  return g_bytes_new_take (buf, r.size);
}

static void
append_bytes (MmapRingRecords * r, GBytes * b)
{
  gsize n;
  const guint8 *p = g_bytes_get_data (b, &n);

  if (r->capacity - r->size >= n) {
    memcpy (r->buf + r->size, p, n);
    r->size += n;
    r->at = r->size;
  }
}

/* Writes what a late reader gets before its first frame: the last
 * stream-start, tags and stream headers. */
static void
gst_mmap_sink_update_sticky (GstMmapSink * self)
{
  MmapRingRecords r;
  MmapRingError err;
  guint8 *buf;
  guint i;

  if (!self->sticky_cap || !self->capacity)
    return;
  buf = g_malloc (self->sticky_cap);
  mmapring_records_init (&r, buf, self->sticky_cap);
  if (self->sticky_stream_start)
    append_bytes (&r, self->sticky_stream_start);
  for (i = 0; i < 2; i++) {
    GstEvent *ev;
    GBytes *b;
    if (!self->tags[i])
      continue;
    ev = gst_event_new_tag (gst_tag_list_copy (self->tags[i]));
    if ((b = gst_mmap_sink_one_record (self, ev))) {
      append_bytes (&r, b);
      g_bytes_unref (b);
    }
    gst_event_unref (ev);
  }
  for (i = 0; i < self->sticky_headers->len; i++)
    append_bytes (&r, g_ptr_array_index (self->sticky_headers, i));
  if (mmapring_writer_set_sticky (self->writer, buf, r.size, &err) !=
      MMAPRING_OK)
    GST_WARNING_OBJECT (self, "%s", err.message);
  g_free (buf);
}

/* An event that travels: it goes out with the next frame; stream-start
 * and tags also stay for late readers. */
static void
gst_mmap_sink_queue_event (GstMmapSink * self, GstEvent * event)
{
  GstTagList *list, **merged;

  if (self->meta_cap && !gst_mmap_records_add_event (&self->pending, event))
    gst_mmap_sink_records_lost (self, 1, "events");
  if (!self->sticky_cap)
    return;
  if (GST_EVENT_TYPE (event) == GST_EVENT_STREAM_START) {
    g_clear_pointer (&self->sticky_stream_start, g_bytes_unref);
    self->sticky_stream_start = gst_mmap_sink_one_record (self, event);
    /* A new stream: its tags start afresh. */
    gst_clear_tag_list (&self->tags[0]);
  } else if (GST_EVENT_TYPE (event) == GST_EVENT_TAG) {
    gst_event_parse_tag (event, &list);
    merged = &self->tags[gst_tag_list_get_scope (list) == GST_TAG_SCOPE_GLOBAL];
    if (*merged)
      gst_tag_list_insert (*merged, list, GST_TAG_MERGE_REPLACE);
    else
      *merged = gst_tag_list_copy (list);
  } else {
    return;
  }
  if (self->capacity)
    gst_mmap_sink_update_sticky (self);
}

/* Stream headers for late readers: buffers flagged HEADER that precede
 * a keyframe (SPS/PPS before an IDR).  A HEADER buffer followed by delta
 * units was a keyframe carrying its headers: nothing to keep. */
static void
gst_mmap_sink_track_headers (GstMmapSink * self, GstBuffer * buf)
{
  gsize size = gst_buffer_get_size (buf);

  if (!self->sticky_cap)
    return;
  if (GST_BUFFER_FLAG_IS_SET (buf, GST_BUFFER_FLAG_HEADER)) {
    guint8 *rec = NULL;
    MmapRingRecords r;
    GstMapInfo map;

    if (size > MAX_HEADER_BUFFER || !gst_buffer_map (buf, &map, GST_MAP_READ))
      return;
    rec = g_malloc (size + 64);
    mmapring_records_init (&r, rec, size + 64);
    mmapring_records_begin (&r, MMAPRING_RECORD_HEADER_BUFFER);
    mmapring_value_begin_map (&r);
    mmapring_value_key (&r, "flags");
    mmapring_value_uint (&r, GST_BUFFER_FLAGS (buf) & GST_MMAP_BUFFER_FLAGS);
    mmapring_value_key (&r, "data");
    mmapring_value_bytes (&r, map.data, map.size);
    mmapring_value_end (&r);
    gst_buffer_unmap (buf, &map);
    if (mmapring_records_end (&r))
      g_ptr_array_add (self->header_candidates, g_bytes_new_take (rec, r.size));
    else
      g_free (rec);
    return;
  }
  if (!self->header_candidates->len)
    return;
  if (!GST_BUFFER_FLAG_IS_SET (buf, GST_BUFFER_FLAG_DELTA_UNIT)) {
    g_ptr_array_set_size (self->sticky_headers, 0);
    while (self->header_candidates->len)
      g_ptr_array_add (self->sticky_headers,
          g_ptr_array_steal_index (self->header_candidates, 0));
    gst_mmap_sink_update_sticky (self);
  }
  g_ptr_array_set_size (self->header_candidates, 0);
}

/* The events waiting since the last frame, then the buffer's metas. */
static void
gst_mmap_sink_frame_records (GstMmapSink * self, GstBuffer * buf,
    MmapRingFrame * fr)
{
  MmapRingRecords r;

  if (!self->meta_cap)
    return;
  mmapring_records_init (&r, self->frame_buf, self->meta_cap);
  memcpy (self->frame_buf, self->pending_buf, self->pending.size);
  r.size = r.at = self->pending.size;
  mmapring_records_init (&self->pending, self->pending_buf, self->meta_cap);
  if (buf)
    gst_mmap_sink_records_lost (self, gst_mmap_records_add_metas (&r, buf),
        "metas");
  fr->meta = self->frame_buf;
  fr->meta_size = r.size;
}

/* Events that came after the last frame go out in a slot of their own
 * (NO_BUFFER), so that EOS does not swallow them. */
static void
gst_mmap_sink_flush_events (GstMmapSink * self)
{
  MmapRingFrame fr;
  MmapRingError err;
  MmapRingSlot *slot;

  if (!self->pending.size || !self->capacity)
    return;
  memset (&fr, 0, sizeof (fr));
  fr.pts = fr.dts = fr.duration = fr.offset = fr.offset_end =
      fr.pts_monotonic_ns = MMAP_TIME_NONE;
  fr.frame_flags = MMAPRING_FRAME_FLAG_NO_BUFFER;
  gst_mmap_sink_frame_records (self, NULL, &fr);
  if (!(slot = mmapring_writer_acquire (self->writer))) {
    gst_mmap_sink_records_lost (self, 1, "events");
    return;
  }
  if (mmapring_writer_publish (self->writer, slot, &fr, &err) != MMAPRING_OK)
    GST_WARNING_OBJECT (self, "%s", err.message);
  mmapring_slot_release (slot);
}

/* Readers that joined a stream with delta units, or lost frames of it,
 * ask for a keyframe: upstream hears of it, at most every 500 ms. */
static void
gst_mmap_sink_keyframe_requests (GstMmapSink * self)
{
  guint32 n = mmapring_writer_keyframe_requests (self->writer);
  GstClockTime now;

  if (n == self->keyframe_requests || self->is_video)
    return;
  now = gst_mmap_monotonic_now ();
  if (self->keyframe_sent && now - self->keyframe_sent <
      KEYFRAME_REQUEST_INTERVAL)
    return;
  self->keyframe_requests = n;
  self->keyframe_sent = now;
  GST_DEBUG_OBJECT (self, "a reader asked for a keyframe");
  GST_OBJECT_LOCK (self);
  self->keyframes_requested++;
  GST_OBJECT_UNLOCK (self);
  gst_pad_push_event (GST_BASE_SINK_PAD (self),
      gst_video_event_new_upstream_force_key_unit (GST_CLOCK_TIME_NONE, TRUE,
          n));
}

/* Makes a new file for the current caps with room for `payload` bytes a
 * slot, replacing the one readers have now. */
static gboolean
gst_mmap_sink_make_file (GstMmapSink * self, guint64 payload)
{
  MmapRingFormat fmt = { 0 };
  MmapRingError err;
  gchar *caps_str = gst_caps_to_string (self->caps);

  fmt.caps = caps_str;
  fmt.slot_count = self->n_slots;
  fmt.slot_capacity = MAX (payload, self->min_slot_size);
  fmt.meta_capacity = self->meta_cap;
  fmt.sticky_capacity = self->sticky_cap;
  if (mmapring_writer_set_format (self->writer, &fmt, &err) != MMAPRING_OK) {
    GST_MMAP_ELEMENT_ERROR (self, TRUE, &err);
    g_free (caps_str);
    return FALSE;
  }
  GST_INFO_OBJECT (self, "new file %s: %u slots of %" G_GUINT64_FORMAT
      " bytes, caps %s", self->path, fmt.slot_count, fmt.slot_capacity,
      caps_str);
  g_free (caps_str);
  self->capacity = fmt.slot_capacity;
  self->need_file = FALSE;
  if (GST_CLOCK_TIME_IS_VALID (self->latency))
    mmapring_writer_set_latency (self->writer, self->latency);
  gst_mmap_sink_update_sticky (self);
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
  /* Upstream asks for a new pool with the new caps. */
  if (self->pool) {
    gst_mmap_pool_detach (self->pool);
    gst_clear_object (&self->pool);
  }
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

/* A frame that cannot be published still takes its number, so that every
 * reader counts it as lost; the application hears of it once. */
static void
gst_mmap_sink_drop (GstMmapSink * self, const gchar * why)
{
  gboolean warn;

  mmapring_writer_skip (self->writer, 1);
  GST_OBJECT_LOCK (self);
  self->frames_dropped++;
  warn = !self->drop_warned;
  self->drop_warned = TRUE;
  GST_OBJECT_UNLOCK (self);
  GST_WARNING_OBJECT (self, "dropped frame %" G_GUINT64_FORMAT ": %s",
      mmapring_writer_seq (self->writer), why);
  if (warn)
    GST_ELEMENT_WARNING (self, STREAM, FAILED,
        ("%s: dropped frame %" G_GUINT64_FORMAT ": %s", self->path,
            mmapring_writer_seq (self->writer), why),
        ("readers count it as skipped; stats frames-dropped counts all"));
}

/* Copies `buf` into `slot`, plane by plane when upstream's layout differs
 * from the caps' default one (strides and GstVideoMeta honoured). */
static gboolean
gst_mmap_sink_copy_in (GstMmapSink * self, GstBuffer * buf,
    MmapRingSlot * slot, gsize size)
{
  GstVideoInfo *vi = &self->vinfo;
  guint8 *data = mmapring_slot_data (slot);
  GstVideoFrame in, out;
  GstBuffer *wrap;
  gboolean ok = FALSE;

  if (!self->is_video || (!gst_buffer_get_video_meta (buf) &&
          size == GST_VIDEO_INFO_SIZE (vi))) {
    gst_buffer_extract (buf, 0, data, size);
    return TRUE;
  }
  wrap = gst_buffer_new_wrapped_full (0, data, GST_VIDEO_INFO_SIZE (vi), 0,
      GST_VIDEO_INFO_SIZE (vi), NULL, NULL);
  if (gst_video_frame_map (&in, vi, buf, GST_MAP_READ)) {
    if (gst_video_frame_map (&out, vi, wrap, GST_MAP_WRITE)) {
      ok = gst_video_frame_copy (&out, &in);
      gst_video_frame_unmap (&out);
    }
    gst_video_frame_unmap (&in);
  }
  gst_buffer_unref (wrap);
  return ok;
}

static void
gst_mmap_sink_describe (GstMmapSink * self, GstBuffer * buf, gsize size,
    MmapRingFrame * fr)
{
  GstSegment *seg = &GST_BASE_SINK (self)->segment;
  guint p;

  memset (fr, 0, sizeof (*fr));
  fr->size = size;
  fr->pts = GST_BUFFER_PTS (buf);
  fr->dts = GST_BUFFER_DTS (buf);
  fr->duration = GST_BUFFER_DURATION (buf);
  fr->offset = GST_BUFFER_OFFSET (buf);
  fr->offset_end = GST_BUFFER_OFFSET_END (buf);
  fr->buffer_flags = GST_BUFFER_FLAGS (buf) & GST_MMAP_BUFFER_FLAGS;
  fr->pts_monotonic_ns = GST_CLOCK_TIME_IS_VALID (fr->pts) ?
      gst_mmap_running_time_to_monotonic (GST_ELEMENT (self),
      gst_segment_to_running_time (seg, GST_FORMAT_TIME, fr->pts)) :
      MMAP_TIME_NONE;
  if (self->is_video) {
    const GstVideoInfo *vi = &self->vinfo;
    fr->size = GST_VIDEO_INFO_SIZE (vi);
    fr->n_planes = MIN (GST_VIDEO_INFO_N_PLANES (vi), MMAP_MAX_PLANES);
    for (p = 0; p < fr->n_planes; p++) {
      fr->plane_offset[p] = GST_VIDEO_INFO_PLANE_OFFSET (vi, p);
      fr->plane_stride[p] = GST_VIDEO_INFO_PLANE_STRIDE (vi, p);
    }
  }
}

/* A file that fits the next frame: the first one, one for new caps, a
 * bigger one, or a new one after someone truncated ours. */
static gboolean
gst_mmap_sink_ensure_file (GstMmapSink * self, gsize size)
{
  guint64 need = self->is_video ? GST_VIDEO_INFO_SIZE (&self->vinfo) : size;

  if (mmapring_writer_broken (self->writer))
    GST_WARNING_OBJECT (self, "%s was truncated by someone else, making a "
        "new file", self->path);
  else if (self->capacity && !self->need_file && need <= self->capacity)
    return TRUE;
  return gst_mmap_sink_make_file (self, self->is_video ? need :
      MAX (need * 2, MAX (self->capacity, MIN_VARIABLE_SLOT)));
}

/* A buffer that is not a slot of ours: into the slot the pool always
 * leaves the writer, whatever upstream and the readers hold.  fr->seq
 * stays 0 when the frame had to be dropped (it is counted). */
static GstFlowReturn
gst_mmap_sink_publish_copy (GstMmapSink * self, GstBuffer * buf, gsize size,
    MmapRingFrame * fr)
{
  MmapRingSlot *slot;
  MmapRingError err;
  MmapRingStatus st;

  if (!(slot = mmapring_writer_acquire (self->writer))) {
    gst_mmap_sink_drop (self, "no free slot");
    return GST_FLOW_OK;
  }
  if (!gst_mmap_sink_copy_in (self, buf, slot, size)) {
    mmapring_slot_release (slot);
    GST_ELEMENT_ERROR (self, STREAM, FORMAT, (NULL),
        ("Could not map a video buffer of %" G_GSIZE_FORMAT " bytes "
            "for the caps %" GST_PTR_FORMAT, size, self->caps));
    return GST_FLOW_ERROR;
  }
  st = mmapring_writer_publish (self->writer, slot, fr, &err);
  mmapring_slot_release (slot);
  if (st != MMAPRING_OK) {
    GST_MMAP_ELEMENT_ERROR (self, TRUE, &err);
    return GST_FLOW_ERROR;
  }
  return GST_FLOW_OK;
}

static GstFlowReturn
gst_mmap_sink_render (GstBaseSink * bsink, GstBuffer * buf)
{
  GstMmapSink *self = GST_MMAP_SINK (bsink);
  MmapRingSlot *slot = NULL;
  MmapRingFrame fr;
  MmapRingError err;
  MmapRingStatus st;
  gsize size = gst_buffer_get_size (buf);
  GstClockTime latency;
  gboolean zero_copy = FALSE;

  if (!self->caps) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, (NULL),
        ("Received a buffer before caps"));
    return GST_FLOW_NOT_NEGOTIATED;
  }
  /* Upstream rendered into a slot of a file truncated meanwhile: what it
   * drew may be gone with the file's pages.  Never publish that. */
  if (gst_mmap_pool_slot_broken (buf)) {
    if (!gst_mmap_sink_ensure_file (self, size))
      return GST_FLOW_ERROR;
    gst_mmap_sink_drop (self, "it was drawn into a file someone truncated");
    return GST_FLOW_OK;
  }
  if (!gst_mmap_sink_ensure_file (self, size))
    return GST_FLOW_ERROR;
  latency = gst_base_sink_get_latency (bsink);
  if (latency != self->latency) {
    self->latency = latency;
    mmapring_writer_set_latency (self->writer,
        GST_CLOCK_TIME_IS_VALID (latency) ? latency : 0);
  }

  gst_mmap_sink_describe (self, buf, size, &fr);
  gst_mmap_sink_track_headers (self, buf);
  gst_mmap_sink_frame_records (self, buf, &fr);
  if (self->pool && (slot = gst_mmap_pool_take_slot (self->pool, buf))) {
    /* Upstream rendered into the slot with the layout the pool gave. */
    st = mmapring_writer_publish (self->writer, slot, &fr, &err);
    zero_copy = st == MMAPRING_OK;
    if (!zero_copy)
      GST_DEBUG_OBJECT (self, "cannot publish upstream's slot (%s): copying",
          err.message);
  }
  if (!zero_copy) {
    GstFlowReturn ret = gst_mmap_sink_publish_copy (self, buf, size, &fr);
    if (ret != GST_FLOW_OK || fr.seq == 0)
      return ret;
  }
  GST_OBJECT_LOCK (self);
  self->frames_written++;
  if (zero_copy)
    self->frames_zero_copy++;
  GST_OBJECT_UNLOCK (self);
  gst_mmap_sink_keyframe_requests (self);
  GST_LOG_OBJECT (self, "published frame %" G_GUINT64_FORMAT ", %"
      G_GUINT64_FORMAT " bytes, pts %" GST_TIME_FORMAT, fr.seq, fr.size,
      GST_TIME_ARGS (fr.pts));
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
  guint max;

  gst_query_parse_allocation (query, &caps, &need_pool);
  gst_query_add_allocation_meta (query, GST_VIDEO_META_API_TYPE, NULL);

  /* Offer slots of the file only for the caps the file was made for. */
  if (!caps || !self->is_video || !self->capacity || self->need_file ||
      !self->caps || !gst_caps_is_equal (caps, self->caps))
    return TRUE;
  max = mmapring_writer_spare_slots (self->writer);
  if (max == 0)
    return TRUE;

  if (!self->pool) {
    GstStructure *config;
    self->pool = gst_mmap_pool_new (self->writer, &self->vinfo);
    config = gst_buffer_pool_get_config (self->pool);
    gst_buffer_pool_config_set_params (config, caps,
        GST_VIDEO_INFO_SIZE (&self->vinfo), 0, max);
    gst_buffer_pool_config_add_option (config,
        GST_BUFFER_POOL_OPTION_VIDEO_META);
    if (!gst_buffer_pool_set_config (self->pool, config)) {
      gst_mmap_pool_detach (self->pool);
      gst_clear_object (&self->pool);
      return TRUE;
    }
  }
  GST_DEBUG_OBJECT (self, "offering up to %u of the file's slots upstream",
      max);
  gst_query_add_allocation_pool (query, self->pool,
      GST_VIDEO_INFO_SIZE (&self->vinfo), 0, max);
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
      "frames-dropped", G_TYPE_UINT64, self->frames_dropped,
      "records-dropped", G_TYPE_UINT64, self->records_dropped,
      "keyframes-requested", G_TYPE_UINT64, self->keyframes_requested, NULL);
  GST_OBJECT_UNLOCK (self);
  return s;
}

static gboolean
gst_mmap_sink_event (GstBaseSink * bsink, GstEvent * event)
{
  GstMmapSink *self = GST_MMAP_SINK (bsink);

  if (self->writer && gst_mmap_event_travels (event))
    gst_mmap_sink_queue_event (self, event);
  if (GST_EVENT_TYPE (event) == GST_EVENT_EOS && self->writer) {
    gst_mmap_sink_flush_events (self);
    GST_DEBUG_OBJECT (self, "EOS after frame %" G_GUINT64_FORMAT,
        mmapring_writer_seq (self->writer));
    mmapring_writer_set_eos (self->writer);
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
  self->meta_size = DEFAULT_META_SIZE;
  self->sticky_size = DEFAULT_STICKY_SIZE;
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
   * GstMmapSink:meta-size:
   *
   * Bytes each slot has for its frame's metas (region of interest,
   * reference timestamp, time code, caption, custom metas) and the events
   * that precede the frame (tags, stream-start, custom downstream
   * events).  A meta or event that does not fit is left out whole, with a
   * warning, and counted in stats records-dropped.  0 carries none.
   */
  g_object_class_install_property (gobject_class, PROP_META_SIZE,
      g_param_spec_uint ("meta-size", "Meta size",
          "Bytes per slot for the frame's metas and events (0 = none)",
          0, 1 << 24, DEFAULT_META_SIZE,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  /**
   * GstMmapSink:sticky-size:
   *
   * Bytes for what a reader joining late receives before its first frame:
   * the last stream-start, stream and global tags, and stream header
   * buffers.  0 keeps none.
   */
  g_object_class_install_property (gobject_class, PROP_STICKY_SIZE,
      g_param_spec_uint ("sticky-size", "Sticky size",
          "Bytes for the stream-start, tags and headers late readers get "
          "first (0 = none)", 0, 1 << 24, DEFAULT_STICKY_SIZE,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));

  /**
   * GstMmapSink:stats:
   *
   * Counters since the last start: frames-written, frames-zero-copy
   * (rendered by upstream straight into a slot), frames-copied,
   * frames-dropped (stays 0: only a frame drawn into a file someone
   * truncated is dropped, and it still takes its number),
   * records-dropped (metas or events that did not fit meta-size),
   * keyframes-requested (readers' requests passed upstream).
   */
  g_object_class_install_property (gobject_class, PROP_STATS,
      g_param_spec_boxed ("stats", "Statistics",
          "Frames written, zero-copy, copied and dropped, records dropped "
          "and keyframes requested since start",
          GST_TYPE_STRUCTURE, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_set_static_metadata (element_class,
      "Memory-mapped file sink", "Sink",
      "Publishes buffers with their caps and timestamps into a ring of slots "
      "in a memory-mapped file (under /dev/shm by default) that any number "
      "of mmapsrc readers in other processes follow, without ever waiting "
      "for them. Upstream renders straight into the file (zero-copy). "
      "Example: gst-launch-1.0 v4l2src ! mmapsink location=/dev/shm/cam",
      "gst-mmap developers");

  element_class->change_state = GST_DEBUG_FUNCPTR (gst_mmap_sink_change_state);
  bsink_class->start = GST_DEBUG_FUNCPTR (gst_mmap_sink_start);
  bsink_class->stop = GST_DEBUG_FUNCPTR (gst_mmap_sink_stop);
  bsink_class->set_caps = GST_DEBUG_FUNCPTR (gst_mmap_sink_set_caps);
  bsink_class->render = GST_DEBUG_FUNCPTR (gst_mmap_sink_render);
  bsink_class->event = GST_DEBUG_FUNCPTR (gst_mmap_sink_event);
  bsink_class->get_times = GST_DEBUG_FUNCPTR (gst_mmap_sink_get_times);
  bsink_class->propose_allocation =
      GST_DEBUG_FUNCPTR (gst_mmap_sink_propose_allocation);
}

/* --- mmap:// URIs --- */

static GstURIType
gst_mmap_sink_uri_get_type (GType type)
{
  return GST_URI_SINK;
}

static const gchar *const *
gst_mmap_sink_uri_get_protocols (GType type)
{
  static const gchar *protocols[] = { "mmap", NULL };
  return protocols;
}

static gchar *
gst_mmap_sink_uri_get_uri (GstURIHandler * handler)
{
  GstMmapSink *self = GST_MMAP_SINK (handler);
  gchar *uri;

  GST_OBJECT_LOCK (self);
  uri = gst_mmap_uri_from_location (self->location);
  GST_OBJECT_UNLOCK (self);
  return uri;
}

static gboolean
gst_mmap_sink_uri_set_uri (GstURIHandler * handler, const gchar * uri,
    GError ** error)
{
  gboolean stopped;

  GST_OBJECT_LOCK (handler);
  stopped = gst_mmap_element_is_stopped (GST_ELEMENT (handler));
  GST_OBJECT_UNLOCK (handler);
  if (!stopped) {
    g_set_error (error, GST_URI_ERROR, GST_URI_ERROR_BAD_STATE,
        "Changing the URI of mmapsink is only allowed in the NULL or READY "
        "state");
    return FALSE;
  }
  return gst_mmap_uri_apply (G_OBJECT (handler), uri, error);
}

static void
gst_mmap_sink_uri_handler_init (gpointer iface, gpointer data)
{
  GstURIHandlerInterface *i = iface;

  i->get_type = gst_mmap_sink_uri_get_type;
  i->get_protocols = gst_mmap_sink_uri_get_protocols;
  i->get_uri = gst_mmap_sink_uri_get_uri;
  i->set_uri = gst_mmap_sink_uri_set_uri;
}

/* GStreamer
 * Copyright (C) 2026 gst-mmap developers
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2 of the License, or (at your option) any later version.
 */
/**
 * SECTION:element-mmapsrc
 * @title: mmapsrc
 * @see_also: mmapsink
 *
 * Reads the buffers an mmapsink in another process publishes into a
 * memory-mapped file, with the writer's caps (no capsfilter needed) and
 * timestamps.  Any number of mmapsrc can follow one writer; none of them
 * can slow it down.
 *
 * mmapsrc waits for a writer to appear (posting an element message named
 * `mmapsrc-waiting`; `mmapsrc-writer` when one is found, `mmapsrc-skipped`
 * when frames were lost), follows it through caps changes (renegotiating) and
 * restarts, outputs every frame once (starting with the newest when it
 * joins late), and marks DISCONT where it had to skip frames.  It sleeps
 * on a futex in the file between frames.  #GstMmapSrc:max-lag bounds how
 * far behind the writer it may fall (1: always the freshest frame).  When
 * no writer appears it warns after a few seconds, saying what is at the
 * location, and #GstMmapSrc:timeout turns a long wait into an error.
 *
 * Timestamps (#GstMmapSrc:timestamp-mode): by default a frame's PTS is the
 * reader's running time at the instant the writer's pipeline clock read
 * the frame's PTS (both sides use CLOCK_MONOTONIC to agree on "when"), so
 * frames keep their capture spacing and sinks downstream can sync.
 * `writer` keeps the writer's own PTS and DTS, `arrival` stamps the
 * reader's running time when the frame is read.
 *
 * ## Example launch lines
 * |[
 * gst-launch-1.0 mmapsrc location=/dev/shm/cam ! videoconvert ! autovideosink
 * gst-launch-1.0 -e mmapsrc location=/dev/shm/cam ! videoconvert ! jpegenc ! avimux ! filesink location=rec.avi
 * ]|
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <string.h>
#include <gst/video/video.h>

#include "gstmmapsrc.h"
#include "gstmmaputils.h"
#include "gstmmapmeta.h"

GST_DEBUG_CATEGORY_STATIC (gst_mmap_src_debug);
#define GST_CAT_DEFAULT gst_mmap_src_debug

#define DEFAULT_LOCATION "/dev/shm/gst-mmap"
#define DEFAULT_IS_LIVE TRUE
#define DEFAULT_TIMESTAMP_MODE GST_MMAP_SRC_TIMESTAMP_RUNNING_TIME
#define DEFAULT_EOS_ON_WRITER_EOS TRUE
#define DEFAULT_ZERO_COPY TRUE
#define DEFAULT_MAX_LEASES 2
#define DEFAULT_SPIN_TIME 0
#define DEFAULT_MAX_LAG 0
#define DEFAULT_TIMEOUT 0
/* Waiting this long for a writer posts a warning (once per wait). */
#define WAIT_WARNING_NS (3 * GST_SECOND)

typedef enum
{
  GST_MMAP_SRC_TIMESTAMP_RUNNING_TIME,
  GST_MMAP_SRC_TIMESTAMP_WRITER,
  GST_MMAP_SRC_TIMESTAMP_ARRIVAL,
} GstMmapSrcTimestampMode;

#define GST_TYPE_MMAP_SRC_TIMESTAMP_MODE (gst_mmap_src_timestamp_mode_get_type ())
static GType
gst_mmap_src_timestamp_mode_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    {GST_MMAP_SRC_TIMESTAMP_RUNNING_TIME,
          "The writer's capture time on this pipeline's running time",
        "running-time"},
    {GST_MMAP_SRC_TIMESTAMP_WRITER,
        "The writer's PTS and DTS, unchanged", "writer"},
    {GST_MMAP_SRC_TIMESTAMP_ARRIVAL,
        "This pipeline's running time when the frame is read", "arrival"},
    {0, NULL, NULL},
  };
  if (g_once_init_enter (&type)) {
    GType t = g_enum_register_static ("GstMmapSrcTimestampMode", values);
    g_once_init_leave (&type, t);
  }
  return type;
}

enum
{
  PROP_0,
  PROP_LOCATION,
  PROP_IS_LIVE,
  PROP_TIMESTAMP_MODE,
  PROP_EOS_ON_WRITER_EOS,
  PROP_ZERO_COPY,
  PROP_MAX_LEASES,
  PROP_SPIN_TIME,
  PROP_MAX_LAG,
  PROP_TIMEOUT,
  PROP_STATS,
};

struct _GstMmapSrc
{
  GstPushSrc parent;

  /* Properties: GST_OBJECT_LOCK.  `caps` too, for get_caps/negotiate,
   * and `reader`, which unlock() interrupts from another thread. */
  gchar *location;
  GstMmapSrcTimestampMode timestamp_mode;
  gboolean eos_on_writer_eos;
  gboolean zero_copy;
  guint max_leases;
  guint spin_time;              /* microseconds */
  guint max_lag;
  guint timeout;                /* seconds, 0: for ever */
  GstCaps *caps;                /* what we negotiated downstream */
  MmapRingReader *reader;
  /* Counters, also GST_OBJECT_LOCK (the stats property reads them). */
  guint64 latency_last;         /* ns from publication to output */
  guint64 latency_sum;
  guint64 wake_last;            /* ns from publication to finding it */
  guint64 publish_last;         /* CLOCK_MONOTONIC of that publication */
  guint64 wake_sum;
  guint64 frames_out;

  /* Streaming thread only; start() and stop() do not overlap it. */
  gchar *path;
  GstMmapSrcTimestampMode mode;
  gboolean follow_eos;
  gboolean use_zero_copy;
  guint64 timeout_ns;
  GstCaps *file_caps;           /* caps of the current file */
  gboolean file_is_video;
  gboolean file_layout_known;   /* the library checks its planes */
  GstVideoInfo file_vinfo;
  guint64 waiting_since;        /* monotonic, 0: a writer is there */
  gboolean warned;
  guint64 skipped_unposted;     /* lost since the last mmapsrc-skipped */
  guint64 skipped_posted_at;
  GstBufferPool *pool;
  gsize pool_size;
  /* A reader that joins gets the writer's stream-start, tags and stream
   * headers first (the file's sticky records); it replays them again
   * after a gap if they changed. */
  GBytes *sticky_replayed;
  GPtrArray *pending_headers;   /* GstBuffer, before the next frame */
  gchar *stream_id;             /* of the last stream-start pushed */
  /* The writer's events for downstream, pushed by gst_mmap_src_probe
   * just before the buffer (or EOS) they preceded; under the object lock
   * (the probe runs in the streaming thread, as create()). */
  GQueue events;
  gboolean pushing_own;         /* a stream-start of ours is going out */
};

static void gst_mmap_src_uri_handler_init (gpointer iface, gpointer data);

G_DEFINE_TYPE_WITH_CODE (GstMmapSrc, gst_mmap_src, GST_TYPE_PUSH_SRC,
    G_IMPLEMENT_INTERFACE (GST_TYPE_URI_HANDLER,
        gst_mmap_src_uri_handler_init));
GST_ELEMENT_REGISTER_DEFINE_WITH_CODE (mmapsrc, "mmapsrc", GST_RANK_NONE,
    GST_TYPE_MMAP_SRC, GST_DEBUG_CATEGORY_INIT (gst_mmap_src_debug,
        "mmapsrc", 0, "mmapsrc element"));

static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS_ANY);

static GstStructure *gst_mmap_src_stats (GstMmapSrc * self);

static void
gst_mmap_src_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec)
{
  GstMmapSrc *self = GST_MMAP_SRC (object);

  if (prop_id == PROP_IS_LIVE) {
    gst_base_src_set_live (GST_BASE_SRC (self), g_value_get_boolean (value));
    return;
  }
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
    case PROP_TIMESTAMP_MODE:
      self->timestamp_mode = g_value_get_enum (value);
      break;
    case PROP_EOS_ON_WRITER_EOS:
      self->eos_on_writer_eos = g_value_get_boolean (value);
      break;
    case PROP_ZERO_COPY:
      self->zero_copy = g_value_get_boolean (value);
      break;
    case PROP_MAX_LEASES:
      self->max_leases = g_value_get_uint (value);
      break;
    case PROP_SPIN_TIME:
      self->spin_time = g_value_get_uint (value);
      break;
    case PROP_MAX_LAG:
      self->max_lag = g_value_get_uint (value);
      break;
    case PROP_TIMEOUT:
      self->timeout = g_value_get_uint (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_mmap_src_get_property (GObject * object, guint prop_id, GValue * value,
    GParamSpec * pspec)
{
  GstMmapSrc *self = GST_MMAP_SRC (object);

  if (prop_id == PROP_IS_LIVE) {
    g_value_set_boolean (value, gst_base_src_is_live (GST_BASE_SRC (self)));
    return;
  }
  if (prop_id == PROP_STATS) {
    g_value_take_boxed (value, gst_mmap_src_stats (self));
    return;
  }
  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_LOCATION:
      g_value_set_string (value, self->location);
      break;
    case PROP_TIMESTAMP_MODE:
      g_value_set_enum (value, self->timestamp_mode);
      break;
    case PROP_EOS_ON_WRITER_EOS:
      g_value_set_boolean (value, self->eos_on_writer_eos);
      break;
    case PROP_ZERO_COPY:
      g_value_set_boolean (value, self->zero_copy);
      break;
    case PROP_MAX_LEASES:
      g_value_set_uint (value, self->max_leases);
      break;
    case PROP_SPIN_TIME:
      g_value_set_uint (value, self->spin_time);
      break;
    case PROP_MAX_LAG:
      g_value_set_uint (value, self->max_lag);
      break;
    case PROP_TIMEOUT:
      g_value_set_uint (value, self->timeout);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static GstStructure *
gst_mmap_src_stats (GstMmapSrc * self)
{
  MmapRingReaderStats st = { 0 };
  guint64 last, sum, out, wake_last, wake_sum, publish_last;

  GST_OBJECT_LOCK (self);
  if (self->reader)
    mmapring_reader_stats (self->reader, &st);
  last = self->latency_last;
  sum = self->latency_sum;
  wake_last = self->wake_last;
  wake_sum = self->wake_sum;
  publish_last = self->publish_last;
  out = self->frames_out;
  GST_OBJECT_UNLOCK (self);
  return gst_structure_new ("mmapsrc-stats",
      "frames-read", G_TYPE_UINT64, out,
      "frames-skipped", G_TYPE_UINT64, st.frames_skipped,
      "frames-zero-copy", G_TYPE_UINT64, st.frames_leased,
      "frames-copied", G_TYPE_UINT64, out - MIN (out, st.frames_leased),
      "writers-seen", G_TYPE_UINT64, st.writers_seen,
      "latency-last-us", G_TYPE_DOUBLE, last / 1000.0,
      "latency-average-us", G_TYPE_DOUBLE, out ? sum / 1000.0 / out : 0.0,
      "wake-last-us", G_TYPE_DOUBLE, wake_last / 1000.0,
      "wake-average-us", G_TYPE_DOUBLE, out ? wake_sum / 1000.0 / out : 0.0,
      "publish-last-ns", G_TYPE_UINT64, publish_last, NULL);
}

static gboolean
gst_mmap_src_start (GstBaseSrc * bsrc)
{
  GstMmapSrc *self = GST_MMAP_SRC (bsrc);
  MmapRingReader *reader;
  MmapRingError err;
  guint max_lag, max_leases, spin;

  GST_OBJECT_LOCK (self);
  self->path = g_strdup (self->location);
  self->mode = self->timestamp_mode;
  self->follow_eos = self->eos_on_writer_eos;
  self->use_zero_copy = self->zero_copy;
  self->timeout_ns = (guint64) self->timeout * GST_SECOND;
  max_lag = self->max_lag;
  max_leases = self->max_leases;
  spin = self->spin_time;
  self->latency_last = self->latency_sum = self->frames_out = 0;
  self->wake_last = self->wake_sum = 0;
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
  reader = mmapring_reader_new (self->path, &err);
  if (!reader) {
    GST_MMAP_ELEMENT_ERROR (self, FALSE, &err);
    g_clear_pointer (&self->path, g_free);
    return FALSE;
  }
  mmapring_reader_set_max_lag (reader, max_lag);
  mmapring_reader_set_zero_copy (reader, self->use_zero_copy, max_leases);
  mmapring_reader_set_spin (reader, (guint64) spin * 1000);
  GST_OBJECT_LOCK (self);
  self->reader = reader;
  GST_OBJECT_UNLOCK (self);
  self->waiting_since = gst_mmap_monotonic_now ();
  self->warned = FALSE;
  self->skipped_unposted = self->skipped_posted_at = 0;
  self->pending_headers = g_ptr_array_new_with_free_func ((GDestroyNotify)
      gst_buffer_unref);
  return TRUE;
}

static gboolean
gst_mmap_src_stop (GstBaseSrc * bsrc)
{
  GstMmapSrc *self = GST_MMAP_SRC (bsrc);
  MmapRingReaderStats st = { 0 };
  MmapRingReader *reader;

  GST_OBJECT_LOCK (self);
  reader = self->reader;
  self->reader = NULL;
  gst_clear_caps (&self->caps);
  GST_OBJECT_UNLOCK (self);
  if (reader) {
    mmapring_reader_stats (reader, &st);
    /* Leases downstream still holds stay valid until it frees them. */
    mmapring_reader_free (reader);
  }
  if (self->pool) {
    gst_buffer_pool_set_active (self->pool, FALSE);
    gst_clear_object (&self->pool);
  }
  gst_clear_caps (&self->file_caps);
  g_clear_pointer (&self->path, g_free);
  g_clear_pointer (&self->sticky_replayed, g_bytes_unref);
  g_clear_pointer (&self->pending_headers, g_ptr_array_unref);
  g_clear_pointer (&self->stream_id, g_free);
  GST_OBJECT_LOCK (self);
  g_queue_clear_full (&self->events, (GDestroyNotify) gst_event_unref);
  GST_OBJECT_UNLOCK (self);
  GST_DEBUG_OBJECT (self, "stopped: %" G_GUINT64_FORMAT " frames read, %"
      G_GUINT64_FORMAT " skipped", st.frames_read, st.frames_skipped);
  return TRUE;
}

static gboolean
gst_mmap_src_unlock (GstBaseSrc * bsrc)
{
  GstMmapSrc *self = GST_MMAP_SRC (bsrc);

  GST_OBJECT_LOCK (self);
  if (self->reader)
    mmapring_reader_interrupt (self->reader);
  GST_OBJECT_UNLOCK (self);
  return TRUE;
}

static gboolean
gst_mmap_src_unlock_stop (GstBaseSrc * bsrc)
{
  GstMmapSrc *self = GST_MMAP_SRC (bsrc);

  GST_OBJECT_LOCK (self);
  if (self->reader)
    mmapring_reader_resume (self->reader);
  GST_OBJECT_UNLOCK (self);
  return TRUE;
}

static void
gst_mmap_src_post (GstMmapSrc * self, GstStructure * s)
{
  gst_element_post_message (GST_ELEMENT (self),
      gst_message_new_element (GST_OBJECT (self), s));
}

/* --- events and stream headers from the writer --- */

static void
gst_mmap_src_push_stream_start (GstMmapSrc * self, GstEvent * ev)
{
  const gchar *id;

  gst_event_parse_stream_start (ev, &id);
  /* Once: the sticky area and the first frame may both carry it. */
  if (!g_strcmp0 (id, self->stream_id)) {
    gst_event_unref (ev);
    return;
  }
  g_free (self->stream_id);
  self->stream_id = g_strdup (id);
  self->pushing_own = TRUE;
  gst_pad_push_event (GST_BASE_SRC_PAD (self), ev);
  self->pushing_own = FALSE;
}

/* stream-start goes out at once (before the caps that follow it); the
 * other events wait in our queue for the buffer they preceded: by then
 * the segment is out, so they come after it, and GstBaseSrc's own queue
 * would drop sticky custom events and never flush before EOS. */
static void
gst_mmap_src_replay_event (GstMmapSrc * self, GstEvent * ev)
{
  GST_DEBUG_OBJECT (self, "writer's event %" GST_PTR_FORMAT, ev);
  if (GST_EVENT_TYPE (ev) == GST_EVENT_STREAM_START) {
    gst_mmap_src_push_stream_start (self, ev);
    return;
  }
  GST_OBJECT_LOCK (self);
  g_queue_push_tail (&self->events, ev);
  GST_OBJECT_UNLOCK (self);
}

/* On our source pad: the writer's events go out just before the next
 * buffer, buffer list or EOS; GstBaseSrc's own stream-start (a random
 * stream id) is replaced by the writer's. */
static GstPadProbeReturn
gst_mmap_src_probe (GstPad * pad, GstPadProbeInfo * info, gpointer data)
{
  GstMmapSrc *self = data;
  GstEvent *ev;

  if (info->type & GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM) {
    ev = GST_PAD_PROBE_INFO_EVENT (info);
    if (GST_EVENT_TYPE (ev) == GST_EVENT_STREAM_START && !self->pushing_own)
      return GST_PAD_PROBE_DROP;
    if (GST_EVENT_TYPE (ev) != GST_EVENT_EOS)
      return GST_PAD_PROBE_OK;
  }
  for (;;) {
    GST_OBJECT_LOCK (self);
    ev = g_queue_pop_head (&self->events);
    GST_OBJECT_UNLOCK (self);
    if (!ev)
      break;
    gst_pad_push_event (pad, ev);
  }
  return GST_PAD_PROBE_OK;
}

static void
gst_mmap_src_replay_record (GstMmapSrc * self, const MmapRingRecord * rec)
{
  GstEvent *ev = gst_mmap_event_from_record (rec);
  if (ev)
    gst_mmap_src_replay_event (self, ev);
}

static void
gst_mmap_src_replay_records (GstMmapSrc * self, const guint8 * p, guint32 size)
{
  MmapRingRecord rec;
  guint32 at = 0;
  GstEvent *ev;

  while (mmapring_records_next (p, size, &at, &rec))
    if ((ev = gst_mmap_event_from_record (&rec)))
      gst_mmap_src_replay_event (self, ev);
}

static GstBuffer *
header_buffer (const MmapRingRecord * rec)
{
  MmapRingValue v, key;
  guint32 at = 0;
  guint64 flags = GST_BUFFER_FLAG_HEADER;
  GstBuffer *buf = NULL;

  if (!mmapring_value_next (rec->body, rec->size, &at, &v) ||
      v.type != MMAPRING_VALUE_MAP)
    return NULL;
  while (mmapring_value_next (rec->body, rec->size, &at, &key) &&
      key.type == MMAPRING_VALUE_STRING &&
      mmapring_value_next (rec->body, rec->size, &at, &v)) {
    if (key.size == 5 && !memcmp (key.data, "flags", 5) &&
        v.type == MMAPRING_VALUE_UINT)
      flags = v.u;
    else if (key.size == 4 && !memcmp (key.data, "data", 4) &&
        v.type == MMAPRING_VALUE_BYTES && !buf)
      buf = gst_buffer_new_memdup (v.data, v.size);
  }
  if (buf)
    GST_BUFFER_FLAGS (buf) = (flags & GST_MMAP_BUFFER_FLAGS) |
        GST_BUFFER_FLAG_HEADER;
  return buf;
}

/* What a reader that joins (or comes back after a gap) must get first:
 * the writer's stream-start and tags, and (joining) its stream headers.
 * Only what changed since they were last replayed. */
static void
gst_mmap_src_replay_sticky (GstMmapSrc * self, gboolean joining)
{
  guint32 size, at = 0;
  const guint8 *p = mmapring_reader_sticky (self->reader, &size);
  MmapRingRecord rec;
  GstBuffer *hb;

  if (!size)
    return;
  if (!joining && self->sticky_replayed &&
      g_bytes_get_size (self->sticky_replayed) == size &&
      !memcmp (g_bytes_get_data (self->sticky_replayed, NULL), p, size))
    return;
  g_clear_pointer (&self->sticky_replayed, g_bytes_unref);
  self->sticky_replayed = g_bytes_new (p, size);
  p = g_bytes_get_data (self->sticky_replayed, NULL);
  while (mmapring_records_next (p, size, &at, &rec)) {
    if (rec.type == MMAPRING_RECORD_HEADER_BUFFER) {
      if (joining && (hb = header_buffer (&rec)))
        g_ptr_array_add (self->pending_headers, hb);
      continue;
    }
    if (!joining && rec.type == MMAPRING_RECORD_STREAM_START)
      continue;                 /* the same stream goes on */
    if ((rec.type == MMAPRING_RECORD_STREAM_START ||
            rec.type == MMAPRING_RECORD_TAGS))
      gst_mmap_src_replay_record (self, &rec);
  }
}

/* The library found a file with a live writer: its caps are what we
 * negotiate at its first frame. */
static gboolean
gst_mmap_src_new_file (GstMmapSrc * self)
{
  const MmapRingFileInfo *fi = mmapring_reader_file (self->reader);
  GstCaps *caps = gst_caps_from_string (fi->caps);
  MmapRingVideoLayout layout;

  if (!caps || !gst_caps_is_fixed (caps)) {
    GST_ELEMENT_ERROR (self, RESOURCE, OPEN_READ,
        ("%s: the writer's caps are not valid fixed caps: \"%s\"", self->path,
            fi->caps), ("location: %s", self->path));
    gst_clear_caps (&caps);
    return FALSE;
  }
  self->file_is_video =
      gst_structure_has_name (gst_caps_get_structure (caps, 0), "video/x-raw")
      && gst_video_info_from_caps (&self->file_vinfo, caps);
  if (self->file_is_video &&
      GST_VIDEO_INFO_SIZE (&self->file_vinfo) > fi->slot_capacity) {
    GST_ELEMENT_ERROR (self, RESOURCE, OPEN_READ,
        ("%s: slots of %" G_GUINT64_FORMAT " bytes cannot hold frames of "
            "%" G_GSIZE_FORMAT " bytes (%s)", self->path, fi->slot_capacity,
            GST_VIDEO_INFO_SIZE (&self->file_vinfo), fi->caps),
        ("location: %s", self->path));
    gst_caps_unref (caps);
    return FALSE;
  }
  self->file_layout_known = mmapring_video_layout (fi->caps, &layout) ==
      MMAPRING_OK;
  gst_caps_take (&self->file_caps, caps);
  self->waiting_since = 0;
  self->warned = FALSE;
  if (fi->new_writer) {
    GST_INFO_OBJECT (self, "writer %016" G_GINT64_MODIFIER "x (pid %u%s) on "
        "%s, caps %s", fi->writer_id, fi->writer_pid, fi->writer_pid_local ?
        "" : " in another PID namespace", self->path, fi->caps);
    gst_mmap_src_post (self, gst_structure_new ("mmapsrc-writer",
            "location", G_TYPE_STRING, self->path,
            "writer-id", G_TYPE_UINT64, fi->writer_id,
            "pid", G_TYPE_UINT, fi->writer_pid,
            "pid-local", G_TYPE_BOOLEAN, fi->writer_pid_local,
            "caps", GST_TYPE_CAPS, self->file_caps, NULL));
  }
  if (self->use_zero_copy && !fi->registered)
    GST_INFO_OBJECT (self, "no reader entry in %s (read-only, or table "
        "full): copying frames", self->path);
  if (fi->new_writer) {
    g_ptr_array_set_size (self->pending_headers, 0);
    gst_mmap_src_replay_sticky (self, TRUE);
  }
  return TRUE;
}

static void
gst_mmap_src_waiting (GstMmapSrc * self, const MmapRingError * err)
{
  if (!self->waiting_since)
    self->waiting_since = gst_mmap_monotonic_now ();
  GST_INFO_OBJECT (self, "waiting for a writer: %s", err->message);
  gst_mmap_src_post (self, gst_structure_new ("mmapsrc-waiting",
          "location", G_TYPE_STRING, self->path,
          "reason", G_TYPE_STRING, err->message, NULL));
}

/* How long the library may wait before our own timers are due (the
 * warning, the timeout); -1 when none is. */
static gint64
gst_mmap_src_wait_budget (GstMmapSrc * self)
{
  guint64 now, due = G_MAXUINT64;

  if (!self->waiting_since)
    return -1;
  if (!self->warned)
    due = self->waiting_since + WAIT_WARNING_NS;
  if (self->timeout_ns)
    due = MIN (due, self->waiting_since + self->timeout_ns);
  if (due == G_MAXUINT64)
    return -1;
  now = gst_mmap_monotonic_now ();
  return due > now ? (gint64) (due - now) : 0;
}

/* FALSE: the timeout is over (an error was posted). */
static gboolean
gst_mmap_src_timers (GstMmapSrc * self)
{
  guint64 waited;
  const gchar *why;

  if (!self->waiting_since)
    return TRUE;
  waited = gst_mmap_monotonic_now () - self->waiting_since;
  why = mmapring_reader_waiting_reason (self->reader);
  if (self->timeout_ns && waited >= self->timeout_ns) {
    GST_ELEMENT_ERROR (self, RESOURCE, NOT_FOUND,
        ("No writer at %s after %u s: %s", self->path,
            (guint) (self->timeout_ns / GST_SECOND), why),
        ("timeout property: %u s", (guint) (self->timeout_ns / GST_SECOND)));
    return FALSE;
  }
  if (!self->warned && waited >= WAIT_WARNING_NS) {
    self->warned = TRUE;
    GST_ELEMENT_WARNING (self, RESOURCE, NOT_FOUND,
        ("Still no writer at %s after %u s: %s", self->path,
            (guint) (waited / GST_SECOND), why),
        ("mmapsrc waits for a writer for ever unless its timeout property "
            "is set"));
  }
  return TRUE;
}

/* Counts frames this reader lost and tells the application, which can
 * watch for `mmapsrc-skipped` with gst-launch-1.0 -m. */
static void
gst_mmap_src_skipped (GstMmapSrc * self, guint64 lost, guint64 resume)
{
  MmapRingReaderStats st;
  guint64 now = gst_mmap_monotonic_now ();

  mmapring_reader_stats (self->reader, &st);
  /* At most ten messages a second, each with what was lost since the
   * last one: a reader that keeps losing frames must not flood the bus. */
  self->skipped_unposted += lost;
  if (now - self->skipped_posted_at < 100 * GST_MSECOND)
    return;
  lost = self->skipped_unposted;
  self->skipped_unposted = 0;
  self->skipped_posted_at = now;
  gst_mmap_src_post (self, gst_structure_new ("mmapsrc-skipped",
          "location", G_TYPE_STRING, self->path,
          "skipped", G_TYPE_UINT64, lost,
          "total", G_TYPE_UINT64, st.frames_skipped,
          "resume-frame", G_TYPE_UINT64, resume, NULL));
}

static void
gst_mmap_src_stamp (GstMmapSrc * self, GstBuffer * buf,
    const MmapRingFrame * fr)
{
  GstClockTime pts = fr->pts, dts = fr->dts;

  switch (self->mode) {
    case GST_MMAP_SRC_TIMESTAMP_WRITER:
      break;
    case GST_MMAP_SRC_TIMESTAMP_RUNNING_TIME:
      pts = gst_mmap_monotonic_to_running_time (GST_ELEMENT (self),
          fr->pts_monotonic_ns != MMAP_TIME_NONE ? fr->pts_monotonic_ns :
          fr->publish_monotonic_ns);
      /* Keep the writer's PTS-DTS distance (reordered encoded streams). */
      if (GST_CLOCK_TIME_IS_VALID (pts) && GST_CLOCK_TIME_IS_VALID (fr->dts)
          && GST_CLOCK_TIME_IS_VALID (fr->pts) && fr->pts - fr->dts <= pts)
        dts = pts - (fr->pts - fr->dts);
      else
        dts = GST_CLOCK_TIME_NONE;
      break;
    case GST_MMAP_SRC_TIMESTAMP_ARRIVAL:
      pts = gst_mmap_monotonic_to_running_time (GST_ELEMENT (self),
          MMAP_TIME_NONE);
      dts = GST_CLOCK_TIME_NONE;
      break;
  }
  GST_BUFFER_PTS (buf) = pts;
  GST_BUFFER_DTS (buf) = dts;
  GST_BUFFER_DURATION (buf) = fr->duration;
  GST_BUFFER_OFFSET (buf) = fr->offset;
  GST_BUFFER_OFFSET_END (buf) = fr->offset_end;
  GST_BUFFER_FLAGS (buf) = fr->buffer_flags & GST_MMAP_BUFFER_FLAGS;
  if (fr->discont)
    GST_BUFFER_FLAG_SET (buf, GST_BUFFER_FLAG_DISCONT);
}

/* Whether the writer stored the caps' default layout. */
static gboolean
gst_mmap_src_default_layout (GstMmapSrc * self, const MmapRingFrame * fr)
{
  const GstVideoInfo *vi = &self->file_vinfo;
  guint p;

  if (fr->size != GST_VIDEO_INFO_SIZE (vi))
    return FALSE;
  /* No plane layout: the flat payload, which at this size is the caps'
   * default layout (FORMAT.md 13). */
  if (fr->n_planes == 0)
    return TRUE;
  if (fr->n_planes != GST_VIDEO_INFO_N_PLANES (vi))
    return FALSE;
  for (p = 0; p < fr->n_planes; p++)
    if (fr->plane_offset[p] != GST_VIDEO_INFO_PLANE_OFFSET (vi, p) ||
        fr->plane_stride[p] != GST_VIDEO_INFO_PLANE_STRIDE (vi, p))
      return FALSE;
  return TRUE;
}

static GstBuffer *
gst_mmap_src_alloc (GstMmapSrc * self, gsize size)
{
  GstBuffer *buf = NULL;

  /* A pool of our own: fresh multi-megabyte allocations per frame would
   * cost a page fault per page.  Rebuilt only to grow: variable-size
   * payloads would otherwise make a new pool for nearly every buffer. */
  if (!self->pool || self->pool_size < size) {
    GstStructure *config;
    if (self->pool) {
      gst_buffer_pool_set_active (self->pool, FALSE);
      gst_object_unref (self->pool);
    }
    self->pool = gst_buffer_pool_new ();
    config = gst_buffer_pool_get_config (self->pool);
    gst_buffer_pool_config_set_params (config, NULL, size, 2, 0);
    gst_buffer_pool_set_config (self->pool, config);
    gst_buffer_pool_set_active (self->pool, TRUE);
    self->pool_size = size;
  }
  if (gst_buffer_pool_acquire_buffer (self->pool, &buf, NULL) != GST_FLOW_OK)
    buf = gst_buffer_new_allocate (NULL, size, NULL);
  else if (gst_buffer_get_size (buf) != size)
    gst_buffer_resize (buf, 0, size);
  return buf;
}

/* Downstream is done with a zero-copy buffer: the slot is the writer's
 * again. */
static void
lease_done (gpointer lease)
{
  mmapring_lease_release (lease);
}

/* The frame's payload as a buffer: the slot itself under a lease, or a
 * copy.  NULL: the frame was overwritten while we read it (the library
 * counted it). */
static GstBuffer *
gst_mmap_src_payload (GstMmapSrc * self, const MmapRingFrame * fr,
    gboolean is_default)
{
  MmapRingLease *lease;
  MmapRingError err;
  MmapRingStatus st;
  GstMapInfo info;
  GstBuffer *buf;

  if (self->use_zero_copy && is_default) {
    st = mmapring_reader_lease (self->reader, &lease, &err);
    if (st == MMAPRING_OK) {
      buf = gst_buffer_new ();
      gst_buffer_append_memory (buf,
          gst_memory_new_wrapped (GST_MEMORY_FLAG_READONLY,
              (gpointer) mmapring_lease_data (lease), fr->size, 0, fr->size,
              lease, lease_done));
      return buf;
    }
    if (st == MMAPRING_ERR_LOST)
      return NULL;
  }
  buf = gst_mmap_src_alloc (self, fr->size);
  gst_buffer_map (buf, &info, GST_MAP_WRITE);
  st = mmapring_reader_copy (self->reader, info.data, info.size, &err);
  gst_buffer_unmap (buf, &info);
  if (st != MMAPRING_OK) {
    GST_DEBUG_OBJECT (self, "%s", err.message);
    gst_buffer_unref (buf);
    return NULL;
  }
  return buf;
}

/* A copy in the writer's layout, converted to the caps' default one
 * (the library checked that the writer's planes lie in the payload). */
static GstBuffer *
gst_mmap_src_to_default_layout (GstMmapSrc * self, GstBuffer * buf,
    const MmapRingFrame * fr)
{
  GstVideoInfo *vi = &self->file_vinfo, in_info = *vi;
  GstBuffer *conv = gst_buffer_new_allocate (NULL, GST_VIDEO_INFO_SIZE (vi),
      NULL);
  GstVideoFrame in, out;
  gboolean ok = FALSE;
  guint p;

  /* The row padding gst_video_frame_copy leaves alone must not be
   * whatever the heap held. */
  gst_buffer_memset (conv, 0, 0, GST_VIDEO_INFO_SIZE (vi));
  for (p = 0; p < GST_VIDEO_INFO_N_PLANES (vi); p++) {
    in_info.offset[p] = fr->plane_offset[p];
    in_info.stride[p] = fr->plane_stride[p];
  }
  in_info.size = fr->size;
  if (gst_video_frame_map (&in, &in_info, buf, GST_MAP_READ)) {
    if (gst_video_frame_map (&out, vi, conv, GST_MAP_WRITE)) {
      ok = gst_video_frame_copy (&out, &in);
      gst_video_frame_unmap (&out);
    }
    gst_video_frame_unmap (&in);
  }
  gst_buffer_unref (buf);
  if (!ok)
    gst_clear_buffer (&conv);
  return conv;
}

/* Makes sure downstream has the caps of the file the frame is from. */
static gboolean
gst_mmap_src_update_caps (GstMmapSrc * self)
{
  GstCaps *peer;
  gboolean same;

  GST_OBJECT_LOCK (self);
  same = self->caps && gst_caps_is_equal (self->caps, self->file_caps);
  GST_OBJECT_UNLOCK (self);
  if (same)
    return TRUE;

  GST_INFO_OBJECT (self, "caps from the writer: %" GST_PTR_FORMAT,
      self->file_caps);
  GST_OBJECT_LOCK (self);
  gst_caps_replace (&self->caps, self->file_caps);
  GST_OBJECT_UNLOCK (self);
  /* Ask first: a refused caps event only shows later, as basesrc's
   * "not-negotiated" with no word of what the writer sends. */
  if (gst_pad_peer_query_accept_caps (GST_BASE_SRC_PAD (self),
          self->file_caps) &&
      gst_base_src_set_caps (GST_BASE_SRC (self), self->file_caps))
    return TRUE;
  peer = gst_pad_peer_query_caps (GST_BASE_SRC_PAD (self), NULL);
  GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
      ("Downstream does not accept the caps of the writer of %s.",
          self->path),
      ("The writer's caps: %" GST_PTR_FORMAT "; downstream accepts: %"
          GST_PTR_FORMAT, self->file_caps, peer));
  gst_clear_caps (&peer);
  return FALSE;
}

/* Joining: the stream headers, then the first (key)frame, in one list. */
static void
gst_mmap_src_submit_with_headers (GstMmapSrc * self, GstBuffer * buf)
{
  GstBufferList *list = gst_buffer_list_new ();
  guint i;

  for (i = 0; i < self->pending_headers->len; i++) {
    GstBuffer *hb = g_ptr_array_index (self->pending_headers, i);
    GST_BUFFER_PTS (hb) = GST_BUFFER_PTS (buf);
    GST_BUFFER_DTS (hb) = GST_BUFFER_DTS (buf);
    if (i == 0)
      GST_BUFFER_FLAG_SET (hb, GST_BUFFER_FLAG_DISCONT);
    gst_buffer_list_add (list, gst_buffer_ref (hb));
  }
  g_ptr_array_set_size (self->pending_headers, 0);
  GST_BUFFER_FLAG_UNSET (buf, GST_BUFFER_FLAG_DISCONT);
  gst_buffer_list_add (list, buf);
  gst_base_src_submit_buffer_list (GST_BASE_SRC (self), list);
}

/* A FRAME event: *outbuf, or a list submitted (*submitted), or NULL
 * when there is nothing to push. */
static GstFlowReturn
gst_mmap_src_frame (GstMmapSrc * self, const MmapRingFrame * fr,
    GstBuffer ** outbuf, gboolean * submitted)
{
  gboolean is_default = TRUE;
  GstBuffer *buf;
  guint64 latency;

  if (fr->skipped) {
    gst_mmap_src_skipped (self, fr->skipped, fr->seq);
    /* Events rode on the frames we lost: catch up on tags. */
    gst_mmap_src_replay_sticky (self, FALSE);
  }
  gst_mmap_src_replay_records (self, fr->meta, fr->meta_size);
  if (fr->frame_flags & MMAP_FRAME_FLAG_NO_BUFFER)
    return GST_FLOW_OK;
  if (self->file_is_video) {
    is_default = gst_mmap_src_default_layout (self, fr);
    if (!is_default && !self->file_layout_known) {
      GST_ELEMENT_ERROR (self, STREAM, FORMAT,
          ("%s: frame %" G_GUINT64_FORMAT " is not in the caps' default "
              "layout, and its format's planes cannot be checked here",
              self->path, fr->seq), ("caps %" GST_PTR_FORMAT, self->file_caps));
      return GST_FLOW_ERROR;
    }
  }
  if (!(buf = gst_mmap_src_payload (self, fr, is_default)))
    return GST_FLOW_OK;
  if (!is_default && !(buf = gst_mmap_src_to_default_layout (self, buf, fr)))
    return GST_FLOW_OK;
  gst_mmap_src_stamp (self, buf, fr);
  if (fr->meta_size)
    gst_mmap_buffer_add_metas (buf, fr->meta, fr->meta_size);
  /* A writer that sent no stream-start (the C API, Python): one of our
   * own, before the caps, as downstream expects. */
  if (!self->stream_id) {
    gchar *id = gst_pad_create_stream_id (GST_BASE_SRC_PAD (self),
        GST_ELEMENT (self), self->path);
    gst_mmap_src_push_stream_start (self, gst_event_new_stream_start (id));
    g_free (id);
  }
  if (!gst_mmap_src_update_caps (self)) {
    gst_buffer_unref (buf);
    return GST_FLOW_NOT_NEGOTIATED;
  }
  latency = gst_mmap_monotonic_now () - fr->publish_monotonic_ns;
  GST_OBJECT_LOCK (self);
  self->frames_out++;
  self->latency_last = latency;
  self->latency_sum += latency;
  self->wake_last = fr->found_monotonic_ns - fr->publish_monotonic_ns;
  self->wake_sum += self->wake_last;
  self->publish_last = fr->publish_monotonic_ns;
  GST_OBJECT_UNLOCK (self);
  if (self->pending_headers->len) {
    gst_mmap_src_submit_with_headers (self, buf);
    *submitted = TRUE;
    return GST_FLOW_OK;
  }
  *outbuf = buf;
  return GST_FLOW_OK;
}

static GstFlowReturn
gst_mmap_src_create (GstPushSrc * psrc, GstBuffer ** outbuf)
{
  GstMmapSrc *self = GST_MMAP_SRC (psrc);
  MmapRingFrame fr;
  MmapRingError err;
  GstFlowReturn ret;
  gboolean submitted;

  *outbuf = NULL;
  for (;;) {
    switch (mmapring_reader_next (self->reader,
            gst_mmap_src_wait_budget (self), &fr, &err)) {
      case MMAPRING_EVENT_FRAME:
        submitted = FALSE;
        ret = gst_mmap_src_frame (self, &fr, outbuf, &submitted);
        if (ret != GST_FLOW_OK || *outbuf || submitted)
          return ret;
        break;
      case MMAPRING_EVENT_NEW_FILE:
        if (!gst_mmap_src_new_file (self))
          return GST_FLOW_ERROR;
        break;
      case MMAPRING_EVENT_WAITING:
        gst_mmap_src_waiting (self, &err);
        break;
      case MMAPRING_EVENT_EOS:
        if (self->follow_eos) {
          GST_INFO_OBJECT (self, "the writer sent EOS");
          return GST_FLOW_EOS;
        }
        break;
      case MMAPRING_EVENT_TIMEOUT:
        if (!gst_mmap_src_timers (self))
          return GST_FLOW_ERROR;
        break;
      case MMAPRING_EVENT_INTERRUPTED:
        return GST_FLOW_FLUSHING;
      case MMAPRING_EVENT_ERROR:
        GST_MMAP_ELEMENT_ERROR (self, FALSE, &err);
        return GST_FLOW_ERROR;
    }
  }
}

static GstCaps *
gst_mmap_src_get_caps (GstBaseSrc * bsrc, GstCaps * filter)
{
  GstMmapSrc *self = GST_MMAP_SRC (bsrc);
  GstCaps *caps;

  GST_OBJECT_LOCK (self);
  caps = self->caps ? gst_caps_ref (self->caps) : NULL;
  GST_OBJECT_UNLOCK (self);
  if (!caps)
    caps = gst_pad_get_pad_template_caps (GST_BASE_SRC_PAD (bsrc));
  if (filter) {
    GstCaps *tmp = gst_caps_intersect_full (filter, caps,
        GST_CAPS_INTERSECT_FIRST);
    gst_caps_unref (caps);
    caps = tmp;
  }
  return caps;
}

static gboolean
gst_mmap_src_negotiate (GstBaseSrc * bsrc)
{
  GstMmapSrc *self = GST_MMAP_SRC (bsrc);
  GstCaps *caps;
  gboolean ret = TRUE;

  /* Caps come from the writer; before it is there, nothing to agree on. */
  GST_OBJECT_LOCK (self);
  caps = self->caps ? gst_caps_ref (self->caps) : NULL;
  GST_OBJECT_UNLOCK (self);
  if (caps) {
    ret = gst_base_src_set_caps (bsrc, caps);
    gst_caps_unref (caps);
  }
  return ret;
}

static gboolean
gst_mmap_src_query (GstBaseSrc * bsrc, GstQuery * query)
{
  GstMmapSrc *self = GST_MMAP_SRC (bsrc);

  if (GST_QUERY_TYPE (query) == GST_QUERY_LATENCY) {
    GstClockTime min = 0, max = GST_CLOCK_TIME_NONE;
    gboolean live = gst_base_src_is_live (bsrc);

    /* Frames are stamped with their capture time, and reach us after the
     * writer pipeline's latency: report it so sinks wait that long. */
    GST_OBJECT_LOCK (self);
    if (self->reader && self->timestamp_mode ==
        GST_MMAP_SRC_TIMESTAMP_RUNNING_TIME)
      min = mmapring_reader_latency (self->reader);
    GST_OBJECT_UNLOCK (self);
    GST_DEBUG_OBJECT (self, "latency: live %d, min %" GST_TIME_FORMAT, live,
        GST_TIME_ARGS (min));
    gst_query_set_latency (query, live, min, max);
    return TRUE;
  }
  return GST_BASE_SRC_CLASS (gst_mmap_src_parent_class)->query (bsrc, query);
}

static void
gst_mmap_src_finalize (GObject * object)
{
  GstMmapSrc *self = GST_MMAP_SRC (object);

  g_free (self->location);
  G_OBJECT_CLASS (gst_mmap_src_parent_class)->finalize (object);
}

static void
gst_mmap_src_init (GstMmapSrc * self)
{
  self->location = g_strdup (DEFAULT_LOCATION);
  self->timestamp_mode = DEFAULT_TIMESTAMP_MODE;
  self->eos_on_writer_eos = DEFAULT_EOS_ON_WRITER_EOS;
  self->zero_copy = DEFAULT_ZERO_COPY;
  self->max_leases = DEFAULT_MAX_LEASES;
  self->spin_time = DEFAULT_SPIN_TIME;
  self->max_lag = DEFAULT_MAX_LAG;
  self->timeout = DEFAULT_TIMEOUT;
  g_queue_init (&self->events);
  gst_pad_add_probe (GST_BASE_SRC_PAD (self), GST_PAD_PROBE_TYPE_BUFFER |
      GST_PAD_PROBE_TYPE_BUFFER_LIST | GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM,
      gst_mmap_src_probe, self, NULL);
  gst_base_src_set_format (GST_BASE_SRC (self), GST_FORMAT_TIME);
  gst_base_src_set_live (GST_BASE_SRC (self), DEFAULT_IS_LIVE);
}

static void
gst_mmap_src_class_init (GstMmapSrcClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseSrcClass *bsrc_class = GST_BASE_SRC_CLASS (klass);
  GstPushSrcClass *psrc_class = GST_PUSH_SRC_CLASS (klass);

  gobject_class->set_property = gst_mmap_src_set_property;
  gobject_class->get_property = gst_mmap_src_get_property;
  gobject_class->finalize = gst_mmap_src_finalize;

  /**
   * GstMmapSrc:location:
   *
   * Path of the file an mmapsink writes.  It need not exist yet: the
   * source waits for a writer, and follows it when it restarts.
   */
  g_object_class_install_property (gobject_class, PROP_LOCATION,
      g_param_spec_string ("location", "Location",
          "Path of the shared file an mmapsink writes (may not exist yet)",
          DEFAULT_LOCATION, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  /**
   * GstMmapSrc:is-live:
   *
   * Whether to behave as a live source (the default: frames are produced
   * in PLAYING only and timestamped on the pipeline clock).  Non-live with
   * timestamp-mode=writer suits offline processing of every frame.
   */
  g_object_class_install_property (gobject_class, PROP_IS_LIVE,
      g_param_spec_boolean ("is-live", "Is live",
          "Act as a live source", DEFAULT_IS_LIVE,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  /**
   * GstMmapSrc:timestamp-mode:
   *
   * How output buffers are timestamped.  running-time (default): the
   * writer's capture time (the CLOCK_MONOTONIC instant of its PTS, or of
   * publication when it has no clock) expressed in this pipeline's running
   * time.  writer: the writer's PTS and DTS as they were.  arrival: this
   * pipeline's running time when the frame is read.
   */
  g_object_class_install_property (gobject_class, PROP_TIMESTAMP_MODE,
      g_param_spec_enum ("timestamp-mode", "Timestamp mode",
          "How output buffers are timestamped",
          GST_TYPE_MMAP_SRC_TIMESTAMP_MODE, DEFAULT_TIMESTAMP_MODE,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  /**
   * GstMmapSrc:eos-on-writer-eos:
   *
   * End the stream (EOS downstream) when the writer sends EOS.  When
   * false, the source keeps waiting for the next writer instead.
   */
  g_object_class_install_property (gobject_class, PROP_EOS_ON_WRITER_EOS,
      g_param_spec_boolean ("eos-on-writer-eos", "EOS on writer EOS",
          "Send EOS downstream when the writer ends its stream (else wait "
          "for the next writer)", DEFAULT_EOS_ON_WRITER_EOS,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));

  /**
   * GstMmapSrc:zero-copy:
   *
   * Hand downstream read-only buffers that wrap the writer's slots
   * instead of copies.  The slot is leased in the file's reader table
   * until downstream frees the buffer; the writer never rewrites a leased
   * slot, and a reader that dies loses its leases.  When no lease can be
   * had (the writer's lease limit, max-leases, a read-only file) frames
   * are copied.
   */
  g_object_class_install_property (gobject_class, PROP_ZERO_COPY,
      g_param_spec_boolean ("zero-copy", "Zero copy",
          "Output buffers that wrap the shared file's memory (else copy)",
          DEFAULT_ZERO_COPY, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  /**
   * GstMmapSrc:max-leases:
   *
   * Most zero-copy buffers this reader has downstream at once; frames
   * beyond are copied.
   */
  g_object_class_install_property (gobject_class, PROP_MAX_LEASES,
      g_param_spec_uint ("max-leases", "Max leases",
          "Most zero-copy buffers downstream at once (more are copied)",
          1, MMAP_SLOTS_MAX, DEFAULT_MAX_LEASES,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  /**
   * GstMmapSrc:spin-time:
   *
   * Poll for the next frame in a window of this many microseconds around
   * the instant the writer's period predicts, instead of sleeping through
   * it.  A sleeping reader pays a wake-up when the frame comes (tens of
   * microseconds, and on an idle virtual CPU now and then hundreds); a
   * polling one pays the window in CPU.  The window is aimed from the
   * writer's rhythm and how late this thread's timers return, and is not
   * used while publications stray from the prediction by more than half
   * of it.  0 (the default) always sleeps: on the 2-core machine of
   * bench/ that gives the lower CPU and no worse latency.
   */
  g_object_class_install_property (gobject_class, PROP_SPIN_TIME,
      g_param_spec_uint ("spin-time", "Spin time",
          "Poll for the next frame in a window of this many microseconds "
          "around its predicted time (0 = always sleep)", 0, 100000,
          DEFAULT_SPIN_TIME, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  /**
   * GstMmapSrc:max-lag:
   *
   * Most frames this reader may fall behind the writer's newest frame.
   * Further behind, it skips to the newest frame, counts what it skipped
   * and marks the buffer DISCONT.  0 (the default) allows the ring's
   * depth; 1 always outputs the freshest frame, for a consumer slower
   * than the writer (a detector at 10 fps on a 30 fps camera).  In a
   * stream with delta units a skip lands on a keyframe.
   */
  g_object_class_install_property (gobject_class, PROP_MAX_LAG,
      g_param_spec_uint ("max-lag", "Max lag",
          "Most frames behind the writer's newest before skipping to it "
          "(0 = the ring, 1 = always the freshest frame)", 0, MMAP_SLOT_LOG,
          DEFAULT_MAX_LAG, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  /**
   * GstMmapSrc:timeout:
   *
   * Seconds to wait for a writer (when there is none at the location, or
   * it went away) before posting an error, so that an application can
   * give up.  0 (the default) waits for ever; a warning is posted after
   * a few seconds either way, saying what is at the location.
   */
  g_object_class_install_property (gobject_class, PROP_TIMEOUT,
      g_param_spec_uint ("timeout", "Timeout",
          "Seconds without a writer before it is an error (0 = wait for "
          "ever)", 0, G_MAXUINT, DEFAULT_TIMEOUT,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  /**
   * GstMmapSrc:stats:
   *
   * Counters since the last start: frames-read, frames-skipped (lost
   * because this reader fell behind or the writer lapped it),
   * frames-zero-copy, frames-copied, writers-seen, and the latency from
   * the writer's publication to output, last and average, in
   * microseconds.
   */
  g_object_class_install_property (gobject_class, PROP_STATS,
      g_param_spec_boxed ("stats", "Statistics",
          "Frames read, skipped, zero-copy and copied, writers seen, latency",
          GST_TYPE_STRUCTURE, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));

  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class,
      "Memory-mapped file source", "Source",
      "Reads the buffers an mmapsink in another process publishes into a "
      "memory-mapped file, with the writer's caps (no capsfilter needed) "
      "and timestamps; waits for the writer, follows its caps changes and "
      "restarts, hands out zero-copy read-only buffers. Example: "
      "gst-launch-1.0 mmapsrc location=/dev/shm/cam ! videoconvert ! "
      "autovideosink", "gst-mmap developers");

  bsrc_class->start = GST_DEBUG_FUNCPTR (gst_mmap_src_start);
  bsrc_class->stop = GST_DEBUG_FUNCPTR (gst_mmap_src_stop);
  bsrc_class->unlock = GST_DEBUG_FUNCPTR (gst_mmap_src_unlock);
  bsrc_class->unlock_stop = GST_DEBUG_FUNCPTR (gst_mmap_src_unlock_stop);
  bsrc_class->get_caps = GST_DEBUG_FUNCPTR (gst_mmap_src_get_caps);
  bsrc_class->negotiate = GST_DEBUG_FUNCPTR (gst_mmap_src_negotiate);
  bsrc_class->query = GST_DEBUG_FUNCPTR (gst_mmap_src_query);
  psrc_class->create = GST_DEBUG_FUNCPTR (gst_mmap_src_create);

  gst_type_mark_as_plugin_api (GST_TYPE_MMAP_SRC_TIMESTAMP_MODE, 0);
}

/* --- mmap:// URIs --- */

static GstURIType
gst_mmap_src_uri_get_type (GType type)
{
  return GST_URI_SRC;
}

static const gchar *const *
gst_mmap_src_uri_get_protocols (GType type)
{
  static const gchar *protocols[] = { "mmap", NULL };
  return protocols;
}

static gchar *
gst_mmap_src_uri_get_uri (GstURIHandler * handler)
{
  GstMmapSrc *self = GST_MMAP_SRC (handler);
  gchar *uri;

  GST_OBJECT_LOCK (self);
  uri = gst_mmap_uri_from_location (self->location);
  GST_OBJECT_UNLOCK (self);
  return uri;
}

static gboolean
gst_mmap_src_uri_set_uri (GstURIHandler * handler, const gchar * uri,
    GError ** error)
{
  gboolean stopped;

  GST_OBJECT_LOCK (handler);
  stopped = gst_mmap_element_is_stopped (GST_ELEMENT (handler));
  GST_OBJECT_UNLOCK (handler);
  if (!stopped) {
    g_set_error (error, GST_URI_ERROR, GST_URI_ERROR_BAD_STATE,
        "Changing the URI of mmapsrc is only allowed in the NULL or READY "
        "state");
    return FALSE;
  }
  return gst_mmap_uri_apply (G_OBJECT (handler), uri, error);
}

static void
gst_mmap_src_uri_handler_init (gpointer iface, gpointer data)
{
  GstURIHandlerInterface *i = iface;

  i->get_type = gst_mmap_src_uri_get_type;
  i->get_protocols = gst_mmap_src_uri_get_protocols;
  i->get_uri = gst_mmap_src_uri_get_uri;
  i->set_uri = gst_mmap_src_uri_set_uri;
}

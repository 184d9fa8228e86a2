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
 * on a futex in the file between frames.
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

#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/inotify.h>
#include <gst/video/video.h>

#include "gstmmapsrc.h"
#include "gstmmapelements.h"
#include "mmapring.h"

GST_DEBUG_CATEGORY_STATIC (gst_mmap_src_debug);
#define GST_CAT_DEFAULT gst_mmap_src_debug

#define DEFAULT_LOCATION "/dev/shm/gst-mmap"
#define DEFAULT_IS_LIVE TRUE
#define DEFAULT_TIMESTAMP_MODE GST_MMAP_SRC_TIMESTAMP_RUNNING_TIME
#define DEFAULT_EOS_ON_WRITER_EOS TRUE
/* How often a waiting reader checks that its writer is still alive, and
 * how often it looks for a writer when there is no file at all. */
#define CHECK_INTERVAL_MS 100
#define DEFAULT_ZERO_COPY TRUE
#define DEFAULT_MAX_LEASES 2
#define DEFAULT_SPIN_TIME 300

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
  PROP_STATS,
};

typedef enum
{
  STEP_AGAIN,                   /* look again at once */
  STEP_FRAME,                   /* *outbuf holds a frame */
  STEP_EOS,
  STEP_ERROR,                   /* an error message was posted */
} Step;

struct _GstMmapSrc
{
  GstPushSrc parent;

  /* Properties: GST_OBJECT_LOCK.  `caps` too, for get_caps/negotiate. */
  gchar *location;
  GstMmapSrcTimestampMode timestamp_mode;
  gboolean eos_on_writer_eos;
  gboolean zero_copy;
  guint max_leases;
  guint spin_time;              /* microseconds */
  GstCaps *caps;                /* what we negotiated downstream */
  /* Counters, also GST_OBJECT_LOCK (the stats property reads them). */
  guint64 frames_read;
  guint64 frames_skipped;
  guint64 frames_zero_copy;
  guint64 writers_seen;
  guint64 latency_last;         /* ns from publication to output */
  guint64 latency_sum;

  /* wait_lock: `flushing`, and `map` being swapped, so that unlock() can
   * wake a create() asleep on the file's futex or in `poll`. */
  GMutex wait_lock;
  GstPoll *poll;                /* watches the directory while no writer */
  GstPollFD inotify;
  gint flushing;                /* also read without the lock to end a spin */
  MringMap *map;

  /* Streaming thread only; start() and stop() do not overlap it. */
  gchar *path;
  GstMmapSrcTimestampMode mode;
  gboolean follow_eos;
  gboolean writer_usable;       /* map has a live, running writer */
  GstCaps *file_caps;           /* caps of the current file */
  gboolean file_is_video;
  GstVideoInfo file_vinfo;
  guint64 writer_id;            /* 0 before the first writer */
  guint64 next_seq;             /* 0: start at the newest frame */
  guint64 last_publish;         /* publish_monotonic_ns of the last frame */
  guint64 period_ns;            /* expected time between frames, or 0 */
  guint64 skipped_unposted;     /* lost since the last mmapsrc-skipped */
  guint64 skipped_posted_at;
  guint64 spin_ns;
  gboolean discont;
  gboolean waiting_posted;
  gboolean use_zero_copy;
  guint lease_max;
  GstBufferPool *pool;
  gsize pool_size;
};

G_DEFINE_TYPE (GstMmapSrc, gst_mmap_src, GST_TYPE_PUSH_SRC);
GST_ELEMENT_REGISTER_DEFINE_WITH_CODE (mmapsrc, "mmapsrc", GST_RANK_NONE,
    GST_TYPE_MMAP_SRC, GST_DEBUG_CATEGORY_INIT (gst_mmap_src_debug,
        "mmapsrc", 0, "mmapsrc element"));

static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS_ANY);

static inline void
cpu_relax (void)
{
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause ();
#elif defined(__aarch64__)
  __asm__ __volatile__ ("yield");
#endif
}

static guint64
monotonic_ns (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (guint64) ts.tv_sec * GST_SECOND + ts.tv_nsec;
}

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
    g_warning ("mmapsrc: changing property \"%s\" is only allowed in the "
        "NULL or READY state", pspec->name);
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
    case PROP_STATS:
      g_value_take_boxed (value, gst_structure_new ("mmapsrc-stats",
              "frames-read", G_TYPE_UINT64, self->frames_read,
              "frames-skipped", G_TYPE_UINT64, self->frames_skipped,
              "frames-zero-copy", G_TYPE_UINT64, self->frames_zero_copy,
              "frames-copied", G_TYPE_UINT64,
              self->frames_read - self->frames_zero_copy,
              "writers-seen", G_TYPE_UINT64, self->writers_seen,
              "latency-last-us", G_TYPE_DOUBLE,
              self->latency_last / 1000.0,
              "latency-average-us", G_TYPE_DOUBLE, self->frames_read ?
              self->latency_sum / 1000.0 / self->frames_read : 0.0, NULL));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_mmap_src_set_map (GstMmapSrc * self, MringMap * map)
{
  MringMap *old;

  g_mutex_lock (&self->wait_lock);
  old = self->map;
  self->map = map;
  g_mutex_unlock (&self->wait_lock);
  if (old)
    mring_map_unref (old);
  self->writer_usable = FALSE;
  gst_clear_caps (&self->file_caps);
}

static void gst_mmap_src_watch_dir (GstMmapSrc * self);
static void gst_mmap_src_unwatch_dir (GstMmapSrc * self);

static gboolean
gst_mmap_src_start (GstBaseSrc * bsrc)
{
  GstMmapSrc *self = GST_MMAP_SRC (bsrc);

  GST_OBJECT_LOCK (self);
  self->path = g_strdup (self->location);
  self->mode = self->timestamp_mode;
  self->follow_eos = self->eos_on_writer_eos;
  self->use_zero_copy = self->zero_copy;
  self->lease_max = self->max_leases;
  self->spin_ns = (guint64) self->spin_time * 1000;
  self->period_ns = self->last_publish = 0;
  self->skipped_unposted = self->skipped_posted_at = 0;
  self->frames_read = self->frames_skipped = self->frames_zero_copy = 0;
  self->writers_seen = self->latency_last = self->latency_sum = 0;
  GST_OBJECT_UNLOCK (self);

  if (!self->path || !*self->path) {
    GST_ELEMENT_ERROR (self, RESOURCE, NOT_FOUND,
        ("No file location given."), ("Set the \"location\" property."));
    g_clear_pointer (&self->path, g_free);
    return FALSE;
  }
  gst_mmap_src_watch_dir (self);
  self->writer_id = 0;
  self->next_seq = 0;
  self->discont = TRUE;
  self->waiting_posted = FALSE;
  return TRUE;
}

static gboolean
gst_mmap_src_stop (GstBaseSrc * bsrc)
{
  GstMmapSrc *self = GST_MMAP_SRC (bsrc);

  gst_mmap_src_set_map (self, NULL);
  gst_mmap_src_unwatch_dir (self);
  if (self->pool) {
    gst_buffer_pool_set_active (self->pool, FALSE);
    gst_clear_object (&self->pool);
  }
  GST_OBJECT_LOCK (self);
  gst_clear_caps (&self->caps);
  GST_OBJECT_UNLOCK (self);
  g_clear_pointer (&self->path, g_free);
  GST_DEBUG_OBJECT (self, "stopped: %" G_GUINT64_FORMAT " frames read, %"
      G_GUINT64_FORMAT " skipped", self->frames_read, self->frames_skipped);
  return TRUE;
}

static gboolean
gst_mmap_src_unlock (GstBaseSrc * bsrc)
{
  GstMmapSrc *self = GST_MMAP_SRC (bsrc);

  g_mutex_lock (&self->wait_lock);
  g_atomic_int_set (&self->flushing, TRUE);
  /* mring_wake bumps the futex word before waking, so a create() that
   * read the word before we set `flushing` does not go to sleep. */
  if (self->map)
    mring_wake (self->map);
  gst_poll_set_flushing (self->poll, TRUE);
  g_mutex_unlock (&self->wait_lock);
  return TRUE;
}

static gboolean
gst_mmap_src_unlock_stop (GstBaseSrc * bsrc)
{
  GstMmapSrc *self = GST_MMAP_SRC (bsrc);

  g_mutex_lock (&self->wait_lock);
  g_atomic_int_set (&self->flushing, FALSE);
  gst_poll_set_flushing (self->poll, FALSE);
  g_mutex_unlock (&self->wait_lock);
  return TRUE;
}

static gboolean
gst_mmap_src_flushing (GstMmapSrc * self)
{
  gboolean f;
  g_mutex_lock (&self->wait_lock);
  f = self->flushing;
  g_mutex_unlock (&self->wait_lock);
  return f;
}

/* Sleeps until something is created or renamed in the location's
 * directory (inotify), CHECK_INTERVAL_MS at most, or unlock() comes. */
static void
gst_mmap_src_sleep (GstMmapSrc * self)
{
  gchar events[4096];

  gst_poll_wait (self->poll, CHECK_INTERVAL_MS * GST_MSECOND);
  if (self->inotify.fd >= 0)
    while (read (self->inotify.fd, events, sizeof (events)) > 0);
}

static void
gst_mmap_src_watch_dir (GstMmapSrc * self)
{
  gchar *dir = g_path_get_dirname (self->path);
  int fd = inotify_init1 (IN_NONBLOCK | IN_CLOEXEC);

  /* Without the watch we still look every CHECK_INTERVAL_MS. */
  if (fd >= 0 && inotify_add_watch (fd, dir, IN_CREATE | IN_MOVED_TO) < 0) {
    GST_INFO_OBJECT (self, "cannot watch %s: %s", dir, g_strerror (errno));
    close (fd);
    fd = -1;
  }
  g_free (dir);
  gst_poll_fd_init (&self->inotify);
  self->inotify.fd = fd;
  if (fd >= 0) {
    gst_poll_add_fd (self->poll, &self->inotify);
    gst_poll_fd_ctl_read (self->poll, &self->inotify, TRUE);
  }
}

static void
gst_mmap_src_unwatch_dir (GstMmapSrc * self)
{
  if (self->inotify.fd >= 0) {
    gst_poll_remove_fd (self->poll, &self->inotify);
    close (self->inotify.fd);
    self->inotify.fd = -1;
  }
}

static void
gst_mmap_src_post_waiting (GstMmapSrc * self, const gchar * reason)
{
  if (self->waiting_posted)
    return;
  self->waiting_posted = TRUE;
  GST_INFO_OBJECT (self, "waiting for a writer on %s: %s", self->path, reason);
  gst_element_post_message (GST_ELEMENT (self),
      gst_message_new_element (GST_OBJECT (self),
          gst_structure_new ("mmapsrc-waiting", "location", G_TYPE_STRING,
              self->path, "reason", G_TYPE_STRING, reason, NULL)));
}

/* Opens whatever the location names.  STEP_AGAIN with no map: nothing
 * there yet (we slept a little).  STEP_AGAIN with a map: check
 * writer_usable. */
static Step
gst_mmap_src_open (GstMmapSrc * self)
{
  GError *err = NULL;
  MringMap *m;
  GstCaps *caps = NULL;
  const MmapFileHeader *h;

  m = mring_open (self->path, &err);
  if (!m) {
    if (err->code == MRING_ERROR_NOT_FOUND) {
      gst_mmap_src_post_waiting (self, "no file at the location yet");
      g_error_free (err);
      gst_mmap_src_sleep (self);
      return STEP_AGAIN;
    }
    GST_ELEMENT_ERROR (self, RESOURCE, OPEN_READ,
        ("%s", err->message), ("location: %s", self->path));
    g_error_free (err);
    return STEP_ERROR;
  }
  h = &m->hdr;

  caps = gst_caps_from_string (h->caps);
  if (!caps || !gst_caps_is_fixed (caps)) {
    GST_ELEMENT_ERROR (self, RESOURCE, OPEN_READ,
        ("\"%s\" has caps that are not valid fixed caps: \"%s\"", self->path,
            h->caps), ("location: %s", self->path));
    goto fail;
  }
  self->file_is_video =
      gst_structure_has_name (gst_caps_get_structure (caps, 0), "video/x-raw")
      && gst_video_info_from_caps (&self->file_vinfo, caps);
  if (self->file_is_video &&
      GST_VIDEO_INFO_SIZE (&self->file_vinfo) > h->slot_capacity) {
    GST_ELEMENT_ERROR (self, RESOURCE, OPEN_READ,
        ("\"%s\": slots of %" G_GUINT64_FORMAT " bytes cannot hold frames of "
            "%" G_GSIZE_FORMAT " bytes (%s)", self->path,
            (guint64) h->slot_capacity,
            GST_VIDEO_INFO_SIZE (&self->file_vinfo), h->caps),
        ("location: %s", self->path));
    goto fail;
  }

  gst_mmap_src_set_map (self, m);
  self->file_caps = caps;
  self->writer_usable = mring_state (m) == MMAP_STATE_RUNNING &&
      mring_writer_alive (m);
  if (!self->writer_usable) {
    gst_mmap_src_post_waiting (self, "the file's writer is gone");
    return STEP_AGAIN;
  }

  if (h->writer_id == self->writer_id) {
    /* The same writer with new caps or bigger slots: frame numbers go on. */
    if (self->next_seq <= h->base_seq) {
      if (self->next_seq && self->next_seq <= h->base_seq)
        self->discont = TRUE;
      self->next_seq = h->base_seq + 1;
    }
  } else {
    /* A writer we waited for (or one that replaced ours): all of its
     * frames are new to us.  Only a reader that finds a writer already
     * running starts at its newest frame. */
    if (self->writer_id != 0 || self->waiting_posted) {
      self->next_seq = h->base_seq + 1;
      self->discont = TRUE;
    }
    GST_INFO_OBJECT (self, "writer %016" G_GINT64_MODIFIER "x (pid %u) on %s"
        ", caps %s", h->writer_id, h->writer_pid, self->path, h->caps);
    gst_element_post_message (GST_ELEMENT (self),
        gst_message_new_element (GST_OBJECT (self),
            gst_structure_new ("mmapsrc-writer", "location", G_TYPE_STRING,
                self->path, "writer-id", G_TYPE_UINT64, h->writer_id,
                "pid", G_TYPE_UINT, h->writer_pid, "caps", GST_TYPE_CAPS,
                caps, NULL)));
    self->writer_id = h->writer_id;
    GST_OBJECT_LOCK (self);
    self->writers_seen++;
    GST_OBJECT_UNLOCK (self);
  }
  if (self->use_zero_copy && !mring_reader_register (m))
    GST_INFO_OBJECT (self, "no reader entry in %s (read-only, or table "
        "full): copying frames", self->path);
  self->waiting_posted = FALSE;
  return STEP_AGAIN;

fail:
  if (caps)
    gst_caps_unref (caps);
  mring_map_unref (m);
  return STEP_ERROR;
}

/* mono (CLOCK_MONOTONIC) -> our running time, or NONE without a clock. */
static GstClockTime
gst_mmap_src_running_time (GstMmapSrc * self, guint64 mono)
{
  GstClock *clock;
  GstClockTime base, clock_now;
  gint64 rt;

  GST_OBJECT_LOCK (self);
  clock = GST_ELEMENT_CLOCK (self) ? gst_object_ref (GST_ELEMENT_CLOCK (self))
      : NULL;
  base = GST_ELEMENT_CAST (self)->base_time;
  GST_OBJECT_UNLOCK (self);
  if (!clock)
    return GST_CLOCK_TIME_NONE;
  clock_now = gst_clock_get_time (clock);
  gst_object_unref (clock);
  if (mono == MMAP_TIME_NONE)
    rt = (gint64) clock_now - (gint64) base;
  else
    rt = (gint64) mono + ((gint64) clock_now - (gint64) monotonic_ns ()) -
        (gint64) base;
  return rt < 0 ? 0 : (GstClockTime) rt;
}

static void
gst_mmap_src_stamp (GstMmapSrc * self, GstBuffer * buf, const MmapSlotDesc * d)
{
  GstClockTime pts = d->pts, dts = d->dts;

  if (GST_CLOCK_TIME_IS_VALID (d->duration) && d->duration < GST_SECOND)
    self->period_ns = d->duration;
  else if (self->last_publish && d->publish_monotonic_ns > self->last_publish
      && d->publish_monotonic_ns - self->last_publish < GST_SECOND)
    self->period_ns = d->publish_monotonic_ns - self->last_publish;
  else
    self->period_ns = 0;
  self->last_publish = d->publish_monotonic_ns;
  switch (self->mode) {
    case GST_MMAP_SRC_TIMESTAMP_WRITER:
      break;
    case GST_MMAP_SRC_TIMESTAMP_RUNNING_TIME:
      pts = gst_mmap_src_running_time (self,
          d->pts_monotonic_ns != MMAP_TIME_NONE ? d->pts_monotonic_ns :
          d->publish_monotonic_ns);
      /* Keep the writer's PTS-DTS distance (reordered encoded streams). */
      if (GST_CLOCK_TIME_IS_VALID (pts) && GST_CLOCK_TIME_IS_VALID (d->dts)
          && GST_CLOCK_TIME_IS_VALID (d->pts) && d->pts - d->dts <= pts)
        dts = pts - (d->pts - d->dts);
      else
        dts = GST_CLOCK_TIME_NONE;
      break;
    case GST_MMAP_SRC_TIMESTAMP_ARRIVAL:
      pts = gst_mmap_src_running_time (self, MMAP_TIME_NONE);
      dts = GST_CLOCK_TIME_NONE;
      break;
  }
  GST_BUFFER_PTS (buf) = pts;
  GST_BUFFER_DTS (buf) = dts;
  GST_BUFFER_DURATION (buf) = d->duration;
  GST_BUFFER_OFFSET (buf) = d->offset;
  GST_BUFFER_OFFSET_END (buf) = d->offset_end;
  GST_BUFFER_FLAGS (buf) = d->buffer_flags & (GST_BUFFER_FLAG_LIVE |
      GST_BUFFER_FLAG_DISCONT | GST_BUFFER_FLAG_DELTA_UNIT |
      GST_BUFFER_FLAG_HEADER | GST_BUFFER_FLAG_GAP |
      GST_BUFFER_FLAG_CORRUPTED | GST_BUFFER_FLAG_MARKER |
      GST_BUFFER_FLAG_DROPPABLE);
}

/* Checks that the writer's plane layout stays inside the payload, and
 * tells whether it is the caps' default layout. */
static gboolean
gst_mmap_src_check_layout (GstMmapSrc * self, const MmapSlotDesc * d,
    gboolean * is_default)
{
  const GstVideoInfo *vi = &self->file_vinfo;
  guint p, n = GST_VIDEO_INFO_N_PLANES (vi);

  *is_default = d->size == GST_VIDEO_INFO_SIZE (vi) && d->n_planes == n;
  if (d->n_planes != n || n > MMAP_MAX_PLANES)
    return FALSE;
  for (p = 0; p < n; p++) {
    gint comp[GST_VIDEO_MAX_COMPONENTS];
    guint64 rows, need;

    gst_video_format_info_component (vi->finfo, p, comp);
    rows = GST_VIDEO_INFO_COMP_HEIGHT (vi, comp[0]);
    if (d->plane_stride[p] < GST_VIDEO_INFO_PLANE_STRIDE (vi, p))
      return FALSE;
    need = d->plane_offset[p] + rows * (guint64) d->plane_stride[p];
    if (need > d->size)
      return FALSE;
    if (d->plane_offset[p] != GST_VIDEO_INFO_PLANE_OFFSET (vi, p) ||
        d->plane_stride[p] != GST_VIDEO_INFO_PLANE_STRIDE (vi, p))
      *is_default = FALSE;
  }
  return TRUE;
}

static GstBuffer *
gst_mmap_src_alloc (GstMmapSrc * self, gsize size)
{
  GstBuffer *buf = NULL;

  /* A pool of our own: fresh multi-megabyte allocations per frame would
   * cost a page fault per page. */
  /* Rebuilt only to grow: variable-size payloads would otherwise make a
   * new pool for nearly every buffer. */
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

/* Copies frame `seq` out of the ring.  STEP_AGAIN: lost (overwritten
 * while we looked). */
typedef struct
{
  MringMap *map;
  guint idx;
} LeaseRef;

/* Downstream is done with a zero-copy buffer: the slot is the writer's
 * again. */
static void
lease_ref_free (gpointer data)
{
  LeaseRef *ref = data;

  mring_unlease (ref->map, ref->idx);
  g_atomic_int_add (&ref->map->leases_out, -1);
  mring_map_unref (ref->map);
  g_free (ref);
}

static Step
gst_mmap_src_read (GstMmapSrc * self, guint64 seq, GstBuffer ** outbuf,
    gboolean * zero_copy)
{
  MringMap *m = self->map;
  MmapSlotDesc d;
  MringReadResult r;
  GstBuffer *buf;
  GstMapInfo info;
  guint idx;
  guint64 lock;
  gboolean is_default = TRUE;

  r = mring_read_begin (m, seq, &d, &idx, &lock);
  if (r == MRING_READ_OK && self->file_is_video &&
      !gst_mmap_src_check_layout (self, &d, &is_default))
    r = MRING_READ_INVALID;
  if (r == MRING_READ_LOST)
    return STEP_AGAIN;
  if (r == MRING_READ_INVALID) {
    /* Recheck: a slot being rewritten can look invalid for a moment. */
    if (!mring_read_end (m, idx, lock) || mring_write_seq (m) > seq +
        m->hdr.slot_count / 2)
      return STEP_AGAIN;
    GST_ELEMENT_ERROR (self, STREAM, DECODE,
        ("\"%s\": frame %" G_GUINT64_FORMAT " has a size or plane layout "
            "outside its slot (size %" G_GUINT64_FORMAT ", capacity %"
            G_GUINT64_FORMAT ")", self->path, seq, (guint64) d.size,
            (guint64) m->hdr.slot_capacity), ("location: %s", self->path));
    return STEP_ERROR;
  }

  if (self->use_zero_copy && is_default && m->reader_idx >= 0 &&
      (guint) g_atomic_int_get (&m->leases_out) < self->lease_max &&
      mring_lease (m, idx, lock)) {
    LeaseRef *ref = g_new (LeaseRef, 1);

    g_atomic_int_inc (&m->leases_out);
    ref->map = mring_map_ref (m);
    ref->idx = idx;
    buf = gst_buffer_new ();
    gst_buffer_append_memory (buf,
        gst_memory_new_wrapped (GST_MEMORY_FLAG_READONLY,
            mring_slot_data (m, idx), d.size, 0, d.size, ref, lease_ref_free));
    gst_mmap_src_stamp (self, buf, &d);
    *outbuf = buf;
    *zero_copy = TRUE;
    return STEP_FRAME;
  }

  buf = gst_mmap_src_alloc (self, d.size);
  gst_buffer_map (buf, &info, GST_MAP_WRITE);
  memcpy (info.data, mring_slot_data (m, idx), d.size);
  gst_buffer_unmap (buf, &info);
  if (!mring_read_end (m, idx, lock)) {
    /* The writer lapped us during the copy: the copy may be torn. */
    gst_buffer_unref (buf);
    return STEP_AGAIN;
  }

  if (self->file_is_video && !is_default) {
    /* Give downstream the caps' default layout, whatever the writer's. */
    GstVideoInfo *vi = &self->file_vinfo;
    GstVideoInfo in_info = *vi;
    GstVideoFrame in, out;
    GstBuffer *conv = gst_buffer_new_allocate (NULL, GST_VIDEO_INFO_SIZE (vi),
        NULL);
    guint p;
    gboolean ok = FALSE;

    for (p = 0; p < GST_VIDEO_INFO_N_PLANES (vi); p++) {
      in_info.offset[p] = d.plane_offset[p];
      in_info.stride[p] = d.plane_stride[p];
    }
    in_info.size = d.size;
    if (gst_video_frame_map (&in, &in_info, buf, GST_MAP_READ)) {
      if (gst_video_frame_map (&out, vi, conv, GST_MAP_WRITE)) {
        ok = gst_video_frame_copy (&out, &in);
        gst_video_frame_unmap (&out);
      }
      gst_video_frame_unmap (&in);
    }
    gst_buffer_unref (buf);
    if (!ok) {
      gst_buffer_unref (conv);
      return STEP_AGAIN;
    }
    buf = conv;
  }

  gst_mmap_src_stamp (self, buf, &d);
  *outbuf = buf;
  return STEP_FRAME;
}

/* Makes sure downstream has the caps of the file the next frame is from. */
static gboolean
gst_mmap_src_update_caps (GstMmapSrc * self)
{
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
  if (!gst_base_src_set_caps (GST_BASE_SRC (self), self->file_caps)) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, (NULL),
        ("Downstream does not accept the writer's caps %" GST_PTR_FORMAT,
            self->file_caps));
    return FALSE;
  }
  return TRUE;
}

/* Counts frames this reader lost and tells the application, which can
 * watch for `mmapsrc-skipped` with gst-launch-1.0 -m. */
static void
gst_mmap_src_skipped (GstMmapSrc * self, guint64 lost, guint64 resume)
{
  guint64 total, now = monotonic_ns ();

  GST_OBJECT_LOCK (self);
  self->frames_skipped += lost;
  total = self->frames_skipped;
  GST_OBJECT_UNLOCK (self);
  /* At most ten messages a second, each with what was lost since the
   * last one: a reader that keeps losing frames must not flood the bus. */
  self->skipped_unposted += lost;
  if (now - self->skipped_posted_at < 100 * GST_MSECOND)
    return;
  lost = self->skipped_unposted;
  self->skipped_unposted = 0;
  self->skipped_posted_at = now;
  gst_element_post_message (GST_ELEMENT (self),
      gst_message_new_element (GST_OBJECT (self),
          gst_structure_new ("mmapsrc-skipped", "location", G_TYPE_STRING,
              self->path, "skipped", G_TYPE_UINT64, lost, "total",
              G_TYPE_UINT64, total, "resume-frame", G_TYPE_UINT64, resume,
              NULL)));
}

static Step
gst_mmap_src_step (GstMmapSrc * self, GstBuffer ** outbuf)
{
  MringMap *m = self->map;
  const MmapFileHeader *h;
  guint64 w;
  guint32 f, state;
  gboolean zero_copy = FALSE;
  Step s;

  if (!m)
    return gst_mmap_src_open (self);
  h = &m->hdr;

  if (mring_broken (m)) {
    /* Truncated under us (the SIGBUS guard caught it).  While its live
     * writer has not replaced it yet, wait; then whatever is at the
     * location gets validated afresh. */
    if (!mring_path_changed (m) && mring_writer_alive (m)) {
      GST_DEBUG_OBJECT (self, "%s was truncated, waiting for its writer to "
          "replace it", self->path);
      gst_mmap_src_sleep (self);
      return STEP_AGAIN;
    }
    GST_WARNING_OBJECT (self, "%s was truncated while mapped, reopening",
        self->path);
    gst_mmap_src_set_map (self, NULL);
    return STEP_AGAIN;
  }

  if (!self->writer_usable) {
    /* A leftover of a writer that stopped or died: a new writer marks it
     * REPLACED and wakes us; the timeout covers one that does not. */
    f = mring_futex (m);
    if (gst_mmap_src_flushing (self))
      return STEP_AGAIN;
    mring_wait (m, f, CHECK_INTERVAL_MS * GST_MSECOND);
    if (mring_state (m) == MMAP_STATE_REPLACED || mring_path_changed (m))
      gst_mmap_src_set_map (self, NULL);
    return STEP_AGAIN;
  }

  w = mring_write_seq (m);
  if (w < h->base_seq) {
    GST_ELEMENT_ERROR (self, STREAM, DECODE,
        ("\"%s\": write_seq %" G_GUINT64_FORMAT " went below base_seq %"
            G_GUINT64_FORMAT, self->path, w, (guint64) h->base_seq),
        ("location: %s", self->path));
    return STEP_ERROR;
  }
  if (w - h->base_seq > G_MAXUINT64 / 4) {
    GST_ELEMENT_ERROR (self, STREAM, DECODE,
        ("\"%s\": write_seq %" G_GUINT64_FORMAT " is out of range",
            self->path, w), ("location: %s", self->path));
    return STEP_ERROR;
  }
  if (self->next_seq == 0)
    self->next_seq = w > h->base_seq ? w : h->base_seq + 1;
  else if (self->next_seq > w + 1) {
    /* write_seq went back (another process wrote to the file): follow
     * the writer from where it really is. */
    GST_WARNING_OBJECT (self, "%s: write_seq went back to %" G_GUINT64_FORMAT
        ", resynchronising", self->path, w);
    self->next_seq = w + 1;
    self->discont = TRUE;
  }

  if (self->next_seq <= w) {
    /* Frames older than the ring's depth are gone: go to the newest. */
    if (w - self->next_seq >= h->slot_count) {
      guint64 lost = w - self->next_seq;
      GST_DEBUG_OBJECT (self, "%" G_GUINT64_FORMAT " frames behind the "
          "writer, skipping to frame %" G_GUINT64_FORMAT, lost, w);
      gst_mmap_src_skipped (self, lost, w);
      self->next_seq = w;
      self->discont = TRUE;
    }
    s = gst_mmap_src_read (self, self->next_seq, outbuf, &zero_copy);
    /* Once more: a writer backing off a slot another reader leased
     * moves its lock without touching the frame. */
    if (s == STEP_AGAIN)
      s = gst_mmap_src_read (self, self->next_seq, outbuf, &zero_copy);
    if (s == STEP_AGAIN) {
      GST_DEBUG_OBJECT (self, "frame %" G_GUINT64_FORMAT " was overwritten "
          "while read", self->next_seq);
      gst_mmap_src_skipped (self, 1, self->next_seq + 1);
      self->next_seq++;
      self->discont = TRUE;
      return STEP_AGAIN;
    }
    if (s != STEP_FRAME)
      return s;
    if (!gst_mmap_src_update_caps (self)) {
      gst_buffer_unref (*outbuf);
      *outbuf = NULL;
      return STEP_ERROR;
    }
    if (self->discont) {
      GST_BUFFER_FLAG_SET (*outbuf, GST_BUFFER_FLAG_DISCONT);
      self->discont = FALSE;
    }
    self->next_seq++;
    GST_OBJECT_LOCK (self);
    self->frames_read++;
    if (zero_copy)
      self->frames_zero_copy++;
    self->latency_last = monotonic_ns () - self->last_publish;
    self->latency_sum += self->latency_last;
    GST_OBJECT_UNLOCK (self);
    return STEP_FRAME;
  }

  /* Nothing new. */
  if (mring_eos (m) && mring_write_seq (m) == w) {
    if (self->follow_eos) {
      GST_INFO_OBJECT (self, "the writer sent EOS after frame %"
          G_GUINT64_FORMAT, w);
      return STEP_EOS;
    }
  }
  state = mring_state (m);
  if (state == MMAP_STATE_REPLACED) {
    if (mring_write_seq (m) != w)
      return STEP_AGAIN;        /* frames published just before */
    GST_DEBUG_OBJECT (self, "file replaced, reopening %s", self->path);
    gst_mmap_src_set_map (self, NULL);
    return STEP_AGAIN;
  }
  if (state == MMAP_STATE_GONE || (mring_eos (m) && !self->follow_eos)) {
    if (mring_write_seq (m) != w)
      return STEP_AGAIN;
    if (state == MMAP_STATE_GONE) {
      GST_INFO_OBJECT (self, "the writer stopped");
      gst_mmap_src_set_map (self, NULL);
      return STEP_AGAIN;
    }
  }

  f = mring_futex (m);
  if (mring_write_seq (m) != w || gst_mmap_src_flushing (self))
    return STEP_AGAIN;

  /* Predictive spinning: waking a sleeping process costs tens of
   * microseconds (more on an idle virtual CPU), so when the next frame is
   * due within spin_ns, poll write_seq instead of sleeping.  Bounded to
   * 2 * spin_ns around the expected instant; outside it we sleep. */
  if (self->spin_ns && self->period_ns && self->last_publish) {
    guint64 expect = self->last_publish + self->period_ns;
    guint64 now = monotonic_ns ();

    if (now + self->spin_ns < expect) {
      mring_wait (m, f, MIN (expect - self->spin_ns - now,
              CHECK_INTERVAL_MS * GST_MSECOND));
      return STEP_AGAIN;
    }
    if (now < expect + self->spin_ns) {
      guint n = 0;
      while (mring_write_seq (m) == w && !g_atomic_int_get (&self->flushing)
          && (++n & 63 || monotonic_ns () < expect + self->spin_ns))
        cpu_relax ();
      if (mring_write_seq (m) != w)
        return STEP_AGAIN;
      /* Late frame: stop predicting from this one. */
      self->last_publish = 0;
    }
  }

  mring_wait (m, f, CHECK_INTERVAL_MS * GST_MSECOND);
  if (mring_write_seq (m) == w && mring_futex (m) == f &&
      !mring_writer_alive (m)) {
    GST_INFO_OBJECT (self, "the writer of %s died", self->path);
    gst_mmap_src_post_waiting (self, "the writer died");
    self->writer_usable = FALSE;
  }
  return STEP_AGAIN;
}

static GstFlowReturn
gst_mmap_src_create (GstPushSrc * psrc, GstBuffer ** outbuf)
{
  GstMmapSrc *self = GST_MMAP_SRC (psrc);

  *outbuf = NULL;
  for (;;) {
    if (gst_mmap_src_flushing (self))
      return GST_FLOW_FLUSHING;
    switch (gst_mmap_src_step (self, outbuf)) {
      case STEP_AGAIN:
        continue;
      case STEP_FRAME:
        return GST_FLOW_OK;
      case STEP_EOS:
        return GST_FLOW_EOS;
      case STEP_ERROR:
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
    g_mutex_lock (&self->wait_lock);
    if (self->map && self->mode == GST_MMAP_SRC_TIMESTAMP_RUNNING_TIME) {
      guint64 l = mring_latency (self->map);
      if (GST_CLOCK_TIME_IS_VALID (l))
        min = l;
    }
    g_mutex_unlock (&self->wait_lock);
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
  g_mutex_clear (&self->wait_lock);
  gst_poll_free (self->poll);
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
  g_mutex_init (&self->wait_lock);
  self->poll = gst_poll_new (TRUE);
  gst_poll_fd_init (&self->inotify);
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
   * When the next frame is due (from the frame duration or the last
   * interval) within this many microseconds, poll for it instead of
   * sleeping on the futex, at most twice this long per frame.  Trades CPU
   * for the tens to hundreds of microseconds a sleeping process takes to
   * wake up (bench/: p50 latency 50 instead of about 120 microseconds, for
   * about 1% of a core at 30 fps).  Only around a frame that is due: a
   * reader whose writer publishes nothing sleeps in the kernel.  0 never
   * spins.
   */
  g_object_class_install_property (gobject_class, PROP_SPIN_TIME,
      g_param_spec_uint ("spin-time", "Spin time",
          "Poll instead of sleeping when the next frame is due within this "
          "many microseconds (0 = always sleep)", 0, 100000,
          DEFAULT_SPIN_TIME, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
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
      "Memory-mapped file source", "Source/Video",
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

/* What mmapsink and mmapsrc share: the state check for properties, the
 * buffer flags that travel, clock conversions, and turning the library's
 * status codes into GStreamer errors. */
#ifndef GST_MMAP_UTILS_H
#define GST_MMAP_UTILS_H

#include <gst/gst.h>
#include <mmapring.h>
#include <mmapring-format.h>

G_BEGIN_DECLS
/* The GstBufferFlags a frame carries across. */
#define GST_MMAP_BUFFER_FLAGS (GST_BUFFER_FLAG_LIVE | GST_BUFFER_FLAG_DISCONT \
    | GST_BUFFER_FLAG_DELTA_UNIT | GST_BUFFER_FLAG_HEADER | GST_BUFFER_FLAG_GAP \
    | GST_BUFFER_FLAG_CORRUPTED | GST_BUFFER_FLAG_MARKER \
    | GST_BUFFER_FLAG_DROPPABLE)
/* Properties that the streaming thread copies at start() may change only
 * in NULL or READY (GST_PARAM_MUTABLE_READY is only a label).  Call with
 * the object lock held. */
    gboolean gst_mmap_element_is_stopped (GstElement * element);

/* CLOCK_MONOTONIC now, in nanoseconds. */
guint64 gst_mmap_monotonic_now (void);

/* The CLOCK_MONOTONIC instant at which the element's clock reads running
 * time `rt`, or MMAP_TIME_NONE without a clock. */
guint64 gst_mmap_running_time_to_monotonic (GstElement * element,
    GstClockTime rt);

/* The element's running time at CLOCK_MONOTONIC instant `mono` (now for
 * MMAP_TIME_NONE), clamped at 0; NONE without a clock. */
GstClockTime gst_mmap_monotonic_to_running_time (GstElement * element,
    guint64 mono);

/* mmap:// URIs: the path is the location (mmap:///dev/shm/cam), and a
 * query sets the element's other properties (?max-lag=1&timeout=5).
 * Sets them on `element` (which must be in NULL or READY). */
gboolean gst_mmap_uri_apply (GObject * element, const gchar * uri,
    GError ** error);
/* The URI of `location`, or NULL. */
gchar *gst_mmap_uri_from_location (const gchar * location);

/* The GStreamer error for a library status. */
void gst_mmap_error_from_status (MmapRingStatus status, gboolean writing,
    GQuark * domain, gint * code);

#define GST_MMAP_ELEMENT_ERROR(el, writing, e) G_STMT_START {              \
  GQuark _d; gint _c;                                                        \
  gst_mmap_error_from_status ((e)->status, writing, &_d, &_c);               \
  gst_element_message_full (GST_ELEMENT (el), GST_MESSAGE_ERROR, _d, _c,     \
      g_strdup ((e)->message), g_strdup_printf ("%s (%s)",                  \
          mmapring_status_name ((e)->status), (e)->sys_errno ?               \
          g_strerror ((e)->sys_errno) : "no system error"),                  \
      __FILE__, GST_FUNCTION, __LINE__);                                     \
} G_STMT_END

G_END_DECLS
#endif

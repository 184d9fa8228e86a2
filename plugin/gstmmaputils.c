#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <time.h>
#include "gstmmaputils.h"

gboolean
gst_mmap_element_is_stopped (GstElement * element)
{
  return GST_STATE (element) <= GST_STATE_READY &&
      (GST_STATE_PENDING (element) == GST_STATE_VOID_PENDING ||
      GST_STATE_PENDING (element) <= GST_STATE_READY);
}

guint64
gst_mmap_monotonic_now (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (guint64) ts.tv_sec * GST_SECOND + ts.tv_nsec;
}

/* The element's clock and base time, or FALSE without a clock. */
static gboolean
clock_and_base (GstElement * element, GstClockTime * clock_now,
    GstClockTime * base)
{
  GstClock *clock;

  GST_OBJECT_LOCK (element);
  clock = GST_ELEMENT_CLOCK (element) ?
      gst_object_ref (GST_ELEMENT_CLOCK (element)) : NULL;
  *base = element->base_time;
  GST_OBJECT_UNLOCK (element);
  if (!clock)
    return FALSE;
  *clock_now = gst_clock_get_time (clock);
  gst_object_unref (clock);
  return TRUE;
}

guint64
gst_mmap_running_time_to_monotonic (GstElement * element, GstClockTime rt)
{
  GstClockTime clock_now, base;
  guint64 mono_now = gst_mmap_monotonic_now ();

  if (!GST_CLOCK_TIME_IS_VALID (rt) || !clock_and_base (element, &clock_now,
          &base))
    return MMAP_TIME_NONE;
  /* mono = clock time of rt + (mono now - clock now) */
  return (guint64) ((gint64) (rt + base) + (gint64) mono_now -
      (gint64) clock_now);
}

GstClockTime
gst_mmap_monotonic_to_running_time (GstElement * element, guint64 mono)
{
  GstClockTime clock_now, base;
  gint64 rt;

  if (!clock_and_base (element, &clock_now, &base))
    return GST_CLOCK_TIME_NONE;
  if (mono == MMAP_TIME_NONE)
    rt = (gint64) clock_now - (gint64) base;
  else
    rt = (gint64) mono + ((gint64) clock_now -
        (gint64) gst_mmap_monotonic_now ()) - (gint64) base;
  return rt < 0 ? 0 : (GstClockTime) rt;
}

void
gst_mmap_error_from_status (MmapRingStatus status, gboolean writing,
    GQuark * domain, gint * code)
{
  *domain = GST_RESOURCE_ERROR;
  switch (status) {
    case MMAPRING_ERR_NOT_FOUND:
      *code = GST_RESOURCE_ERROR_NOT_FOUND;
      break;
    case MMAPRING_ERR_BUSY:
      *code = GST_RESOURCE_ERROR_BUSY;
      break;
    case MMAPRING_ERR_NO_SPACE:
      *code = GST_RESOURCE_ERROR_NO_SPACE_LEFT;
      break;
    case MMAPRING_ERR_PERMISSION:
      *code = GST_RESOURCE_ERROR_NOT_AUTHORIZED;
      break;
    case MMAPRING_ERR_INVALID:
    case MMAPRING_ERR_LOST:
      if (!writing) {
        *domain = GST_STREAM_ERROR;
        *code = GST_STREAM_ERROR_DECODE;
        break;
      }
      /* fall through */
    default:
      *code = writing ? GST_RESOURCE_ERROR_OPEN_WRITE :
          GST_RESOURCE_ERROR_OPEN_READ;
      break;
  }
}

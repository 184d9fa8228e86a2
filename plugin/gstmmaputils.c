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

gchar *
gst_mmap_uri_from_location (const gchar * location)
{
  GstUri *u;
  gchar *s;

  if (!location || location[0] != '/')
    return NULL;
  u = gst_uri_new ("mmap", NULL, NULL, GST_URI_NO_PORT, location, NULL, NULL);
  s = gst_uri_to_string (u);
  gst_uri_unref (u);
  return s;
}

static gboolean
bad_uri (GError ** error, const gchar * uri, const gchar * why)
{
  g_set_error (error, GST_URI_ERROR, GST_URI_ERROR_BAD_URI,
      "%s: %s (an mmap URI names the file's absolute path, e.g. "
      "mmap:///dev/shm/cam?max-lag=1)", uri, why);
  return FALSE;
}

gboolean
gst_mmap_uri_apply (GObject * element, const gchar * uri, GError ** error)
{
  GstUri *u = uri ? gst_uri_from_string (uri) : NULL;
  GHashTable *query;
  GHashTableIter it;
  const gchar *host, *path;
  gpointer k, v;
  gboolean ok = FALSE;

  if (!u || g_strcmp0 (gst_uri_get_scheme (u), "mmap") != 0) {
    ok = bad_uri (error, uri ? uri : "(null)", "not an mmap:// URI");
    goto out;
  }
  host = gst_uri_get_host (u);
  path = gst_uri_get_path (u);
  if (host && *host && g_ascii_strcasecmp (host, "localhost") != 0) {
    ok = bad_uri (error, uri, "the file is on this machine: no host");
    goto out;
  }
  if (!path || path[0] != '/' || g_str_has_suffix (path, "/")) {
    ok = bad_uri (error, uri, "no file path");
    goto out;
  }
  /* Check every parameter before setting anything. */
  query = gst_uri_get_query_table (u);
  if (query) {
    g_hash_table_iter_init (&it, query);
    while (g_hash_table_iter_next (&it, &k, &v)) {
      GParamSpec *ps = g_object_class_find_property (G_OBJECT_GET_CLASS
          (element), k);
      if (!ps || !(ps->flags & G_PARAM_WRITABLE) || !v ||
          g_str_equal (k, "location") || g_str_equal (k, "name")) {
        gchar *why = g_strdup_printf ("\"%s\" is not a property it can set",
            (const gchar *) k);
        ok = bad_uri (error, uri, why);
        g_free (why);
        g_hash_table_unref (query);
        goto out;
      }
    }
  }
  g_object_set (element, "location", path, NULL);
  if (query) {
    g_hash_table_iter_init (&it, query);
    while (g_hash_table_iter_next (&it, &k, &v))
      gst_util_set_object_arg (element, k, v);
    g_hash_table_unref (query);
  }
  ok = TRUE;
out:
  if (u)
    gst_uri_unref (u);
  return ok;
}

/* Metas, tags and events to and from the file's records.
 *
 * A GstStructure is written as a STRUCTURE value whose fields keep their
 * types where the value encoding has them (integers, doubles, booleans,
 * strings, buffers as bytes, fractions, lists, arrays, structures); any
 * other type travels as its GType name and gst_value_serialize() text,
 * and a field that cannot be serialized is left out.  Integers come back
 * as gint/guint when they fit, else gint64/guint64; tags are converted
 * to the type their tag is registered with. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <string.h>
#include <gst/video/video.h>

#include "gstmmapmeta.h"

GST_DEBUG_CATEGORY_EXTERN (gst_mmap_sink_debug);
#define GST_CAT_DEFAULT gst_mmap_sink_debug

/* --- GValue -> value --- */

static void put_structure (MmapRingRecords * r, const GstStructure * s);

static gboolean
put_gvalue (MmapRingRecords * r, const GValue * v)
{
  GType t = G_VALUE_TYPE (v);
  guint i, n;

  switch (G_TYPE_FUNDAMENTAL (t)) {
    case G_TYPE_INT:
      mmapring_value_int (r, g_value_get_int (v));
      return TRUE;
    case G_TYPE_INT64:
      mmapring_value_int (r, g_value_get_int64 (v));
      return TRUE;
    case G_TYPE_LONG:
      mmapring_value_int (r, g_value_get_long (v));
      return TRUE;
    case G_TYPE_UINT:
      mmapring_value_uint (r, g_value_get_uint (v));
      return TRUE;
    case G_TYPE_UINT64:
      mmapring_value_uint (r, g_value_get_uint64 (v));
      return TRUE;
    case G_TYPE_ULONG:
      mmapring_value_uint (r, g_value_get_ulong (v));
      return TRUE;
    case G_TYPE_UCHAR:
      mmapring_value_uint (r, g_value_get_uchar (v));
      return TRUE;
    case G_TYPE_BOOLEAN:
      mmapring_value_bool (r, g_value_get_boolean (v));
      return TRUE;
    case G_TYPE_DOUBLE:
      mmapring_value_double (r, g_value_get_double (v));
      return TRUE;
    case G_TYPE_FLOAT:
      mmapring_value_double (r, g_value_get_float (v));
      return TRUE;
    case G_TYPE_STRING:
      if (!g_value_get_string (v))
        return FALSE;
      mmapring_value_string (r, g_value_get_string (v));
      return TRUE;
    default:
      break;
  }
  if (t == GST_TYPE_FRACTION) {
    mmapring_value_fraction (r, gst_value_get_fraction_numerator (v),
        gst_value_get_fraction_denominator (v));
    return TRUE;
  }
  if (t == GST_TYPE_BUFFER && gst_value_get_buffer (v)) {
    GstMapInfo map;
    if (!gst_buffer_map (gst_value_get_buffer (v), &map, GST_MAP_READ))
      return FALSE;
    mmapring_value_bytes (r, map.data, map.size);
    gst_buffer_unmap (gst_value_get_buffer (v), &map);
    return TRUE;
  }
  if (t == GST_TYPE_STRUCTURE && gst_value_get_structure (v)) {
    put_structure (r, gst_value_get_structure (v));
    return TRUE;
  }
  if (t == GST_TYPE_LIST || t == GST_TYPE_ARRAY) {
    gboolean list = t == GST_TYPE_LIST;
    n = list ? gst_value_list_get_size (v) : gst_value_array_get_size (v);
    if (list)
      mmapring_value_begin_list (r);
    else
      mmapring_value_begin_array (r);
    for (i = 0; i < n; i++)
      if (!put_gvalue (r, list ? gst_value_list_get_value (v, i) :
              gst_value_array_get_value (v, i)))
        r->overflow = 1;        /* a list must not lose items */
    mmapring_value_end (r);
    return TRUE;
  }
  {
    gchar *text = gst_value_serialize (v);
    if (!text)
      return FALSE;
    mmapring_value_serialized (r, g_type_name (t), text);
    g_free (text);
    return TRUE;
  }
}

static gboolean
put_field (GQuark field, const GValue * v, gpointer r)
{
  /* A field that cannot be written is left out; the key is written only
   * with a value. */
  MmapRingRecords save = *(MmapRingRecords *) r;

  mmapring_value_key (r, g_quark_to_string (field));
  if (!put_gvalue (r, v))
    *(MmapRingRecords *) r = save;
  return TRUE;
}

static void
put_structure (MmapRingRecords * r, const GstStructure * s)
{
  mmapring_value_begin_structure (r, gst_structure_get_name (s));
  gst_structure_foreach (s, put_field, r);
  mmapring_value_end (r);
}

/* --- value -> GValue --- */

typedef struct
{
  const guint8 *p;
  guint32 size;
  guint32 at;
  gint depth;
} Cursor;

static gboolean get_gvalue (Cursor * c, const MmapRingValue * v, GValue * out);

/* GstStructure's rule for names: a letter, then letters, digits and
 * "/-_.:+" (gst_structure_new_empty refuses others). */
static gboolean
valid_name (const gchar * name)
{
  if (!g_ascii_isalpha (*name))
    return FALSE;
  for (name++; *name; name++)
    if (!g_ascii_isalnum (*name) && !strchr ("/-_.:+", *name))
      return FALSE;
  return TRUE;
}

static gchar *
dup_bytes (const guint8 * data, guint32 size)
{
  return g_strndup ((const gchar *) data, size);
}

/* The entries of a map or structure (after its opening item) into s. */
static gboolean
get_fields (Cursor * c, GstStructure * s)
{
  MmapRingValue key, v;

  if (++c->depth > 32)
    return FALSE;
  for (;;) {
    gchar *name;
    GValue gv = G_VALUE_INIT;

    if (!mmapring_value_next (c->p, c->size, &c->at, &key))
      return FALSE;
    if (key.type == MMAPRING_VALUE_END)
      break;
    if (key.type != MMAPRING_VALUE_STRING ||
        !mmapring_value_next (c->p, c->size, &c->at, &v))
      return FALSE;
    name = dup_bytes (key.data, key.size);
    if (get_gvalue (c, &v, &gv)) {
      if (*name)
        gst_structure_take_value (s, name, &gv);
      else
        g_value_unset (&gv);
    } else if (c->at > c->size) {
      g_free (name);
      return FALSE;
    }
    g_free (name);
  }
  c->depth--;
  return TRUE;
}

static gboolean
get_items (Cursor * c, GValue * out, gboolean list)
{
  MmapRingValue v;

  if (++c->depth > 32)
    return FALSE;
  g_value_init (out, list ? GST_TYPE_LIST : GST_TYPE_ARRAY);
  for (;;) {
    GValue gv = G_VALUE_INIT;
    if (!mmapring_value_next (c->p, c->size, &c->at, &v)) {
      g_value_unset (out);
      return FALSE;
    }
    if (v.type == MMAPRING_VALUE_END)
      break;
    if (!get_gvalue (c, &v, &gv)) {
      g_value_unset (out);
      return FALSE;
    }
    if (list)
      gst_value_list_append_and_take_value (out, &gv);
    else
      gst_value_array_append_and_take_value (out, &gv);
  }
  c->depth--;
  return TRUE;
}

static GstStructure *
get_structure (Cursor * c, const MmapRingValue * v)
{
  gchar *name = dup_bytes (v->data, v->size);
  GstStructure *s = valid_name (name) ? gst_structure_new_empty (name) : NULL;

  g_free (name);
  if (!s)
    return NULL;
  if (!get_fields (c, s)) {
    gst_structure_free (s);
    return NULL;
  }
  return s;
}

/* FALSE: the item could not be made a GValue (*out unset); containers
 * are consumed either way unless the bytes are malformed. */
static gboolean
get_gvalue (Cursor * c, const MmapRingValue * v, GValue * out)
{
  switch (v->type) {
    case MMAPRING_VALUE_INT:
      if (v->i >= G_MININT && v->i <= G_MAXINT) {
        g_value_init (out, G_TYPE_INT);
        g_value_set_int (out, (gint) v->i);
      } else {
        g_value_init (out, G_TYPE_INT64);
        g_value_set_int64 (out, v->i);
      }
      return TRUE;
    case MMAPRING_VALUE_UINT:
      if (v->u <= G_MAXUINT) {
        g_value_init (out, G_TYPE_UINT);
        g_value_set_uint (out, (guint) v->u);
      } else {
        g_value_init (out, G_TYPE_UINT64);
        g_value_set_uint64 (out, v->u);
      }
      return TRUE;
    case MMAPRING_VALUE_DOUBLE:
      g_value_init (out, G_TYPE_DOUBLE);
      g_value_set_double (out, v->d);
      return TRUE;
    case MMAPRING_VALUE_BOOL:
      g_value_init (out, G_TYPE_BOOLEAN);
      g_value_set_boolean (out, v->i != 0);
      return TRUE;
    case MMAPRING_VALUE_STRING:
      g_value_init (out, G_TYPE_STRING);
      g_value_take_string (out, dup_bytes (v->data, v->size));
      return TRUE;
    case MMAPRING_VALUE_BYTES:
      g_value_init (out, GST_TYPE_BUFFER);
      g_value_take_boxed (out, gst_buffer_new_memdup (v->data, v->size));
      return TRUE;
    case MMAPRING_VALUE_FRACTION:
      g_value_init (out, GST_TYPE_FRACTION);
      gst_value_set_fraction (out, (gint) v->i, (gint) MIN (v->u, G_MAXINT));
      return TRUE;
    case MMAPRING_VALUE_LIST:
    case MMAPRING_VALUE_ARRAY:
      return get_items (c, out, v->type == MMAPRING_VALUE_LIST);
    case MMAPRING_VALUE_MAP:
    case MMAPRING_VALUE_STRUCTURE:{
      GstStructure *s;
      if (v->type == MMAPRING_VALUE_MAP) {
        s = gst_structure_new_empty ("map");
        if (!get_fields (c, s)) {
          gst_structure_free (s);
          s = NULL;
        }
      } else {
        s = get_structure (c, v);
      }
      if (!s) {
        c->at = c->size + 1;    /* malformed: stop everything */
        return FALSE;
      }
      g_value_init (out, GST_TYPE_STRUCTURE);
      g_value_take_boxed (out, s);
      return TRUE;
    }
    case MMAPRING_VALUE_SERIALIZED:{
      gchar *tn = dup_bytes (v->type_name, v->type_size);
      gchar *text = dup_bytes (v->data, v->size);
      GType t = g_type_from_name (tn);
      gboolean ok = FALSE;
      if (t) {
        g_value_init (out, t);
        ok = gst_value_deserialize (out, text);
        if (!ok)
          g_value_unset (out);
      }
      g_free (tn);
      g_free (text);
      return ok;
    }
    default:
      c->at = c->size + 1;
      return FALSE;
  }
}

/* The body of a record, a map or structure, read into a structure. */
static GstStructure *
body_structure (const MmapRingRecord * rec)
{
  Cursor c = { rec->body, rec->size, 0, 0 };
  MmapRingValue v;
  GValue gv = G_VALUE_INIT;
  GstStructure *s;

  if (!mmapring_value_next (c.p, c.size, &c.at, &v) ||
      (v.type != MMAPRING_VALUE_MAP && v.type != MMAPRING_VALUE_STRUCTURE) ||
      !get_gvalue (&c, &v, &gv) || c.at != c.size) {
    if (G_IS_VALUE (&gv))
      g_value_unset (&gv);
    GST_WARNING ("a record of type %u is malformed: left out", rec->type);
    return NULL;
  }
  s = g_value_dup_boxed (&gv);
  g_value_unset (&gv);
  return s;
}

/* --- metas --- */

static void
key_uint (MmapRingRecords * r, const gchar * k, guint64 v)
{
  mmapring_value_key (r, k);
  mmapring_value_uint (r, v);
}

static void
key_int (MmapRingRecords * r, const gchar * k, gint64 v)
{
  mmapring_value_key (r, k);
  mmapring_value_int (r, v);
}

static void
key_string (MmapRingRecords * r, const gchar * k, const gchar * v)
{
  mmapring_value_key (r, k);
  mmapring_value_string (r, v);
}

static gboolean
add_meta (MmapRingRecords * r, GstMeta * meta)
{
  GType api = meta->info->api;

  if (api == GST_VIDEO_REGION_OF_INTEREST_META_API_TYPE) {
    GstVideoRegionOfInterestMeta *m = (GstVideoRegionOfInterestMeta *) meta;
    GList *l;
    mmapring_records_begin (r, MMAPRING_RECORD_ROI);
    mmapring_value_begin_map (r);
    key_string (r, "roi-type", g_quark_to_string (m->roi_type));
    key_int (r, "id", m->id);
    key_int (r, "parent-id", m->parent_id);
    key_uint (r, "x", m->x);
    key_uint (r, "y", m->y);
    key_uint (r, "w", m->w);
    key_uint (r, "h", m->h);
    mmapring_value_key (r, "params");
    mmapring_value_begin_list (r);
    for (l = m->params; l; l = l->next)
      put_structure (r, l->data);
    mmapring_value_end (r);
    mmapring_value_end (r);
  } else if (api == GST_REFERENCE_TIMESTAMP_META_API_TYPE) {
    GstReferenceTimestampMeta *m = (GstReferenceTimestampMeta *) meta;
    gchar *caps = m->reference ? gst_caps_to_string (m->reference) : NULL;
    mmapring_records_begin (r, MMAPRING_RECORD_REFERENCE_TIMESTAMP);
    mmapring_value_begin_map (r);
    key_string (r, "reference", caps ? caps : "");
    key_uint (r, "timestamp", m->timestamp);
    key_uint (r, "duration", m->duration);
    mmapring_value_end (r);
    g_free (caps);
  } else if (api == GST_VIDEO_TIME_CODE_META_API_TYPE) {
    GstVideoTimeCode *tc = &((GstVideoTimeCodeMeta *) meta)->tc;
    mmapring_records_begin (r, MMAPRING_RECORD_TIMECODE);
    mmapring_value_begin_map (r);
    key_uint (r, "fps-n", tc->config.fps_n);
    key_uint (r, "fps-d", tc->config.fps_d);
    key_uint (r, "flags", tc->config.flags);
    key_uint (r, "hours", tc->hours);
    key_uint (r, "minutes", tc->minutes);
    key_uint (r, "seconds", tc->seconds);
    key_uint (r, "frames", tc->frames);
    key_uint (r, "field-count", tc->field_count);
    if (tc->config.latest_daily_jam) {
      gchar *jam = g_date_time_format_iso8601 (tc->config.latest_daily_jam);
      if (jam)
        key_string (r, "latest-daily-jam", jam);
      g_free (jam);
    }
    mmapring_value_end (r);
  } else if (api == GST_VIDEO_CAPTION_META_API_TYPE) {
    GstVideoCaptionMeta *m = (GstVideoCaptionMeta *) meta;
    mmapring_records_begin (r, MMAPRING_RECORD_CAPTION);
    mmapring_value_begin_map (r);
    key_uint (r, "caption-type", m->caption_type);
    mmapring_value_key (r, "data");
    mmapring_value_bytes (r, m->data, m->size);
    mmapring_value_end (r);
  } else if (gst_meta_info_is_custom (meta->info)) {
    GstStructure *s = gst_custom_meta_get_structure ((GstCustomMeta *) meta);
    mmapring_records_begin (r, MMAPRING_RECORD_CUSTOM_META);
    mmapring_value_begin_map (r);
    key_string (r, "name", g_type_name (meta->info->type));
    mmapring_value_key (r, "structure");
    put_structure (r, s);
    mmapring_value_end (r);
  } else {
    return TRUE;                /* not carried: left out */
  }
  return mmapring_records_end (r);
}

guint
gst_mmap_records_add_metas (MmapRingRecords * r, GstBuffer * buf)
{
  gpointer state = NULL;
  GstMeta *meta;
  guint lost = 0;

  while ((meta = gst_buffer_iterate_meta (buf, &state)))
    if (!add_meta (r, meta))
      lost++;
  return lost;
}

/* Reads the fields of a record's map body. */
static GstStructure *
record_map (const MmapRingRecord * rec)
{
  return body_structure (rec);
}

static guint
field_uint (const GstStructure * s, const gchar * k)
{
  guint v = 0;
  gst_structure_get_uint (s, k, &v);
  return v;
}

static guint64
field_uint64 (const GstStructure * s, const gchar * k)
{
  const GValue *v = gst_structure_get_value (s, k);
  if (v && G_VALUE_HOLDS_UINT64 (v))
    return g_value_get_uint64 (v);
  if (v && G_VALUE_HOLDS_UINT (v))
    return g_value_get_uint (v);
  return GST_CLOCK_TIME_NONE;
}

static gint
field_int (const GstStructure * s, const gchar * k, gint dflt)
{
  gint v = dflt;
  gst_structure_get_int (s, k, &v);
  return v;
}

static void
add_roi (GstBuffer * buf, const GstStructure * s)
{
  const gchar *type = gst_structure_get_string (s, "roi-type");
  const GValue *params = gst_structure_get_value (s, "params");
  GstVideoRegionOfInterestMeta *m;
  guint i;

  m = gst_buffer_add_video_region_of_interest_meta (buf, type ? type : "",
      field_uint (s, "x"), field_uint (s, "y"), field_uint (s, "w"),
      field_uint (s, "h"));
  if (!m)
    return;
  m->id = field_int (s, "id", 0);
  m->parent_id = field_int (s, "parent-id", -1);
  if (params && GST_VALUE_HOLDS_LIST (params))
    for (i = 0; i < gst_value_list_get_size (params); i++) {
      const GValue *p = gst_value_list_get_value (params, i);
      if (GST_VALUE_HOLDS_STRUCTURE (p))
        gst_video_region_of_interest_meta_add_param (m,
            gst_structure_copy (gst_value_get_structure (p)));
    }
}

static void
add_timecode (GstBuffer * buf, const GstStructure * s)
{
  const gchar *jam_s = gst_structure_get_string (s, "latest-daily-jam");
  GDateTime *jam = jam_s ? g_date_time_new_from_iso8601 (jam_s, NULL) : NULL;

  gst_buffer_add_video_time_code_meta_full (buf, field_uint (s, "fps-n"),
      field_uint (s, "fps-d"), jam, field_uint (s, "flags"),
      field_uint (s, "hours"), field_uint (s, "minutes"),
      field_uint (s, "seconds"), field_uint (s, "frames"),
      field_uint (s, "field-count"));
  if (jam)
    g_date_time_unref (jam);
}

static gboolean
copy_field (GQuark field, const GValue * v, gpointer dst)
{
  gst_structure_id_set_value (dst, field, v);
  return TRUE;
}

static void
add_custom (GstBuffer * buf, const GstStructure * s)
{
  const gchar *name = gst_structure_get_string (s, "name");
  const GstStructure *fields = NULL;
  const GValue *v = gst_structure_get_value (s, "structure");
  GstCustomMeta *m;

  if (v && GST_VALUE_HOLDS_STRUCTURE (v))
    fields = gst_value_get_structure (v);
  if (!name || !fields)
    return;
  /* Registered by name: if this process does not know it yet, register
   * it as a plain custom meta, so that its structure arrives. */
  if (!gst_meta_get_info (name)) {
    static const gchar *tags[] = { NULL };
    gst_meta_register_custom (name, tags, NULL, NULL, NULL);
  }
  m = gst_buffer_add_custom_meta (buf, name);
  if (m)
    gst_structure_foreach (fields, copy_field,
        gst_custom_meta_get_structure (m));
}

void
gst_mmap_buffer_add_metas (GstBuffer * buf, const guint8 * records,
    guint32 size)
{
  MmapRingRecord rec;
  guint32 at = 0;

  while (mmapring_records_next (records, size, &at, &rec)) {
    GstStructure *s;

    if (rec.type < MMAPRING_RECORD_ROI ||
        rec.type > MMAPRING_RECORD_CUSTOM_META || !(s = record_map (&rec)))
      continue;
    switch (rec.type) {
      case MMAPRING_RECORD_ROI:
        add_roi (buf, s);
        break;
      case MMAPRING_RECORD_REFERENCE_TIMESTAMP:{
        const gchar *ref = gst_structure_get_string (s, "reference");
        GstCaps *caps = ref && *ref ? gst_caps_from_string (ref) : NULL;
        if (caps) {
          gst_buffer_add_reference_timestamp_meta (buf, caps,
              field_uint64 (s, "timestamp"), field_uint64 (s, "duration"));
          gst_caps_unref (caps);
        }
        break;
      }
      case MMAPRING_RECORD_TIMECODE:
        add_timecode (buf, s);
        break;
      case MMAPRING_RECORD_CAPTION:{
        const GValue *d = gst_structure_get_value (s, "data");
        GstMapInfo map;
        if (d && GST_VALUE_HOLDS_BUFFER (d) &&
            gst_buffer_map (gst_value_get_buffer (d), &map, GST_MAP_READ)) {
          gst_buffer_add_video_caption_meta (buf,
              field_uint (s, "caption-type"), map.data, map.size);
          gst_buffer_unmap (gst_value_get_buffer (d), &map);
        }
        break;
      }
      case MMAPRING_RECORD_CUSTOM_META:
        add_custom (buf, s);
        break;
    }
    gst_structure_free (s);
  }
}

/* --- events --- */

gboolean
gst_mmap_event_travels (GstEvent * event)
{
  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_STREAM_START:
    case GST_EVENT_TAG:
    case GST_EVENT_CUSTOM_DOWNSTREAM:
    case GST_EVENT_CUSTOM_DOWNSTREAM_STICKY:
      return TRUE;
    default:
      return FALSE;
  }
}

static gboolean
put_tag (const GstTagList * list, const gchar * tag, gpointer r)
{
  guint i, n = gst_tag_list_get_tag_size (list, tag);
  MmapRingRecords save = *(MmapRingRecords *) r;

  mmapring_value_key (r, tag);
  mmapring_value_begin_list (r);
  for (i = 0; i < n; i++)
    put_gvalue (r, gst_tag_list_get_value_index (list, tag, i));
  mmapring_value_end (r);
  if (((MmapRingRecords *) r)->overflow)
    *(MmapRingRecords *) r = save;
  return TRUE;
}

static void
put_taglist (const GstTagList * list, const gchar * k, gpointer r)
{
  put_tag (list, k, r);
}

gboolean
gst_mmap_records_add_event (MmapRingRecords * r, GstEvent * event)
{
  const GstStructure *s;

  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_STREAM_START:{
      const gchar *id = NULL;
      guint group = 0;
      GstStreamFlags flags = 0;
      gst_event_parse_stream_start (event, &id);
      if (!gst_event_parse_group_id (event, &group))
        group = 0;
      gst_event_parse_stream_flags (event, &flags);
      mmapring_records_begin (r, MMAPRING_RECORD_STREAM_START);
      mmapring_value_begin_map (r);
      key_string (r, "stream-id", id ? id : "");
      key_uint (r, "group-id", group);
      key_uint (r, "flags", flags);
      mmapring_value_end (r);
      break;
    }
    case GST_EVENT_TAG:{
      GstTagList *list;
      gst_event_parse_tag (event, &list);
      mmapring_records_begin (r, MMAPRING_RECORD_TAGS);
      mmapring_value_begin_map (r);
      key_string (r, "scope", gst_tag_list_get_scope (list) ==
          GST_TAG_SCOPE_GLOBAL ? "global" : "stream");
      mmapring_value_key (r, "tags");
      mmapring_value_begin_map (r);
      gst_tag_list_foreach (list, put_taglist, r);
      mmapring_value_end (r);
      mmapring_value_end (r);
      break;
    }
    case GST_EVENT_CUSTOM_DOWNSTREAM:
    case GST_EVENT_CUSTOM_DOWNSTREAM_STICKY:
      if (!(s = gst_event_get_structure (event)))
        return FALSE;
      mmapring_records_begin (r, MMAPRING_RECORD_EVENT);
      mmapring_value_begin_map (r);
      mmapring_value_key (r, "sticky");
      mmapring_value_bool (r, GST_EVENT_TYPE (event) ==
          GST_EVENT_CUSTOM_DOWNSTREAM_STICKY);
      mmapring_value_key (r, "structure");
      put_structure (r, s);
      mmapring_value_end (r);
      break;
    default:
      return FALSE;
  }
  return mmapring_records_end (r);
}

static gboolean
add_tag_field (GQuark field, const GValue * v, gpointer list)
{
  const gchar *tag = g_quark_to_string (field);
  GType want = gst_tag_get_type (tag);
  guint i, n;

  if (!GST_VALUE_HOLDS_LIST (v))
    return TRUE;
  n = gst_value_list_get_size (v);
  for (i = 0; i < n; i++) {
    const GValue *item = gst_value_list_get_value (v, i);
    GValue conv = G_VALUE_INIT;

    /* A tag not registered here is added with the type it came with. */
    if (want == G_TYPE_INVALID) {
      gst_tag_register (tag, GST_TAG_FLAG_META, G_VALUE_TYPE (item), tag,
          "tag from an mmapsink", NULL);
      want = G_VALUE_TYPE (item);
    }
    g_value_init (&conv, want);
    if (g_value_type_transformable (G_VALUE_TYPE (item), want) &&
        g_value_transform (item, &conv))
      gst_tag_list_add_value (list, GST_TAG_MERGE_APPEND, tag, &conv);
    g_value_unset (&conv);
  }
  return TRUE;
}

GstEvent *
gst_mmap_event_from_record (const MmapRingRecord * rec)
{
  GstStructure *s;
  GstEvent *ev = NULL;

  if (rec->type < MMAPRING_RECORD_STREAM_START ||
      rec->type > MMAPRING_RECORD_EVENT || !(s = record_map (rec)))
    return NULL;
  switch (rec->type) {
    case MMAPRING_RECORD_STREAM_START:{
      const gchar *id = gst_structure_get_string (s, "stream-id");
      guint group = field_uint (s, "group-id");
      ev = gst_event_new_stream_start (id && *id ? id : "mmapsrc");
      if (group)
        gst_event_set_group_id (ev, group);
      gst_event_set_stream_flags (ev, field_uint (s, "flags"));
      break;
    }
    case MMAPRING_RECORD_TAGS:{
      const GValue *tags = gst_structure_get_value (s, "tags");
      const gchar *scope = gst_structure_get_string (s, "scope");
      GstTagList *list = gst_tag_list_new_empty ();
      if (tags && GST_VALUE_HOLDS_STRUCTURE (tags))
        gst_structure_foreach (gst_value_get_structure (tags), add_tag_field,
            list);
      gst_tag_list_set_scope (list, g_strcmp0 (scope, "global") == 0 ?
          GST_TAG_SCOPE_GLOBAL : GST_TAG_SCOPE_STREAM);
      ev = gst_event_new_tag (list);
      break;
    }
    case MMAPRING_RECORD_EVENT:{
      const GValue *st = gst_structure_get_value (s, "structure");
      gboolean sticky = FALSE;
      gst_structure_get_boolean (s, "sticky", &sticky);
      if (st && GST_VALUE_HOLDS_STRUCTURE (st))
        ev = gst_event_new_custom (sticky ?
            GST_EVENT_CUSTOM_DOWNSTREAM_STICKY : GST_EVENT_CUSTOM_DOWNSTREAM,
            gst_structure_copy (gst_value_get_structure (st)));
      break;
    }
  }
  gst_structure_free (s);
  return ev;
}

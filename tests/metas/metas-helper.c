/* The GStreamer side of tests/metas (metas.py drives it): a writer that
 * pushes frames carrying metas, and custom events at given frames, into a
 * pipeline ending in mmapsink, and a reader that runs a pipeline from
 * mmapsrc; both print, one JSON object a line, every event and buffer
 * that reaches the pad they watch (mmapsink's, or the reader's "out"
 * element's), bus warnings and errors, and the element's stats at the
 * end.  The same function describes buffers on both sides, so that the
 * driver compares what left one process with what arrived in the other.
 *
 *   metas-helper write PIPELINE FRAMES [OPTION...]
 *     watches mmapsink's pad; PIPELINE has "appsrc name=src" (GRAY8
 *     64x48 at 30/1) and "mmapsink name=sink"; frame n (1..FRAMES) has
 *     offset n and bytes n.
 *     --metas=roi,reference,caption,custom   metas on every frame
 *     --extra-roi=K          K more ROI metas a frame, with parameters
 *     --event=N:NAME         custom downstream event NAME before frame N
 *     --sticky-event=N:NAME  the same, CUSTOM_DOWNSTREAM_STICKY
 *     --flush=N              flush-start, flush-stop, a segment before N
 *     --last-event=NAME      custom downstream event NAME before EOS
 *   metas-helper run PIPELINE
 *     any pipeline: watches the element named "out"; prints READY when
 *     mmapsrc waits for a writer, runs to EOS (exit 0) or an error (exit
 *     1); the stats are those of the elements named "src" and "sink".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <gst/gst.h>
#include <gst/video/video.h>

#define WIDTH 64
#define HEIGHT 48
#define FRAME_NS (GST_SECOND / 30)
#define CUSTOM_META "metas-test-custom-meta"
/* NTP time of frame 0: beyond 32 bits, as real ones are. */
#define NTP_BASE (G_GUINT64_CONSTANT (3900000000) * GST_SECOND)

static GMutex out_lock;

static void
emit (GString * line)
{
  g_mutex_lock (&out_lock);
  fputs (line->str, stdout);
  fputc ('\n', stdout);
  fflush (stdout);
  g_mutex_unlock (&out_lock);
  g_string_free (line, TRUE);
}

/* --- JSON --- */

static void
j_str (GString * s, const gchar * v)
{
  const gchar *p;

  if (!v) {
    g_string_append (s, "null");
    return;
  }
  g_string_append_c (s, '"');
  for (p = v; *p; p++) {
    if (*p == '"' || *p == '\\')
      g_string_append_printf (s, "\\%c", *p);
    else if ((guchar) * p < 0x20)
      g_string_append_printf (s, "\\u%04x", (guchar) * p);
    else
      g_string_append_c (s, *p);
  }
  g_string_append_c (s, '"');
}

static void
j_key (GString * s, const gchar * k)
{
  if (s->len && s->str[s->len - 1] != '{')
    g_string_append_c (s, ',');
  j_str (s, k);
  g_string_append_c (s, ':');
}

static void
j_kstr (GString * s, const gchar * k, const gchar * v)
{
  j_key (s, k);
  j_str (s, v);
}

static void
j_kuint (GString * s, const gchar * k, guint64 v)
{
  j_key (s, k);
  g_string_append_printf (s, "%" G_GUINT64_FORMAT, v);
}

static void
j_kint (GString * s, const gchar * k, gint64 v)
{
  j_key (s, k);
  g_string_append_printf (s, "%" G_GINT64_FORMAT, v);
}

/* A structure as its string (types included), the way the driver
 * compares them. */
static void
j_kstructure (GString * s, const gchar * k, const GstStructure * st)
{
  gchar *str = st ? gst_structure_to_string (st) : NULL;
  j_kstr (s, k, str);
  g_free (str);
}

static void
j_khex (GString * s, const gchar * k, const guint8 * d, gsize n)
{
  gsize i;

  j_key (s, k);
  g_string_append_c (s, '"');
  for (i = 0; i < n; i++)
    g_string_append_printf (s, "%02x", d[i]);
  g_string_append_c (s, '"');
}

/* --- what a buffer carries --- */

static void
describe_meta (GString * s, GstMeta * meta)
{
  GType api = meta->info->api;

  g_string_append_c (s, '{');
  if (api == GST_VIDEO_REGION_OF_INTEREST_META_API_TYPE) {
    GstVideoRegionOfInterestMeta *m = (GstVideoRegionOfInterestMeta *) meta;
    GList *l;
    j_kstr (s, "type", "roi");
    j_kstr (s, "roi-type", g_quark_to_string (m->roi_type));
    j_kint (s, "id", m->id);
    j_kint (s, "parent-id", m->parent_id);
    j_kuint (s, "x", m->x);
    j_kuint (s, "y", m->y);
    j_kuint (s, "w", m->w);
    j_kuint (s, "h", m->h);
    j_key (s, "params");
    g_string_append_c (s, '[');
    for (l = m->params; l; l = l->next) {
      gchar *str = gst_structure_to_string (l->data);
      if (l != m->params)
        g_string_append_c (s, ',');
      j_str (s, str);
      g_free (str);
    }
    g_string_append_c (s, ']');
  } else if (api == GST_REFERENCE_TIMESTAMP_META_API_TYPE) {
    GstReferenceTimestampMeta *m = (GstReferenceTimestampMeta *) meta;
    gchar *caps = gst_caps_to_string (m->reference);
    j_kstr (s, "type", "reference-timestamp");
    j_kstr (s, "reference", caps);
    j_kuint (s, "timestamp", m->timestamp);
    j_kuint (s, "duration", m->duration);
    g_free (caps);
  } else if (api == GST_VIDEO_TIME_CODE_META_API_TYPE) {
    GstVideoTimeCode *tc = &((GstVideoTimeCodeMeta *) meta)->tc;
    gchar *jam = tc->config.latest_daily_jam ?
        g_date_time_format_iso8601 (tc->config.latest_daily_jam) : NULL;
    j_kstr (s, "type", "timecode");
    j_kuint (s, "fps-n", tc->config.fps_n);
    j_kuint (s, "fps-d", tc->config.fps_d);
    j_kuint (s, "flags", tc->config.flags);
    j_kuint (s, "hours", tc->hours);
    j_kuint (s, "minutes", tc->minutes);
    j_kuint (s, "seconds", tc->seconds);
    j_kuint (s, "frames", tc->frames);
    j_kuint (s, "field-count", tc->field_count);
    j_kstr (s, "latest-daily-jam", jam);
    g_free (jam);
  } else if (api == GST_VIDEO_CAPTION_META_API_TYPE) {
    GstVideoCaptionMeta *m = (GstVideoCaptionMeta *) meta;
    j_kstr (s, "type", "caption");
    j_kuint (s, "caption-type", m->caption_type);
    j_khex (s, "data", m->data, m->size);
  } else if (gst_meta_info_is_custom (meta->info)) {
    j_kstr (s, "type", "custom");
    j_kstr (s, "name", g_type_name (meta->info->type));
    j_kstructure (s, "structure",
        gst_custom_meta_get_structure ((GstCustomMeta *) meta));
  } else {
    j_kstr (s, "type", "other");
    j_kstr (s, "api", g_type_name (api));
  }
  g_string_append_c (s, '}');
}

static void
describe_buffer (GstBuffer * buf)
{
  GString *s = g_string_new ("{");
  gpointer state = NULL;
  GstMeta *meta;
  gboolean first = TRUE;

  j_kuint (s, "buffer", GST_BUFFER_OFFSET (buf));
  j_kuint (s, "pts", GST_BUFFER_PTS (buf));
  j_kuint (s, "size", gst_buffer_get_size (buf));
  j_kuint (s, "flags", GST_BUFFER_FLAGS (buf));
  j_key (s, "metas");
  g_string_append_c (s, '[');
  while ((meta = gst_buffer_iterate_meta (buf, &state))) {
    if (!first)
      g_string_append_c (s, ',');
    first = FALSE;
    describe_meta (s, meta);
  }
  g_string_append (s, "]}");
  emit (s);
}

static void
describe_event (GstEvent * ev)
{
  GString *s = g_string_new ("{");

  j_kstr (s, "event", GST_EVENT_TYPE_NAME (ev));
  switch (GST_EVENT_TYPE (ev)) {
    case GST_EVENT_STREAM_START:{
      const gchar *id;
      guint group = 0;
      gst_event_parse_stream_start (ev, &id);
      j_kstr (s, "stream-id", id);
      if (gst_event_parse_group_id (ev, &group))
        j_kuint (s, "group-id", group);
      break;
    }
    case GST_EVENT_TAG:{
      GstTagList *list;
      gchar *str;
      gst_event_parse_tag (ev, &list);
      str = gst_tag_list_to_string (list);
      j_kstr (s, "scope", gst_tag_list_get_scope (list) ==
          GST_TAG_SCOPE_GLOBAL ? "global" : "stream");
      j_kstr (s, "tags", str);
      g_free (str);
      break;
    }
    case GST_EVENT_SEGMENT:{
      const GstSegment *seg;
      gst_event_parse_segment (ev, &seg);
      j_key (s, "rate");
      g_string_append_printf (s, "%g", seg->rate);
      j_key (s, "applied-rate");
      g_string_append_printf (s, "%g", seg->applied_rate);
      j_kuint (s, "start", seg->start);
      j_kuint (s, "base", seg->base);
      break;
    }
    case GST_EVENT_CAPS:{
      GstCaps *caps;
      gchar *str;
      gst_event_parse_caps (ev, &caps);
      str = gst_caps_to_string (caps);
      j_kstr (s, "caps", str);
      g_free (str);
      break;
    }
    default:
      if (gst_event_get_structure (ev))
        j_kstructure (s, "structure", gst_event_get_structure (ev));
      break;
  }
  g_string_append_c (s, '}');
  emit (s);
}

static gboolean
describe_list_item (GstBuffer ** buf, guint idx, gpointer data)
{
  describe_buffer (*buf);
  return TRUE;
}

static GstPadProbeReturn
watch_probe (GstPad * pad, GstPadProbeInfo * info, gpointer data)
{
  if (info->type & GST_PAD_PROBE_TYPE_BUFFER)
    describe_buffer (GST_PAD_PROBE_INFO_BUFFER (info));
  else if (info->type & GST_PAD_PROBE_TYPE_BUFFER_LIST)
    gst_buffer_list_foreach (GST_PAD_PROBE_INFO_BUFFER_LIST (info),
        describe_list_item, NULL);
  else if (info->type & (GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM |
          GST_PAD_PROBE_TYPE_EVENT_FLUSH))
    describe_event (GST_PAD_PROBE_INFO_EVENT (info));
  return GST_PAD_PROBE_OK;
}

static void
watch_pad (GstElement * pipeline, const gchar * element, const gchar * pad)
{
  GstElement *e = gst_bin_get_by_name (GST_BIN (pipeline), element);
  GstPad *p;

  if (!e) {
    g_printerr ("no element named \"%s\" in the pipeline\n", element);
    exit (2);
  }
  p = gst_element_get_static_pad (e, pad);
  gst_pad_add_probe (p, GST_PAD_PROBE_TYPE_BUFFER |
      GST_PAD_PROBE_TYPE_BUFFER_LIST | GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM |
      GST_PAD_PROBE_TYPE_EVENT_FLUSH, watch_probe, NULL, NULL);
  gst_object_unref (p);
  gst_object_unref (e);
}

/* --- the bus, the stats --- */

static void
print_message (GstMessage * msg)
{
  GString *s = g_string_new ("{");
  GError *err = NULL;
  gchar *dbg = NULL;

  if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR)
    gst_message_parse_error (msg, &err, &dbg);
  else
    gst_message_parse_warning (msg, &err, &dbg);
  j_kstr (s, "message", GST_MESSAGE_TYPE_NAME (msg));
  j_kstr (s, "source", GST_OBJECT_NAME (GST_MESSAGE_SRC (msg)));
  j_kstr (s, "text", err->message);
  j_kstr (s, "debug", dbg);
  g_string_append_c (s, '}');
  emit (s);
  g_error_free (err);
  g_free (dbg);
}

/* Runs until EOS or an error, printing warnings and errors, and READY
 * when mmapsrc says it waits for a writer (so that it gets every frame of
 * the writer started next); TRUE at EOS. */
static gboolean
run (GstElement * pipeline, guint seconds)
{
  GstBus *bus = gst_element_get_bus (pipeline);
  GstClockTime end = gst_util_get_timestamp () + seconds * GST_SECOND;
  gboolean eos = FALSE, ready = FALSE;

  for (;;) {
    GstClockTime now = gst_util_get_timestamp ();
    GstMessage *msg;

    if (now >= end) {
      g_printerr ("no EOS within %u s\n", seconds);
      break;
    }
    msg = gst_bus_timed_pop_filtered (bus, end - now, GST_MESSAGE_EOS |
        GST_MESSAGE_ERROR | GST_MESSAGE_WARNING | GST_MESSAGE_ELEMENT);
    if (!msg)
      continue;
    if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ELEMENT) {
      if (!ready && gst_message_has_name (msg, "mmapsrc-waiting")) {
        ready = TRUE;
        emit (g_string_new ("\"READY\""));
      }
      gst_message_unref (msg);
      continue;
    }
    if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_EOS) {
      gst_message_unref (msg);
      eos = TRUE;
      break;
    }
    print_message (msg);
    if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR) {
      gst_message_unref (msg);
      break;
    }
    gst_message_unref (msg);
  }
  gst_object_unref (bus);
  return eos;
}

static gboolean
stats_field (GQuark field, const GValue * v, gpointer s)
{
  if (G_VALUE_HOLDS_UINT64 (v))
    j_kuint (s, g_quark_to_string (field), g_value_get_uint64 (v));
  return TRUE;
}

static void
print_stats (GstElement * pipeline, const gchar * name)
{
  GstElement *e = gst_bin_get_by_name (GST_BIN (pipeline), name);
  GstStructure *st = NULL;
  GString *s;

  if (!e)
    return;
  if (!g_object_class_find_property (G_OBJECT_GET_CLASS (e), "stats")) {
    gst_object_unref (e);
    return;
  }
  g_object_get (e, "stats", &st, NULL);
  s = g_string_new ("{");
  j_kstr (s, "element", name);
  j_key (s, "stats");
  g_string_append_c (s, '{');
  gst_structure_foreach (st, stats_field, s);
  g_string_append (s, "}}");
  emit (s);
  gst_structure_free (st);
  gst_object_unref (e);
}

/* --- the writer --- */

typedef struct
{
  guint frame;                  /* before this frame; 0: before EOS */
  GstEventType type;            /* 0: a flush and a segment */
  gchar *name;
} Planned;

typedef struct
{
  gboolean roi, reference, caption, custom;
  guint extra_roi;
  GArray *planned;              /* Planned */
  GstCaps *ntp;
} Writer;

static void
push_planned (GstPad * pad, const Planned * p)
{
  if (p->type) {
    GstStructure *s = gst_structure_new (p->name, "frame", G_TYPE_UINT,
        p->frame, NULL);
    gst_pad_push_event (pad, gst_event_new_custom (p->type, s));
    return;
  }
  {
    /* After a flush a segment must come again: the writer's own, which
     * says applied-rate 2 so that it cannot be mistaken for the
     * reader's. */
    GstEvent *old = gst_pad_get_sticky_event (pad, GST_EVENT_SEGMENT, 0);
    GstSegment seg;
    gst_event_copy_segment (old, &seg);
    gst_event_unref (old);
    seg.applied_rate = 2.0;
    gst_pad_push_event (pad, gst_event_new_flush_start ());
    gst_pad_push_event (pad, gst_event_new_flush_stop (FALSE));
    gst_pad_push_event (pad, gst_event_new_segment (&seg));
  }
}

/* On appsrc's pad: the events planned before a frame, and before EOS. */
static GstPadProbeReturn
plan_probe (GstPad * pad, GstPadProbeInfo * info, gpointer data)
{
  Writer *w = data;
  guint i, frame;

  if (info->type & GST_PAD_PROBE_TYPE_BUFFER)
    frame = GST_BUFFER_OFFSET (GST_PAD_PROBE_INFO_BUFFER (info));
  else if (GST_EVENT_TYPE (GST_PAD_PROBE_INFO_EVENT (info)) == GST_EVENT_EOS)
    frame = 0;
  else
    return GST_PAD_PROBE_OK;
  for (i = 0; i < w->planned->len; i++) {
    Planned *p = &g_array_index (w->planned, Planned, i);
    if (p->frame == frame)
      push_planned (pad, p);
  }
  return GST_PAD_PROBE_OK;
}

static void
add_metas (Writer * w, GstBuffer * buf, guint n)
{
  guint i;

  if (w->roi) {
    GstVideoRegionOfInterestMeta *m =
        gst_buffer_add_video_region_of_interest_meta (buf, "person", n,
        2 * n, 10 + n % 7, 20);
    m->id = 100 + n;
    m->parent_id = 3;
    gst_video_region_of_interest_meta_add_param (m,
        gst_structure_new ("detection", "label", G_TYPE_STRING, "dog",
            "confidence", G_TYPE_DOUBLE, 0.5 + n / 1024.0,
            "class-id", G_TYPE_UINT, 7, NULL));
  }
  for (i = 0; i < w->extra_roi; i++) {
    gchar *label = g_strdup_printf ("extra %u of frame %u", i, n);
    GstVideoRegionOfInterestMeta *m =
        gst_buffer_add_video_region_of_interest_meta (buf, "extra", i, n,
        1, 1);
    m->id = 1000 + i;
    gst_video_region_of_interest_meta_add_param (m,
        gst_structure_new ("extra", "label", G_TYPE_STRING, label,
            "index", G_TYPE_UINT, i, NULL));
    g_free (label);
  }
  if (w->reference)
    gst_buffer_add_reference_timestamp_meta (buf, w->ntp,
        NTP_BASE + n * FRAME_NS, FRAME_NS);
  if (w->caption) {
    /* A CEA-708 CDP: header, then bytes that differ per frame. */
    guint8 cdp[24] = { 0x96, 0x69, sizeof (cdp), 0x4f, 0x43 };
    for (i = 5; i < sizeof (cdp); i++)
      cdp[i] = (guint8) (n * 7 + i);
    gst_buffer_add_video_caption_meta (buf, GST_VIDEO_CAPTION_TYPE_CEA708_CDP,
        cdp, sizeof (cdp));
  }
  if (w->custom) {
    GstCustomMeta *m = gst_buffer_add_custom_meta (buf, CUSTOM_META);
    gst_structure_set (gst_custom_meta_get_structure (m),
        "frame", G_TYPE_INT, (gint) n,
        "label", G_TYPE_STRING, "custom \"quoted\"",
        "ratio", G_TYPE_DOUBLE, n / 8.0,
        "big", G_TYPE_UINT64, (G_GUINT64_CONSTANT (1) << 40) + n,
        "rate", GST_TYPE_FRACTION, 30, 1,
        "odd", G_TYPE_BOOLEAN, n % 2 == 1, NULL);
  }
}

static void
plan (Writer * w, guint frame, GstEventType type, const gchar * name)
{
  Planned p = { frame, type, g_strdup (name) };
  g_array_append_val (w->planned, p);
}

static void
parse_option (Writer * w, const gchar * arg)
{
  guint frame;
  gchar name[128];

  if (g_str_has_prefix (arg, "--metas=")) {
    gchar **kinds = g_strsplit (arg + 8, ",", -1), **k;
    for (k = kinds; *k; k++) {
      if (!strcmp (*k, "roi"))
        w->roi = TRUE;
      else if (!strcmp (*k, "reference"))
        w->reference = TRUE;
      else if (!strcmp (*k, "caption"))
        w->caption = TRUE;
      else if (!strcmp (*k, "custom"))
        w->custom = TRUE;
    }
    g_strfreev (kinds);
  } else if (g_str_has_prefix (arg, "--extra-roi=")) {
    w->extra_roi = atoi (arg + 12);
  } else if (sscanf (arg, "--event=%u:%127s", &frame, name) == 2) {
    plan (w, frame, GST_EVENT_CUSTOM_DOWNSTREAM, name);
  } else if (sscanf (arg, "--sticky-event=%u:%127s", &frame, name) == 2) {
    plan (w, frame, GST_EVENT_CUSTOM_DOWNSTREAM_STICKY, name);
  } else if (sscanf (arg, "--flush=%u", &frame) == 1) {
    plan (w, frame, 0, "flush");
  } else if (sscanf (arg, "--last-event=%127s", name) == 1) {
    plan (w, 0, GST_EVENT_CUSTOM_DOWNSTREAM, name);
  } else {
    g_printerr ("unknown option %s\n", arg);
    exit (2);
  }
}

static int
writer_main (int argc, char **argv)
{
  Writer w = { 0 };
  GstElement *pipeline, *src;
  GstPad *pad;
  GError *err = NULL;
  guint frames, n;
  int i;
  gboolean ok;

  if (argc < 4)
    return 2;
  w.planned = g_array_new (FALSE, FALSE, sizeof (Planned));
  w.ntp = gst_caps_new_empty_simple ("timestamp/x-ntp");
  frames = atoi (argv[3]);
  for (i = 4; i < argc; i++)
    parse_option (&w, argv[i]);
  if (w.custom) {
    /* Registered here only: the reader's process learns it by name. */
    static const gchar *tags[] = { NULL };
    gst_meta_register_custom (CUSTOM_META, tags, NULL, NULL, NULL);
  }
  pipeline = gst_parse_launch (argv[2], &err);
  if (!pipeline) {
    g_printerr ("%s\n", err->message);
    return 2;
  }
  watch_pad (pipeline, "sink", "sink");
  src = gst_bin_get_by_name (GST_BIN (pipeline), "src");
  pad = gst_element_get_static_pad (src, "src");
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER |
      GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM, plan_probe, &w, NULL);
  gst_object_unref (pad);
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  for (n = 1; n <= frames; n++) {
    GstBuffer *buf = gst_buffer_new_allocate (NULL, WIDTH * HEIGHT, NULL);
    GstFlowReturn ret;
    gst_buffer_memset (buf, 0, n & 0xff, WIDTH * HEIGHT);
    GST_BUFFER_PTS (buf) = (n - 1) * FRAME_NS;
    GST_BUFFER_DURATION (buf) = FRAME_NS;
    GST_BUFFER_OFFSET (buf) = n;
    add_metas (&w, buf, n);
    g_signal_emit_by_name (src, "push-buffer", buf, &ret);
    gst_buffer_unref (buf);
    if (ret != GST_FLOW_OK) {
      g_printerr ("push-buffer refused frame %u: %s\n", n,
          gst_flow_get_name (ret));
      break;
    }
  }
  g_signal_emit_by_name (src, "end-of-stream", &ok);
  ok = run (pipeline, 120);
  print_stats (pipeline, "sink");
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (src);
  gst_object_unref (pipeline);
  return ok ? 0 : 1;
}

/* --- any pipeline (readers, writers without appsrc) --- */

static int
run_main (int argc, char **argv)
{
  GstElement *pipeline;
  GError *err = NULL;
  gboolean ok;

  if (argc < 3)
    return 2;
  pipeline = gst_parse_launch (argv[2], &err);
  if (!pipeline) {
    g_printerr ("%s\n", err->message);
    return 2;
  }
  watch_pad (pipeline, "out", "sink");
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  ok = run (pipeline, 120);
  print_stats (pipeline, "src");
  print_stats (pipeline, "sink");
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (pipeline);
  return ok ? 0 : 1;
}

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  if (argc >= 2 && !strcmp (argv[1], "write"))
    return writer_main (argc, argv);
  if (argc >= 2 && !strcmp (argv[1], "run"))
    return run_main (argc, argv);
  g_printerr ("usage: %s write PIPELINE FRAMES [OPTION...] | run PIPELINE\n",
      argv[0]);
  return 2;
}

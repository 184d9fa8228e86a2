/* Tests of mmapsink and mmapsrc in one process: GstHarness on each element,
 * or small pipelines where a bus and state changes are what is tested.
 * What they check is what a user sees: the bytes and caps that come out,
 * frame counts, EOS, error messages that name the file, state changes that
 * complete.  What mmapsink wrote is read back with libmmapring's reader,
 * as any reader would see it, and the header's live words (state, EOS,
 * write_seq) through a mapping of our own and mmapring-format.h; files
 * for mmapsrc are made with libmmapring's writer. */
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <gst/video/video.h>

#include <sys/stat.h>
#include <unistd.h>

#include "mmapring.h"
#include "mmapring-format.h"
#include "mmaptest.h"

/* How long a test waits for something that takes milliseconds when it
 * works: only a hang reaches it. */
#define HANG_TIMEOUT (10 * GST_SECOND)

#define CAPS_RGB "video/x-raw, format=(string)RGB, width=(int)16, " \
  "height=(int)8, framerate=(fraction)30/1"
#define SIZE_RGB (16 * 3 * 8)
#define CAPS_I420 "video/x-raw, format=(string)I420, width=(int)33, " \
  "height=(int)17, framerate=(fraction)30/1"
#define SIZE_I420 caps_frame_size (CAPS_I420)

/* --- helpers --- */

/* Bytes of a frame of raw video `caps` in its default layout. */
static gsize
caps_frame_size (const gchar * caps_str)
{
  GstCaps *caps = gst_caps_from_string (caps_str);
  GstVideoInfo info;

  fail_unless (gst_video_info_from_caps (&info, caps));
  gst_caps_unref (caps);
  return GST_VIDEO_INFO_SIZE (&info);
}

static void
fill_frame (guint8 * data, gsize size, guint seq)
{
  gsize i;
  for (i = 0; i < size; i++)
    data[i] = (guint8) (seq * 29 + i * 13 + (i >> 9));
}

static GstBuffer *
make_frame (guint seq, gsize size)
{
  GstBuffer *buf = gst_buffer_new_allocate (NULL, size, NULL);
  GstMapInfo map;

  gst_buffer_map (buf, &map, GST_MAP_WRITE);
  fill_frame (map.data, size, seq);
  gst_buffer_unmap (buf, &map);
  GST_BUFFER_PTS (buf) = seq * 40 * GST_MSECOND;
  GST_BUFFER_DTS (buf) = GST_CLOCK_TIME_NONE;
  GST_BUFFER_DURATION (buf) = 40 * GST_MSECOND;
  GST_BUFFER_OFFSET (buf) = seq;
  GST_BUFFER_OFFSET_END (buf) = seq + 1;
  return buf;
}

static gboolean
buffer_is_frame (GstBuffer * buf, guint seq, gsize size)
{
  guint8 *expect = g_malloc (size);
  gboolean same;

  fill_frame (expect, size, seq);
  same = gst_buffer_get_size (buf) == size &&
      gst_buffer_memcmp (buf, 0, expect, size) == 0;
  g_free (expect);
  return same;
}

static void
push_frame (GstHarness * h, guint seq, gsize size)
{
  fail_unless_equals_int (gst_harness_push (h, make_frame (seq, size)),
      GST_FLOW_OK);
}

/* A harness on an mmapsink writing `path`.  The harness starts a sink as
 * soon as it has it, so the properties are set before. */
static GstHarness *
sink_harness (const gchar * path, guint slots)
{
  GstElement *e = gst_element_factory_make ("mmapsink", NULL);
  GstHarness *h;

  fail_unless (e != NULL, "no mmapsink: is GST_PLUGIN_PATH set?");
  g_object_set (e, "location", path, "slots", slots, NULL);
  h = gst_harness_new_with_element (e, "sink", NULL);
  gst_object_unref (e);
  return h;
}

/* A harness on an mmapsrc reading `path`, with a bus for its messages,
 * not started yet (gst_harness_play). */
static GstHarness *
src_harness (const gchar * path, GstBus ** bus)
{
  GstElement *e = gst_element_factory_make ("mmapsrc", NULL);
  GstHarness *h;

  fail_unless (e != NULL, "no mmapsrc: is GST_PLUGIN_PATH set?");
  g_object_set (e, "location", path, NULL);
  *bus = gst_bus_new ();
  gst_element_set_bus (e, *bus);
  h = gst_harness_new_with_element (e, NULL, "src");
  gst_object_unref (e);
  return h;
}

static void
src_harness_teardown (GstHarness * h, GstBus * bus)
{
  gst_bus_set_flushing (bus, TRUE);
  gst_harness_teardown (h);
  gst_object_unref (bus);
}

/* Waits for an element message named `name`; fails on an ERROR first. */
static GstMessage *
wait_element_message (GstBus * bus, const gchar * name)
{
  GstClockTime deadline = gst_util_get_timestamp () + HANG_TIMEOUT;

  for (;;) {
    GstClockTime now = gst_util_get_timestamp ();
    GstMessage *msg;

    fail_unless (now < deadline, "no \"%s\" message", name);
    msg = gst_bus_timed_pop_filtered (bus, deadline - now,
        GST_MESSAGE_ELEMENT | GST_MESSAGE_ERROR);
    fail_unless (msg != NULL, "no \"%s\" message", name);
    if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR) {
      GError *err = NULL;
      gchar *dbg = NULL;
      gst_message_parse_error (msg, &err, &dbg);
      fail ("error while waiting for \"%s\": %s (%s)", name, err->message, dbg);
    }
    if (gst_message_has_name (msg, name))
      return msg;
    gst_message_unref (msg);
  }
}

/* What came out of a source harness until EOS: buffers in order, and the
 * caps events in order. */
typedef struct
{
  GPtrArray *buffers;
  GPtrArray *caps;
  gboolean eos;
} Output;

static void
output_clear (Output * out)
{
  g_ptr_array_unref (out->buffers);
  g_ptr_array_unref (out->caps);
}

/* Pulls buffers and events until EOS (or until HANG_TIMEOUT, and then
 * out->eos is FALSE), or until `max_buffers` buffers if not 0. */
static void
pull_output (GstHarness * h, Output * out, guint max_buffers)
{
  GstClockTime deadline = gst_util_get_timestamp () + HANG_TIMEOUT;

  out->buffers = g_ptr_array_new_with_free_func (
      (GDestroyNotify) gst_buffer_unref);
  out->caps = g_ptr_array_new_with_free_func ((GDestroyNotify) gst_caps_unref);
  out->eos = FALSE;
  while (gst_util_get_timestamp () < deadline) {
    GstEvent *ev;
    GstBuffer *buf;
    gboolean idle = TRUE;

    /* Events and buffers come in separate queues; EOS is last, so once it
     * is seen every buffer is already queued. */
    while ((ev = gst_harness_try_pull_event (h))) {
      idle = FALSE;
      if (GST_EVENT_TYPE (ev) == GST_EVENT_CAPS) {
        GstCaps *caps;
        gst_event_parse_caps (ev, &caps);
        g_ptr_array_add (out->caps, gst_caps_ref (caps));
      } else if (GST_EVENT_TYPE (ev) == GST_EVENT_EOS) {
        out->eos = TRUE;
      }
      gst_event_unref (ev);
    }
    while ((buf = gst_harness_try_pull (h))) {
      idle = FALSE;
      g_ptr_array_add (out->buffers, buf);
    }
    if (out->eos || (max_buffers && out->buffers->len >= max_buffers))
      return;
    if (idle)
      g_usleep (1000);
  }
}

static void
assert_caps_equal_str (GstCaps * caps, const gchar * expect)
{
  GstCaps *e = gst_caps_from_string (expect);
  fail_unless (caps != NULL, "no caps, expected %s", expect);
  fail_unless (gst_caps_is_equal (caps, e), "caps %" GST_PTR_FORMAT
      ", expected %" GST_PTR_FORMAT, caps, e);
  gst_caps_unref (e);
}

typedef struct
{
  GstElement *element;
  GstState state;
  GstStateChangeReturn ret;
  gboolean done;
  GMutex lock;
  GCond cond;
} StateChange;

static gpointer
state_change_thread (gpointer data)
{
  StateChange *sc = data;
  GstStateChangeReturn ret = gst_element_set_state (sc->element, sc->state);

  g_mutex_lock (&sc->lock);
  sc->ret = ret;
  sc->done = TRUE;
  g_cond_signal (&sc->cond);
  g_mutex_unlock (&sc->lock);
  return NULL;
}

/* Calls gst_element_set_state in another thread, so that a call that
 * never returns fails the test instead of hanging it. */
static GstStateChangeReturn
set_state_or_fail (GstElement * element, GstState state)
{
  StateChange *sc = g_new0 (StateChange, 1);
  gint64 until = g_get_monotonic_time () + HANG_TIMEOUT / GST_USECOND;
  GThread *t;
  GstStateChangeReturn ret;

  sc->element = element;
  sc->state = state;
  g_mutex_init (&sc->lock);
  g_cond_init (&sc->cond);
  t = g_thread_new ("set-state", state_change_thread, sc);
  g_mutex_lock (&sc->lock);
  while (!sc->done && g_cond_wait_until (&sc->cond, &sc->lock, until));
  g_mutex_unlock (&sc->lock);
  fail_unless (sc->done, "setting %s to %s did not return: it hangs",
      GST_OBJECT_NAME (element), gst_element_state_get_name (state));
  g_thread_join (t);
  ret = sc->ret;
  g_mutex_clear (&sc->lock);
  g_cond_clear (&sc->cond);
  g_free (sc);
  return ret;
}

/* The state `element` itself is in (not waiting for anything). */
static GstState
element_state (GstElement * element)
{
  GstState state = GST_STATE_VOID_PENDING;
  gst_element_get_state (element, &state, NULL, 0);
  return state;
}

/* Runs `pipeline` to PLAYING and returns its first ERROR message, failing
 * if it reaches EOS or nothing comes. */
static void
expect_pipeline_error (GstElement * pipeline, GError ** err, gchar ** dbg)
{
  GstBus *bus = gst_element_get_bus (pipeline);
  GstMessage *msg;

  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  msg = gst_bus_timed_pop_filtered (bus, HANG_TIMEOUT,
      GST_MESSAGE_ERROR | GST_MESSAGE_EOS);
  fail_unless (msg != NULL, "no error within %" GST_TIME_FORMAT,
      GST_TIME_ARGS (HANG_TIMEOUT));
  fail_unless (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR,
      "the pipeline ran to EOS instead of failing");
  gst_message_parse_error (msg, err, dbg);
  GST_INFO ("error: %s (%s)", (*err)->message, *dbg);
  gst_message_unref (msg);
  gst_object_unref (bus);
  fail_unless_equals_int (set_state_or_fail (pipeline, GST_STATE_NULL),
      GST_STATE_CHANGE_SUCCESS);
}

/* What gst-launch-1.0 shows of an error: its message and its debug text. */
static gchar *
error_text (const GError * err, const gchar * dbg)
{
  return g_strdup_printf ("%s\n%s", err->message, dbg ? dbg : "");
}

static GstElement *
parse_pipeline (const gchar * fmt, ...)
G_GNUC_PRINTF (1, 2);

     static GstElement *parse_pipeline (const gchar * fmt, ...)
{
  va_list args;
  gchar *desc;
  GError *err = NULL;
  GstElement *p;

  va_start (args, fmt);
  desc = g_strdup_vprintf (fmt, args);
  va_end (args);
  p = gst_parse_launch (desc, &err);
  fail_unless (p != NULL && err == NULL, "%s: %s", desc,
      err ? err->message : "");
  g_free (desc);
  return p;
}

/* --- the file, as a reader and as bytes --- */

/* A reader of `path` that has opened the file there (NEW_FILE). */
static MmapRingReader *
file_reader (const gchar * path)
{
  MmapRingError err = { 0 };
  MmapRingReader *r = mmapring_reader_new (path, &err);
  MmapRingEvent ev;

  fail_unless (r != NULL, "%s", err.message);
  ev = mmapring_reader_next (r, HANG_TIMEOUT, NULL, &err);
  fail_unless (ev == MMAPRING_EVENT_NEW_FILE, "%s: event %d, not a file "
      "with a live writer (%s)", path, ev, err.message);
  return r;
}

/* The next frame the reader gets, copied into *data (g_free it). */
static void
read_frame (MmapRingReader * r, MmapRingFrame * fr, guint8 ** data)
{
  MmapRingError err = { 0 };
  MmapRingEvent ev;

  do
    ev = mmapring_reader_next (r, HANG_TIMEOUT, fr, &err);
  while (ev == MMAPRING_EVENT_NEW_FILE);
  fail_unless (ev == MMAPRING_EVENT_FRAME, "event %d, not a frame (%s)", ev,
      err.message);
  *data = g_malloc (fr->size + 1);
  fail_unless (mmapring_reader_copy (r, *data, fr->size, &err) ==
      MMAPRING_OK, "%s", err.message);
}

typedef struct
{
  guint8 *base;
  gsize size;
} Mapping;

static Mapping
map_file (const gchar * path, gboolean writable)
{
  Mapping m;

  m.base = mmap_test_map (path, writable, &m.size);
  fail_unless (m.base != NULL && m.size >= MMAP_SLOT_DESC_OFFSET,
      "cannot map %s", path);
  return m;
}

#define HDR(m) ((MmapFileHeader *) (m)->base)
#define LIVE(m, field) __atomic_load_n (&HDR (m)->field, __ATOMIC_SEQ_CST)

static gchar *
contents_or_null (const gchar * path, gsize * len)
{
  gchar *data = NULL;
  if (!g_file_get_contents (path, &data, len, NULL))
    return NULL;
  return data;
}

/* --- properties --- */

static void
check_default (GObjectClass * klass, const gchar * name, const GValue * v)
{
  GParamSpec *pspec = g_object_class_find_property (klass, name);
  const GValue *def;

  fail_unless (pspec != NULL, "no property \"%s\"", name);
  def = g_param_spec_get_default_value (pspec);
  fail_unless (gst_value_compare (def, v) == GST_VALUE_EQUAL,
      "\"%s\" defaults to %s, expected %s", name, gst_value_serialize (def),
      gst_value_serialize (v));
}

GST_START_TEST (test_sink_properties)
{
  GstElement *e = gst_element_factory_make ("mmapsink", NULL);
  GObjectClass *k;
  GValue v = G_VALUE_INIT;
  GParamSpecUInt *slots;
  gchar *loc;
  guint n, mode;
  guint64 size;

  fail_unless (e != NULL);
  k = G_OBJECT_GET_CLASS (e);
  g_value_init (&v, G_TYPE_STRING);
  g_value_set_string (&v, "/dev/shm/gst-mmap");
  check_default (k, "location", &v);
  g_value_unset (&v);
  g_value_init (&v, G_TYPE_UINT);
  g_value_set_uint (&v, 8);
  check_default (k, "slots", &v);
  g_value_set_uint (&v, 0600);
  check_default (k, "file-mode", &v);
  g_value_unset (&v);
  g_value_init (&v, G_TYPE_UINT64);
  g_value_set_uint64 (&v, 0);
  check_default (k, "slot-size", &v);
  g_value_unset (&v);

  slots = G_PARAM_SPEC_UINT (g_object_class_find_property (k, "slots"));
  fail_unless_equals_int (slots->minimum, MMAP_SLOTS_MIN);
  fail_unless_equals_int (slots->maximum, MMAP_SLOTS_MAX);

  /* A new element has them too, and takes new values. */
  g_object_get (e, "location", &loc, "slots", &n, "slot-size", &size,
      "file-mode", &mode, NULL);
  fail_unless_equals_string (loc, "/dev/shm/gst-mmap");
  fail_unless_equals_int (n, 8);
  fail_unless_equals_uint64 (size, 0);
  fail_unless_equals_int (mode, 0600);
  g_free (loc);
  g_object_set (e, "location", "/dev/shm/elsewhere", "slots", 3,
      "slot-size", (guint64) 5000, "file-mode", 0640, NULL);
  g_object_get (e, "location", &loc, "slots", &n, "slot-size", &size,
      "file-mode", &mode, NULL);
  fail_unless_equals_string (loc, "/dev/shm/elsewhere");
  fail_unless_equals_int (n, 3);
  fail_unless_equals_uint64 (size, 5000);
  fail_unless_equals_int (mode, 0640);
  g_free (loc);
  gst_object_unref (e);
}

GST_END_TEST;

GST_START_TEST (test_src_properties)
{
  GstElement *e = gst_element_factory_make ("mmapsrc", NULL);
  GObjectClass *k;
  GValue v = G_VALUE_INIT;
  GParamSpec *pspec;
  GEnumValue *ev;
  gchar *loc;
  gboolean live, follow;

  fail_unless (e != NULL);
  k = G_OBJECT_GET_CLASS (e);
  g_value_init (&v, G_TYPE_STRING);
  g_value_set_string (&v, "/dev/shm/gst-mmap");
  check_default (k, "location", &v);
  g_value_unset (&v);
  g_value_init (&v, G_TYPE_BOOLEAN);
  g_value_set_boolean (&v, TRUE);
  check_default (k, "is-live", &v);
  check_default (k, "eos-on-writer-eos", &v);
  check_default (k, "zero-copy", &v);
  g_value_unset (&v);
  g_value_init (&v, G_TYPE_UINT);
  g_value_set_uint (&v, 2);
  check_default (k, "max-leases", &v);
  g_value_unset (&v);

  pspec = g_object_class_find_property (k, "timestamp-mode");
  fail_unless (pspec != NULL && G_IS_PARAM_SPEC_ENUM (pspec));
  ev = g_enum_get_value (G_PARAM_SPEC_ENUM (pspec)->enum_class,
      G_PARAM_SPEC_ENUM (pspec)->default_value);
  fail_unless_equals_string (ev->value_nick, "running-time");
  fail_unless (g_enum_get_value_by_nick (G_PARAM_SPEC_ENUM (pspec)->enum_class,
          "writer") != NULL);
  fail_unless (g_enum_get_value_by_nick (G_PARAM_SPEC_ENUM (pspec)->enum_class,
          "arrival") != NULL);

  g_object_get (e, "location", &loc, "is-live", &live, "eos-on-writer-eos",
      &follow, NULL);
  fail_unless_equals_string (loc, "/dev/shm/gst-mmap");
  fail_unless (live);
  fail_unless (follow);
  g_free (loc);
  gst_util_set_object_arg (G_OBJECT (e), "timestamp-mode", "writer");
  g_object_set (e, "is-live", FALSE, "eos-on-writer-eos", FALSE, NULL);
  g_object_get (e, "is-live", &live, "eos-on-writer-eos", &follow, NULL);
  fail_if (live);
  fail_if (follow);
  gst_object_unref (e);
}

GST_END_TEST;

/* Warnings an object logs about a property, as GST_DEBUG=2 shows them. */
typedef struct
{
  GObject *object;
  const gchar *property;
  gint count;
} Warnings;

static void
count_warnings (GstDebugCategory * cat, GstDebugLevel level,
    const gchar * file, const gchar * function, gint line, GObject * object,
    GstDebugMessage * message, gpointer data)
{
  Warnings *w = data;
  const gchar *text = gst_debug_message_get (message);

  if (level == GST_LEVEL_WARNING && object == w->object && text &&
      strstr (text, w->property))
    g_atomic_int_inc (&w->count);
}

GST_START_TEST (test_properties_locked_while_running)
{
  gchar *path = mmap_test_path ("locked");
  GstHarness *h = sink_harness (path, 4);
  Warnings warnings = { G_OBJECT (h->element), "\"location\"", 0 };
  gchar *loc;

  /* Started: changing where it writes now would be a lie.  Refused, and
   * said in the element's log. */
  gst_debug_set_active (TRUE);
  gst_debug_set_threshold_for_name ("mmapsink", GST_LEVEL_WARNING);
  gst_debug_add_log_function (count_warnings, &warnings, NULL);
  g_object_set (h->element, "location", "/dev/shm/other", NULL);
  gst_debug_remove_log_function (count_warnings);
  fail_unless_equals_int (g_atomic_int_get (&warnings.count), 1);
  g_object_get (h->element, "location", &loc, NULL);
  fail_unless_equals_string (loc, path);
  g_free (loc);

  gst_harness_teardown (h);
  mmap_test_remove (path);
  g_free (path);
}

GST_END_TEST;

/* --- mmapsink --- */

GST_START_TEST (test_sink_publishes_frames)
{
  gchar *path = mmap_test_path ("sink");
  gchar *lock = mmap_test_lock_path (path);
  GstHarness *h = sink_harness (path, 4);
  const MmapRingFileInfo *fi;
  MmapRingReader *r;
  GstCaps *caps;
  GStatBuf st;
  Mapping m;
  guint seq;

  gst_harness_set_src_caps_str (h, CAPS_RGB);
  /* Raw video: the file is there with its caps before the first frame. */
  r = file_reader (path);
  fi = mmapring_reader_file (r);
  caps = gst_caps_from_string (fi->caps);
  assert_caps_equal_str (caps, CAPS_RGB);
  gst_caps_unref (caps);
  fail_unless_equals_int (fi->slot_count, 4);
  fail_unless (fi->slot_capacity >= SIZE_RGB);
  fail_unless_equals_int (fi->writer_pid, getpid ());
  m = map_file (path, FALSE);
  fail_unless_equals_uint64 (LIVE (&m, write_seq), fi->base_seq);
  fail_unless (g_stat (path, &st) == 0);
  fail_unless_equals_int (st.st_mode & 0777, 0600);

  for (seq = 1; seq <= 3; seq++)
    push_frame (h, seq, SIZE_RGB);
  fail_unless_equals_uint64 (LIVE (&m, write_seq), fi->base_seq + 3);
  for (seq = 1; seq <= 3; seq++) {
    MmapRingFrame fr;
    guint8 *data, expect[SIZE_RGB];

    read_frame (r, &fr, &data);
    fail_unless_equals_uint64 (fr.seq, fi->base_seq + seq);
    fill_frame (expect, SIZE_RGB, seq);
    fail_unless_equals_uint64 (fr.size, SIZE_RGB);
    fail_unless (memcmp (data, expect, SIZE_RGB) == 0,
        "frame %u: bytes differ", seq);
    fail_unless_equals_uint64 (fr.pts, seq * 40 * GST_MSECOND);
    fail_unless_equals_uint64 (fr.duration, 40 * GST_MSECOND);
    fail_unless_equals_uint64 (fr.offset, seq);
    fail_unless_equals_int (fr.n_planes, 1);
    fail_unless_equals_int (fr.plane_stride[0], 48);
    g_free (data);
  }

  fail_if (LIVE (&m, eos));
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  fail_unless (LIVE (&m, eos), "EOS is not marked in the file");
  fail_unless_equals_int (mmapring_reader_next (r, HANG_TIMEOUT, NULL, NULL),
      MMAPRING_EVENT_EOS);

  /* A clean stop removes the file and its lock file; readers that map it
   * see GONE. */
  gst_harness_teardown (h);
  fail_if (g_file_test (path, G_FILE_TEST_EXISTS), "the file outlived its "
      "writer's clean stop");
  fail_if (g_file_test (lock, G_FILE_TEST_EXISTS), "the lock file outlived "
      "its writer's clean stop");
  fail_unless_equals_int (LIVE (&m, state), MMAP_STATE_GONE);
  fail_unless_equals_int (mmap_test_count_temp_files (path), 0);
  mmap_test_unmap (m.base, m.size);
  mmapring_reader_free (r);
  mmap_test_remove (path);
  g_free (lock);
  g_free (path);
}

GST_END_TEST;

GST_START_TEST (test_sink_honours_video_meta)
{
  gchar *path = mmap_test_path ("meta");
  GstHarness *h = sink_harness (path, 2);
  GstBuffer *buf;
  MmapRingReader *r;
  MmapRingFrame fr;
  GstMapInfo map;
  guint row;
  gsize offset[4] = { 0 };
  gint stride[4] = { 64 };
  guint8 *slot;

  gst_harness_set_src_caps_str (h, CAPS_RGB);
  /* Rows of 64 bytes, 48 of which are pixels: row y is all bytes y+1,
   * the padding 0xEE that must not reach the file. */
  buf = gst_buffer_new_allocate (NULL, 64 * 8, NULL);
  gst_buffer_map (buf, &map, GST_MAP_WRITE);
  memset (map.data, 0xEE, 64 * 8);
  for (row = 0; row < 8; row++)
    memset (map.data + row * 64, row + 1, 48);
  gst_buffer_unmap (buf, &map);
  gst_buffer_add_video_meta_full (buf, GST_VIDEO_FRAME_FLAG_NONE,
      GST_VIDEO_FORMAT_RGB, 16, 8, 1, offset, stride);
  fail_unless_equals_int (gst_harness_push (h, buf), GST_FLOW_OK);

  /* A reader that comes now starts at the newest frame: this one. */
  r = file_reader (path);
  read_frame (r, &fr, &slot);
  fail_unless_equals_uint64 (fr.size, SIZE_RGB);
  fail_unless_equals_int (fr.plane_stride[0], 48);
  for (row = 0; row < 8; row++) {
    guint8 expect[48];
    memset (expect, row + 1, 48);
    fail_unless (memcmp (slot + row * 48, expect, 48) == 0,
        "row %u of the published frame is not the row of the buffer", row);
  }
  g_free (slot);
  mmapring_reader_free (r);

  gst_harness_teardown (h);
  mmap_test_remove (path);
  g_free (path);
}

GST_END_TEST;

GST_START_TEST (test_sink_file_mode)
{
  gchar *path = mmap_test_path ("filemode");
  GstElement *e = gst_element_factory_make ("mmapsink", NULL);
  GstHarness *h;
  GStatBuf st;

  g_object_set (e, "location", path, "file-mode", 0644, NULL);
  h = gst_harness_new_with_element (e, "sink", NULL);
  gst_object_unref (e);
  gst_harness_set_src_caps_str (h, CAPS_RGB);
  fail_unless (g_stat (path, &st) == 0);
  fail_unless_equals_int (st.st_mode & 0777, 0644);

  gst_harness_teardown (h);
  mmap_test_remove (path);
  g_free (path);
}

GST_END_TEST;

GST_START_TEST (test_sink_refuses_second_writer)
{
  gchar *path = mmap_test_path ("second");
  GstHarness *h = sink_harness (path, 4);
  GstElement *p;
  GstBus *bus;
  GstMessage *msg;
  GError *err = NULL;
  gchar *dbg = NULL, *pid_text, *text;
  MmapRingReader *r;
  MmapRingFrame fr;
  guint64 base;
  guint8 *data;
  Mapping m;

  gst_harness_set_src_caps_str (h, CAPS_RGB);
  push_frame (h, 1, SIZE_RGB);
  m = map_file (path, FALSE);
  base = HDR (&m)->base_seq;

  p = parse_pipeline ("fakesrc ! mmapsink location=%s", path);
  fail_unless_equals_int (gst_element_set_state (p, GST_STATE_PAUSED),
      GST_STATE_CHANGE_FAILURE);
  bus = gst_element_get_bus (p);
  msg = gst_bus_timed_pop_filtered (bus, HANG_TIMEOUT, GST_MESSAGE_ERROR);
  fail_unless (msg != NULL, "no error message");
  gst_message_parse_error (msg, &err, &dbg);
  GST_INFO ("second writer: %s (%s)", err->message, dbg);
  fail_unless (err->domain == GST_RESOURCE_ERROR);
  text = error_text (err, dbg);
  fail_unless (strstr (text, path) != NULL, "%s", text);
  pid_text = g_strdup_printf ("%s: in use by another writer (pid %d)", path,
      (int) getpid ());
  fail_unless (strstr (text, pid_text) != NULL, "%s", text);
  g_free (pid_text);
  g_free (text);
  g_clear_error (&err);
  g_free (dbg);
  gst_message_unref (msg);
  gst_object_unref (bus);
  gst_element_set_state (p, GST_STATE_NULL);
  gst_object_unref (p);

  /* The first writer goes on, in the same file. */
  r = file_reader (path);
  fail_unless_equals_int (mmapring_reader_file (r)->writer_pid, getpid ());
  fail_unless_equals_uint64 (mmapring_reader_file (r)->base_seq, base);
  push_frame (h, 2, SIZE_RGB);
  fail_unless_equals_uint64 (LIVE (&m, write_seq), base + 2);
  fail_unless_equals_int (LIVE (&m, state), MMAP_STATE_RUNNING);
  do {
    read_frame (r, &fr, &data);
    g_free (data);
  } while (fr.seq < base + 2);
  fail_unless_equals_uint64 (fr.seq, base + 2);
  mmapring_reader_free (r);
  mmap_test_unmap (m.base, m.size);

  gst_harness_teardown (h);
  mmap_test_remove (path);
  g_free (path);
}

GST_END_TEST;

/* An mmapsink pointed at a file that is not a gst-mmap file must fail and
 * leave it alone. */
static void
check_sink_leaves_foreign_file (const gchar * content, gsize len)
{
  gchar *path = mmap_test_path ("notours");
  GstElement *p;
  GstBus *bus;
  GstMessage *msg;
  GError *err = NULL;
  gchar *dbg = NULL, *after, *text;
  gsize after_len = 0;

  fail_unless (mmap_test_write_file (path, content, len));
  p = parse_pipeline ("videotestsrc num-buffers=2 ! " CAPS_RGB
      " ! mmapsink location=%s", path);
  bus = gst_element_get_bus (p);
  gst_element_set_state (p, GST_STATE_PLAYING);
  msg = gst_bus_timed_pop_filtered (bus, HANG_TIMEOUT,
      GST_MESSAGE_ERROR | GST_MESSAGE_EOS);
  fail_unless (msg != NULL, "neither an error nor EOS");
  fail_unless_equals_int (set_state_or_fail (p, GST_STATE_NULL),
      GST_STATE_CHANGE_SUCCESS);

  /* What the user would find first: is their file still there? */
  after = contents_or_null (path, &after_len);
  fail_unless (after != NULL, "the %" G_GSIZE_FORMAT "-byte file that was "
      "at the location is gone (the writer %s)", len,
      GST_MESSAGE_TYPE (msg) == GST_MESSAGE_EOS ?
      "took the location and ran to EOS" : "failed");
  fail_unless (after_len == len && memcmp (after, content, len) == 0,
      "the %" G_GSIZE_FORMAT "-byte file at the location was changed", len);
  fail_unless (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR,
      "the writer ran to EOS instead of refusing the location");
  gst_message_parse_error (msg, &err, &dbg);
  text = error_text (err, dbg);
  GST_INFO ("refused: %s", text);
  fail_unless (strstr (text, path) != NULL, "%s", text);
  fail_unless (strstr (text, "not a gst-mmap file") != NULL, "%s", text);

  g_free (text);
  g_clear_error (&err);
  g_free (dbg);
  g_free (after);
  gst_message_unref (msg);
  gst_object_unref (bus);
  gst_object_unref (p);
  mmap_test_remove (path);
  g_free (path);
}

GST_START_TEST (test_sink_leaves_large_foreign_file)
{
  gsize len = 100000, i;
  gchar *content = g_malloc (len);

  for (i = 0; i < len; i++)
    content[i] = "my thesis, only copy\n"[i % 21];
  check_sink_leaves_foreign_file (content, len);
  g_free (content);
}

GST_END_TEST;

GST_START_TEST (test_sink_leaves_small_foreign_file)
{
  const gchar *text = "ssh host keys backup, do not delete\n";
  check_sink_leaves_foreign_file (text, strlen (text));
}

GST_END_TEST;

GST_START_TEST (test_sink_without_location)
{
  GstElement *p = parse_pipeline ("fakesrc ! mmapsink name=s");
  GstElement *s = gst_bin_get_by_name (GST_BIN (p), "s");
  GError *err = NULL;
  gchar *dbg = NULL;

  g_object_set (s, "location", NULL, NULL);
  gst_object_unref (s);
  expect_pipeline_error (p, &err, &dbg);
  fail_unless (g_error_matches (err, GST_RESOURCE_ERROR,
          GST_RESOURCE_ERROR_NOT_FOUND), "%s", err->message);
  fail_unless (strstr (err->message, "location") != NULL, "%s", err->message);
  g_clear_error (&err);
  g_free (dbg);
  gst_object_unref (p);
}

GST_END_TEST;

/* --- mmapsrc --- */

/* Writer first (its file is there with caps), then the reader: every frame
 * the writer publishes after the reader attached comes out, byte for byte,
 * with the writer's caps, then EOS. */
GST_START_TEST (test_src_reads_writer)
{
  gchar *path = mmap_test_path ("src");
  GstHarness *w = sink_harness (path, 8);
  GstHarness *h;
  GstBus *bus;
  GstCaps *caps;
  Output out;
  guint i;

  gst_harness_set_src_caps_str (w, CAPS_I420);
  h = src_harness (path, &bus);
  gst_harness_play (h);
  gst_message_unref (wait_element_message (bus, "mmapsrc-writer"));

  /* One frame, pulled, then the rest: the reader is past its start and
   * follows frame by frame whatever its thread's timing. */
  push_frame (w, 1, SIZE_I420);
  pull_output (h, &out, 1);
  fail_unless_equals_int (out.buffers->len, 1);
  output_clear (&out);
  for (i = 2; i <= 6; i++)
    push_frame (w, i, SIZE_I420);
  fail_unless (gst_harness_push_event (w, gst_event_new_eos ()));

  pull_output (h, &out, 0);
  fail_unless (out.eos, "no EOS after the writer's EOS");
  fail_unless_equals_int (out.buffers->len, 5);
  for (i = 0; i < 5; i++) {
    GstBuffer *b = g_ptr_array_index (out.buffers, i);
    fail_unless (buffer_is_frame (b, i + 2, SIZE_I420), "frame %u differs "
        "(%" G_GSIZE_FORMAT " bytes)", i + 2, gst_buffer_get_size (b));
    fail_if (GST_BUFFER_FLAG_IS_SET (b, GST_BUFFER_FLAG_DISCONT),
        "DISCONT on frame %u, and none was skipped", i + 2);
  }
  caps = gst_pad_get_current_caps (h->sinkpad);
  assert_caps_equal_str (caps, CAPS_I420);
  gst_caps_unref (caps);
  output_clear (&out);

  src_harness_teardown (h, bus);
  gst_harness_teardown (w);
  mmap_test_remove (path);
  g_free (path);
}

GST_END_TEST;

GST_START_TEST (test_src_first_buffer_discont)
{
  gchar *path = mmap_test_path ("discont");
  GstHarness *w = sink_harness (path, 8);
  GstHarness *h;
  GstBus *bus;
  Output out;
  GstBuffer *b;

  gst_harness_set_src_caps_str (w, CAPS_RGB);
  h = src_harness (path, &bus);
  gst_harness_play (h);
  gst_message_unref (wait_element_message (bus, "mmapsrc-writer"));
  push_frame (w, 1, SIZE_RGB);
  pull_output (h, &out, 1);
  fail_unless_equals_int (out.buffers->len, 1);
  b = g_ptr_array_index (out.buffers, 0);
  fail_unless (buffer_is_frame (b, 1, SIZE_RGB));
  fail_unless (GST_BUFFER_FLAG_IS_SET (b, GST_BUFFER_FLAG_DISCONT),
      "the first buffer has no DISCONT");
  fail_unless_equals_int (out.caps->len, 1);
  assert_caps_equal_str (g_ptr_array_index (out.caps, 0), CAPS_RGB);
  output_clear (&out);

  src_harness_teardown (h, bus);
  gst_harness_teardown (w);
  mmap_test_remove (path);
  g_free (path);
}

GST_END_TEST;

/* The reader is waiting before the writer exists; the writer then
 * publishes a few frames at once, as a fast pipeline does at its start.
 * They are all still in the ring: the reader has not joined late and must
 * output every one. */
GST_START_TEST (test_src_started_before_writer_gets_every_frame)
{
  gchar *path = mmap_test_path ("before");
  GstHarness *h, *w;
  GstBus *bus;
  Output out;
  guint i;

  h = src_harness (path, &bus);
  gst_harness_play (h);
  gst_message_unref (wait_element_message (bus, "mmapsrc-waiting"));

  w = sink_harness (path, 8);
  gst_harness_set_src_caps_str (w, CAPS_RGB);
  for (i = 1; i <= 4; i++)
    push_frame (w, i, SIZE_RGB);
  fail_unless (gst_harness_push_event (w, gst_event_new_eos ()));

  pull_output (h, &out, 0);
  fail_unless (out.eos, "no EOS after the writer's EOS");
  fail_unless (out.buffers->len == 4, "the reader output %u of the writer's "
      "4 frames (the first one it output is %s)", out.buffers->len,
      out.buffers->len == 0 ? "none" :
      buffer_is_frame (g_ptr_array_index (out.buffers, 0), 4, SIZE_RGB) ?
      "frame 4, the newest" : "another one");
  for (i = 0; i < 4; i++)
    fail_unless (buffer_is_frame (g_ptr_array_index (out.buffers, i), i + 1,
            SIZE_RGB), "frame %u differs", i + 1);
  output_clear (&out);

  src_harness_teardown (h, bus);
  gst_harness_teardown (w);
  mmap_test_remove (path);
  g_free (path);
}

GST_END_TEST;

/* The same, made certain: the writer has published four frames by the
 * time the waiting reader first looks at its file (here the file gets its
 * name only then; a reader woken late sees the same).  It waited for this
 * writer, so every frame is new to it. */
GST_START_TEST (test_src_waiting_reader_gets_frames_before_it_looked)
{
  gchar *path = mmap_test_path ("looked");
  gchar *hidden = mmap_test_path ("looked-hidden");
  MmapRingFormat fmt = { 0 };
  MmapRingError err = { 0 };
  MmapRingWriter *w;
  GstHarness *h;
  GstBus *bus;
  Output out;
  guint i;

  h = src_harness (path, &bus);
  gst_harness_play (h);
  gst_message_unref (wait_element_message (bus, "mmapsrc-waiting"));

  /* A writer on a hidden name, whose file is then renamed into place:
   * the reader finds no lock file for the location and simply copies. */
  w = mmapring_writer_open (hidden, 0600, &err);
  fail_unless (w != NULL, "%s", err.message);
  fmt.caps = CAPS_RGB;
  fmt.slot_count = 8;
  fmt.slot_capacity = SIZE_RGB;
  fail_unless (mmapring_writer_set_format (w, &fmt, &err) == MMAPRING_OK,
      "%s", err.message);
  for (i = 1; i <= 4; i++) {
    MmapRingFrame fr = { 0 };
    guint8 data[SIZE_RGB];

    fill_frame (data, SIZE_RGB, i);
    fr.n_planes = 1;
    fr.plane_stride[0] = 48;
    fr.pts = fr.dts = fr.duration = MMAPRING_TIME_NONE;
    fr.pts_monotonic_ns = MMAPRING_TIME_NONE;
    fail_unless (mmapring_writer_write (w, &fr, data, SIZE_RGB, &err) ==
        MMAPRING_OK, "%s", err.message);
  }
  mmapring_writer_set_eos (w);
  fail_unless (g_rename (hidden, path) == 0);

  pull_output (h, &out, 0);
  fail_unless (out.eos, "no EOS after the writer's EOS");
  fail_unless (out.buffers->len == 4, "the reader output %u of the 4 frames "
      "published before it looked (the first it output is %s)",
      out.buffers->len, out.buffers->len == 0 ? "none" :
      buffer_is_frame (g_ptr_array_index (out.buffers, 0), 4, SIZE_RGB) ?
      "frame 4, the newest" : "another one");
  for (i = 0; i < 4; i++)
    fail_unless (buffer_is_frame (g_ptr_array_index (out.buffers, i), i + 1,
            SIZE_RGB), "frame %u differs", i + 1);
  output_clear (&out);

  src_harness_teardown (h, bus);
  mmapring_writer_close (w, 1);
  mmap_test_remove (path);
  mmap_test_remove (hidden);
  g_free (hidden);
  g_free (path);
}

GST_END_TEST;

GST_START_TEST (test_src_follows_caps_change)
{
  gchar *path = mmap_test_path ("capschange");
  GstHarness *w = sink_harness (path, 8);
  GstHarness *h;
  GstBus *bus;
  Output out, early;
  guint i;

  gst_harness_set_src_caps_str (w, CAPS_RGB);
  h = src_harness (path, &bus);
  gst_harness_play (h);
  gst_message_unref (wait_element_message (bus, "mmapsrc-writer"));
  push_frame (w, 1, SIZE_RGB);
  pull_output (h, &out, 1);
  fail_unless_equals_int (out.buffers->len, 1);
  output_clear (&out);

  /* Each caps makes a new file.  The reader follows from file to file,
   * but only to the file at the location when it gets there: give it the
   * time to reach the I420 one before it is replaced in turn. */
  push_frame (w, 2, SIZE_RGB);
  gst_harness_set_src_caps_str (w, CAPS_I420);
  push_frame (w, 3, SIZE_I420);
  push_frame (w, 4, SIZE_I420);
  pull_output (h, &early, 3);
  fail_unless_equals_int (early.buffers->len, 3);
  gst_harness_set_src_caps_str (w, CAPS_RGB);
  push_frame (w, 5, SIZE_RGB);
  fail_unless (gst_harness_push_event (w, gst_event_new_eos ()));
  pull_output (h, &out, 0);
  fail_unless (out.eos, "no EOS after the writer's EOS");
  fail_unless_equals_int (out.buffers->len, 1);
  g_ptr_array_add (early.buffers,
      gst_buffer_ref (g_ptr_array_index (out.buffers, 0)));
  for (i = 0; i < out.caps->len; i++)
    g_ptr_array_add (early.caps,
        gst_caps_ref (g_ptr_array_index (out.caps, i)));

  for (i = 0; i < 4; i++) {
    gsize size = (i == 1 || i == 2) ? SIZE_I420 : SIZE_RGB;
    GstBuffer *b = g_ptr_array_index (early.buffers, i);
    fail_unless (buffer_is_frame (b, i + 2, size), "frame %u differs", i + 2);
    fail_if (GST_BUFFER_FLAG_IS_SET (b, GST_BUFFER_FLAG_DISCONT),
        "frame %u is marked DISCONT; none was lost", i + 2);
  }
  /* The caps went RGB (already sent with frame 1) -> I420 -> RGB. */
  fail_unless_equals_int (early.caps->len, 2);
  assert_caps_equal_str (g_ptr_array_index (early.caps, 0), CAPS_I420);
  assert_caps_equal_str (g_ptr_array_index (early.caps, 1), CAPS_RGB);
  output_clear (&early);
  output_clear (&out);

  src_harness_teardown (h, bus);
  gst_harness_teardown (w);
  mmap_test_remove (path);
  g_free (path);
}

GST_END_TEST;

GST_START_TEST (test_src_variable_payloads)
{
  gchar *path = mmap_test_path ("payload");
  GstHarness *w = sink_harness (path, 4);
  GstHarness *h;
  GstBus *bus;
  Output out;
  /* The third does not fit the slots sized from the first: the writer
   * replaces the file with bigger slots and the reader follows. */
  const gsize sizes[] = { 1000, 7, 300000, 12345, 1 };
  guint i;

  gst_harness_set_src_caps_str (w, "application/x-gst-mmap-test");
  push_frame (w, 1, sizes[0]);
  h = src_harness (path, &bus);
  gst_harness_play (h);
  pull_output (h, &out, 1);
  fail_unless_equals_int (out.buffers->len, 1);
  fail_unless (buffer_is_frame (g_ptr_array_index (out.buffers, 0), 1,
          sizes[0]));
  output_clear (&out);

  for (i = 1; i < G_N_ELEMENTS (sizes); i++)
    push_frame (w, i + 1, sizes[i]);
  fail_unless (gst_harness_push_event (w, gst_event_new_eos ()));
  pull_output (h, &out, 0);
  fail_unless (out.eos);
  fail_unless_equals_int (out.buffers->len, G_N_ELEMENTS (sizes) - 1);
  for (i = 1; i < G_N_ELEMENTS (sizes); i++) {
    GstBuffer *b = g_ptr_array_index (out.buffers, i - 1);
    fail_unless (buffer_is_frame (b, i + 1, sizes[i]), "payload %u differs "
        "(%" G_GSIZE_FORMAT " bytes, expected %" G_GSIZE_FORMAT ")", i + 1,
        gst_buffer_get_size (b), sizes[i]);
  }
  output_clear (&out);

  src_harness_teardown (h, bus);
  gst_harness_teardown (w);
  mmap_test_remove (path);
  g_free (path);
}

GST_END_TEST;

GST_START_TEST (test_src_writer_timestamps)
{
  gchar *path = mmap_test_path ("stamps");
  GstHarness *w = sink_harness (path, 8);
  GstHarness *h;
  GstBus *bus;
  Output out;
  guint i;

  gst_harness_set_src_caps_str (w, CAPS_RGB);
  h = src_harness (path, &bus);
  gst_util_set_object_arg (G_OBJECT (h->element), "timestamp-mode", "writer");
  gst_harness_play (h);
  gst_message_unref (wait_element_message (bus, "mmapsrc-writer"));
  push_frame (w, 1, SIZE_RGB);
  pull_output (h, &out, 1);
  fail_unless_equals_int (out.buffers->len, 1);
  output_clear (&out);
  for (i = 2; i <= 4; i++)
    push_frame (w, i, SIZE_RGB);
  fail_unless (gst_harness_push_event (w, gst_event_new_eos ()));

  pull_output (h, &out, 0);
  fail_unless_equals_int (out.buffers->len, 3);
  for (i = 0; i < 3; i++) {
    GstBuffer *b = g_ptr_array_index (out.buffers, i);
    guint seq = i + 2;
    fail_unless_equals_uint64 (GST_BUFFER_PTS (b), seq * 40 * GST_MSECOND);
    fail_unless_equals_uint64 (GST_BUFFER_DURATION (b), 40 * GST_MSECOND);
    fail_unless_equals_uint64 (GST_BUFFER_OFFSET (b), seq);
    fail_unless_equals_uint64 (GST_BUFFER_OFFSET_END (b), seq + 1);
  }
  output_clear (&out);

  src_harness_teardown (h, bus);
  gst_harness_teardown (w);
  mmap_test_remove (path);
  g_free (path);
}

GST_END_TEST;

/* The writer stops; the reader waits; a new writer comes: the reader goes
 * on with the new one's frames, from its first, marked DISCONT. */
GST_START_TEST (test_src_follows_new_writer)
{
  gchar *path = mmap_test_path ("restart");
  GstHarness *w = sink_harness (path, 8);
  GstHarness *h;
  GstBus *bus;
  GstMessage *msg;
  Output out;
  GstBuffer *b;

  gst_harness_set_src_caps_str (w, CAPS_RGB);
  h = src_harness (path, &bus);
  gst_harness_play (h);
  gst_message_unref (wait_element_message (bus, "mmapsrc-writer"));
  push_frame (w, 1, SIZE_RGB);
  pull_output (h, &out, 1);
  fail_unless_equals_int (out.buffers->len, 1);
  output_clear (&out);
  gst_harness_teardown (w);     /* stops without EOS */
  gst_message_unref (wait_element_message (bus, "mmapsrc-waiting"));

  w = sink_harness (path, 8);
  gst_harness_set_src_caps_str (w, CAPS_I420);
  push_frame (w, 7, SIZE_I420);
  push_frame (w, 8, SIZE_I420);
  msg = wait_element_message (bus, "mmapsrc-writer");
  gst_message_unref (msg);
  fail_unless (gst_harness_push_event (w, gst_event_new_eos ()));

  pull_output (h, &out, 0);
  fail_unless (out.eos);
  fail_unless_equals_int (out.buffers->len, 2);
  b = g_ptr_array_index (out.buffers, 0);
  fail_unless (buffer_is_frame (b, 7, SIZE_I420));
  fail_unless (GST_BUFFER_FLAG_IS_SET (b, GST_BUFFER_FLAG_DISCONT));
  fail_unless (buffer_is_frame (g_ptr_array_index (out.buffers, 1), 8,
          SIZE_I420));
  fail_unless_equals_int (out.caps->len, 1);
  assert_caps_equal_str (g_ptr_array_index (out.caps, 0), CAPS_I420);
  output_clear (&out);

  src_harness_teardown (h, bus);
  gst_harness_teardown (w);
  mmap_test_remove (path);
  g_free (path);
}

GST_END_TEST;

/* Whether `text` says one of the "|"-separated `reasons`. */
static gboolean
says_one_of (const gchar * text, const gchar * reasons)
{
  gchar **r = g_strsplit (reasons, "|", -1);
  gboolean found = FALSE;
  guint i;

  for (i = 0; r[i] && !found; i++)
    found = strstr (text, r[i]) != NULL;
  g_strfreev (r);
  return found;
}

/* mmapsrc on a file that is not a gst-mmap file: an ERROR that names the
 * file and says what is wrong with it (one of `reasons`, "|"-separated). */
static void
check_src_refuses (const gchar * what, const guint8 * content, gsize len,
    const gchar * reasons)
{
  gchar *path = mmap_test_path ("refused");
  GstElement *p;
  GError *err = NULL;
  gchar *dbg = NULL, *text;

  fail_unless (mmap_test_write_file (path, content, len));
  p = parse_pipeline ("mmapsrc location=%s ! fakesink", path);
  expect_pipeline_error (p, &err, &dbg);
  fail_unless (g_error_matches (err, GST_RESOURCE_ERROR,
          GST_RESOURCE_ERROR_OPEN_READ), "%s: %s", what, err->message);
  text = error_text (err, dbg);
  fail_unless (strstr (text, path) && says_one_of (text, reasons),
      "%s: \"%s\" does not name the file and say \"%s\"", what, text, reasons);
  GST_INFO ("%s: %s", what, text);

  g_free (text);
  g_clear_error (&err);
  g_free (dbg);
  gst_object_unref (p);
  mmap_test_remove (path);
  g_free (path);
}

GST_START_TEST (test_src_refuses_garbage)
{
  GRand *rand = g_rand_new_with_seed (99);
  guint8 *junk = g_malloc (65536);
  guint i;

  for (i = 0; i < 65536; i++)
    junk[i] = g_rand_int (rand);
  check_src_refuses ("random bytes", junk, 65536, "not a gst-mmap file");
  check_src_refuses ("an empty file", junk, 0, "too short|not a gst-mmap file");
  check_src_refuses ("a short text file", (const guint8 *) "hello\n", 6,
      "too short|not a gst-mmap file");
  g_rand_free (rand);
  g_free (junk);
}

GST_END_TEST;

/* A file a writer of ours made, but with contents a reader cannot use:
 * caps or slots as the writer chose, and with `frame_size`, a frame whose
 * descriptor then claims that size (which the writer itself refuses to
 * publish), poked into the file. */
static void
check_src_refuses_writer_file (const gchar * caps, guint64 capacity,
    gsize frame_size, const gchar * reason)
{
  gchar *path = mmap_test_path ("badwriter");
  MmapRingFormat fmt = { 0 };
  MmapRingError merr = { 0 };
  MmapRingWriter *w;
  GstElement *p;
  GError *err = NULL;
  gchar *dbg = NULL, *text;

  w = mmapring_writer_open (path, 0600, &merr);
  fail_unless (w != NULL, "%s", merr.message);
  fmt.caps = caps;
  fmt.slot_count = 2;
  fmt.slot_capacity = capacity;
  fail_unless (mmapring_writer_set_format (w, &fmt, &merr) == MMAPRING_OK,
      "%s", merr.message);
  if (frame_size) {
    MmapRingFrame fr = { 0 };
    guint8 data[16] = { 0 };
    Mapping m;
    MmapSlotDesc *d;

    fail_unless (mmapring_writer_write (w, &fr, data, sizeof (data), &merr)
        == MMAPRING_OK, "%s", merr.message);
    m = map_file (path, TRUE);
    d = (MmapSlotDesc *) (m.base + HDR (&m)->slot_desc_offset +
        LIVE (&m, slot_log[fr.seq % MMAP_SLOT_LOG]) * MMAP_SLOT_DESC_SIZE);
    fail_unless_equals_uint64 (d->seq, fr.seq);
    d->size = frame_size;
    mmap_test_unmap (m.base, m.size);
  }

  p = parse_pipeline ("mmapsrc location=%s ! fakesink", path);
  expect_pipeline_error (p, &err, &dbg);
  text = error_text (err, dbg);
  fail_unless (strstr (text, path) && strstr (text, reason),
      "\"%s\" does not name the file and say \"%s\"", text, reason);
  GST_INFO ("%s", text);

  g_free (text);
  g_clear_error (&err);
  g_free (dbg);
  gst_object_unref (p);
  mmapring_writer_close (w, 1);
  mmap_test_remove (path);
  g_free (path);
}

GST_START_TEST (test_src_refuses_unfixed_caps)
{
  check_src_refuses_writer_file ("video/x-raw, width=(int)[ 1, 100 ]", 4096,
      0, "not valid fixed caps");
}

GST_END_TEST;

GST_START_TEST (test_src_refuses_slots_too_small)
{
  check_src_refuses_writer_file (CAPS_RGB, SIZE_RGB - 1, 0,
      "cannot hold frames");
}

GST_END_TEST;

GST_START_TEST (test_src_refuses_frame_outside_slot)
{
  check_src_refuses_writer_file ("application/x-gst-mmap-test", 4096, 5000,
      "size 5000 is larger than slot_capacity 4096");
}

GST_END_TEST;

/* Nothing at the location: the reader says it is waiting, is PLAYING, and
 * stops when asked (its wait is interruptible); it can start again. */
GST_START_TEST (test_src_waits_and_stops)
{
  gchar *path = mmap_test_path ("nothing");
  /* A live source and a sink that does not wait for a first buffer: the
   * whole pipeline is PLAYING at once, with nothing to play. */
  GstElement *p = parse_pipeline ("mmapsrc name=src location=%s "
      "! fakesink async=false", path);
  GstElement *src = gst_bin_get_by_name (GST_BIN (p), "src");
  GstBus *bus = gst_element_get_bus (p);
  GstMessage *msg;
  const GstStructure *s;
  guint round;

  for (round = 0; round < 2; round++) {
    GstStateChangeReturn ret = set_state_or_fail (p, GST_STATE_PLAYING);
    fail_if (ret == GST_STATE_CHANGE_FAILURE);
    fail_unless_equals_int (element_state (src), GST_STATE_PLAYING);
    fail_unless_equals_int (element_state (p), GST_STATE_PLAYING);
    msg = wait_element_message (bus, "mmapsrc-waiting");
    s = gst_message_get_structure (msg);
    fail_unless_equals_string (gst_structure_get_string (s, "location"), path);
    fail_unless (gst_structure_get_string (s, "reason") != NULL);
    gst_message_unref (msg);
    fail_unless_equals_int (set_state_or_fail (p, GST_STATE_NULL),
        GST_STATE_CHANGE_SUCCESS);
    fail_unless_equals_int (element_state (src), GST_STATE_NULL);
  }
  fail_if (g_file_test (path, G_FILE_TEST_EXISTS), "a reader created a file");

  gst_object_unref (src);
  gst_object_unref (bus);
  gst_object_unref (p);
  g_free (path);
}

GST_END_TEST;

/* A writer that publishes nothing: the reader sleeps on the file's futex,
 * and still stops when asked. */
GST_START_TEST (test_src_stops_while_waiting_for_frames)
{
  gchar *path = mmap_test_path ("idle");
  GstHarness *w = sink_harness (path, 4);
  GstElement *p;
  GstBus *bus;

  gst_harness_set_src_caps_str (w, CAPS_RGB);
  p = parse_pipeline ("mmapsrc location=%s ! fakesink async=false", path);
  bus = gst_element_get_bus (p);
  fail_if (set_state_or_fail (p, GST_STATE_PLAYING) ==
      GST_STATE_CHANGE_FAILURE);
  gst_message_unref (wait_element_message (bus, "mmapsrc-writer"));
  fail_unless_equals_int (set_state_or_fail (p, GST_STATE_NULL),
      GST_STATE_CHANGE_SUCCESS);
  /* And again, now that the file has been seen once. */
  fail_if (set_state_or_fail (p, GST_STATE_PLAYING) ==
      GST_STATE_CHANGE_FAILURE);
  gst_message_unref (wait_element_message (bus, "mmapsrc-writer"));
  fail_unless_equals_int (set_state_or_fail (p, GST_STATE_NULL),
      GST_STATE_CHANGE_SUCCESS);

  gst_object_unref (bus);
  gst_object_unref (p);
  gst_harness_teardown (w);
  mmap_test_remove (path);
  g_free (path);
}

GST_END_TEST;

/* Checksums of the buffers a fakesink got, in order. */
typedef struct
{
  GMutex lock;
  GPtrArray *sums;
} Sums;

static void
record_handoff (GstElement * sink, GstBuffer * buf, GstPad * pad, gpointer data)
{
  Sums *sums = data;
  GstMapInfo map;

  gst_buffer_map (buf, &map, GST_MAP_READ);
  g_mutex_lock (&sums->lock);
  g_ptr_array_add (sums->sums, g_compute_checksum_for_data (G_CHECKSUM_SHA256,
          map.data, map.size));
  g_mutex_unlock (&sums->lock);
  gst_buffer_unmap (buf, &map);
}

static void
sums_init (Sums * sums)
{
  g_mutex_init (&sums->lock);
  sums->sums = g_ptr_array_new_with_free_func (g_free);
}

static void
sums_clear (Sums * sums)
{
  g_mutex_clear (&sums->lock);
  g_ptr_array_unref (sums->sums);
}

/* Runs `desc` (ending in "fakesink name=out") to EOS, recording checksums. */
static void
run_recording (GstElement * pipeline, Sums * sums)
{
  GstElement *out = gst_bin_get_by_name (GST_BIN (pipeline), "out");
  GstBus *bus = gst_element_get_bus (pipeline);
  GstMessage *msg;

  g_object_set (out, "signal-handoffs", TRUE, NULL);
  g_signal_connect (out, "handoff", G_CALLBACK (record_handoff), sums);
  gst_object_unref (out);
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  msg = gst_bus_timed_pop_filtered (bus, HANG_TIMEOUT,
      GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  fail_unless (msg && GST_MESSAGE_TYPE (msg) == GST_MESSAGE_EOS);
  gst_message_unref (msg);
  gst_object_unref (bus);
  fail_unless_equals_int (set_state_or_fail (pipeline, GST_STATE_NULL),
      GST_STATE_CHANGE_SUCCESS);
}

static guint64
stat_u64 (GstElement * e, const gchar * field)
{
  GstStructure *stats = NULL;
  guint64 v = G_MAXUINT64;

  g_object_get (e, "stats", &stats, NULL);
  fail_unless (stats != NULL, "%s has no stats", GST_OBJECT_NAME (e));
  fail_unless (gst_structure_get_uint64 (stats, field, &v), "no %s in %"
      GST_PTR_FORMAT, field, stats);
  gst_structure_free (stats);
  return v;
}

#define TEST_SRC "videotestsrc num-buffers=10 pattern=ball ! " \
  "video/x-raw,format=NV12,width=40,height=30,framerate=30/1"

/* The reader in a real pipeline, no capsfilter, started first; the writer
 * a real pipeline, videotestsrc ! mmapsink, rendering straight into the
 * file's slots.  The reader gets the frames videotestsrc makes, byte for
 * byte (checked against a run of the same source), with the writer's
 * caps, then EOS. */
GST_START_TEST (test_pipeline_to_pipeline)
{
  gchar *path = mmap_test_path ("pipes");
  GstElement *wp, *rp, *ref, *sink;
  GstBus *rbus, *wbus;
  GstMessage *msg;
  GstPad *pad;
  GstCaps *caps, *wcaps;
  Sums got, expect;
  guint i;

  sums_init (&expect);
  ref = parse_pipeline (TEST_SRC " ! fakesink name=out");
  run_recording (ref, &expect);
  gst_object_unref (ref);
  fail_unless_equals_int (expect.sums->len, 10);

  sums_init (&got);
  rp = parse_pipeline ("mmapsrc location=%s ! fakesink name=out "
      "signal-handoffs=true", path);
  rbus = gst_element_get_bus (rp);
  sink = gst_bin_get_by_name (GST_BIN (rp), "out");
  g_signal_connect (sink, "handoff", G_CALLBACK (record_handoff), &got);
  gst_object_unref (sink);
  fail_if (set_state_or_fail (rp, GST_STATE_PLAYING) ==
      GST_STATE_CHANGE_FAILURE);
  gst_message_unref (wait_element_message (rbus, "mmapsrc-waiting"));

  wp = parse_pipeline (TEST_SRC " ! mmapsink name=w location=%s sync=true",
      path);
  wbus = gst_element_get_bus (wp);
  gst_element_set_state (wp, GST_STATE_PLAYING);
  msg = gst_bus_timed_pop_filtered (wbus, HANG_TIMEOUT,
      GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  fail_unless (msg && GST_MESSAGE_TYPE (msg) == GST_MESSAGE_EOS,
      "the writer did not reach EOS");
  gst_message_unref (msg);
  sink = gst_bin_get_by_name (GST_BIN (wp), "w");
  /* videotestsrc drew into the slots (the sink's pool): zero-copy. */
  fail_unless_equals_uint64 (stat_u64 (sink, "frames-zero-copy"), 10);
  pad = gst_element_get_static_pad (sink, "sink");
  wcaps = gst_pad_get_current_caps (pad);
  fail_unless (wcaps != NULL);
  gst_object_unref (pad);
  gst_object_unref (sink);

  msg = gst_bus_timed_pop_filtered (rbus, HANG_TIMEOUT,
      GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  fail_unless (msg && GST_MESSAGE_TYPE (msg) == GST_MESSAGE_EOS,
      "the reader did not reach EOS after the writer's");
  gst_message_unref (msg);
  g_mutex_lock (&got.lock);
  fail_unless_equals_int (got.sums->len, 10);
  for (i = 0; i < 10; i++)
    fail_unless_equals_string (g_ptr_array_index (got.sums, i),
        g_ptr_array_index (expect.sums, i));
  g_mutex_unlock (&got.lock);
  sink = gst_bin_get_by_name (GST_BIN (rp), "out");
  pad = gst_element_get_static_pad (sink, "sink");
  caps = gst_pad_get_current_caps (pad);
  fail_unless (caps && gst_caps_is_equal (caps, wcaps), "the reader has "
      "caps %" GST_PTR_FORMAT ", the writer %" GST_PTR_FORMAT, caps, wcaps);
  gst_caps_unref (wcaps);
  wcaps = gst_caps_from_string ("video/x-raw, format=(string)NV12, "
      "width=(int)40, height=(int)30");
  fail_unless (gst_caps_is_subset (caps, wcaps), "%" GST_PTR_FORMAT, caps);
  gst_caps_unref (caps);
  gst_caps_unref (wcaps);
  gst_object_unref (pad);

  fail_unless_equals_int (set_state_or_fail (wp, GST_STATE_NULL),
      GST_STATE_CHANGE_SUCCESS);
  fail_unless_equals_int (set_state_or_fail (rp, GST_STATE_NULL),
      GST_STATE_CHANGE_SUCCESS);
  gst_object_unref (sink);
  gst_object_unref (rbus);
  gst_object_unref (wbus);
  gst_object_unref (rp);
  gst_object_unref (wp);
  sums_clear (&got);
  sums_clear (&expect);
  mmap_test_remove (path);
  g_free (path);
}

GST_END_TEST;

/* A zero-copy buffer is the writer's slot itself: while downstream holds
 * it, the writer must leave the slot alone, and must not stall either. */
GST_START_TEST (test_src_zero_copy_buffer_stays_intact)
{
  gchar *path = mmap_test_path ("lease");
  /* Three slots: lease_limit 1 (one slot always stays for the writer to
   * copy into, and one for what upstream renders into). */
  GstHarness *w = sink_harness (path, 3);
  GstHarness *h;
  GstBus *bus;
  GstBuffer *held;
  Output out;
  guint i;

  gst_harness_set_src_caps_str (w, CAPS_RGB);
  h = src_harness (path, &bus);
  gst_harness_play (h);
  gst_message_unref (wait_element_message (bus, "mmapsrc-writer"));
  push_frame (w, 1, SIZE_RGB);
  pull_output (h, &out, 1);
  fail_unless_equals_int (out.buffers->len, 1);
  held = gst_buffer_ref (g_ptr_array_index (out.buffers, 0));
  output_clear (&out);
  fail_unless_equals_uint64 (stat_u64 (h->element, "frames-zero-copy"), 1);

  /* Three slots, one of them lent to the reader's downstream. */
  for (i = 2; i <= 12; i++)
    push_frame (w, i, SIZE_RGB);
  fail_unless (buffer_is_frame (held, 1, SIZE_RGB), "the writer rewrote a "
      "slot while a reader's downstream held it");
  fail_unless_equals_uint64 (stat_u64 (w->element, "frames-written"), 12);
  fail_unless_equals_uint64 (stat_u64 (w->element, "frames-dropped"), 0);
  gst_buffer_unref (held);

  fail_unless (gst_harness_push_event (w, gst_event_new_eos ()));
  pull_output (h, &out, 0);
  fail_unless (out.eos);
  output_clear (&out);

  src_harness_teardown (h, bus);
  gst_harness_teardown (w);
  mmap_test_remove (path);
  g_free (path);
}

GST_END_TEST;

static Suite *
elements_suite (void)
{
  Suite *s = suite_create ("mmap elements");
  TCase *tc;

  tc = tcase_create ("properties");
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_sink_properties);
  tcase_add_test (tc, test_src_properties);
  tcase_add_test (tc, test_properties_locked_while_running);

  tc = tcase_create ("mmapsink");
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_sink_publishes_frames);
  tcase_add_test (tc, test_sink_honours_video_meta);
  tcase_add_test (tc, test_sink_file_mode);
  tcase_add_test (tc, test_sink_refuses_second_writer);
  tcase_add_test (tc, test_sink_leaves_large_foreign_file);
  tcase_add_test (tc, test_sink_leaves_small_foreign_file);
  tcase_add_test (tc, test_sink_without_location);

  tc = tcase_create ("mmapsrc");
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_src_reads_writer);
  tcase_add_test (tc, test_src_first_buffer_discont);
  tcase_add_test (tc, test_src_started_before_writer_gets_every_frame);
  tcase_add_test (tc, test_src_waiting_reader_gets_frames_before_it_looked);
  tcase_add_test (tc, test_src_follows_caps_change);
  tcase_add_test (tc, test_src_variable_payloads);
  tcase_add_test (tc, test_src_writer_timestamps);
  tcase_add_test (tc, test_src_follows_new_writer);
  tcase_add_test (tc, test_src_refuses_garbage);
  tcase_add_test (tc, test_src_refuses_unfixed_caps);
  tcase_add_test (tc, test_src_refuses_slots_too_small);
  tcase_add_test (tc, test_src_refuses_frame_outside_slot);
  tcase_add_test (tc, test_src_waits_and_stops);
  tcase_add_test (tc, test_src_stops_while_waiting_for_frames);
  tcase_add_test (tc, test_src_zero_copy_buffer_stays_intact);
  tcase_add_test (tc, test_pipeline_to_pipeline);

  return s;
}

int
main (int argc, char **argv)
{
  int failed;

  gst_check_init (&argc, &argv);
  mmap_test_init ();
  failed = gst_check_run_suite (elements_suite (), "elements", __FILE__);
  mmap_test_cleanup_all ();
  return failed;
}

/* mmapbench: one process of the gst-mmap benchmark; bench/run.sh starts
 * a writer and one or more readers of it and compares transports.
 *
 *   mmapbench writer --transport=mmap|shm|tcp|fakesink [options]
 *   mmapbench reader --transport=mmap|shm|tcp [options]
 *
 * The writer runs videotestsrc ! caps ! <transport sink>.  A probe on the
 * transport's sink pad stamps every frame at the last moment before the
 * transport gets it: the frame's number at the start and end of every
 * 4096-byte page, and its CLOCK_MONOTONIC time in the first page.  The
 * reader runs <transport source> ! fakesink, and a probe on the fakesink
 * pad takes CLOCK_MONOTONIC first, then checks every page.  Both clocks are
 * the same kernel clock, so now - stamp is the latency through the
 * transport, and a frame whose pages do not all carry its number is torn or
 * damaged.  The stamps overwrite a few bytes of the picture; nothing looks
 * at the picture.
 *
 * The layout, per page k at byte k * 4096 of the frame (only for pages
 * whose first 16 bytes are inside it):
 *   +0     uint64 seq (frame number, from 1)
 *   +8     uint64 seq ^ (k * PAGE_KEY)    catches a page moved in the frame
 *   +4088  uint64 ~seq                    catches a page cut short
 *                                         (whole pages only)
 * and in page 0 also: +16 uint64 STAMP_MAGIC, +24 uint64 send time in ns,
 * +32 uint64 the CPU the writer's thread ran on at the stamp.
 *
 * With --breakdown, a reader of mmapsrc also reads the source's "stats" in
 * the same probe, after its own clock reading: for the frame just output,
 * publish-last-ns (CLOCK_MONOTONIC of its publication), wake-last-us
 * (publication to the reader finding it) and latency-last-us (publication
 * to create() handing it to basesrc).  They belong to this frame: mmapsrc
 * sets them before create() returns, and the next create() runs in this
 * same streaming thread only after the probe.  With the send time they
 * split the latency into four stages, in ns:
 *   writer  send time to publication (mmapsink's render)
 *   wake    publication to found (the reader's wait and wake-up)
 *   src     found to create() returning (mmapsrc making the buffer)
 *   down    create() returning to the probe (basesrc's loop and the push)
 * The latency file then has "latency writer wake src down wcpu rcpu" on
 * each line instead of the latency alone: with the stages, the writer's
 * CPU at the stamp and the reader's at the probe (on a machine whose
 * scheduler puts a woken reader on its waker's CPU, the wake-up waits for
 * whatever the writer does next).
 *
 * Control is line by line on stdin, so that the driver can open one
 * measurement window in every process at once:
 *   start  resets the window's counters and takes the process CPU time
 *   stop   closes the window and prints one JSON object on stdout
 *   quit   (or end of input, SIGINT, SIGTERM) stops the pipeline and exits
 * Before any of that, each process prints one line starting with "READY":
 * the writer when its pipeline is PLAYING (with the TCP port it listens
 * on), a reader at its first intact frame.  Errors go to stderr, and the
 * exit code is non-zero after a pipeline error.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#define _GNU_SOURCE             /* sched_getcpu */
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <glib-unix.h>
#include <gst/gst.h>
#include <gst/video/video.h>

#define PAGE 4096
#define STAMP_MAGIC G_GUINT64_CONSTANT (0x48434e4250414d4d)     /* "MMAPBNCH" */
#define PAGE_KEY G_GUINT64_CONSTANT (0x9e3779b97f4a7c15)
/* Damaged frames described on stderr; the rest are only counted. */
#define MAX_REPORTED_DAMAGE 5

enum
{ STAGE_WRITER, STAGE_WAKE, STAGE_SRC, STAGE_DOWN, N_STAGES };

/* One intact frame of the window, as the reader saw it. */
typedef struct
{
  guint64 latency_ns;
  gboolean has_stages;
  gint64 stage_ns[N_STAGES];    /* signed: a stale account shows up < 0 */
  gint writer_cpu, reader_cpu;  /* with the stages */
} FrameTime;

typedef struct
{
  /* Options, fixed after parsing. */
  gboolean is_writer;
  gchar *transport;
  gchar *format;
  gint width, height, fps;
  gchar *location;
  gint port;
  gchar *pattern;
  gint64 publish;
  gint shm_frames;
  gboolean drop_allocation;
  gchar *element_props;
  gchar *latency_file;
  gboolean breakdown;
  gsize frame_size;

  GstElement *pipeline;
  GMainLoop *loop;
  gint exit_code;
  gboolean ready;               /* main thread only */

  /* Streaming thread and main thread: `lock`. */
  GMutex lock;
  gboolean in_window;
  guint64 window_start_ns;
  guint64 window_cpu_ns;
  struct rusage window_rusage;
  guint64 frames;               /* in the window */
  guint64 missed;               /* frame numbers skipped, in the window */
  guint64 reordered;            /* frames older than the previous one */
  guint64 damaged;
  guint64 copies;               /* writer: buffers the probe had to copy */
  GArray *latencies;            /* FrameTime, in the window */
  guint64 stats_reads;          /* --breakdown: reads of "stats" and the */
  guint64 stats_read_ns;        /* CPU time they took, in the window */
  GstElement *stats_element;    /* the element whose "stats" we report */
  GstStructure *stats_at_start; /* main thread only */
  /* Whole life of the process. */
  guint64 seq;                  /* writer: last stamped; reader: last seen */
  guint64 total_frames;
  guint64 total_damaged;
  gboolean first_frame_seen;
} Bench;

static guint64
monotonic_ns (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (guint64) ts.tv_sec * G_GUINT64_CONSTANT (1000000000) + ts.tv_nsec;
}

static guint64
process_cpu_ns (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (guint64) ts.tv_sec * G_GUINT64_CONSTANT (1000000000) + ts.tv_nsec;
}

static guint64
thread_cpu_ns (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_THREAD_CPUTIME_ID, &ts);
  return (guint64) ts.tv_sec * G_GUINT64_CONSTANT (1000000000) + ts.tv_nsec;
}

static void
put64 (guint8 * p, guint64 v)
{
  memcpy (p, &v, 8);
}

static guint64
get64 (const guint8 * p)
{
  guint64 v;
  memcpy (&v, p, 8);
  return v;
}

static void
stamp_frame (guint8 * data, gsize size, guint64 seq)
{
  gsize off;
  guint64 k;

  if (size < 40)
    return;
  for (k = 0, off = 0; off + 16 <= size; k++, off += PAGE) {
    put64 (data + off, seq);
    put64 (data + off + 8, seq ^ (k * PAGE_KEY));
    if (off + PAGE <= size)
      put64 (data + off + PAGE - 8, ~seq);
  }
  put64 (data + 16, STAMP_MAGIC);
  put64 (data + 32, (guint64) sched_getcpu ());
  /* Last, so that the time is as close to the hand-over as it can be. */
  put64 (data + 24, monotonic_ns ());
}

/* The frame number, or 0 with *why set when the frame is not one whole
 * frame as the writer stamped it. */
static guint64
check_frame (const guint8 * data, gsize size, gsize expected_size,
    guint64 * sent_ns, gchar ** why)
{
  guint64 seq, k;
  gsize off;

  if (size != expected_size) {
    *why = g_strdup_printf ("%" G_GSIZE_FORMAT " bytes instead of %"
        G_GSIZE_FORMAT, size, expected_size);
    return 0;
  }
  if (size < 32 || get64 (data + 16) != STAMP_MAGIC || get64 (data) == 0) {
    *why = g_strdup ("no stamp in the first page");
    return 0;
  }
  seq = get64 (data);
  for (k = 0, off = 0; off + 16 <= size; k++, off += PAGE) {
    guint64 head = get64 (data + off);
    if (head != seq) {
      *why = g_strdup_printf ("frame %" G_GUINT64_FORMAT ": page %"
          G_GUINT64_FORMAT " starts with frame %" G_GUINT64_FORMAT, seq, k,
          head);
      return 0;
    }
    if (get64 (data + off + 8) != (seq ^ (k * PAGE_KEY))) {
      *why = g_strdup_printf ("frame %" G_GUINT64_FORMAT ": page %"
          G_GUINT64_FORMAT " is out of place", seq, k);
      return 0;
    }
    if (off + PAGE <= size && get64 (data + off + PAGE - 8) != ~seq) {
      *why = g_strdup_printf ("frame %" G_GUINT64_FORMAT ": page %"
          G_GUINT64_FORMAT " ends with another frame", seq, k);
      return 0;
    }
  }
  *sent_ns = get64 (data + 24);
  return seq;
}

static GstPadProbeReturn
writer_probe (GstPad * pad, GstPadProbeInfo * info, gpointer user_data)
{
  Bench *b = user_data;
  GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER (info);
  gboolean copied = FALSE;
  GstMapInfo map;
  guint64 seq;

  /* The idle test: the writer stays alive but publishes nothing more. */
  if (b->publish >= 0 && b->seq >= (guint64) b->publish)
    return GST_PAD_PROBE_DROP;

  /* videotestsrc's buffers are writable; a copy here would be the
   * benchmark's, not the transport's, so it is counted and reported. */
  if (!gst_buffer_is_writable (buf)) {
    buf = gst_buffer_make_writable (buf);
    GST_PAD_PROBE_INFO_DATA (info) = buf;
    copied = TRUE;
  }
  if (!gst_buffer_map (buf, &map, GST_MAP_WRITE)) {
    g_printerr ("writer: cannot map a buffer for writing\n");
    return GST_PAD_PROBE_DROP;
  }

  g_mutex_lock (&b->lock);
  seq = ++b->seq;
  b->total_frames++;
  if (b->in_window) {
    b->frames++;
    if (copied)
      b->copies++;
  }
  g_mutex_unlock (&b->lock);

  stamp_frame (map.data, map.size, seq);
  gst_buffer_unmap (buf, &map);
  return GST_PAD_PROBE_OK;
}

static gboolean
announce_first_frame (gpointer user_data)
{
  Bench *b = user_data;

  if (!b->ready) {
    b->ready = TRUE;
    printf ("READY\n");
  }
  return G_SOURCE_REMOVE;
}

/* mmapsrc's account of the frame it output last (see the top of the
 * file): when it was published, and how long after that the reader found
 * it and create() handed it on, in ns.  FALSE for a source without these
 * fields. */
static gboolean
source_times (Bench * b, guint64 * publish_ns, guint64 * wake_ns,
    guint64 * out_ns)
{
  GstStructure *st = NULL;
  gdouble wake_us = 0, latency_us = 0;
  gboolean ok;

  g_object_get (b->stats_element, "stats", &st, NULL);
  ok = st && gst_structure_get_uint64 (st, "publish-last-ns", publish_ns)
      && gst_structure_get_double (st, "wake-last-us", &wake_us)
      && gst_structure_get_double (st, "latency-last-us", &latency_us);
  if (st)
    gst_structure_free (st);
  *wake_ns = (guint64) (wake_us * 1000.0 + 0.5);
  *out_ns = (guint64) (latency_us * 1000.0 + 0.5);
  return ok;
}

static void
split_latency (FrameTime * ft, guint64 sent, guint64 now, guint64 publish,
    guint64 wake, guint64 out)
{
  ft->has_stages = TRUE;
  ft->stage_ns[STAGE_WRITER] = (gint64) (publish - sent);
  ft->stage_ns[STAGE_WAKE] = (gint64) wake;
  ft->stage_ns[STAGE_SRC] = (gint64) out - (gint64) wake;
  ft->stage_ns[STAGE_DOWN] = (gint64) (now - (publish + out));
}

static GstPadProbeReturn
reader_probe (GstPad * pad, GstPadProbeInfo * info, gpointer user_data)
{
  guint64 now = monotonic_ns ();
  Bench *b = user_data;
  GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER (info);
  GstMapInfo map;
  guint64 seq = 0, sent = 0, publish = 0, wake = 0, out = 0, read_ns = 0;
  guint64 cpu0;
  gint writer_cpu = -1, reader_cpu = sched_getcpu ();
  gboolean have_times = FALSE;
  gchar *why = NULL;

  /* After `now`, which no stage goes past.  read_ns, the read's own CPU
   * time, is reported: the driver takes it out of the reader's CPU. */
  if (b->breakdown) {
    cpu0 = thread_cpu_ns ();
    have_times = source_times (b, &publish, &wake, &out);
    read_ns = thread_cpu_ns () - cpu0;
  }
  if (!gst_buffer_map (buf, &map, GST_MAP_READ)) {
    why = g_strdup ("cannot map the buffer");
  } else {
    seq = check_frame (map.data, map.size, b->frame_size, &sent, &why);
    if (seq)
      writer_cpu = (gint) get64 (map.data + 32);
    gst_buffer_unmap (buf, &map);
  }

  g_mutex_lock (&b->lock);
  b->total_frames++;
  if (seq == 0) {
    b->total_damaged++;
    if (b->in_window)
      b->damaged++;
    if (b->total_damaged <= MAX_REPORTED_DAMAGE)
      g_printerr ("reader: damaged frame (after frame %" G_GUINT64_FORMAT
          "): %s\n", b->seq, why);
    g_free (why);
  } else {
    if (b->in_window) {
      FrameTime ft = { 0 };

      ft.latency_ns = now >= sent ? now - sent : 0;
      b->frames++;
      if (b->seq != 0 && seq > b->seq + 1)
        b->missed += seq - b->seq - 1;
      else if (b->seq != 0 && seq <= b->seq)
        b->reordered++;
      if (have_times) {
        split_latency (&ft, sent, now, publish, wake, out);
        ft.writer_cpu = writer_cpu;
        ft.reader_cpu = reader_cpu;
      }
      g_array_append_val (b->latencies, ft);
    }
    b->seq = seq;
    if (!b->first_frame_seen) {
      b->first_frame_seen = TRUE;
      g_idle_add (announce_first_frame, b);
    }
  }
  if (b->in_window && b->breakdown) {
    b->stats_reads++;
    b->stats_read_ns += read_ns;
  }
  g_mutex_unlock (&b->lock);
  return GST_PAD_PROBE_OK;
}

/* The transport element's "stats" property, when it has one (mmapsink,
 * mmapsrc, any GstBaseSink), or NULL. */
static GstStructure *
element_stats (Bench * b)
{
  GstStructure *st = NULL;
  GParamSpec *ps;

  if (!b->stats_element)
    return NULL;
  ps = g_object_class_find_property (G_OBJECT_GET_CLASS (b->stats_element),
      "stats");
  if (!ps || ps->value_type != GST_TYPE_STRUCTURE)
    return NULL;
  g_object_get (b->stats_element, "stats", &st, NULL);
  return st;
}

/* A counter's value, or FALSE for fields that are not counters. */
static gboolean
counter_value (const GValue * value, guint64 * out)
{
  if (value && G_VALUE_TYPE (value) == G_TYPE_UINT64)
    *out = g_value_get_uint64 (value);
  else if (value && G_VALUE_TYPE (value) == G_TYPE_UINT)
    *out = g_value_get_uint (value);
  else
    return FALSE;
  return TRUE;
}

static gboolean
print_stat_delta (GQuark field, const GValue * value, gpointer user_data)
{
  const GstStructure *start = ((gpointer *) user_data)[0];
  gboolean *first = ((gpointer *) user_data)[1];
  guint64 now, before = 0;

  /* Counters only: their change over the window is what matters. */
  if (!counter_value (value, &now))
    return TRUE;
  if (start)
    counter_value (gst_structure_id_get_value (start, field), &before);
  printf ("%s\"%s\": %" G_GINT64_FORMAT, *first ? "" : ", ",
      g_quark_to_string (field), (gint64) (now - before));
  *first = FALSE;
  return TRUE;
}

static void
window_start (Bench * b)
{
  if (b->stats_at_start)
    gst_structure_free (b->stats_at_start);
  b->stats_at_start = element_stats (b);

  g_mutex_lock (&b->lock);
  b->in_window = TRUE;
  b->frames = b->missed = b->reordered = b->damaged = b->copies = 0;
  b->stats_reads = b->stats_read_ns = 0;
  g_array_set_size (b->latencies, 0);
  getrusage (RUSAGE_SELF, &b->window_rusage);
  b->window_cpu_ns = process_cpu_ns ();
  b->window_start_ns = monotonic_ns ();
  g_mutex_unlock (&b->lock);
}

static gboolean
write_latencies (Bench * b, GArray * lat)
{
  FILE *f;
  guint i;

  f = fopen (b->latency_file, "w");
  if (!f) {
    g_printerr ("reader: cannot write %s\n", b->latency_file);
    return FALSE;
  }
  for (i = 0; i < lat->len; i++) {
    const FrameTime *ft = &g_array_index (lat, FrameTime, i);
    gint k;

    fprintf (f, "%" G_GUINT64_FORMAT, ft->latency_ns);
    for (k = 0; ft->has_stages && k < N_STAGES; k++)
      fprintf (f, " %" G_GINT64_FORMAT, ft->stage_ns[k]);
    if (ft->has_stages)
      fprintf (f, " %d %d", ft->writer_cpu, ft->reader_cpu);
    fputc ('\n', f);
  }
  return fclose (f) == 0;
}

static void
window_stop (Bench * b)
{
  guint64 end_ns, cpu_ns, frames, missed, reordered, damaged, copies, seq;
  guint64 stats_reads, stats_read_ns;
  glong vcsw, ivcsw;
  GstStructure *stats;
  struct rusage ru;
  GArray *lat;
  gdouble secs;

  g_mutex_lock (&b->lock);
  end_ns = monotonic_ns ();
  cpu_ns = process_cpu_ns () - b->window_cpu_ns;
  getrusage (RUSAGE_SELF, &ru);
  b->in_window = FALSE;
  frames = b->frames;
  missed = b->missed;
  reordered = b->reordered;
  damaged = b->damaged;
  copies = b->copies;
  seq = b->seq;
  stats_reads = b->stats_reads;
  stats_read_ns = b->stats_read_ns;
  lat = b->latencies;
  b->latencies = g_array_new (FALSE, FALSE, sizeof (FrameTime));
  g_mutex_unlock (&b->lock);

  vcsw = ru.ru_nvcsw - b->window_rusage.ru_nvcsw;
  ivcsw = ru.ru_nivcsw - b->window_rusage.ru_nivcsw;
  secs = (end_ns - b->window_start_ns) / 1e9;
  if (b->latency_file)
    write_latencies (b, lat);
  printf ("{\"role\": \"%s\", \"transport\": \"%s\", \"pid\": %d, "
      "\"seconds\": %.6f, \"frames\": %" G_GUINT64_FORMAT ", "
      "\"cpu_seconds\": %.6f, \"voluntary_switches\": %ld, "
      "\"involuntary_switches\": %ld, \"last_seq\": %" G_GUINT64_FORMAT,
      b->is_writer ? "writer" : "reader", b->transport, (int) getpid (),
      secs, frames, cpu_ns / 1e9, vcsw, ivcsw, seq);
  if (b->is_writer)
    printf (", \"copies\": %" G_GUINT64_FORMAT, copies);
  else
    printf (", \"missed\": %" G_GUINT64_FORMAT ", \"reordered\": %"
        G_GUINT64_FORMAT ", \"damaged\": %" G_GUINT64_FORMAT
        ", \"latency_samples\": %u, \"stats_reads\": %" G_GUINT64_FORMAT
        ", \"stats_read_seconds\": %.9f", missed, reordered, damaged,
        lat->len, stats_reads, stats_read_ns / 1e9);
  stats = element_stats (b);
  if (stats) {
    gboolean first = TRUE;
    gpointer data[2] = { b->stats_at_start, &first };

    printf (", \"element\": \"%s\", \"element_stats\": {",
        G_OBJECT_TYPE_NAME (b->stats_element));
    gst_structure_foreach (stats, print_stat_delta, data);
    printf ("}");
    gst_structure_free (stats);
  }
  printf ("}\n");
  g_array_unref (lat);
}

static void
quit (Bench * b)
{
  g_main_loop_quit (b->loop);
}

static gboolean
on_stdin (GIOChannel * ch, GIOCondition cond, gpointer user_data)
{
  Bench *b = user_data;
  gchar *line = NULL;
  GIOStatus st;

  st = g_io_channel_read_line (ch, &line, NULL, NULL, NULL);
  if (st != G_IO_STATUS_NORMAL) {
    g_free (line);
    if (st == G_IO_STATUS_AGAIN)
      return G_SOURCE_CONTINUE;
    quit (b);                   /* end of input: the driver is gone */
    return G_SOURCE_REMOVE;
  }
  g_strstrip (line);
  if (g_str_equal (line, "start")) {
    window_start (b);
  } else if (g_str_equal (line, "stop")) {
    window_stop (b);
  } else if (g_str_equal (line, "quit")) {
    quit (b);
  } else if (*line) {
    g_printerr ("%s: unknown command \"%s\"\n",
        b->is_writer ? "writer" : "reader", line);
  }
  g_free (line);
  return G_SOURCE_CONTINUE;
}

static gboolean
on_signal (gpointer user_data)
{
  quit (user_data);
  return G_SOURCE_CONTINUE;
}

static gboolean
on_bus (GstBus * bus, GstMessage * msg, gpointer user_data)
{
  Bench *b = user_data;
  GError *err = NULL;
  gchar *dbg = NULL;

  switch (GST_MESSAGE_TYPE (msg)) {
    case GST_MESSAGE_ERROR:
      gst_message_parse_error (msg, &err, &dbg);
      g_printerr ("%s: error from %s: %s\n%s\n",
          b->is_writer ? "writer" : "reader", GST_OBJECT_NAME (msg->src),
          err->message, dbg ? dbg : "");
      g_clear_error (&err);
      g_free (dbg);
      b->exit_code = 1;
      quit (b);
      break;
    case GST_MESSAGE_WARNING:
      gst_message_parse_warning (msg, &err, &dbg);
      g_printerr ("%s: warning from %s: %s\n",
          b->is_writer ? "writer" : "reader", GST_OBJECT_NAME (msg->src),
          err->message);
      g_clear_error (&err);
      g_free (dbg);
      break;
    case GST_MESSAGE_EOS:
      g_printerr ("%s: end of stream\n", b->is_writer ? "writer" : "reader");
      quit (b);
      break;
    case GST_MESSAGE_STATE_CHANGED:{
      GstState new_state;
      if (GST_MESSAGE_SRC (msg) != GST_OBJECT (b->pipeline) || !b->is_writer
          || b->ready)
        break;
      gst_message_parse_state_changed (msg, NULL, &new_state, NULL);
      if (new_state == GST_STATE_PLAYING) {
        GstElement *net = gst_bin_get_by_name (GST_BIN (b->pipeline), "net");
        gint port = 0;
        if (net) {
          g_object_get (net, "current-port", &port, NULL);
          gst_object_unref (net);
        }
        b->ready = TRUE;
        printf ("READY port=%d\n", port);
      }
      break;
    }
    default:
      break;
  }
  return G_SOURCE_CONTINUE;
}

static gchar *
caps_string (Bench * b)
{
  /* Unthrottled runs still need a framerate in the caps; it only matters
   * to a live source. */
  return g_strdup_printf ("video/x-raw,format=%s,width=%d,height=%d,"
      "framerate=%d/1", b->format, b->width, b->height,
      b->fps > 0 ? b->fps : 30);
}

static gchar *
writer_description (Bench * b)
{
  gchar *caps = caps_string (b), *tx, *desc;
  const gchar *props = b->element_props ? b->element_props : "";

  if (g_str_equal (b->transport, "mmap")) {
    tx = g_strdup_printf ("mmapsink name=tx location=\"%s\" sync=false "
        "enable-last-sample=false %s", b->location, props);
  } else if (g_str_equal (b->transport, "shm")) {
    /* Room for the frames readers hold, the pool's and some slack: when
     * the area is full shmsink waits, which is shm's way, not a bug. */
    guint64 area = (guint64) b->shm_frames * b->frame_size + (1 << 20);
    tx = g_strdup_printf ("shmsink name=tx socket-path=\"%s\" "
        "wait-for-connection=false sync=false enable-last-sample=false "
        "shm-size=%" G_GUINT64_FORMAT " %s", b->location, area, props);
  } else if (g_str_equal (b->transport, "tcp")) {
    /* A client more than 16 frames behind skips to the newest one, like
     * an mmapsrc that falls behind the ring, instead of the queue growing
     * without bound in unthrottled runs. */
    tx = g_strdup_printf ("gdppay name=tx ! tcpserversink name=net "
        "host=127.0.0.1 port=%d sync=false enable-last-sample=false "
        "units-soft-max=16 recover-policy=latest %s", b->port, props);
  } else if (g_str_equal (b->transport, "fakesink")) {
    tx = g_strdup_printf ("fakesink name=tx sync=false "
        "enable-last-sample=false %s", props);
  } else {
    g_free (caps);
    return NULL;
  }
  desc = g_strdup_printf ("videotestsrc is-live=%s pattern=%s ! %s ! %s%s",
      b->fps > 0 ? "true" : "false", b->pattern, caps,
      b->drop_allocation ? "identity drop-allocation=true ! " : "", tx);
  g_free (caps);
  g_free (tx);
  return desc;
}

static gchar *
reader_description (Bench * b)
{
  gchar *caps = caps_string (b), *rx, *desc;
  const gchar *props = b->element_props ? b->element_props : "";

  if (g_str_equal (b->transport, "mmap")) {
    rx = g_strdup_printf ("mmapsrc name=src location=\"%s\" %s", b->location,
        props);
  } else if (g_str_equal (b->transport, "shm")) {
    /* shmsrc does not carry caps: they have to be repeated by hand. */
    rx = g_strdup_printf ("shmsrc name=src socket-path=\"%s\" is-live=true "
        "%s ! %s", b->location, props, caps);
  } else if (g_str_equal (b->transport, "tcp")) {
    rx = g_strdup_printf ("tcpclientsrc name=src host=127.0.0.1 port=%d %s ! "
        "gdpdepay", b->port, props);
  } else {
    g_free (caps);
    return NULL;
  }
  desc = g_strdup_printf ("%s ! fakesink name=rx sync=false "
      "enable-last-sample=false", rx);
  g_free (caps);
  g_free (rx);
  return desc;
}

static gboolean
parse_args (Bench * b, int *argc, char ***argv)
{
  GOptionEntry entries[] = {
    {"transport", 0, 0, G_OPTION_ARG_STRING, &b->transport,
        "mmap, shm, tcp, or (writer only) fakesink", "NAME"},
    {"format", 0, 0, G_OPTION_ARG_STRING, &b->format,
        "Video format (default I420)", "FORMAT"},
    {"width", 0, 0, G_OPTION_ARG_INT, &b->width, "Width (default 640)",
        "N"},
    {"height", 0, 0, G_OPTION_ARG_INT, &b->height,
        "Height (default 480)", "N"},
    {"fps", 0, 0, G_OPTION_ARG_INT, &b->fps,
        "Frames per second of a live writer; 0: as fast as it can "
          "(default 30)", "N"},
    {"location", 0, 0, G_OPTION_ARG_FILENAME, &b->location,
        "mmap: the shared file; shm: the control socket", "PATH"},
    {"port", 0, 0, G_OPTION_ARG_INT, &b->port,
          "tcp: the port (writer: 0 picks a free one, printed on READY)",
        "N"},
    {"pattern", 0, 0, G_OPTION_ARG_STRING, &b->pattern,
        "Writer: videotestsrc pattern (default black)", "NAME"},
    {"publish", 0, 0, G_OPTION_ARG_INT64, &b->publish,
        "Writer: publish this many frames, then drop the rest while "
          "staying alive (default -1: all)", "N"},
    {"shm-frames", 0, 0, G_OPTION_ARG_INT, &b->shm_frames,
        "Writer, shm: size the shared area for this many frames "
          "(default 16)", "N"},
    {"drop-allocation", 0, 0, G_OPTION_ARG_NONE, &b->drop_allocation,
        "Writer: keep upstream from allocating in the transport's memory "
          "(identity drop-allocation=true), so the sink copies", NULL},
    {"element-props", 0, 0, G_OPTION_ARG_STRING, &b->element_props,
        "Extra properties for the transport element, as on a "
          "gst-launch line (e.g. \"slots=16\")", "PROPS"},
    {"latency-file", 0, 0, G_OPTION_ARG_FILENAME, &b->latency_file,
        "Reader: at each stop, write the window's latencies (ns, one a "
          "line) here", "PATH"},
    {"breakdown", 0, 0, G_OPTION_ARG_NONE, &b->breakdown,
        "Reader, mmap: read mmapsrc's stats for every frame and split its "
          "latency into stages in the latency file (see the top of "
          "mmapbench.c)", NULL},
    {NULL}
  };
  GOptionContext *ctx;
  GError *err = NULL;
  GstVideoInfo vinfo;
  GstCaps *caps;
  gchar *caps_str;
  gboolean ok;

  ctx = g_option_context_new ("writer|reader - one process of the gst-mmap "
      "benchmark");
  g_option_context_set_description (ctx, "Driven by bench/run.sh; see the "
      "comment at the top of bench/mmapbench.c for the protocol.");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_option_context_add_group (ctx, gst_init_get_option_group ());
  ok = g_option_context_parse (ctx, argc, argv, &err);
  g_option_context_free (ctx);
  if (!ok) {
    g_printerr ("mmapbench: %s\n", err->message);
    g_error_free (err);
    return FALSE;
  }
  if (*argc != 2 || (!g_str_equal ((*argv)[1], "writer")
          && !g_str_equal ((*argv)[1], "reader"))) {
    g_printerr ("mmapbench: say \"writer\" or \"reader\" (see --help)\n");
    return FALSE;
  }
  b->is_writer = g_str_equal ((*argv)[1], "writer");
  if (!b->transport || (!b->location && (g_str_equal (b->transport, "mmap")
              || g_str_equal (b->transport, "shm")))) {
    g_printerr ("mmapbench: --transport, and for mmap and shm --location, "
        "are needed\n");
    return FALSE;
  }
  if (!b->is_writer && g_str_equal (b->transport, "tcp") && b->port <= 0) {
    g_printerr ("mmapbench: a tcp reader needs --port\n");
    return FALSE;
  }

  caps_str = caps_string (b);
  caps = gst_caps_from_string (caps_str);
  ok = caps && gst_video_info_from_caps (&vinfo, caps);
  if (ok)
    b->frame_size = GST_VIDEO_INFO_SIZE (&vinfo);
  else
    g_printerr ("mmapbench: bad video caps %s\n", caps_str);
  gst_clear_caps (&caps);
  g_free (caps_str);
  if (ok && b->frame_size < 32) {
    g_printerr ("mmapbench: frames of %" G_GSIZE_FORMAT " bytes are too "
        "small for the stamp\n", b->frame_size);
    ok = FALSE;
  }
  return ok;
}

int
main (int argc, char **argv)
{
  Bench b = { 0 };
  GError *err = NULL;
  gchar *desc;
  GstElement *el;
  GstPad *pad;
  GstBus *bus;
  GIOChannel *in;

  b.format = g_strdup ("I420");
  b.width = 640;
  b.height = 480;
  b.fps = 30;
  b.pattern = g_strdup ("black");
  b.publish = -1;
  b.shm_frames = 16;
  g_mutex_init (&b.lock);
  b.latencies = g_array_new (FALSE, FALSE, sizeof (FrameTime));

  /* The driver reads our lines as they come. */
  setvbuf (stdout, NULL, _IOLBF, 0);
  if (!parse_args (&b, &argc, &argv))
    return 2;

  desc = b.is_writer ? writer_description (&b) : reader_description (&b);
  if (!desc) {
    g_printerr ("mmapbench: unknown transport \"%s\" for a %s\n",
        b.transport, b.is_writer ? "writer" : "reader");
    return 2;
  }
  g_printerr ("%s: %s\n", b.is_writer ? "writer" : "reader", desc);
  b.pipeline = gst_parse_launch (desc, &err);
  g_free (desc);
  if (!b.pipeline || err) {
    g_printerr ("mmapbench: %s\n", err ? err->message : "no pipeline");
    return 2;
  }

  el = gst_bin_get_by_name (GST_BIN (b.pipeline), b.is_writer ? "tx" : "rx");
  pad = gst_element_get_static_pad (el, "sink");
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER,
      b.is_writer ? writer_probe : reader_probe, &b, NULL);
  gst_object_unref (pad);
  gst_object_unref (el);
  /* The element that does the transport's work, for its statistics. */
  b.stats_element = gst_bin_get_by_name (GST_BIN (b.pipeline),
      b.is_writer ? "net" : "src");
  if (!b.stats_element && b.is_writer)
    b.stats_element = gst_bin_get_by_name (GST_BIN (b.pipeline), "tx");
  if (b.breakdown && (b.is_writer || !b.stats_element
          || !g_object_class_find_property (G_OBJECT_GET_CLASS
              (b.stats_element), "stats"))) {
    g_printerr ("mmapbench: --breakdown is for a reader whose source has "
        "stats; ignored\n");
    b.breakdown = FALSE;
  }

  b.loop = g_main_loop_new (NULL, FALSE);
  bus = gst_element_get_bus (b.pipeline);
  gst_bus_add_watch (bus, on_bus, &b);
  gst_object_unref (bus);
  in = g_io_channel_unix_new (0);
  g_io_add_watch (in, G_IO_IN | G_IO_HUP | G_IO_ERR, on_stdin, &b);
  g_unix_signal_add (SIGINT, on_signal, &b);
  g_unix_signal_add (SIGTERM, on_signal, &b);

  if (gst_element_set_state (b.pipeline, GST_STATE_PLAYING) ==
      GST_STATE_CHANGE_FAILURE) {
    /* The error message on the bus says why. */
    b.exit_code = 1;
  } else {
    g_main_loop_run (b.loop);
  }

  gst_element_set_state (b.pipeline, GST_STATE_NULL);
  gst_bus_remove_watch (GST_ELEMENT_BUS (b.pipeline));
  if (b.exit_code != 0) {
    /* Show what the bus still holds (the reason of a failed start). */
    GstMessage *m = gst_bus_pop_filtered (GST_ELEMENT_BUS (b.pipeline),
        GST_MESSAGE_ERROR);
    if (m) {
      gst_message_parse_error (m, &err, NULL);
      g_printerr ("%s: error: %s\n", b.is_writer ? "writer" : "reader",
          err->message);
      g_clear_error (&err);
      gst_message_unref (m);
    }
  }
  g_printerr ("%s: %" G_GUINT64_FORMAT " frames in all, %" G_GUINT64_FORMAT
      " damaged\n", b.is_writer ? "writer" : "reader", b.total_frames,
      b.total_damaged);
  gst_clear_object (&b.stats_element);
  if (b.stats_at_start)
    gst_structure_free (b.stats_at_start);
  gst_object_unref (b.pipeline);
  g_io_channel_unref (in);
  g_main_loop_unref (b.loop);
  g_array_unref (b.latencies);
  return b.exit_code;
}

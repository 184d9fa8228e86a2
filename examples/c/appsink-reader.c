/* appsink-reader: a program of your own that takes the frames an mmapsink
 * in another process publishes.  mmapsrc waits for the writer, takes the
 * caps from the file and hands each frame to appsink; we print one line
 * per frame, the caps whenever they change, and at the end the source's
 * `stats`.
 *
 * Usage: appsink-reader [LOCATION] [FRAMES]
 *   LOCATION  default /dev/shm/gst-mmap
 *   FRAMES    stop after this many frames (default: until the writer's EOS)
 * Ctrl-C kills it without the stats: this example keeps to the basics.
 *
 * Each line shows our frame count, the writer's buffer offset when it set
 * one (appsrc-writer and videotestsrc number their frames there), the PTS
 * in our running time, the size, a checksum of the first 64 bytes, and
 * DISCONT when frames were skipped before it.
 */
#include <stdlib.h>
#include <gst/gst.h>
#include <gst/app/gstappsink.h>

static guint32
checksum (GstBuffer * buf)
{
  guint8 bytes[64];
  gsize n, i;
  guint32 sum = 0;

  n = gst_buffer_extract (buf, 0, bytes, sizeof bytes);
  for (i = 0; i < n; i++)
    sum = sum * 31 + bytes[i];
  return sum;
}

int
main (int argc, char **argv)
{
  const gchar *location = argc > 1 ? argv[1] : "/dev/shm/gst-mmap";
  guint64 max_frames = argc > 2 ? g_ascii_strtoull (argv[2], NULL, 10) : 0;
  GstElement *pipeline, *src, *appsink;
  GstCaps *last_caps = NULL;
  GstSample *sample;
  GstMessage *msg;
  GstStructure *stats;
  gchar *s;
  guint64 frames = 0;
  int ret = EXIT_SUCCESS;

  gst_init (&argc, &argv);

  pipeline = gst_pipeline_new ("reader");
  src = gst_element_factory_make ("mmapsrc", NULL);
  appsink = gst_element_factory_make ("appsink", NULL);
  if (!src || !appsink) {
    g_printerr ("mmapsrc not found: set GST_PLUGIN_PATH to build/plugin\n");
    return EXIT_FAILURE;
  }
  gst_bin_add_many (GST_BIN (pipeline), src, appsink, NULL);
  gst_element_link (src, appsink);

  /* No caps to give: mmapsrc negotiates the writer's.  sync=FALSE hands
   * frames over as soon as they are read instead of waiting for their
   * timestamps. */
  g_object_set (src, "location", location, NULL);
  g_object_set (appsink, "sync", FALSE, NULL);

  if (gst_element_set_state (pipeline, GST_STATE_PLAYING) ==
      GST_STATE_CHANGE_FAILURE)
    goto bus;

  g_print ("reading %s\n", location);
  /* pull_sample blocks until a frame comes (mmapsrc waits for a writer if
   * there is none yet) and returns NULL at EOS or on an error. */
  while ((sample = gst_app_sink_pull_sample (GST_APP_SINK (appsink)))) {
    GstBuffer *buf = gst_sample_get_buffer (sample);
    GstCaps *caps = gst_sample_get_caps (sample);

    if (!last_caps || !gst_caps_is_equal (caps, last_caps)) {
      s = gst_caps_to_string (caps);
      g_print ("caps %s\n", s);
      g_free (s);
      gst_caps_replace (&last_caps, caps);
    }
    g_print ("#%" G_GUINT64_FORMAT, frames);
    if (GST_BUFFER_OFFSET_IS_VALID (buf))
      g_print (" offset %" G_GUINT64_FORMAT, GST_BUFFER_OFFSET (buf));
    g_print (" pts %" GST_TIME_FORMAT " size %" G_GSIZE_FORMAT " sum %08x%s\n",
        GST_TIME_ARGS (GST_BUFFER_PTS (buf)), gst_buffer_get_size (buf),
        checksum (buf),
        GST_BUFFER_FLAG_IS_SET (buf, GST_BUFFER_FLAG_DISCONT) ?
        " DISCONT" : "");
    gst_sample_unref (sample);
    if (++frames == max_frames)
      break;
  }

bus:
  /* Anything that went wrong is on the bus as an error message. */
  msg = gst_bus_pop_filtered (GST_ELEMENT_BUS (pipeline), GST_MESSAGE_ERROR);
  if (msg) {
    GError *err;
    gchar *dbg;

    gst_message_parse_error (msg, &err, &dbg);
    g_printerr ("error: %s\n%s\n", err->message, dbg ? dbg : "");
    g_clear_error (&err);
    g_free (dbg);
    gst_message_unref (msg);
    ret = EXIT_FAILURE;
  }

  g_object_get (src, "stats", &stats, NULL);
  s = gst_structure_to_string (stats);
  g_print ("%" G_GUINT64_FORMAT " frames\n%s\n", frames, s);
  g_free (s);
  gst_structure_free (stats);

  gst_caps_replace (&last_caps, NULL);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (pipeline);
  return ret;
}

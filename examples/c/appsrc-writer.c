/* appsrc-writer: a program of your own that publishes video through
 * mmapsink.  It draws a moving gradient (RGB, 640x480, 30 fps) into
 * buffers it pushes into appsrc, then ends the stream with EOS so that
 * readers end too and mmapsink removes its file.
 *
 * Usage: appsrc-writer [LOCATION] [FRAMES]
 *   LOCATION  default /dev/shm/gst-mmap
 *   FRAMES    default 300 (10 s)
 *
 * Read it back with appsink-reader, examples/python/reader.py or
 *   gst-launch-1.0 mmapsrc location=LOCATION ! videoconvert ! autovideosink
 */
#include <stdlib.h>
#include <gst/gst.h>
#include <gst/app/gstappsrc.h>
#include <gst/video/video.h>

#define WIDTH 640
#define HEIGHT 480
#define FPS 30

/* Frame `n`: red grows to the right, green downwards, and the whole
 * picture slides left by 4 pixels per frame. */
static GstBuffer *
draw_frame (const GstVideoInfo * info, guint64 n)
{
  GstBuffer *buf = gst_buffer_new_allocate (NULL, info->size, NULL);
  GstVideoFrame frame;
  guint x, y;

  gst_video_frame_map (&frame, info, buf, GST_MAP_WRITE);
  for (y = 0; y < HEIGHT; y++) {
    guint8 *row = (guint8 *) GST_VIDEO_FRAME_PLANE_DATA (&frame, 0) +
        y * GST_VIDEO_FRAME_PLANE_STRIDE (&frame, 0);
    for (x = 0; x < WIDTH; x++) {
      row[3 * x + 0] = (guint8) (x + 4 * n);
      row[3 * x + 1] = (guint8) (y * 255 / (HEIGHT - 1));
      row[3 * x + 2] = (guint8) (2 * n);
    }
  }
  gst_video_frame_unmap (&frame);

  /* mmapsink carries timestamps and offsets to the readers. */
  GST_BUFFER_PTS (buf) = gst_util_uint64_scale (n, GST_SECOND, FPS);
  GST_BUFFER_DURATION (buf) = gst_util_uint64_scale (1, GST_SECOND, FPS);
  GST_BUFFER_OFFSET (buf) = n;
  return buf;
}

int
main (int argc, char **argv)
{
  const gchar *location = argc > 1 ? argv[1] : "/dev/shm/gst-mmap";
  guint64 frames = argc > 2 ? g_ascii_strtoull (argv[2], NULL, 10) : 300;
  GstElement *pipeline, *appsrc, *sink;
  GstVideoInfo info;
  GstCaps *caps;
  GstMessage *msg;
  guint64 n;
  int ret = EXIT_SUCCESS;

  gst_init (&argc, &argv);

  pipeline = gst_pipeline_new ("writer");
  appsrc = gst_element_factory_make ("appsrc", NULL);
  sink = gst_element_factory_make ("mmapsink", NULL);
  if (!appsrc || !sink) {
    g_printerr ("mmapsink not found: set GST_PLUGIN_PATH to build/plugin\n");
    return EXIT_FAILURE;
  }
  gst_bin_add_many (GST_BIN (pipeline), appsrc, sink, NULL);
  gst_element_link (appsrc, sink);

  /* The caps readers will negotiate: they come from here, through the
   * file.  format=TIME because our buffers carry timestamps; block=TRUE so
   * that push_buffer waits while a few frames are queued.  mmapsink syncs
   * on the clock (sync=TRUE is GstBaseSink's default), which paces us at
   * 30 frames per second. */
  gst_video_info_set_format (&info, GST_VIDEO_FORMAT_RGB, WIDTH, HEIGHT);
  GST_VIDEO_INFO_FPS_N (&info) = FPS;
  GST_VIDEO_INFO_FPS_D (&info) = 1;
  caps = gst_video_info_to_caps (&info);
  g_object_set (appsrc, "caps", caps, "format", GST_FORMAT_TIME,
      "block", TRUE, "max-buffers", (guint64) 4, NULL);
  gst_caps_unref (caps);
  g_object_set (sink, "location", location, NULL);

  if (gst_element_set_state (pipeline, GST_STATE_PLAYING) ==
      GST_STATE_CHANGE_FAILURE) {
    /* The reason (e.g. another writer holds the location) is on the bus. */
    ret = EXIT_FAILURE;
  } else {
    g_print ("writing %" G_GUINT64_FORMAT " frames to %s\n", frames, location);
    for (n = 0; n < frames; n++) {
      if (gst_app_src_push_buffer (GST_APP_SRC (appsrc),
              draw_frame (&info, n)) != GST_FLOW_OK)
        break;                  /* the pipeline failed: see the bus */
    }
    gst_app_src_end_of_stream (GST_APP_SRC (appsrc));
  }

  /* Wait until EOS has gone through mmapsink (which marks it in the
   * file), or for an error. */
  msg = gst_bus_timed_pop_filtered (GST_ELEMENT_BUS (pipeline),
      GST_CLOCK_TIME_NONE, GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR) {
    GError *err;
    gchar *dbg;

    gst_message_parse_error (msg, &err, &dbg);
    g_printerr ("error: %s\n%s\n", err->message, dbg ? dbg : "");
    g_clear_error (&err);
    g_free (dbg);
    ret = EXIT_FAILURE;
  } else {
    GstStructure *stats;
    gchar *s;

    g_object_get (sink, "stats", &stats, NULL);
    s = gst_structure_to_string (stats);
    g_print ("done: %s\n", s);
    g_free (s);
    gst_structure_free (stats);
  }
  gst_message_unref (msg);

  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (pipeline);
  return ret;
}

/* mmapring-write: publishes a moving test pattern (RGB) into a gst-mmap
 * file from a program without GStreamer, over libmmapring.  Any mmapsrc
 * (or mmapring reader) can follow it:
 *
 *   cc mmapring-write.c $(pkg-config --cflags --libs mmapring)
 *   mmapring-write [-W WIDTH] [-H HEIGHT] [-r FPS] [-n FRAMES] PATH
 *   gst-launch-1.0 mmapsrc location=PATH ! videoconvert ! autovideosink
 */
#include <mmapring.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void
on_signal (int sig)
{
  (void) sig;
  stop = 1;
}

static void
draw (uint8_t * p, int w, int h, int stride, long n)
{
  int x, y;

  for (y = 0; y < h; y++)
    for (x = 0; x < w; x++) {
      uint8_t *px = p + (size_t) y * stride + 3 * x;
      px[0] = (uint8_t) (x + n * 4);
      px[1] = (uint8_t) (y + n * 2);
      px[2] = (uint8_t) ((x ^ y) + n);
    }
}

int
main (int argc, char **argv)
{
  int width = 320, height = 240, fps = 30, opt, stride;
  long frames = -1, n;
  char caps[256];
  MmapRingWriter *w;
  MmapRingFormat fmt = { 0 };
  MmapRingError err;
  struct sigaction sa;
  struct timespec next;

  while ((opt = getopt (argc, argv, "W:H:r:n:h")) != -1) {
    switch (opt) {
      case 'W':
        width = atoi (optarg);
        break;
      case 'H':
        height = atoi (optarg);
        break;
      case 'r':
        fps = atoi (optarg);
        break;
      case 'n':
        frames = strtol (optarg, NULL, 10);
        break;
      default:
        fprintf (stderr, "usage: %s [-W WIDTH] [-H HEIGHT] [-r FPS] "
            "[-n FRAMES] PATH\n", argv[0]);
        return opt == 'h' ? 0 : 2;
    }
  }
  if (optind != argc - 1 || width <= 0 || height <= 0 || fps <= 0)
    return 2;
  /* GStreamer's default layout for RGB: rows padded to 4 bytes. */
  stride = (3 * width + 3) & ~3;
  snprintf (caps, sizeof caps, "video/x-raw, format=(string)RGB, "
      "width=(int)%d, height=(int)%d, framerate=(fraction)%d/1", width,
      height, fps);
  if (!(w = mmapring_writer_open (argv[optind], 0600, &err))) {
    fprintf (stderr, "error: %s\n", err.message);
    return 1;
  }
  fmt.caps = caps;
  fmt.slot_capacity = (uint64_t) stride *height;
  if (mmapring_writer_set_format (w, &fmt, &err) != MMAPRING_OK) {
    fprintf (stderr, "error: %s\n", err.message);
    mmapring_writer_close (w, 1);
    return 1;
  }
  memset (&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction (SIGINT, &sa, NULL);
  sigaction (SIGTERM, &sa, NULL);

  clock_gettime (CLOCK_MONOTONIC, &next);
  for (n = 0; !stop && (frames < 0 || n < frames); n++) {
    MmapRingSlot *slot = mmapring_writer_acquire (w);
    MmapRingFrame f;

    memset (&f, 0, sizeof f);
    f.duration = 1000000000ull / fps;
    f.pts = n * f.duration;
    f.dts = f.offset_end = UINT64_MAX;
    f.offset = n;
    f.pts_monotonic_ns = (uint64_t) next.tv_sec * 1000000000ull + next.tv_nsec;
    f.size = fmt.slot_capacity;
    f.n_planes = 1;
    f.plane_stride[0] = stride;
    if (!slot) {
      /* Cannot happen with readers that respect the lease limit; if it
       * ever does, the frame still takes its number. */
      mmapring_writer_skip (w, 1);
    } else {
      draw (mmapring_slot_data (slot), width, height, stride, n);
      if (mmapring_writer_publish (w, slot, &f, &err) != MMAPRING_OK)
        fprintf (stderr, "error: %s\n", err.message);
      mmapring_slot_release (slot);
    }
    next.tv_nsec += 1000000000L / fps;
    if (next.tv_nsec >= 1000000000L) {
      next.tv_sec++;
      next.tv_nsec -= 1000000000L;
    }
    clock_nanosleep (CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
  }
  mmapring_writer_set_eos (w);
  mmapring_writer_close (w, 1);
  return 0;
}

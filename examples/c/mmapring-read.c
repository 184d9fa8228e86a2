/* mmapring-read: prints one line per frame published in a gst-mmap file,
 * and can append every payload to a file (a raw stream that rawvideoparse
 * or ffplay -f rawvideo plays back while the caps do not change).  A
 * program without GStreamer, over libmmapring:
 *
 *   cc mmapring-read.c $(pkg-config --cflags --libs mmapring)
 *   mmapring-read [-n FRAMES] [-o DUMPFILE] [-t TIMEOUT_MS] [-l MAX_LAG]
 *                 [-e] [-c] PATH
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
usage (const char *argv0)
{
  fprintf (stderr,
      "usage: %s [-n FRAMES] [-o DUMPFILE] [-t TIMEOUT_MS] [-l MAX_LAG] "
      "[-e] [-c] PATH\n"
      "  -n FRAMES     stop after this many frames\n"
      "  -o DUMPFILE   append every payload to DUMPFILE\n"
      "  -t TIMEOUT_MS give up when no frame comes for this long\n"
      "  -l MAX_LAG    skip to the newest frame when this far behind\n"
      "  -e            stop at end of stream\n"
      "  -c            copy frames (default: read them in place, leased)\n",
      argv0);
}

static double
ms_since (uint64_t mono_ns)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ((double) ts.tv_sec * 1e9 + ts.tv_nsec - (double) mono_ns) / 1e6;
}

int
main (int argc, char **argv)
{
  long max_frames = -1, timeout_ms = -1, idle_ms = 0, frames = 0;
  unsigned long max_lag = 0;
  const char *dump_path = NULL;
  int exit_on_eos = 0, copy = 0, opt, ret = 0;
  uint8_t *buf = NULL;
  size_t buf_size = 0;
  FILE *dump = NULL;
  MmapRingReader *reader;
  MmapRingReaderStats st;
  MmapRingError err;
  struct sigaction sa;

  while ((opt = getopt (argc, argv, "n:o:t:l:ech")) != -1) {
    switch (opt) {
      case 'n':
        max_frames = strtol (optarg, NULL, 10);
        break;
      case 'o':
        dump_path = optarg;
        break;
      case 't':
        timeout_ms = strtol (optarg, NULL, 10);
        break;
      case 'l':
        max_lag = strtoul (optarg, NULL, 10);
        break;
      case 'e':
        exit_on_eos = 1;
        break;
      case 'c':
        copy = 1;
        break;
      default:
        usage (argv[0]);
        return opt == 'h' ? 0 : 2;
    }
  }
  if (optind != argc - 1) {
    usage (argv[0]);
    return 2;
  }
  if (dump_path && !(dump = fopen (dump_path, "wb"))) {
    perror (dump_path);
    return 1;
  }
  if (!(reader = mmapring_reader_new (argv[optind], &err))) {
    fprintf (stderr, "error: %s\n", err.message);
    return 1;
  }
  mmapring_reader_set_max_lag (reader, (uint32_t) max_lag);
  mmapring_reader_set_zero_copy (reader, !copy, 2);
  /* Truncating the file under us must not kill us. */
  mmapring_install_sigbus_guard (NULL);
  memset (&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction (SIGINT, &sa, NULL);
  sigaction (SIGTERM, &sa, NULL);

  while (!stop && (max_frames < 0 || frames < max_frames)) {
    MmapRingFrame f;
    MmapRingLease *lease = NULL;
    const uint8_t *data;
    /* Short waits so that a signal is noticed promptly. */
    MmapRingEvent ev = mmapring_reader_next (reader, 200 * 1000000LL, &f,
        &err);

    if (ev == MMAPRING_EVENT_TIMEOUT) {
      idle_ms += 200;
      if (timeout_ms >= 0 && idle_ms >= timeout_ms) {
        fprintf (stderr, "no frame for %ld ms, giving up\n", idle_ms);
        ret = 1;
        break;
      }
      continue;
    }
    if (ev == MMAPRING_EVENT_ERROR) {
      fprintf (stderr, "error: %s\n", err.message);
      ret = 1;
      break;
    }
    if (ev == MMAPRING_EVENT_WAITING) {
      fprintf (stderr, "waiting: %s\n", err.message);
      continue;
    }
    if (ev == MMAPRING_EVENT_EOS) {
      printf ("EOS\n");
      fflush (stdout);
      if (exit_on_eos)
        break;
      continue;
    }
    if (ev != MMAPRING_EVENT_FRAME)
      continue;
    idle_ms = 0;
    if (f.frame_flags & MMAPRING_FRAME_FLAG_NO_BUFFER)
      continue;
    /* In place under a lease, or a private copy checked against the
     * slot's seqlock.  Either may find the frame overwritten already:
     * the library counts it, and the next frame says so. */
    if (!copy && mmapring_reader_lease (reader, &lease, &err) == MMAPRING_OK) {
      data = mmapring_lease_data (lease);
    } else {
      if (buf_size < f.size && !(buf = realloc (buf, buf_size = f.size))) {
        fprintf (stderr, "out of memory\n");
        ret = 1;
        break;
      }
      if (mmapring_reader_copy (reader, buf, buf_size, &err) != MMAPRING_OK)
        continue;
      data = buf;
    }
    frames++;
    printf ("seq=%llu size=%llu latency=%.3fms skipped=%llu caps=%s\n",
        (unsigned long long) f.seq, (unsigned long long) f.size,
        ms_since (f.publish_monotonic_ns), (unsigned long long) f.skipped,
        mmapring_reader_file (reader)->caps);
    fflush (stdout);
    if (dump && fwrite (data, 1, f.size, dump) != f.size) {
      perror (dump_path);
      ret = 1;
    }
    mmapring_lease_release (lease);
    if (ret)
      break;
  }

  mmapring_reader_stats (reader, &st);
  fprintf (stderr, "%llu frames read, %llu skipped\n",
      (unsigned long long) st.frames_read,
      (unsigned long long) st.frames_skipped);
  mmapring_reader_free (reader);
  free (buf);
  if (dump && fclose (dump) != 0) {
    perror (dump_path);
    ret = 1;
  }
  return ret;
}

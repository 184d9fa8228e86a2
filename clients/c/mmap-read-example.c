/* Prints one line per frame read from a gst-mmap file and optionally
 * appends every payload to a file (a raw stream that rawvideoparse or
 * ffplay -f rawvideo can play back when the caps do not change).
 *
 *   mmap-read-example [-n FRAMES] [-o DUMPFILE] [-t TIMEOUT_MS] [-e] PATH
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mmapreader.h"

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
      "usage: %s [-n FRAMES] [-o DUMPFILE] [-t TIMEOUT_MS] [-e] PATH\n"
      "  -n FRAMES     stop after this many frames\n"
      "  -o DUMPFILE   append every payload to DUMPFILE\n"
      "  -t TIMEOUT_MS give up when no frame comes for this long\n"
      "  -e            stop at end of stream\n", argv0);
}

int
main (int argc, char **argv)
{
  long max_frames = -1, timeout_ms = -1, idle_ms = 0;
  const char *dump_path = NULL;
  int exit_on_eos = 0, opt, ret = 0;
  FILE *dump = NULL;
  MmapReader *reader;
  struct sigaction sa;

  while ((opt = getopt (argc, argv, "n:o:t:eh")) != -1) {
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
      case 'e':
        exit_on_eos = 1;
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
  reader = mmap_reader_new (argv[optind]);
  if (!reader) {
    fprintf (stderr, "out of memory\n");
    return 1;
  }

  /* A handler rather than the default action, so that the reader is never
   * killed inside its futex wait with the shared waiters count raised. */
  memset (&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction (SIGINT, &sa, NULL);
  sigaction (SIGTERM, &sa, NULL);

  while (!stop && (max_frames < 0 || (long) mmap_reader_frames_read (reader)
          < max_frames)) {
    MmapFrame f;
    /* Short waits so a signal is noticed promptly. */
    MmapReadResult res = mmap_reader_read (reader, &f, 200);

    if (res == MMAP_READ_TIMEOUT) {
      idle_ms += 200;
      if (timeout_ms >= 0 && idle_ms >= timeout_ms) {
        fprintf (stderr, "no frame for %ld ms, giving up\n", idle_ms);
        ret = 1;
        break;
      }
      continue;
    }
    idle_ms = 0;
    if (res == MMAP_READ_ERROR) {
      fprintf (stderr, "error: %s\n", mmap_reader_error (reader));
      ret = 1;
      break;
    }
    if (res == MMAP_READ_EOS) {
      printf ("EOS\n");
      fflush (stdout);
      if (exit_on_eos)
        break;
      continue;
    }

    printf ("seq=%llu size=%llu latency=%.3fms skipped=%llu caps=%s\n",
        (unsigned long long) f.seq, (unsigned long long) f.size,
        f.latency_ns / 1e6, (unsigned long long) f.skipped, f.caps);
    fflush (stdout);
    if (dump && fwrite (f.data, 1, f.size, dump) != f.size) {
      perror (dump_path);
      ret = 1;
      break;
    }
  }

  fprintf (stderr, "%llu frames read, %llu skipped\n",
      (unsigned long long) mmap_reader_frames_read (reader),
      (unsigned long long) mmap_reader_frames_skipped (reader));
  mmap_reader_free (reader);
  if (dump && fclose (dump) != 0) {
    perror (dump_path);
    ret = 1;
  }
  return ret;
}

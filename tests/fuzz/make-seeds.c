/* Writes valid files for the fuzzer's seed corpus through the library's
 * writer: the bytes of a live writer's data file, copied while it runs. */
#include <mmapring.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void
copy_file (const char *from, const char *to)
{
  FILE *in = fopen (from, "rb"), *out = fopen (to, "wb");
  char buf[65536];
  size_t n;

  if (!in || !out)
    abort ();
  while ((n = fread (buf, 1, sizeof buf, in)) > 0)
    fwrite (buf, 1, n, out);
  fclose (in);
  fclose (out);
}

static void
make (const char *dir, const char *name, unsigned slots, uint64_t cap,
    const char *caps, unsigned frames, unsigned stride, uint32_t flags)
{
  char tmp[] = "/dev/shm/mmapring-seeds-XXXXXX", path[128], out[512];
  MmapRingFormat fmt = { 0 };
  MmapRingError err;
  MmapRingWriter *w;
  uint8_t *data = malloc (cap);
  unsigned i;

  if (!mkdtemp (tmp) || !data)
    abort ();
  snprintf (path, sizeof path, "%s/f", tmp);
  if (!(w = mmapring_writer_open (path, 0600, &err))) {
    fprintf (stderr, "%s\n", err.message);
    exit (1);
  }
  fmt.caps = caps;
  fmt.slot_count = slots;
  fmt.slot_capacity = cap;
  if (mmapring_writer_set_format (w, &fmt, &err) != MMAPRING_OK) {
    fprintf (stderr, "%s\n", err.message);
    exit (1);
  }
  for (i = 1; i <= frames; i++) {
    MmapRingFrame f;
    memset (&f, 0, sizeof f);
    memset (data, i, cap);
    f.pts = i * 1000;
    f.dts = f.duration = f.offset_end = MMAPRING_TIME_NONE;
    f.pts_monotonic_ns = MMAPRING_TIME_NONE;
    f.n_planes = stride ? 1 : 0;
    f.plane_stride[0] = stride;
    f.buffer_flags = i % 3 ? flags : 0;
    mmapring_writer_write (w, &f, data, cap, &err);
  }
  snprintf (out, sizeof out, "%s/%s", dir, name);
  copy_file (path, out);
  mmapring_writer_close (w, 1);
  rmdir (tmp);
  free (data);
}

int
main (int argc, char **argv)
{
  const char *dir = argc > 1 ? argv[1] : ".";

  make (dir, "gray8-16x16-2slots", 2, 256,
      "video/x-raw, format=(string)GRAY8, width=(int)16, height=(int)16, "
      "framerate=(fraction)30/1", 3, 16, 0);
  make (dir, "i420-6x4-4slots-lapped", 4, 36,
      "video/x-raw, format=(string)I420, width=(int)6, height=(int)4", 9, 0, 0);
  make (dir, "bytes-4slots-empty", 4, 100, "application/x-test", 0, 0, 0);
  make (dir, "h264-8slots-deltas", 8, 64, "video/x-h264, "
      "stream-format=(string)byte-stream, alignment=(string)au", 12, 0,
      1u << 13);
  return 0;
}

/* Writes valid files for the fuzzer's seed corpus: python-free and
 * GStreamer-free, through the same module the writer uses. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "mmapring.h"

static void
make (const gchar * dir, const gchar * name, guint slots, guint64 cap,
    const gchar * caps, guint frames)
{
  gchar *path = g_build_filename (dir, name, NULL);
  MringParams p = { 0 };
  GError *err = NULL;
  MringMap *m;
  guint i;

  p.slot_count = slots;
  p.slot_capacity = cap;
  p.caps = caps;
  p.caps_seq = 1;
  p.writer_id = 0x1234567890abcdefULL;
  p.mode = 0644;
  p.lease_limit = slots / 2;
  unlink (path);
  m = mring_create (path, &p, NULL, &err);
  if (!m)
    g_error ("%s", err->message);
  for (i = 1; i <= frames; i++) {
    MmapSlotDesc d = { 0 };
    gint idx = mring_slot_acquire (m);
    memset (mring_slot_data (m, idx), i, cap);
    d.seq = i;
    d.size = cap;
    d.pts = i * 1000;
    d.n_planes = 1;
    d.plane_stride[0] = 16;
    mring_slot_publish (m, idx, &d);
    mring_slot_done (m, idx);
  }
  /* Keep the file: mring_release(FALSE) would mark it REPLACED. */
  mring_map_unref (m);
  g_free (path);
}

int
main (int argc, char **argv)
{
  const gchar *dir = argc > 1 ? argv[1] : ".";
  make (dir, "gray8-16x16-2slots", 2, 256,
      "video/x-raw, format=(string)GRAY8, width=(int)16, height=(int)16, "
      "framerate=(fraction)30/1", 3);
  make (dir, "bytes-4slots-empty", 4, 100, "application/x-test", 0);
  return 0;
}

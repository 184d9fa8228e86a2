/* gst-mmap-info: the gst-mmap streams of a directory and how their readers
 * keep up, seen from outside.
 *
 * Everything shown comes from libmmapring's inspect API: a file is opened
 * with mmapring_inspector_open, which validates it as a reader would and
 * maps it read-only, and each look is one mmapring_inspector_sample plus
 * mmapring_inspector_readers.  Nothing is written, no reader-table entry
 * is taken and no lock is held, so looking never disturbs a stream.  The
 * files are untrusted input: their strings (caps, names) are escaped
 * before they reach a terminal or a JSON document.
 *
 * Modes: the streams of a directory (one line each), one stream in full,
 * and --remove-stale, which leaves the removal itself to
 * mmapring_remove_stale (it claims the location as a writer would, so a
 * live stream is never removed).  Text for people; --json for scripts,
 * with the field names gst-mmap-info(1) documents, kept stable; --watch
 * redraws either until interrupted.  Each look reopens the file, so a
 * watch follows a writer that replaces it (new caps, a restart).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION VERSION
#endif

#include <mmapring.h>
#include <mmapring-format.h>

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PROGRAM "gst-mmap-info"
#define EXIT_LOCATION 1
#define EXIT_USAGE 2
#define DEFAULT_DIR "/dev/shm"
#define STALE_MAX 64
#define STALE_PATH_SIZE 4096

typedef struct
{
  const char *dir;
  const char *location;
  const char *remove;
  int json;
  int watch;
  double interval;
} Options;

/* One look at one file.  `in` is NULL when the library refused it: `err`
 * says why. */
typedef struct
{
  char *location;
  MmapRingInspector *in;
  MmapRingError err;
  MmapRingInfo info;
  MmapRingReaderInfo readers[MMAP_READER_MAX];
  uint32_t n_readers;
  char summary[256];
  char (*stale)[STALE_PATH_SIZE];
  uint32_t n_stale;
  int removable;
  const char *not_removable;    /* why not, for the text view */
} Stream;

static volatile sig_atomic_t interrupted;

/* ------------------------------------------------------------ helpers */

static uint64_t
now_ns (clockid_t clock)
{
  struct timespec ts;

  clock_gettime (clock, &ts);
  return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

static char *
join_path (const char *dir, const char *name)
{
  size_t n = strlen (dir);
  char *p = malloc (n + strlen (name) + 2);

  if (p)
    sprintf (p, "%s%s%s", dir, n && dir[n - 1] == '/' ? "" : "/", name);
  return p;
}

/* A location without a slash names a stream of the directory. */
static char *
resolve_location (const Options * o, const char *location)
{
  if (strchr (location, '/'))
    return strdup (location);
  return join_path (o->dir, location);
}

static int
exists (const char *path)
{
  struct stat st;

  return lstat (path, &st) == 0;
}

/* The library's messages are "PATH: reason"; next to the path, the
 * reason is enough. */
static const char *
reason (const MmapRingError * err, const char *path)
{
  size_t n = strlen (path);

  if (strncmp (err->message, path, n) == 0 && err->message[n] == ':' &&
      err->message[n + 1] == ' ')
    return err->message + n + 2;
  return err->message;
}

static const char *
status_id (MmapRingStatus status)
{
  return mmapring_status_id (status);
}

static const char *
writer_state_id (MmapRingWriterState state)
{
  switch (state) {
    case MMAPRING_WRITER_RUNNING:
      return "running";
    case MMAPRING_WRITER_EOS:
      return "eos";
    case MMAPRING_WRITER_DEAD:
      return "dead";
    case MMAPRING_WRITER_STOPPED:
      return "stopped";
    case MMAPRING_WRITER_REPLACED:
      return "replaced";
  }
  return "unknown";
}

static const char *
writer_state_text (MmapRingWriterState state)
{
  return state == MMAPRING_WRITER_EOS ? "EOS" : writer_state_id (state);
}

static const char *
file_state_id (uint32_t state)
{
  switch (state) {
    case MMAP_STATE_INIT:
      return "init";
    case MMAP_STATE_RUNNING:
      return "running";
    case MMAP_STATE_GONE:
      return "gone";
    case MMAP_STATE_REPLACED:
      return "replaced";
  }
  return "unknown";
}

static const char *
reader_state_id (int32_t alive)
{
  return alive > 0 ? "alive" : alive == 0 ? "dead" : "unknown";
}

/* "1.5 s", "33.3 ms", "12 us". */
static void
format_duration (uint64_t ns, char *buf, size_t size)
{
  if (ns >= 10000000000ull)
    snprintf (buf, size, "%.0f s", ns / 1e9);
  else if (ns >= 1000000000ull)
    snprintf (buf, size, "%.1f s", ns / 1e9);
  else if (ns >= 1000000ull)
    snprintf (buf, size, "%.1f ms", ns / 1e6);
  else
    snprintf (buf, size, "%.0f us", ns / 1e3);
}

static void
format_realtime (uint64_t ns, int utc, char *buf, size_t size)
{
  time_t t = (time_t) (ns / 1000000000u);
  struct tm tm;
  char s[48];

  if (utc) {
    gmtime_r (&t, &tm);
    strftime (s, sizeof (s), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf (buf, size, "%s.%03uZ", s,
        (unsigned) (ns % 1000000000u / 1000000u));
  } else {
    localtime_r (&t, &tm);
    strftime (buf, size, "%Y-%m-%d %H:%M:%S %z", &tm);
  }
}

/* Strings from a file go to a terminal: no control characters. */
static void
put_text (FILE * out, const char *s)
{
  for (; *s; s++)
    fputc ((unsigned char) *s < 0x20 || *s == 0x7f ? '?' : *s, out);
}

/* ------------------------------------------------------------ caps */

/* "30", "29.97", or "" for a variable or missing frame rate. */
static void
format_rate (const char *caps, char *buf, size_t size)
{
  char s[64];
  long long n, d;

  buf[0] = '\0';
  if (!mmapring_caps_get_string (caps, "framerate", s, sizeof (s)) ||
      sscanf (s, "%lld/%lld", &n, &d) != 2 || n <= 0 || d <= 0)
    return;
  if (n % d == 0)
    snprintf (buf, size, "@%lld", n / d);
  else
    snprintf (buf, size, "@%.2f", (double) n / (double) d);
}

static void
append (char *buf, size_t size, const char *a, const char *b)
{
  size_t n = strlen (buf);

  if (n < size)
    snprintf (buf + n, size - n, "%s%s", a, b);
}

/* The caps in short: "video/x-raw I420 320x240@30",
 * "audio/x-raw S16LE 48000Hz 2ch", "video/x-h264 stream-format=avc". */
static void
caps_summary (const char *caps, char *buf, size_t size)
{
  char s[64], num[64];
  int64_t w, h, v;

  if (!caps || !mmapring_caps_media_type (caps, buf, size)) {
    snprintf (buf, size, "?");
    return;
  }
  if (mmapring_caps_get_string (caps, "format", s, sizeof (s)))
    append (buf, size, " ", s);
  if (mmapring_caps_get_int (caps, "width", &w) &&
      mmapring_caps_get_int (caps, "height", &h)) {
    snprintf (num, sizeof (num), " %" PRId64 "x%" PRId64, w, h);
    append (buf, size, "", num);
    format_rate (caps, num, sizeof (num));
    append (buf, size, "", num);
  }
  if (mmapring_caps_get_int (caps, "rate", &v)) {
    snprintf (num, sizeof (num), " %" PRId64 "Hz", v);
    append (buf, size, "", num);
  }
  if (mmapring_caps_get_int (caps, "channels", &v)) {
    snprintf (num, sizeof (num), " %" PRId64 "ch", v);
    append (buf, size, "", num);
  }
  if (mmapring_caps_get_string (caps, "stream-format", s, sizeof (s)))
    append (buf, size, " stream-format=", s);
}

/* ------------------------------------------------------------ streams */

/* What mmapring_remove_stale would take: the stale files, and the data
 * file when no writer lives in it and none owns the location (a lock
 * file that is there but not stale is a live writer's). */
static void
stream_stale (Stream * s)
{
  s->stale = calloc (STALE_MAX, STALE_PATH_SIZE);
  if (s->stale)
    s->n_stale = mmapring_stale_files (s->location, (char *) s->stale,
        STALE_PATH_SIZE, STALE_MAX);
  if (s->n_stale > STALE_MAX)
    s->n_stale = STALE_MAX;
  if (s->info.writer_state == MMAPRING_WRITER_RUNNING ||
      s->info.writer_state == MMAPRING_WRITER_EOS)
    s->not_removable = "its writer is alive";
  else if (s->info.writer_state == MMAPRING_WRITER_REPLACED ||
      !s->info.path_current)
    s->not_removable = "the location names a newer file";
  else if (mmapring_location_owned (s->location) == 1)
    s->not_removable = "a writer owns the location";
  else
    s->removable = 1;
}

/* Takes `location`. */
static void
stream_open (Stream * s, char *location, int stale)
{
  uint32_t n;

  memset (s, 0, sizeof (*s));
  s->location = location;
  if (!location) {
    s->err.status = MMAPRING_ERR_NO_MEMORY;
    snprintf (s->err.message, sizeof (s->err.message), "out of memory");
    return;
  }
  s->in = mmapring_inspector_open (location, &s->err);
  if (!s->in)
    return;
  mmapring_inspector_sample (s->in, &s->info);
  n = mmapring_inspector_readers (s->in, s->readers, MMAP_READER_MAX);
  s->n_readers = n < MMAP_READER_MAX ? n : MMAP_READER_MAX;
  caps_summary (s->info.caps, s->summary, sizeof (s->summary));
  if (stale)
    stream_stale (s);
}

static void
stream_clear (Stream * s)
{
  mmapring_inspector_free (s->in);
  free (s->location);
  free (s->stale);
  memset (s, 0, sizeof (*s));
}

static int
compare_names (const void *a, const void *b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

/* The streams of `dir`, sorted by name: every visible regular file but
 * those the library says are not gst-mmap files. */
static Stream *
streams_of_dir (const char *dir, int stale, size_t *n_out, MmapRingError * e)
{
  DIR *d = opendir (dir);
  struct dirent *de;
  char **names = NULL;
  Stream *streams;
  size_t n = 0, k, m = 0;

  if (!d) {
    snprintf (e->message, sizeof (e->message), "%s: %s", dir, strerror (errno));
    return NULL;
  }
  while ((de = readdir (d))) {
    char **more;
    if (de->d_name[0] == '.' || !(more = realloc (names,
                (n + 1) * sizeof (*names))))
      continue;
    names = more;
    if ((names[n] = join_path (dir, de->d_name)))
      n++;
  }
  closedir (d);
  if (n)
    qsort (names, n, sizeof (*names), compare_names);
  if (!(streams = calloc (n ? n : 1, sizeof (*streams)))) {
    snprintf (e->message, sizeof (e->message), "%s: out of memory", dir);
    n = 0;
  }
  for (k = 0; k < n; k++) {
    struct stat st;
    /* Directories, sockets, FIFOs...: not files anyone writes frames to. */
    if (stat (names[k], &st) < 0 || !S_ISREG (st.st_mode)) {
      free (names[k]);
      continue;
    }
    stream_open (&streams[m], names[k], stale);
    if (!streams[m].in && streams[m].err.status == MMAPRING_ERR_NOT_OURS)
      stream_clear (&streams[m]);
    else
      m++;
  }
  free (names);
  *n_out = m;
  return streams;
}

static void
streams_free (Stream * streams, size_t n)
{
  size_t k;

  for (k = 0; k < n; k++)
    stream_clear (&streams[k]);
  free (streams);
}

/* ------------------------------------------------------------ JSON */

typedef struct
{
  FILE *out;
  int pretty;
  int depth;
  int first;                    /* nothing written yet at this depth */
  int flat;                     /* inside a list of numbers: one line */
} Json;

static void
json_string (Json * j, const char *s)
{
  const unsigned char *p = (const unsigned char *) s;

  fputc ('"', j->out);
  while (*p) {
    int len = *p < 0x80 ? 1 : *p >= 0xc2 && *p <= 0xdf ? 2 :
        *p >= 0xe0 && *p <= 0xef ? 3 : *p >= 0xf0 && *p <= 0xf4 ? 4 : 0;
    int k;
    for (k = 1; k < len; k++)
      if ((p[k] & 0xc0) != 0x80)
        len = 0;
    if (len == 0) {
      /* Not UTF-8: the file is untrusted, the document stays valid. */
      fputs ("\\ufffd", j->out);
      p++;
    } else if (*p == '"' || *p == '\\') {
      fprintf (j->out, "\\%c", *p++);
    } else if (*p < 0x20 || *p == 0x7f) {
      fprintf (j->out, "\\u%04x", *p++);
    } else {
      fwrite (p, 1, len, j->out);
      p += len;
    }
  }
  fputc ('"', j->out);
}

static void
json_key (Json * j, const char *key)
{
  int first = j->first;

  if (!first)
    fputc (',', j->out);
  j->first = 0;
  if (j->pretty && j->flat) {
    if (!first)
      fputc (' ', j->out);
  } else if (j->pretty && j->depth > 0)
    fprintf (j->out, "\n%*s", 2 * j->depth, "");
  if (key) {
    json_string (j, key);
    fputs (j->pretty ? ": " : ":", j->out);
  }
}

static void
json_open (Json * j, const char *key, char c)
{
  json_key (j, key);
  fputc (c, j->out);
  j->depth++;
  j->first = 1;
}

static void
json_close (Json * j, char c)
{
  j->depth--;
  if (j->pretty && !j->first && !j->flat)
    fprintf (j->out, "\n%*s", 2 * j->depth, "");
  fputc (c, j->out);
  j->first = 0;
}

static void
json_str (Json * j, const char *key, const char *value)
{
  json_key (j, key);
  if (value)
    json_string (j, value);
  else
    fputs ("null", j->out);
}

static void
json_u64 (Json * j, const char *key, uint64_t value)
{
  json_key (j, key);
  fprintf (j->out, "%" PRIu64, value);
}

static void
json_bool (Json * j, const char *key, int value)
{
  json_key (j, key);
  fputs (value ? "true" : "false", j->out);
}

/* 64-bit identifiers as hex strings: JSON numbers lose them past 2^53. */
static void
json_id (Json * j, const char *key, uint64_t value)
{
  char s[24];

  snprintf (s, sizeof (s), "%016" PRIx64, value);
  json_str (j, key, s);
}

static void
json_error (Json * j, const MmapRingError * err)
{
  json_open (j, "error", '{');
  json_str (j, "status", status_id (err->status));
  json_str (j, "message", err->message);
  json_close (j, '}');
}

static void
json_reader (Json * j, const MmapRingReaderInfo * r)
{
  uint32_t k;

  json_open (j, NULL, '{');
  json_u64 (j, "entry", r->index);
  json_u64 (j, "pid", r->pid);
  json_bool (j, "pid_local", r->pid_local);
  json_str (j, "state", reader_state_id (r->alive));
  json_id (j, "reader_id", r->reader_id);
  json_bool (j, "zero_copy", r->flags & MMAP_READER_FLAG_ZERO_COPY);
  json_u64 (j, "flags", r->flags);
  json_open (j, "leases", '[');
  j->flat = 1;
  for (k = 0; k < 64; k++)
    if (r->leases & (1ull << k))
      json_u64 (j, NULL, k);
  json_close (j, ']');
  j->flat = 0;
  json_u64 (j, "last_seq", r->last_seq);
  json_u64 (j, "lag", r->lag);
  json_u64 (j, "frames_read", r->frames_read);
  json_u64 (j, "frames_skipped", r->frames_skipped);
  json_u64 (j, "max_lag", r->max_lag);
  json_bool (j, "waiting", r->waiting != 0);
  json_close (j, '}');
}

static void
json_geometry (Json * j, const MmapRingInfo * i)
{
  char created[64];

  json_u64 (j, "slot_count", i->slot_count);
  json_u64 (j, "slot_capacity", i->slot_capacity);
  json_u64 (j, "slot_stride", i->slot_stride);
  json_u64 (j, "meta_capacity", i->meta_capacity);
  json_u64 (j, "sticky_capacity", i->sticky_capacity);
  json_u64 (j, "lease_limit", i->lease_limit);
  json_u64 (j, "file_size", i->file_size);
  json_u64 (j, "created_realtime_ns", i->created_realtime_ns);
  format_realtime (i->created_realtime_ns, 1, created, sizeof (created));
  json_str (j, "created", created);
  json_u64 (j, "latency_ns", i->latency_ns);
}

static void
json_counters (Json * j, const MmapRingInfo * i)
{
  uint64_t now = now_ns (CLOCK_MONOTONIC);

  json_u64 (j, "caps_seq", i->caps_seq);
  json_u64 (j, "write_seq", i->write_seq);
  json_u64 (j, "base_seq", i->base_seq);
  json_u64 (j, "frames", i->frames);
  json_u64 (j, "keyframe_seq", i->keyframe_seq);
  json_u64 (j, "keyframe_requests", i->keyframe_requests);
  json_key (j, "fps");
  fprintf (j->out, "%.2f", isfinite (i->fps) ? i->fps : 0.0);
  if (i->last_publish_monotonic_ns && i->last_publish_monotonic_ns <= now)
    json_u64 (j, "last_publish_age_ns", now - i->last_publish_monotonic_ns);
  else
    json_str (j, "last_publish_age_ns", NULL);
  json_u64 (j, "waiters", i->waiters);
  json_u64 (j, "leased_slots", i->leased);
}

static void
json_stream (Json * j, const Stream * s)
{
  const MmapRingInfo *i = &s->info;
  char media[128];
  uint32_t k;

  json_open (j, NULL, '{');
  json_str (j, "location", s->location);
  if (!s->in) {
    json_error (j, &s->err);
    json_close (j, '}');
    return;
  }
  json_str (j, "caps", i->caps);
  json_str (j, "media_type", mmapring_caps_media_type (i->caps, media,
          sizeof (media)) ? media : NULL);
  json_str (j, "summary", s->summary);
  json_u64 (j, "format_version", i->version);
  json_str (j, "state", writer_state_id (i->writer_state));
  json_str (j, "file_state", file_state_id (i->state));
  json_bool (j, "path_current", i->path_current);
  json_u64 (j, "writer_pid", i->writer_pid);
  json_bool (j, "writer_pid_local", i->writer_pid_local);
  json_id (j, "writer_id", i->writer_id);
  json_geometry (j, i);
  json_counters (j, i);
  json_u64 (j, "reader_count", i->readers);
  json_open (j, "readers", '[');
  for (k = 0; k < s->n_readers; k++)
    json_reader (j, &s->readers[k]);
  json_close (j, ']');
  json_bool (j, "removable", s->removable);
  json_open (j, "stale_files", '[');
  for (k = 0; k < s->n_stale; k++)
    json_str (j, NULL, s->stale[k]);
  json_close (j, ']');
  json_close (j, '}');
}

static void
json_begin (Json * j, FILE * out, int pretty)
{
  j->out = out;
  j->pretty = pretty;
  j->depth = 0;
  j->first = 1;
  j->flat = 0;
}

/* ------------------------------------------------------------ text */

/* One line per stream, in columns as wide as their widest value. */
static void
text_list (FILE * out, const char *dir, const Stream * streams, size_t n)
{
  int wl = (int) strlen ("LOCATION"), wc = (int) strlen ("CAPS"), foreign = 0;
  size_t k;

  if (n == 0) {
    fprintf (out, "no gst-mmap streams in ");
    put_text (out, dir);
    fputc ('\n', out);
    return;
  }
  for (k = 0; k < n; k++) {
    if ((int) strlen (streams[k].location) > wl)
      wl = (int) strlen (streams[k].location);
    if (streams[k].in && (int) strlen (streams[k].summary) > wc)
      wc = (int) strlen (streams[k].summary);
  }
  fprintf (out, "%-*s  %-*s  %8s %-8s  %10s  %6s  %s\n", wl, "LOCATION", wc,
      "CAPS", "PID", "STATE", "FRAMES", "FPS", "READERS");
  for (k = 0; k < n; k++) {
    const Stream *s = &streams[k];
    char pid[16];
    put_text (out, s->location);
    fprintf (out, "%*s  ", wl - (int) strlen (s->location), "");
    if (!s->in) {
      fputs ("refused: ", out);
      put_text (out, reason (&s->err, s->location));
      fputc ('\n', out);
      continue;
    }
    put_text (out, s->summary);
    snprintf (pid, sizeof (pid), "%u%s", s->info.writer_pid,
        s->info.writer_pid_local ? "" : "*");
    foreign |= !s->info.writer_pid_local;
    fprintf (out, "%*s  %8s %-8s  %10" PRIu64 "  %6.1f  %u\n",
        wc - (int) strlen (s->summary), "", pid,
        writer_state_text (s->info.writer_state), s->info.write_seq,
        s->info.fps, s->info.readers);
  }
  if (foreign)
    fprintf (out, "* pid in another PID namespace\n");
}

static void
text_leases (uint64_t leases, char *buf, size_t size)
{
  size_t n = 0;
  uint32_t k;

  buf[0] = '\0';
  for (k = 0; k < 64 && n + 4 < size; k++)
    if (leases & (1ull << k))
      n += snprintf (buf + n, size - n, "%s%u", n ? "," : "", k);
  if (!n)
    snprintf (buf, size, "-");
}

static void
text_readers (FILE * out, const Stream * s)
{
  uint32_t k;

  fprintf (out, "  readers       %u\n", s->info.readers);
  if (!s->n_readers)
    return;
  fprintf (out, "    %-5s  %9s  %-7s  %-9s  %-8s  %10s  %6s  %10s  %8s  "
      "%7s  %s\n", "ENTRY", "PID", "STATE", "ZERO-COPY", "LEASES",
      "LAST_SEQ", "LAG", "READ", "SKIPPED", "MAX-LAG", "WAITING");
  for (k = 0; k < s->n_readers; k++) {
    const MmapRingReaderInfo *r = &s->readers[k];
    char pid[16], leases[200];
    snprintf (pid, sizeof (pid), "%u%s", r->pid, r->pid_local ? "" : "*");
    text_leases (r->leases, leases, sizeof (leases));
    fprintf (out, "    %-5u  %9s  %-7s  %-9s  %-8s  %10" PRIu64 "  %6"
        PRIu64 "  %10" PRIu64 "  %8" PRIu64 "  %7u  %s\n", r->index, pid,
        reader_state_id (r->alive),
        r->flags & MMAP_READER_FLAG_ZERO_COPY ? "yes" : "no", leases,
        r->last_seq, r->lag, r->frames_read, r->frames_skipped, r->max_lag,
        r->waiting ? "yes" : "no");
  }
}

static void
text_writer (FILE * out, const MmapRingInfo * i)
{
  uint64_t now = now_ns (CLOCK_REALTIME);
  char when[64], ago[32];

  fprintf (out, "  writer        pid %u%s, %s\n", i->writer_pid,
      i->writer_pid_local ? "" :
      " (in another PID namespace)", writer_state_text (i->writer_state));
  fprintf (out, "  writer id     %016" PRIx64 "\n", i->writer_id);
  fprintf (out, "  file          format version %u, %s, caps_seq %" PRIu64
      "%s\n", i->version, file_state_id (i->state), i->caps_seq,
      i->path_current ? "" : ", no longer at the location");
  format_realtime (i->created_realtime_ns, 0, when, sizeof (when));
  format_duration (now > i->created_realtime_ns ? now -
      i->created_realtime_ns : 0, ago, sizeof (ago));
  fprintf (out, "  created       %s (%s ago)\n", when, ago);
  if (i->latency_ns)
    format_duration (i->latency_ns, ago, sizeof (ago));
  fprintf (out, "  latency       %s\n", i->latency_ns ? ago : "unknown");
}

static void
text_geometry (FILE * out, const MmapRingInfo * i)
{
  fprintf (out, "  slots         %u of %" PRIu64 " bytes (stride %" PRIu64
      "), lease limit %u\n", i->slot_count, i->slot_capacity,
      i->slot_stride, i->lease_limit);
  fprintf (out, "  meta          %" PRIu64 " bytes a slot, sticky %" PRIu64
      " bytes\n", i->meta_capacity, i->sticky_capacity);
  fprintf (out, "  file size     %" PRIu64 " bytes\n", i->file_size);
}

static void
text_counters (FILE * out, const MmapRingInfo * i)
{
  uint64_t now = now_ns (CLOCK_MONOTONIC);
  char ago[32];

  fprintf (out, "  write_seq     %" PRIu64 " (base_seq %" PRIu64 ": %" PRIu64
      " frames in this file)\n", i->write_seq, i->base_seq, i->frames);
  fprintf (out, "  keyframe_seq  %" PRIu64 " (%u requests)\n",
      i->keyframe_seq, i->keyframe_requests);
  if (i->last_publish_monotonic_ns && i->last_publish_monotonic_ns <= now) {
    format_duration (now - i->last_publish_monotonic_ns, ago, sizeof (ago));
    fprintf (out, "  rate          %.1f fps, last frame %s ago\n", i->fps, ago);
  } else {
    fprintf (out, "  rate          %.1f fps, no frame in the ring\n", i->fps);
  }
  fprintf (out, "  waiters       %u\n", i->waiters);
  fprintf (out, "  leased        %u slots\n", i->leased);
}

static void
text_stale (FILE * out, const Stream * s)
{
  uint32_t k;

  fprintf (out, "  stale files%s\n", s->n_stale ? "" : "   none");
  for (k = 0; k < s->n_stale; k++) {
    fputs ("    ", out);
    put_text (out, s->stale[k]);
    fputc ('\n', out);
  }
  if (s->removable) {
    fputs ("  removable     yes: gst-mmap-info --remove-stale ", out);
    put_text (out, s->location);
    fputc ('\n', out);
  } else {
    fprintf (out, "  removable     no: %s\n", s->not_removable);
  }
}

static void
text_stream (FILE * out, const Stream * s)
{
  put_text (out, s->location);
  fputc ('\n', out);
  fputs ("  caps          ", out);
  put_text (out, s->info.caps);
  fputs ("\n  summary       ", out);
  put_text (out, s->summary);
  fputc ('\n', out);
  text_writer (out, &s->info);
  text_geometry (out, &s->info);
  text_counters (out, &s->info);
  text_readers (out, s);
  text_stale (out, s);
}

/* ------------------------------------------------------------ modes */

/* One look at the directory or the location, written to `out`; the exit
 * status it deserves. */
static int
show (const Options * o, FILE * out)
{
  MmapRingError err;
  Json j;
  int ret = 0;

  json_begin (&j, out, !o->watch);
  if (o->location) {
    Stream s;
    stream_open (&s, strdup (o->location), 1);
    if (o->json)
      json_stream (&j, &s);
    else if (s.in)
      text_stream (out, &s);
    else
      fprintf (o->watch ? out : stderr, PROGRAM ": %s\n", s.err.message);
    ret = s.in ? 0 : EXIT_LOCATION;
    stream_clear (&s);
  } else {
    size_t n = 0, k;
    Stream *streams = streams_of_dir (o->dir, o->json, &n, &err);
    if (!streams) {
      fprintf (o->watch ? out : stderr, PROGRAM ": %s\n", err.message);
      return EXIT_LOCATION;
    }
    if (o->json) {
      json_open (&j, NULL, '[');
      for (k = 0; k < n; k++)
        json_stream (&j, &streams[k]);
      json_close (&j, ']');
    } else {
      text_list (out, o->dir, streams, n);
    }
    streams_free (streams, n);
  }
  if (o->json)
    fputc ('\n', out);
  return ret;
}

static void
on_signal (int sig)
{
  (void) sig;
  interrupted = 1;
}

static void
sleep_interval (double seconds)
{
  struct timespec ts;

  ts.tv_sec = (time_t) seconds;
  ts.tv_nsec = (long) ((seconds - (double) ts.tv_sec) * 1e9);
  while (!interrupted && nanosleep (&ts, &ts) < 0 && errno == EINTR);
}

/* Redraws until SIGINT or SIGTERM: a whole screen at once (drawn in
 * memory first, so that it does not flicker), or a JSON line. */
static int
watch (const Options * o)
{
  struct sigaction sa;

  memset (&sa, 0, sizeof (sa));
  sa.sa_handler = on_signal;
  sigaction (SIGINT, &sa, NULL);
  sigaction (SIGTERM, &sa, NULL);
  while (!interrupted) {
    char *screen = NULL;
    size_t size = 0;
    FILE *mem = open_memstream (&screen, &size);
    if (!mem)
      return EXIT_LOCATION;
    show (o, mem);
    fclose (mem);
    if (!o->json)
      fputs ("\033[H\033[2J", stdout);
    fwrite (screen, 1, size, stdout);
    free (screen);
    if (fflush (stdout) != 0)
      return EXIT_LOCATION;
    sleep_interval (o->interval);
  }
  return 0;
}

static int
remove_report (const Options * o, const MmapRingError * err, char **paths,
    int *was, uint32_t n)
{
  uint32_t k;
  Json j;

  json_begin (&j, stdout, 1);
  if (o->json) {
    json_open (&j, NULL, '{');
    json_str (&j, "location", paths[0]);
    if (err)
      json_error (&j, err);
    json_open (&j, "removed", '[');
  } else if (err) {
    fprintf (stderr, PROGRAM ": %s\n", err->message);
  }
  for (k = 0; k < n; k++) {
    if (!was[k] || exists (paths[k]))
      continue;
    if (o->json) {
      json_str (&j, NULL, paths[k]);
    } else {
      fputs ("removed ", stdout);
      put_text (stdout, paths[k]);
      fputc ('\n', stdout);
    }
  }
  if (o->json) {
    json_close (&j, ']');
    json_close (&j, '}');
    fputc ('\n', stdout);
  }
  return err ? EXIT_LOCATION : 0;
}

/* mmapring_remove_stale does the work; around it, what was there before
 * and is gone after is what it removed. */
static int
remove_stale (const Options * o)
{
  char (*stale)[STALE_PATH_SIZE] = calloc (STALE_MAX, STALE_PATH_SIZE);
  char *paths[STALE_MAX + 1];
  int was[STALE_MAX + 1];
  uint32_t n = 0, k;
  MmapRingError err;
  int ret;

  if (!stale)
    return EXIT_LOCATION;
  paths[n] = (char *) o->remove;
  was[n++] = exists (o->remove);
  k = mmapring_stale_files (o->remove, (char *) stale, STALE_PATH_SIZE,
      STALE_MAX);
  for (k = k < STALE_MAX ? k : STALE_MAX; k > 0; k--) {
    paths[n] = stale[k - 1];
    was[n++] = 1;
  }
  memset (&err, 0, sizeof (err));
  mmapring_remove_stale (o->remove, &err);
  ret = remove_report (o, err.status ? &err : NULL, paths, was, n);
  free (stale);
  return ret;
}

/* ------------------------------------------------------------ main */

static void
usage (FILE * out)
{
  fprintf (out,
      "usage: " PROGRAM " [-d DIR] [--json] [--watch [--interval SECONDS]] "
      "[LOCATION]\n"
      "       " PROGRAM " [-d DIR] [--json] --remove-stale LOCATION\n"
      "\n"
      "Lists the gst-mmap streams of DIR (default " DEFAULT_DIR "), or shows "
      "one in full.\n"
      "A LOCATION without a slash names a stream of DIR.\n"
      "\n"
      "  -d, --dir DIR            the directory to list (default "
      DEFAULT_DIR ")\n"
      "  -j, --json               one JSON document (see gst-mmap-info(1))\n"
      "  -w, --watch              redraw until interrupted (JSON: a document "
      "a line)\n"
      "  -i, --interval SECONDS   between redraws (default 1)\n"
      "      --remove-stale LOCATION\n"
      "                           remove what a dead writer left there\n"
      "  -h, --help               this text\n"
      "  -V, --version            the version of " PROGRAM
      " and of the format\n");
}

enum
{
  OPT_REMOVE_STALE = 256,
};

static int
parse_interval (const char *arg, double *seconds)
{
  char *end;
  double v = strtod (arg, &end);

  if (end == arg || *end || !(v >= 0.01) || v > 86400) {
    fprintf (stderr, PROGRAM ": bad interval '%s' (seconds, 0.01 to 86400)\n",
        arg);
    return 0;
  }
  *seconds = v;
  return 1;
}

static int
parse_options (int argc, char **argv, Options * o)
{
  static const struct option longopts[] = {
    {"dir", required_argument, NULL, 'd'},
    {"json", no_argument, NULL, 'j'},
    {"watch", no_argument, NULL, 'w'},
    {"interval", required_argument, NULL, 'i'},
    {"remove-stale", required_argument, NULL, OPT_REMOVE_STALE},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
  };
  int c;

  o->dir = DEFAULT_DIR;
  o->interval = 1.0;
  while ((c = getopt_long (argc, argv, "d:jwi:hV", longopts, NULL)) != -1) {
    switch (c) {
      case 'd':
        o->dir = optarg;
        break;
      case 'j':
        o->json = 1;
        break;
      case 'w':
        o->watch = 1;
        break;
      case 'i':
        if (!parse_interval (optarg, &o->interval))
          return EXIT_USAGE;
        break;
      case OPT_REMOVE_STALE:
        o->remove = optarg;
        break;
      case 'h':
        usage (stdout);
        exit (0);
      case 'V':
        printf (PROGRAM " %s (libmmapring %s, format version %u)\n",
            PACKAGE_VERSION, mmapring_version (), mmapring_format_version ());
        exit (0);
      default:
        usage (stderr);
        return EXIT_USAGE;
    }
  }
  if (optind < argc)
    o->location = argv[optind++];
  if (optind < argc || (o->remove && (o->location || o->watch))) {
    usage (stderr);
    return EXIT_USAGE;
  }
  return 0;
}

int
main (int argc, char **argv)
{
  Options o;
  char *location = NULL;
  int ret;

  memset (&o, 0, sizeof (o));
  if ((ret = parse_options (argc, argv, &o)) != 0)
    return ret;
  if (o.remove || o.location) {
    location = resolve_location (&o, o.remove ? o.remove : o.location);
    if (!location)
      return EXIT_LOCATION;
    if (o.remove)
      o.remove = location;
    else
      o.location = location;
  }
  if (o.remove)
    ret = remove_stale (&o);
  else if (o.watch)
    ret = watch (&o);
  else
    ret = show (&o, stdout);
  free (location);
  return ret;
}

/* conf-read: the C API's front end of the conformance suite (run.py).
 *
 * Reads locations from stdin, one a line.  For each it makes a reader
 * (libmmapring, as a program in C would use it: leasing frames when it
 * can, copying them otherwise) and prints one JSON object a line:
 *
 *   {"waiting": REASON}                 once it found nothing there yet
 *   {"frame": OFFSET, "hash": "CRC32/SIZE"}     per frame output
 *   {"end": "eos", "skipped": N}                the writer's end of stream
 *   {"end": "error", "status": NAME, "message": MSG}   a refused file
 *   {"end": "writer-gone", "skipped": N, "reason": MSG} the writer left
 *   {"end": "timeout"}                  nothing of the above for 30 s
 *
 * then frees the reader and reads the next location.  NAME is
 * mmapring_status_name() of the error's status. */
#include <mmapring.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WAIT_NS (100 * 1000000LL)
#define GIVE_UP_WAITS 300

static uint32_t crc_table[256];

static void
crc_init (void)
{
  uint32_t i, k, c;

  for (i = 0; i < 256; i++) {
    for (c = i, k = 0; k < 8; k++)
      c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
    crc_table[i] = c;
  }
}

/* CRC-32 as zlib computes it (Python's zlib.crc32). */
static uint32_t
crc32_of (const uint8_t * p, uint64_t n)
{
  uint32_t c = 0xffffffffu;

  while (n--)
    c = crc_table[(c ^ *p++) & 0xff] ^ (c >> 8);
  return c ^ 0xffffffffu;
}

static void
print_json_string (const char *s)
{
  putchar ('"');
  for (; *s; s++) {
    unsigned char ch = (unsigned char) *s;
    if (ch == '"' || ch == '\\')
      printf ("\\%c", ch);
    else if (ch < 0x20)
      printf ("\\u%04x", ch);
    else
      putchar (ch);
  }
  putchar ('"');
}

static uint64_t
skipped_so_far (MmapRingReader * r)
{
  MmapRingReaderStats st;

  mmapring_reader_stats (r, &st);
  return st.frames_skipped;
}

/* Prints the frame's number and hash; 0 if it was overwritten meanwhile
 * (the library counted it). */
static int
output_frame (MmapRingReader * r, const MmapRingFrame * f, uint8_t ** buf,
    uint64_t * buf_size)
{
  MmapRingLease *lease = NULL;
  MmapRingError err;
  const uint8_t *data;

  if (mmapring_reader_lease (r, &lease, &err) == MMAPRING_OK) {
    data = mmapring_lease_data (lease);
  } else {
    if (*buf_size < f->size) {
      free (*buf);
      *buf_size = f->size;
      if (!(*buf = malloc (f->size ? f->size : 1))) {
        fprintf (stderr, "out of memory\n");
        exit (1);
      }
    }
    if (mmapring_reader_copy (r, *buf, *buf_size, &err) != MMAPRING_OK)
      return 0;
    data = *buf;
  }
  printf ("{\"frame\": %llu, \"hash\": \"%08x/%llu\"}\n",
      (unsigned long long) f->offset, crc32_of (data, f->size),
      (unsigned long long) f->size);
  mmapring_lease_release (lease);
  return 1;
}

static void
follow (const char *path, uint8_t ** buf, uint64_t * buf_size)
{
  MmapRingReader *r;
  MmapRingError err;
  int seen_file = 0, said_waiting = 0, idle = 0;

  if (!(r = mmapring_reader_new (path, &err))) {
    printf ("{\"end\": \"error\", \"status\": ");
    print_json_string (mmapring_status_name (err.status));
    printf (", \"message\": ");
    print_json_string (err.message);
    printf ("}\n");
    return;
  }
  for (;;) {
    MmapRingFrame f;
    MmapRingEvent ev = mmapring_reader_next (r, WAIT_NS, &f, &err);

    fflush (stdout);
    if (ev == MMAPRING_EVENT_TIMEOUT) {
      if (++idle < GIVE_UP_WAITS)
        continue;
      printf ("{\"end\": \"timeout\"}\n");
      break;
    }
    idle = 0;
    if (ev == MMAPRING_EVENT_NEW_FILE) {
      seen_file = 1;
    } else if (ev == MMAPRING_EVENT_WAITING && !seen_file) {
      if (!said_waiting) {
        printf ("{\"waiting\": ");
        print_json_string (err.message);
        printf ("}\n");
      }
      said_waiting = 1;
    } else if (ev == MMAPRING_EVENT_WAITING) {
      printf ("{\"end\": \"writer-gone\", \"skipped\": %llu, \"reason\": ",
          (unsigned long long) skipped_so_far (r));
      print_json_string (err.message);
      printf ("}\n");
      break;
    } else if (ev == MMAPRING_EVENT_FRAME) {
      if (!(f.frame_flags & MMAPRING_FRAME_FLAG_NO_BUFFER))
        output_frame (r, &f, buf, buf_size);
    } else if (ev == MMAPRING_EVENT_EOS) {
      printf ("{\"end\": \"eos\", \"skipped\": %llu}\n",
          (unsigned long long) skipped_so_far (r));
      break;
    } else if (ev == MMAPRING_EVENT_ERROR) {
      printf ("{\"end\": \"error\", \"status\": ");
      print_json_string (mmapring_status_name (err.status));
      printf (", \"message\": ");
      print_json_string (err.message);
      printf ("}\n");
      break;
    }
  }
  fflush (stdout);
  mmapring_reader_free (r);
}

int
main (void)
{
  char line[4096];
  uint8_t *buf = NULL;
  uint64_t buf_size = 0;

  crc_init ();
  /* A file truncated under us must cost frames, not the process. */
  mmapring_install_sigbus_guard (NULL);
  while (fgets (line, sizeof line, stdin)) {
    line[strcspn (line, "\n")] = '\0';
    if (*line)
      follow (line, &buf, &buf_size);
  }
  free (buf);
  return 0;
}

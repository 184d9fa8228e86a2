/* mmapring: reading the simple fields of a caps string, and the plane
 * layout of the raw video formats the library knows, for programs that
 * have no GStreamer (and for the reader's check that every row of every
 * plane lies inside the payload). */
#include "mr-private.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* Skips a value: quoted strings, and brackets that may hold commas
 * (lists, arrays, ranges, streamheader buffers). */
static const char *
skip_value (const char *p)
{
  int depth = 0;

  while (*p) {
    if (*p == '"') {
      for (p++; *p && *p != '"'; p++)
        if (*p == '\\' && p[1])
          p++;
      if (*p)
        p++;
      continue;
    }
    if (*p == '{' || *p == '<' || *p == '[' || *p == '(')
      depth++;
    else if ((*p == '}' || *p == '>' || *p == ']' || *p == ')') && depth)
      depth--;
    else if ((*p == ',' || *p == ';') && depth == 0)
      break;
    p++;
  }
  return p;
}

static const char *
skip_space (const char *p)
{
  while (*p && isspace ((unsigned char) *p))
    p++;
  return p;
}

MR_EXPORT int
mmapring_caps_media_type (const char *caps, char *buf, size_t size)
{
  const char *p = skip_space (caps), *e = p;
  size_t n;

  while (*e && *e != ',' && *e != ';' && *e != '(' &&
      !isspace ((unsigned char) *e))
    e++;
  n = e - p;
  if (!n || n >= size)
    return 0;
  memcpy (buf, p, n);
  buf[n] = '\0';
  return 1;
}

/* Finds `field` in the first structure; *val and *len: its value, with
 * the (type) prefix and the quotes taken off. */
static int
find_field (const char *caps, const char *field, const char **val, size_t *len)
{
  const char *p = caps;
  size_t flen = strlen (field);

  /* Past the media type and its features. */
  p = skip_value (p);
  while (*p == ',') {
    const char *name, *v, *end;
    p = skip_space (p + 1);
    name = p;
    while (*p && (isalnum ((unsigned char) *p) || strchr ("_-.+", *p)))
      p++;
    if ((size_t) (p - name) == flen && strncmp (name, field, flen) == 0) {
      p = skip_space (p);
      if (*p != '=')
        return 0;
      p = skip_space (p + 1);
      if (*p == '(') {
        while (*p && *p != ')')
          p++;
        if (*p)
          p = skip_space (p + 1);
      }
      v = p;
      end = skip_value (v);
      while (end > v && isspace ((unsigned char) end[-1]))
        end--;
      if (end - v >= 2 && *v == '"' && end[-1] == '"') {
        v++;
        end--;
      }
      *val = v;
      *len = end - v;
      return 1;
    }
    p = skip_value (p);
  }
  return 0;
}

MR_EXPORT int
mmapring_caps_get_string (const char *caps, const char *field, char *buf,
    size_t size)
{
  const char *v;
  size_t len, i, n = 0;

  if (!find_field (caps, field, &v, &len) || !size)
    return 0;
  for (i = 0; i < len && n + 1 < size; i++) {
    if (v[i] == '\\' && i + 1 < len)
      i++;
    buf[n++] = v[i];
  }
  buf[n] = '\0';
  return i >= len;
}

MR_EXPORT int
mmapring_caps_get_int (const char *caps, const char *field, int64_t * value)
{
  char buf[32], *end;
  long long v;

  if (!mmapring_caps_get_string (caps, field, buf, sizeof (buf)))
    return 0;
  v = strtoll (buf, &end, 10);
  if (end == buf || *skip_space (end))
    return 0;
  *value = v;
  return 1;
}

/* --- raw video formats --- */

typedef struct
{
  uint8_t xs, ys;               /* horizontal, vertical subsampling shift */
  uint8_t comps, bytes;         /* values per sample, bytes per value */
} PlaneDef;

typedef struct
{
  const char *name;
  uint8_t n_planes;
  uint8_t pairs;                /* 4:2:2 packed: samples come in pairs */
  uint8_t big_endian;
  PlaneDef p[4];
} FormatDef;

#define P1(c, b) {{0, 0, c, b}}
#define YUV(xs, ys, b) {{0, 0, 1, b}, {xs, ys, 1, b}, {xs, ys, 1, b}}
#define SEMI(xs, ys, b) {{0, 0, 1, b}, {xs, ys, 2, b}}

static const FormatDef formats[] = {
  {"RGB", 1, 0, 0, P1 (3, 1)}, {"BGR", 1, 0, 0, P1 (3, 1)},
  {"RGBx", 1, 0, 0, P1 (4, 1)}, {"BGRx", 1, 0, 0, P1 (4, 1)},
  {"xRGB", 1, 0, 0, P1 (4, 1)}, {"xBGR", 1, 0, 0, P1 (4, 1)},
  {"RGBA", 1, 0, 0, P1 (4, 1)}, {"BGRA", 1, 0, 0, P1 (4, 1)},
  {"ARGB", 1, 0, 0, P1 (4, 1)}, {"ABGR", 1, 0, 0, P1 (4, 1)},
  {"AYUV", 1, 0, 0, P1 (4, 1)}, {"VUYA", 1, 0, 0, P1 (4, 1)},
  {"v308", 1, 0, 0, P1 (3, 1)}, {"IYU2", 1, 0, 0, P1 (3, 1)},
  {"GRAY8", 1, 0, 0, P1 (1, 1)},
  {"GRAY16_LE", 1, 0, 0, P1 (1, 2)}, {"GRAY16_BE", 1, 0, 1, P1 (1, 2)},
  {"RGB16", 1, 0, 0, P1 (1, 2)}, {"BGR16", 1, 0, 0, P1 (1, 2)},
  {"RGB15", 1, 0, 0, P1 (1, 2)}, {"BGR15", 1, 0, 0, P1 (1, 2)},
  {"ARGB64", 1, 0, 0, P1 (4, 2)}, {"AYUV64", 1, 0, 0, P1 (4, 2)},
  {"ARGB64_LE", 1, 0, 0, P1 (4, 2)}, {"ARGB64_BE", 1, 0, 1, P1 (4, 2)},
  {"RGBA64_LE", 1, 0, 0, P1 (4, 2)}, {"RGBA64_BE", 1, 0, 1, P1 (4, 2)},
  {"BGRA64_LE", 1, 0, 0, P1 (4, 2)}, {"BGRA64_BE", 1, 0, 1, P1 (4, 2)},
  {"ABGR64_LE", 1, 0, 0, P1 (4, 2)}, {"ABGR64_BE", 1, 0, 1, P1 (4, 2)},
  {"YUY2", 1, 1, 0, P1 (2, 1)}, {"UYVY", 1, 1, 0, P1 (2, 1)},
  {"YVYU", 1, 1, 0, P1 (2, 1)}, {"VYUY", 1, 1, 0, P1 (2, 1)},
  {"I420", 3, 0, 0, YUV (1, 1, 1)}, {"YV12", 3, 0, 0, YUV (1, 1, 1)},
  {"Y41B", 3, 0, 0, YUV (2, 0, 1)}, {"Y42B", 3, 0, 0, YUV (1, 0, 1)},
  {"Y444", 3, 0, 0, YUV (0, 0, 1)},
  {"I420_10LE", 3, 0, 0, YUV (1, 1, 2)}, {"I420_10BE", 3, 0, 1,
      YUV (1, 1, 2)},
  {"I420_12LE", 3, 0, 0, YUV (1, 1, 2)}, {"I422_10LE", 3, 0, 0,
      YUV (1, 0, 2)},
  {"Y444_10LE", 3, 0, 0, YUV (0, 0, 2)}, {"Y444_16LE", 3, 0, 0,
      YUV (0, 0, 2)},
  {"GBR", 3, 0, 0, YUV (0, 0, 1)},
  {"GBRA", 4, 0, 0, {{0, 0, 1, 1}, {0, 0, 1, 1}, {0, 0, 1, 1}, {0, 0, 1,
              1}}},
  {"A420", 4, 0, 0, {{0, 0, 1, 1}, {1, 1, 1, 1}, {1, 1, 1, 1}, {0, 0, 1,
              1}}},
  {"NV12", 2, 0, 0, SEMI (1, 1, 1)}, {"NV21", 2, 0, 0, SEMI (1, 1, 1)},
  {"NV16", 2, 0, 0, SEMI (1, 0, 1)}, {"NV61", 2, 0, 0, SEMI (1, 0, 1)},
  {"NV24", 2, 0, 0, SEMI (0, 0, 1)},
  {"P010_10LE", 2, 0, 0, SEMI (1, 1, 2)}, {"P016_LE", 2, 0, 0,
      SEMI (1, 1, 2)},
};

static uint32_t
shift_up (uint32_t v, unsigned s)
{
  return (v + (1u << s) - 1) >> s;
}

MR_EXPORT MmapRingStatus
mmapring_video_layout (const char *caps, MmapRingVideoLayout * lo)
{
  char media[64];
  int64_t w, h;
  size_t i;
  uint32_t p;

  memset (lo, 0, sizeof (*lo));
  if (!caps || !mmapring_caps_media_type (caps, media, sizeof (media)) ||
      strcmp (media, "video/x-raw") != 0 || strstr (caps, "(memory:") ||
      !mmapring_caps_get_string (caps, "format", lo->format,
          sizeof (lo->format)) || !mmapring_caps_get_int (caps, "width", &w) ||
      !mmapring_caps_get_int (caps, "height", &h) || w <= 0 || h <= 0 ||
      w > 65536 || h > 65536)
    return MMAPRING_ERR_NOT_FOUND;
  for (i = 0; i < sizeof (formats) / sizeof (formats[0]); i++) {
    const FormatDef *fd = &formats[i];
    if (strcmp (fd->name, lo->format) != 0)
      continue;
    lo->width = (int32_t) w;
    lo->height = (int32_t) h;
    lo->n_planes = fd->n_planes;
    lo->big_endian = fd->big_endian;
    for (p = 0; p < fd->n_planes; p++) {
      MmapRingPlane *pl = &lo->plane[p];
      pl->rows = shift_up ((uint32_t) h, fd->p[p].ys);
      /* 4:2:2 packed: a 4-byte macropixel per pair, so an odd width
       * still has a whole last pair, chroma included. */
      pl->columns = fd->pairs ? 2 * shift_up ((uint32_t) w, 1) :
          shift_up ((uint32_t) w, fd->p[p].xs);
      pl->components = fd->p[p].comps;
      pl->component_bytes = fd->p[p].bytes;
      pl->row_bytes = pl->columns * pl->components * pl->component_bytes;
    }
    return MMAPRING_OK;
  }
  return MMAPRING_ERR_NOT_FOUND;
}

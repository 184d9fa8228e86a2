/* mmapring: records and values (FORMAT.md section 16).
 *
 * A record is a type, a size and a body; the body is one value in a small
 * self-describing encoding: a tag byte, then its payload, little-endian
 * and unaligned.  Containers (list, array, map, structure) hold items up
 * to an END tag; map and structure entries are a STRING key and a value.
 * The reader side never trusts the bytes: every read is bounded by the
 * record, and nesting is bounded. */
#include "mr-private.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define MAX_DEPTH 32

MR_EXPORT int
mmapring_records_next (const uint8_t * area, uint32_t size, uint32_t * at,
    MmapRingRecord * rec)
{
  MmapRecordHeader rh;

  if (!area || *at >= size || size - *at < sizeof (rh))
    return 0;
  memcpy (&rh, area + *at, sizeof (rh));
  if (rh.size > size - *at - sizeof (rh))
    return 0;
  rec->type = rh.type;
  rec->size = rh.size;
  rec->body = area + *at + sizeof (rh);
  *at += sizeof (rh) + rh.size;
  *at = (uint32_t) MR_MIN (MR_ALIGN ((uint64_t) * at, 8), size);
  return 1;
}

/* --- reading values --- */

static int
take (const uint8_t * p, uint32_t size, uint32_t * at, void *out, uint32_t n)
{
  if (size - *at < n)
    return 0;
  memcpy (out, p + *at, n);
  *at += n;
  return 1;
}

static int
take_bytes (const uint8_t * p, uint32_t size, uint32_t * at,
    const uint8_t ** data, uint32_t * len)
{
  if (!take (p, size, at, len, 4) || *len > size - *at)
    return 0;
  *data = p + *at;
  *at += *len;
  return 1;
}

MR_EXPORT int
mmapring_value_next (const uint8_t * p, uint32_t size, uint32_t * at,
    MmapRingValue * v)
{
  uint8_t tag, b;
  int32_t num;

  memset (v, 0, sizeof (*v));
  if (!p || *at >= size || !take (p, size, at, &tag, 1))
    return 0;
  v->type = tag;
  switch (tag) {
    case MMAPRING_VALUE_END:
    case MMAPRING_VALUE_LIST:
    case MMAPRING_VALUE_ARRAY:
    case MMAPRING_VALUE_MAP:
      return 1;
    case MMAPRING_VALUE_INT:
      return take (p, size, at, &v->i, 8);
    case MMAPRING_VALUE_UINT:
      return take (p, size, at, &v->u, 8);
    case MMAPRING_VALUE_DOUBLE:
      return take (p, size, at, &v->d, 8);
    case MMAPRING_VALUE_BOOL:
      if (!take (p, size, at, &b, 1) || b > 1)
        return 0;
      v->i = b;
      return 1;
    case MMAPRING_VALUE_STRING:
    case MMAPRING_VALUE_BYTES:
    case MMAPRING_VALUE_STRUCTURE:
      return take_bytes (p, size, at, &v->data, &v->size);
    case MMAPRING_VALUE_FRACTION:
      if (!take (p, size, at, &num, 4) || !take (p, size, at, &v->u, 4))
        return 0;
      v->i = num;
      v->u &= UINT32_MAX;
      return v->u != 0;
    case MMAPRING_VALUE_SERIALIZED:
      return take_bytes (p, size, at, &v->type_name, &v->type_size) &&
          take_bytes (p, size, at, &v->data, &v->size);
    default:
      return 0;
  }
}

/* --- JSON --- */

typedef struct
{
  char *out;
  size_t size, len;
} Json;

static void
put (Json * j, const char *s, size_t n)
{
  if (j->len < j->size) {
    size_t room = j->size - j->len;
    memcpy (j->out + j->len, s, MR_MIN (n, room));
  }
  j->len += n;
}

static void
puts_ (Json * j, const char *s)
{
  put (j, s, strlen (s));
}

/* Length of the UTF-8 sequence at p (1..4), 0 if it is not one. */
static int
utf8_len (const uint8_t * p, uint32_t n)
{
  int len, i;

  if (p[0] < 0x80)
    return 1;
  len = p[0] >= 0xf0 && p[0] < 0xf5 ? 4 : p[0] >= 0xe0 ? 3 :
      p[0] >= 0xc2 && p[0] < 0xe0 ? 2 : 0;
  if (!len || (uint32_t) len > n)
    return 0;
  for (i = 1; i < len; i++)
    if ((p[i] & 0xc0) != 0x80)
      return 0;
  return len;
}

static void
put_string (Json * j, const uint8_t * s, uint32_t n)
{
  uint32_t i = 0;
  char esc[8];

  puts_ (j, "\"");
  while (i < n) {
    int l = utf8_len (s + i, n - i);
    if (l == 1 && (s[i] == '"' || s[i] == '\\')) {
      esc[0] = '\\';
      esc[1] = (char) s[i];
      put (j, esc, 2);
    } else if (l == 1 && s[i] < 0x20) {
      snprintf (esc, sizeof (esc), "\\u%04x", s[i]);
      puts_ (j, esc);
    } else if (l) {
      put (j, (const char *) s + i, l);
    } else {
      puts_ (j, "\\ufffd");     /* not UTF-8 */
      l = 1;
    }
    i += l;
  }
  puts_ (j, "\"");
}

static void
put_base64 (Json * j, const uint8_t * s, uint32_t n)
{
  static const char b64[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  uint32_t i;
  char q[4];

  puts_ (j, "{\"bytes\":\"");
  for (i = 0; i < n; i += 3) {
    uint32_t v = (uint32_t) s[i] << 16 | (i + 1 < n ? s[i + 1] << 8 : 0) |
        (i + 2 < n ? s[i + 2] : 0);
    q[0] = b64[v >> 18];
    q[1] = b64[(v >> 12) & 63];
    q[2] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
    q[3] = i + 2 < n ? b64[v & 63] : '=';
    put (j, q, 4);
  }
  puts_ (j, "\"}");
}

static int json_value (Json * j, const uint8_t * p, uint32_t size,
    uint32_t * at, int depth);

/* Items up to END; keyed: STRING key, value pairs. */
static int
json_items (Json * j, const uint8_t * p, uint32_t size, uint32_t * at,
    int depth, int keyed)
{
  int first = 1;

  for (;;) {
    uint32_t save = *at;
    MmapRingValue v;

    if (!mmapring_value_next (p, size, at, &v))
      return 0;
    if (v.type == MMAPRING_VALUE_END)
      return 1;
    if (!first)
      puts_ (j, ",");
    first = 0;
    if (keyed) {
      if (v.type != MMAPRING_VALUE_STRING)
        return 0;
      put_string (j, v.data, v.size);
      puts_ (j, ":");
    } else {
      *at = save;
    }
    if (!json_value (j, p, size, at, depth + 1))
      return 0;
  }
}

static int
json_value (Json * j, const uint8_t * p, uint32_t size, uint32_t * at,
    int depth)
{
  MmapRingValue v;
  char num[64];

  if (depth > MAX_DEPTH || !mmapring_value_next (p, size, at, &v))
    return 0;
  switch (v.type) {
    case MMAPRING_VALUE_INT:
      snprintf (num, sizeof (num), "%lld", (long long) v.i);
      puts_ (j, num);
      return 1;
    case MMAPRING_VALUE_UINT:
      snprintf (num, sizeof (num), "%llu", (unsigned long long) v.u);
      puts_ (j, num);
      return 1;
    case MMAPRING_VALUE_DOUBLE:
      if (isfinite (v.d)) {
        snprintf (num, sizeof (num), "%.17g", v.d);
        /* Still a double to a JSON reader: 2.0, not 2. */
        if (!strpbrk (num, ".eE"))
          strcat (num, ".0");
      } else
        snprintf (num, sizeof (num), "null");
      puts_ (j, num);
      return 1;
    case MMAPRING_VALUE_BOOL:
      puts_ (j, v.i ? "true" : "false");
      return 1;
    case MMAPRING_VALUE_STRING:
      put_string (j, v.data, v.size);
      return 1;
    case MMAPRING_VALUE_BYTES:
      put_base64 (j, v.data, v.size);
      return 1;
    case MMAPRING_VALUE_FRACTION:
      snprintf (num, sizeof (num), "[%lld,%llu]", (long long) v.i,
          (unsigned long long) v.u);
      puts_ (j, num);
      return 1;
    case MMAPRING_VALUE_SERIALIZED:
      puts_ (j, "{\"type\":");
      put_string (j, v.type_name, v.type_size);
      puts_ (j, ",\"value\":");
      put_string (j, v.data, v.size);
      puts_ (j, "}");
      return 1;
    case MMAPRING_VALUE_LIST:
    case MMAPRING_VALUE_ARRAY:
      puts_ (j, "[");
      if (!json_items (j, p, size, at, depth, 0))
        return 0;
      puts_ (j, "]");
      return 1;
    case MMAPRING_VALUE_MAP:
      puts_ (j, "{");
      if (!json_items (j, p, size, at, depth, 1))
        return 0;
      puts_ (j, "}");
      return 1;
    case MMAPRING_VALUE_STRUCTURE:
      puts_ (j, "{\"name\":");
      put_string (j, v.data, v.size);
      puts_ (j, ",\"fields\":{");
      if (!json_items (j, p, size, at, depth, 1))
        return 0;
      puts_ (j, "}}");
      return 1;
    default:
      return 0;                 /* END where a value belongs */
  }
}

MR_EXPORT size_t
mmapring_value_to_json (const uint8_t * p, uint32_t size, char *out,
    size_t out_size)
{
  Json j = { out, out_size ? out_size - 1 : 0, 0 };
  uint32_t at = 0;

  if (!json_value (&j, p, size, &at, 0) || at != size) {
    if (out_size)
      out[0] = '\0';
    return 0;
  }
  if (out_size)
    out[MR_MIN (j.len, out_size - 1)] = '\0';
  return j.len + 1;
}

/* --- writing records --- */

MR_EXPORT void
mmapring_records_init (MmapRingRecords * r, uint8_t * buf, uint32_t capacity)
{
  memset (r, 0, sizeof (*r));
  r->buf = buf;
  r->capacity = capacity;
}

static void
emit (MmapRingRecords * r, const void *data, uint32_t n)
{
  if (r->overflow || r->capacity - r->at < n) {
    r->overflow = 1;
    return;
  }
  memcpy (r->buf + r->at, data, n);
  r->at += n;
}

static void
emit_tag (MmapRingRecords * r, uint8_t tag)
{
  emit (r, &tag, 1);
}

static void
emit_str (MmapRingRecords * r, const void *s, uint32_t n)
{
  emit (r, &n, 4);
  emit (r, s, n);
}

MR_EXPORT void
mmapring_records_begin (MmapRingRecords * r, uint32_t type)
{
  MmapRecordHeader rh = { type, 0 };

  r->open = r->at = r->size;
  r->overflow = 0;
  r->depth = 0;
  emit (r, &rh, sizeof (rh));
}

MR_EXPORT int
mmapring_records_end (MmapRingRecords * r)
{
  MmapRecordHeader rh;
  uint32_t end;

  if (r->overflow || r->depth != 0 || r->at < r->open + sizeof (rh)) {
    /* Left out whole, never half-written. */
    r->at = r->size;
    return 0;
  }
  memcpy (&rh, r->buf + r->open, sizeof (rh));
  rh.size = r->at - r->open - sizeof (rh);
  memcpy (r->buf + r->open, &rh, sizeof (rh));
  /* Pad to 8 with zeros (a padding that does not fit ends the area). */
  end = (uint32_t) MR_MIN (MR_ALIGN ((uint64_t) r->at, 8), r->capacity);
  memset (r->buf + r->at, 0, end - r->at);
  r->size = r->at = end;
  return 1;
}

MR_EXPORT void
mmapring_value_int (MmapRingRecords * r, int64_t v)
{
  emit_tag (r, MMAPRING_VALUE_INT);
  emit (r, &v, 8);
}

MR_EXPORT void
mmapring_value_uint (MmapRingRecords * r, uint64_t v)
{
  emit_tag (r, MMAPRING_VALUE_UINT);
  emit (r, &v, 8);
}

MR_EXPORT void
mmapring_value_double (MmapRingRecords * r, double v)
{
  emit_tag (r, MMAPRING_VALUE_DOUBLE);
  emit (r, &v, 8);
}

MR_EXPORT void
mmapring_value_bool (MmapRingRecords * r, int v)
{
  uint8_t b = v != 0;
  emit_tag (r, MMAPRING_VALUE_BOOL);
  emit (r, &b, 1);
}

MR_EXPORT void
mmapring_value_string (MmapRingRecords * r, const char *s)
{
  emit_tag (r, MMAPRING_VALUE_STRING);
  emit_str (r, s ? s : "", s ? (uint32_t) strlen (s) : 0);
}

MR_EXPORT void
mmapring_value_bytes (MmapRingRecords * r, const void *data, uint32_t size)
{
  emit_tag (r, MMAPRING_VALUE_BYTES);
  emit_str (r, data, size);
}

MR_EXPORT void
mmapring_value_fraction (MmapRingRecords * r, int32_t num, int32_t den)
{
  uint32_t d = den > 0 ? (uint32_t) den : 1;
  emit_tag (r, MMAPRING_VALUE_FRACTION);
  emit (r, &num, 4);
  emit (r, &d, 4);
}

MR_EXPORT void
mmapring_value_serialized (MmapRingRecords * r, const char *type_name,
    const char *text)
{
  emit_tag (r, MMAPRING_VALUE_SERIALIZED);
  emit_str (r, type_name, (uint32_t) strlen (type_name));
  emit_str (r, text, (uint32_t) strlen (text));
}

static void
open_container (MmapRingRecords * r, uint8_t tag)
{
  emit_tag (r, tag);
  if (++r->depth > MAX_DEPTH)
    r->overflow = 1;
}

MR_EXPORT void
mmapring_value_begin_list (MmapRingRecords * r)
{
  open_container (r, MMAPRING_VALUE_LIST);
}

MR_EXPORT void
mmapring_value_begin_array (MmapRingRecords * r)
{
  open_container (r, MMAPRING_VALUE_ARRAY);
}

MR_EXPORT void
mmapring_value_begin_map (MmapRingRecords * r)
{
  open_container (r, MMAPRING_VALUE_MAP);
}

MR_EXPORT void
mmapring_value_begin_structure (MmapRingRecords * r, const char *name)
{
  open_container (r, MMAPRING_VALUE_STRUCTURE);
  emit_str (r, name, (uint32_t) strlen (name));
}

MR_EXPORT void
mmapring_value_key (MmapRingRecords * r, const char *key)
{
  mmapring_value_string (r, key);
}

MR_EXPORT void
mmapring_value_end (MmapRingRecords * r)
{
  emit_tag (r, MMAPRING_VALUE_END);
  r->depth--;
}

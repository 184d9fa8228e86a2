"""Frames of a gst-mmap file as numpy arrays: read what mmapsink (or any
writer) publishes, and publish frames that mmapsrc (or any reader) reads.

A binding over libmmapring, the C library that is the file protocol
(lib/mmapring.h, docs/FORMAT.md): cffi in ABI mode, no GStreamer, no
compiled code of its own.

    import mmapring
    for frame in mmapring.Reader("/dev/shm/cam"):
        print(frame.seq, frame.format, frame.array.shape, frame.latency)

    with mmapring.Writer("/dev/shm/out", "video/x-raw,format=RGB,"
                         "width=640,height=480,framerate=30/1") as w:
        w.write(np.zeros((480, 640, 3), np.uint8))
        w.eos()

A Reader waits for the file to appear (then reads every frame of that
writer) or joins a running writer at its newest frame, then yields every
later frame once; frames lost meanwhile (overwritten before they could be
read, or passed over with max_lag) are counted in ``Reader.frames_skipped``
and in ``Frame.skipped`` of the next frame.  It follows caps changes and
writer restarts by itself.  The library does all of this; this module
turns its events into Frames and exceptions.

``Frame.array`` depends on the caps:

* packed RGB-like formats (RGB, BGR: 3 channels; RGBx, BGRx, xRGB, xBGR,
  RGBA, BGRA, ARGB, ABGR: 4 channels): uint8, shape (height, width, channels),
  channels in the order the format name gives;
* 16 bits per channel (ARGB64, AYUV64, RGBA64_LE/BE, ARGB64_LE/BE,
  BGRA64_LE/BE, ABGR64_LE/BE): uint16 with the format's byte order
  (ARGB64 and AYUV64: little-endian), shape (height, width, 4);
* GRAY8: uint8, shape (height, width, 1); GRAY16_LE/GRAY16_BE: uint16 with
  that byte order, shape (height, width, 1);
* YUY2, UYVY, YVYU: uint8, shape (height, 2*ceil(width/2), 2), i.e. the
  bytes of each row as 2 per pixel, in the format's order (YUY2: Y0 U Y1 V
  ...); an odd width keeps the last pair whole (its chroma is real data);
* planar and semi-planar formats: a tuple of 2-D uint8 arrays, one per
  plane, in GStreamer's plane order:
  I420 (Y, U, V), YV12 (Y, V, U), Y42B (Y, U, V), Y444 (Y, U, V), each
  (rows, samples); NV12 (Y, UV), NV21 (Y, VU) where the second plane has
  shape (ceil(height/2), 2*ceil(width/2)) with the chroma bytes interleaved;
* anything else (other formats, non-video caps, or a frame without a
  plane layout): 1-D uint8 array of the whole payload.

The shapes come from the library's table of formats
(mmapring_video_layout): rows, samples, values per sample and their size.

Copies and views.  By default a frame is copied out of the slot (and
checked against the slot's seqlock: never torn), and its arrays are
C-contiguous, row padding dropped.  With ``Reader(zero_copy=True)`` a
frame's arrays are read-only views of the slot itself, which the reader
leases: the writer leaves the slot alone while the lease lasts.  Such
arrays keep the writer's row stride.  The lease ends with
``frame.close()``, at the end of a ``with frame:`` block, or when the
frame is garbage collected; after close ``frame.array`` raises
ValueError.  How the views cannot outlive the lease: the lease is held
by a cffi pointer (ffi.gc, releasing it) under the buffer object that a
private base array wraps, and every array and view of the slot has that
base array as its ``.base``.  close() drops the frame's references, so
the lease ends at once, unless the caller kept an array or a view made
before close: then it ends when the last of them is garbage, and until
then the kept pixels stay valid and unchanged.  Copy what you keep
(``np.array(a)``) to let the writer have the slot back sooner.  When no
lease can be had (the writer's lease limit, or the reader's
``max_leases``), the frame is copied instead (``frame.leased`` is False).

A Writer lays raw video out as GStreamer does for the caps (GstVideoInfo's
plane offsets and strides: rows padded to 4 bytes for most formats), so
that mmapsrc hands its frames downstream without converting them.

Where the library comes from (see _ffi.py): $MMAPRING_LIBRARY if set;
imported from a build tree (PYTHONPATH of `meson devenv`), that build's
library; installed, libmmapring.so.0 as the dynamic linker finds it, or
else where meson installed it.

Touching a slot of a file that someone truncated raises SIGBUS, which
kills Python; install_sigbus_guard() asks the library to turn that into
lost frames (process-wide, so never done behind your back; the
command-line mode does it).

Threads: a Reader or a Writer is used by one thread at a time; frames may
be closed, and die, in any thread.  Linux only.

Metas, events and tags (FORMAT.md section 16).  ``Frame.metas`` is a
list with a dict per meta the writer's buffer carried, ``{"type": ...}``
and the record's fields under the names FORMAT.md gives them:

* ``"roi"`` (GstVideoRegionOfInterestMeta): roi-type, id, parent-id, x, y,
  w, h, params (a list of structures);
* ``"reference-timestamp"``: reference (caps string), timestamp, duration
  (ns; 2**64 - 1 for none);
* ``"timecode"``: fps-n, fps-d, flags, hours, minutes, seconds, frames,
  field-count and, if the writer had one, latest-daily-jam (ISO 8601);
* ``"caption"``: caption-type (GstVideoCaptionType value), data;
* ``"custom"`` (GstCustomMeta): name (as registered), structure.

``Frame.events`` lists the events the writer received since its previous
frame, in the order received: ``{"type": "stream-start", "stream-id",
"group-id", "flags"}``, ``{"type": "tags", "scope": "stream" or "global",
"tags": {name: [values]}}``, ``{"type": "event", "sticky", "structure"}``
(a custom downstream event).  A GstStructure is ``{"name": ..., "fields":
{...}}``, a fraction ``[num, den]``, a buffer or caption data ``bytes``, a
value of another GType ``{"type": GType name, "value": serialized text}``;
integers int, doubles float (None if not finite), booleans bool.  This is
the JSON the library makes of a value (mmapring_value_to_json), with
bytes and doubles told apart from look-alikes by the value itself.  A
record the library finds malformed is left out and counted in
``Reader.records_malformed``.

Events that came after the writer's last frame travel in a slot without a
frame (NO_BUFFER): the Reader keeps them in ``Reader.pending_events`` and
gives them with the next frame's ``events`` (first, in order); at EOS
they are what ``pending_events`` holds (clear the list once handled if
the reader goes on to a next stream).  Likewise the events of a frame
that was overwritten while being copied.  Frames the reader skipped took
their events with them.

``Reader.stream_start`` (the fields of the last stream-start, or None)
and ``Reader.tags`` (``{scope: {name: [values]}}``, merged as the writer
merges them: a later value of a tag replaces the earlier one, a new
stream starts its stream tags afresh) follow the writer: from its sticky
area when the reader opens a file and after a gap, and from each event as
it is read.  A reader that joins a running writer has them before its
first frame, although the events that carried them went out long before.

Command line: python3 -m mmapring LOCATION [-n N] [-t TIMEOUT] [-e]
[--metas] prints one line per frame (with --metas also a line per event
and meta of each frame, as JSON).
"""

import base64
import json
import os
import time

import numpy as np

# In a build tree the generated modules (_cdef, _buildtree) live in the
# build directory's mmapring/, which PYTHONPATH names too.
__path__ = __import__("pkgutil").extend_path(__path__, __name__)

from . import layout  # noqa: E402
from ._ffi import LIBRARY, ffi, lib  # noqa: E402

__all__ = ["Reader", "Writer", "Frame", "VideoLayout", "Plane",
           "MmapFormatError", "Error", "video_layout",
           "install_sigbus_guard", "version", "layout", "TIME_NONE",
           "LIBRARY"]

TIME_NONE = lib.MMAPRING_TIME_NONE
_NS = 1000000000
# Longest single wait in the library: Python only sees Ctrl-C (and other
# signals) between calls.
_WAIT_SLICE_NS = 200 * 1000000


def version():
    """The library's version string."""
    return ffi.string(lib.mmapring_version()).decode()


# ---------------------------------------------------------------- errors

class Error(Exception):
    """A library call failed.  `code` is its MmapRingStatus (compare with
    lib.MMAPRING_ERR_BUSY, ...), `status` the library's name for it
    ("busy", "not found", ...), `errno` the system's or 0, str() the
    library's message ("PATH: reason")."""

    def __init__(self, message, code=None, errno=0):
        super().__init__(message)
        self.code = code
        self.status = None if code is None else _status_name(code)
        self.errno = errno


class MmapFormatError(Error):
    """What is at the location is not a gst-mmap file the library can read
    (or cannot be opened): an ERROR event of the reader.  str() is
    "path: reason"; the reader stays usable and goes on once the path
    names another file."""

    def __init__(self, path, reason, code=None, errno=0):
        super().__init__("%s: %s" % (path, reason), code, errno)
        self.path = path
        self.reason = reason


def _status_name(status):
    return ffi.string(lib.mmapring_status_name(status)).decode()


def _message(err):
    return ffi.string(err.message).decode("utf-8", "replace")


def _raise(err):
    raise Error(_message(err), err.status, err.sys_errno)


def install_sigbus_guard():
    """Makes a truncated file cost frames instead of the process (see
    mmapring_install_sigbus_guard).  Process-wide, idempotent."""
    err = ffi.new("MmapRingError *")
    if lib.mmapring_install_sigbus_guard(err) != lib.MMAPRING_OK:
        _raise(err)


def _time(t):
    return None if t == TIME_NONE else t


def _now_ns():
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


# ---------------------------------------------------------------- caps

def _caps_string(caps, field):
    buf = ffi.new("char[]", 256)
    if lib.mmapring_caps_get_string(caps, field.encode(), buf, 256):
        return ffi.string(buf).decode("utf-8", "replace")
    return None


def _caps_int(caps, field):
    v = ffi.new("int64_t *")
    return v[0] if lib.mmapring_caps_get_int(caps, field.encode(), v) else None


def _media_type(caps):
    buf = ffi.new("char[]", 256)
    if lib.mmapring_caps_media_type(caps, buf, 256):
        return ffi.string(buf).decode("utf-8", "replace")
    return None


# ---------------------------------------------------------------- layout

# Formats whose frames are shaped arrays rather than bytes (the module
# docstring says which shape); the shapes come from the library's table.
_PACKED = frozenset(
    "RGB BGR RGBx BGRx xRGB xBGR RGBA BGRA ARGB ABGR GRAY8 GRAY16_LE "
    "GRAY16_BE YUY2 UYVY YVYU ARGB64 AYUV64 RGBA64_LE RGBA64_BE ARGB64_LE "
    "ARGB64_BE BGRA64_LE BGRA64_BE ABGR64_LE ABGR64_BE".split())
_PLANAR = frozenset("I420 YV12 Y42B Y444 NV12 NV21".split())


class Plane:
    """One plane of raw video: `rows` lines of `columns` samples of
    `components` values of `component_bytes` each (`row_bytes` in all),
    at `offset` with `stride` bytes per line in GStreamer's default
    layout of the caps."""

    __slots__ = ("rows", "columns", "components", "component_bytes",
                 "row_bytes", "offset", "stride")

    def __init__(self, **kw):
        for k, v in kw.items():
            setattr(self, k, v)

    def __repr__(self):
        return ("Plane(rows=%d, columns=%d, components=%d, "
                "component_bytes=%d, offset=%d, stride=%d)" %
                (self.rows, self.columns, self.components,
                 self.component_bytes, self.offset, self.stride))


class VideoLayout:
    """Raw video caps as the library knows them: `format`, `width`,
    `height`, `big_endian` (2-byte values), `planes` (Plane, with
    GStreamer's default offsets and strides) and `size` (bytes of a
    frame in that layout, GstVideoInfo.size)."""

    __slots__ = ("format", "width", "height", "big_endian", "planes",
                 "size", "_spec")

    def __repr__(self):
        return "VideoLayout(%s %dx%d, %d bytes, %r)" % (
            self.format, self.width, self.height, self.size, self.planes)


def _c_layout(caps):
    lo = ffi.new("MmapRingVideoLayout *")
    if lib.mmapring_video_layout(caps, lo) != lib.MMAPRING_OK:
        return None
    return lo


def _round_up(v, n):
    return (v + n - 1) // n * n


# GStreamer gives every plane of these an even number of rows, though
# none is subsampled vertically (video-info.c, fill_planes).
_EVEN_ROWS = frozenset("I422_10LE I422_10BE I422_12LE I422_12BE".split())
_full_height_cache = {}


def _full_height_planes(fmt):
    """Per plane of `fmt`, whether it has a row per image row, asked of the
    library's table with a 2-row image; None if none is subsampled
    vertically."""
    if fmt not in _full_height_cache:
        lo = _c_layout(("video/x-raw,format=%s,width=2,height=2" %
                        fmt).encode())
        full = [lo.plane[p].rows == 2 for p in range(lo.n_planes)] \
            if lo is not None else []
        _full_height_cache[fmt] = None if all(full) else full
    return _full_height_cache[fmt]


def video_layout(caps):
    """The VideoLayout of raw video caps (a str), or None when they are not
    raw video of a format the library knows.

    Offsets and strides are GStreamer's (GstVideoInfo, progressive): each
    row padded to a multiple of 4 bytes, planes one after the other, and,
    in 4:2:0 formats (and I422_10/12), full-height planes given an even
    number of rows.
    """
    c = caps.encode() if isinstance(caps, str) else caps
    lo = _c_layout(c)
    if lo is None:
        return None
    v = VideoLayout()
    v.format = ffi.string(lo.format).decode()
    v.width, v.height = lo.width, lo.height
    v.big_endian = bool(lo.big_endian)
    # In 4:2:0 formats the full-height planes get an even number of rows.
    full = _full_height_planes(v.format)
    planes, offset = [], 0
    for p in range(lo.n_planes):
        cp = lo.plane[p]
        stride = _round_up(cp.row_bytes, 4)
        planes.append(Plane(rows=cp.rows, columns=cp.columns,
                            components=cp.components,
                            component_bytes=cp.component_bytes,
                            row_bytes=cp.row_bytes, offset=offset,
                            stride=stride))
        rows = cp.rows
        if (full is not None and full[p]) or v.format in _EVEN_ROWS:
            rows = _round_up(rows, 2)
        offset += stride * rows
    v.planes = tuple(planes)
    v.size = offset
    v._spec = _array_spec(v)
    return v


def _array_spec(v):
    """[(shape, dtype)] per plane of the arrays frames of `v` are, or None
    for flat bytes."""
    if v.format in _PACKED:
        p = v.planes[0]
        if p.component_bytes == 1:
            dtype = np.dtype(np.uint8)
        else:
            dtype = np.dtype(">u2" if v.big_endian else "<u2")
        return [((p.rows, p.columns, p.components), dtype)]
    if v.format in _PLANAR:
        return [((p.rows, p.row_bytes), np.dtype(np.uint8))
                for p in v.planes]
    return None


def _plane_view(buf, shape, dtype, offset, stride):
    """An array of `shape` in `buf` (a uint8 array) at `offset`, rows
    `stride` bytes apart; None if it does not fit."""
    rows = shape[0]
    row_bytes = int(np.prod(shape[1:])) * dtype.itemsize
    if stride < row_bytes or offset + (rows - 1) * stride + row_bytes > \
            buf.size:
        return None
    inner = (shape[2] * dtype.itemsize, dtype.itemsize) if len(shape) == 3 \
        else (dtype.itemsize,)
    return np.ndarray(shape, dtype, buffer=buf, offset=offset,
                      strides=(stride,) + inner)


def _frame_arrays(buf, spec, fr, contiguous):
    """The arrays of a frame whose payload is `buf`, laid out as its
    descriptor `fr` says; a flat array when `spec` is None or the
    descriptor has no (fitting) plane layout."""
    if spec is None or fr.n_planes != len(spec):
        return buf
    out = []
    for p, (shape, dtype) in enumerate(spec):
        a = _plane_view(buf, shape, dtype, fr.plane_offset[p],
                        fr.plane_stride[p])
        if a is None:
            return buf
        if contiguous and not a.flags.c_contiguous:
            a = np.ascontiguousarray(a)
        out.append(a)
    return out[0] if len(out) == 1 else tuple(out)


# ---------------------------------------------------------------- records

_META_RECORDS = {
    lib.MMAPRING_RECORD_ROI: "roi",
    lib.MMAPRING_RECORD_REFERENCE_TIMESTAMP: "reference-timestamp",
    lib.MMAPRING_RECORD_TIMECODE: "timecode",
    lib.MMAPRING_RECORD_CAPTION: "caption",
    lib.MMAPRING_RECORD_CUSTOM_META: "custom",
}
_EVENT_RECORDS = {
    lib.MMAPRING_RECORD_STREAM_START: "stream-start",
    lib.MMAPRING_RECORD_TAGS: "tags",
    lib.MMAPRING_RECORD_EVENT: "event",
}


def _copy_area(ptr, size):
    """A copy of `size` record bytes at `ptr` (valid only until the next
    call on the reader), or None."""
    if not size or ptr == ffi.NULL:
        return None
    area = ffi.new("uint8_t[]", size)
    ffi.memmove(area, ptr, size)
    return area


def _records(area, size):
    """(type, body, body size) of each record of an area."""
    if area is None:
        return
    at = ffi.new("uint32_t *", 0)
    rec = ffi.new("MmapRingRecord *")
    while lib.mmapring_records_next(area, size, at, rec):
        yield rec.type, rec.body, rec.size


def _bytes_shaped(body, size):
    """What the JSON of a value leaves open, in document order: for each
    object shaped like the library's bytes ({"bytes": string}), whether it
    is bytes or a map or structure whose one field, a string, is named
    "bytes".  (Doubles need no such help: the library writes 2.0 as
    "2.0".)"""
    at = ffi.new("uint32_t *", 0)
    v = ffi.new("MmapRingValue *")
    items = []
    while lib.mmapring_value_next(body, size, at, v):
        items.append((v.type, ffi.unpack(ffi.cast("char *", v.data), v.size)
                      if v.type == lib.MMAPRING_VALUE_STRING else None))
    real_bytes = []
    for i, (t, _) in enumerate(items):
        if t == lib.MMAPRING_VALUE_BYTES:
            real_bytes.append(True)
        elif t in (lib.MMAPRING_VALUE_MAP, lib.MMAPRING_VALUE_STRUCTURE):
            entry = items[i + 1:i + 4]
            if len(entry) == 3 and \
                    entry[0] == (lib.MMAPRING_VALUE_STRING, b"bytes") and \
                    entry[1][0] == lib.MMAPRING_VALUE_STRING and \
                    entry[2][0] == lib.MMAPRING_VALUE_END:
                real_bytes.append(False)
    return real_bytes


def _value(body, size):
    """A record's body as Python values (see the module docstring), or
    None when the library finds it malformed."""
    n = lib.mmapring_value_to_json(body, size, ffi.NULL, 0)
    if n == 0:
        return None
    out = ffi.new("char[]", n)
    lib.mmapring_value_to_json(body, size, out, n)
    text = ffi.string(out, n).decode("utf-8")
    # json calls this in document order, for objects as they close (an
    # object shaped like bytes holds no other).
    real_bytes = iter(_bytes_shaped(body, size))

    def obj(pairs):
        if len(pairs) == 1 and pairs[0][0] == "bytes" and \
                isinstance(pairs[0][1], str) and next(real_bytes, True):
            return base64.b64decode(pairs[0][1])
        return dict(pairs)
    return json.loads(text, object_pairs_hook=obj)


def _record_dicts(area, size, kinds, malformed):
    """{"type": name, **fields} for each record of `area` whose type is in
    `kinds` (record type -> name); malformed ones are counted in
    malformed[0] and left out."""
    out = []
    for rtype, body, bsize in _records(area, size):
        name = kinds.get(rtype)
        if name is None:
            continue            # not of this kind, or a type we do not know
        v = _value(body, bsize)
        if not isinstance(v, dict):
            malformed[0] += 1
            continue
        d = {"type": name}
        d.update((k, x) for k, x in v.items() if k != "type")
        out.append(d)
    return out


# ---------------------------------------------------------------- frames

class Frame:
    """One frame.

    Attributes: array (see the module docstring), caps, format, width,
    height (None when the caps do not say), seq, pts/dts/duration (ns or
    None), pts_monotonic_ns (ns or None), publish_monotonic_ns,
    publish_realtime_ns, latency (seconds, CLOCK_MONOTONIC, from
    publication until the frame was ready here), size, buffer_flags
    (GstBufferFlags values), offset, offset_end, writer_id, caps_seq,
    skipped (frames lost just before this one), discont (a gap or a new
    writer before it), keyframe (not a delta unit), leased (its arrays
    are views of the slot), closed, metas (a dict per meta of the
    writer's buffer), events (a dict per event that preceded it; see the
    module docstring for both).
    """

    __slots__ = ("_array", "_raw", "closed", "leased", "metas", "events",
                 "caps", "format", "width", "height", "seq", "pts", "dts",
                 "duration", "pts_monotonic_ns", "publish_monotonic_ns",
                 "publish_realtime_ns", "latency", "size", "buffer_flags",
                 "offset", "offset_end", "writer_id", "caps_seq", "skipped",
                 "discont", "keyframe")

    @property
    def array(self):
        if self.closed:
            raise ValueError("frame %d is closed" % self.seq)
        return self._array

    def close(self):
        """Ends the frame: frame.array raises ValueError from now on.  A
        leased frame gives its slot back to the writer, at once unless
        an array or view of the slot taken from it is still referenced:
        then when the last of them is garbage."""
        # The lease is held by the pointer under _raw, the base of every
        # array of the slot: dropping ours leaves only the user's.
        self._array = self._raw = None
        self.closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        if self.closed:
            shape = "closed"
        else:
            a = self._array
            shape = (tuple(x.shape for x in a) if isinstance(a, tuple)
                     else a.shape)
        return "<Frame seq=%d %s %sx%s %s latency=%.3fms%s>" % (
            self.seq, self.format, self.width, self.height, shape,
            self.latency * 1e3, " leased" if self.leased else "")


# ---------------------------------------------------------------- reader

class Reader:
    """Follows the gst-mmap file at `path` (which need not exist yet).

    Iterating yields Frames; with `timeout` (seconds) the iteration ends
    when no frame comes for that long, with None it waits for ever.  With
    `stop_on_eos` read() returns None, and the iteration ends, at the
    writer's end of stream.  `max_lag`: most frames this reader may fall
    behind the newest before it skips to the newest (0: the ring; 1:
    always the freshest frame).  `zero_copy`: frames are views of the
    slot, under a lease (at most `max_leases` frames at once; see the
    module docstring).  A file the library refuses raises
    MmapFormatError from read(); the reader stays usable.

    `stream_start`, `tags` and `pending_events` follow the writer's
    stream-start, tags and the events not yet given with a frame (see the
    module docstring); `records_malformed` counts the records left out.
    """

    def __init__(self, path, timeout=None, stop_on_eos=False, max_lag=0,
                 zero_copy=False, max_leases=2):
        self.path = os.fspath(path)
        self.timeout = timeout
        self.stop_on_eos = stop_on_eos
        self.zero_copy = bool(zero_copy)
        self.eos = False
        self.caps = None
        self.stream_start = None
        self.tags = {}
        self.pending_events = []
        self._malformed = [0]
        self._r = ffi.NULL
        self._err = ffi.new("MmapRingError *")
        self._fr = ffi.new("MmapRingFrame *")
        self._lease = ffi.new("MmapRingLease **")
        self._stats = ffi.new("MmapRingReaderStats *")
        self._file_caps(None)
        r = lib.mmapring_reader_new(self.path.encode(), self._err)
        if r == ffi.NULL:
            _raise(self._err)
        self._r = r
        lib.mmapring_reader_set_max_lag(r, max_lag)
        lib.mmapring_reader_set_zero_copy(r, int(self.zero_copy), max_leases)

    # -- public API

    def __iter__(self):
        return self

    def __next__(self):
        frame = self.read(self.timeout)
        if frame is None:
            raise StopIteration
        return frame

    def read(self, timeout=None):
        """The next Frame; None on timeout (seconds, None: wait for ever)
        or, with stop_on_eos, at EOS: `eos` tells the two apart.  Without
        stop_on_eos an EOS is passed over: the reader goes on waiting for
        more frames or a new writer."""
        self._check_open()
        self.eos = False
        deadline = None if timeout is None else \
            _now_ns() + max(0, int(timeout * _NS))
        fr, err = self._fr, self._err
        while True:
            wait = _WAIT_SLICE_NS if deadline is None else \
                max(0, min(_WAIT_SLICE_NS, deadline - _now_ns()))
            ev = lib.mmapring_reader_next(self._r, wait, fr, err)
            if ev == lib.MMAPRING_EVENT_FRAME:
                frame = self._frame_event(fr)
                if frame is not None:
                    return frame
            elif ev == lib.MMAPRING_EVENT_NEW_FILE:
                info = lib.mmapring_reader_file(self._r)
                self._file_caps(info)
                self._sticky(reset=bool(info.new_writer))
            elif ev == lib.MMAPRING_EVENT_EOS:
                if self.stop_on_eos:
                    self.eos = True
                    return None
            elif ev == lib.MMAPRING_EVENT_ERROR:
                msg = _message(err)
                prefix = self.path + ": "
                reason = msg[len(prefix):] if msg.startswith(prefix) else msg
                raise MmapFormatError(self.path, reason, err.status,
                                      err.sys_errno)
            elif ev in (lib.MMAPRING_EVENT_TIMEOUT,
                        lib.MMAPRING_EVENT_INTERRUPTED):
                if deadline is not None and _now_ns() >= deadline:
                    return None
            # WAITING: waiting_reason has it; go on waiting.

    @property
    def frames_read(self):
        return self._stat("frames_read")

    @property
    def frames_skipped(self):
        return self._stat("frames_skipped")

    @property
    def frames_leased(self):
        """Of frames_read, those read in place (zero-copy)."""
        return self._stat("frames_leased")

    @property
    def records_malformed(self):
        """Records (metas, events) left out because the library found
        their values malformed."""
        return self._malformed[0]

    @property
    def waiting_reason(self):
        """Why there is nothing to read while there is no live writer ("no
        such file", "its writer (pid 12) died ..."), else ""."""
        if self._r == ffi.NULL:
            return ""
        return ffi.string(lib.mmapring_reader_waiting_reason(self._r)) \
            .decode("utf-8", "replace")

    def close(self):
        """Frees the reader.  Leased frames stay valid until closed."""
        if self._r != ffi.NULL:
            lib.mmapring_reader_stats(self._r, self._stats)
            lib.mmapring_reader_free(self._r)
            self._r = ffi.NULL

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    # -- internals

    def _check_open(self):
        if self._r == ffi.NULL:
            raise ValueError("the reader of %s is closed" % self.path)

    def _stat(self, name):
        if self._r != ffi.NULL:
            lib.mmapring_reader_stats(self._r, self._stats)
        return getattr(self._stats, name)

    def _file_caps(self, info):
        if info is None or info == ffi.NULL:
            self.caps = None
            self._caps_c = None
            self._layout = None
            self._format = self._width = self._height = None
            self._writer_id = self._caps_seq = 0
            return
        self._caps_c = ffi.string(info.caps)
        self.caps = self._caps_c.decode("utf-8", "replace")
        self._writer_id = info.writer_id
        self._caps_seq = info.caps_seq
        self._format = _caps_string(self._caps_c, "format")
        self._width = _caps_int(self._caps_c, "width")
        self._height = _caps_int(self._caps_c, "height")
        self._layout = video_layout(self._caps_c)

    def _frame_event(self, fr):
        """The Frame of a FRAME event, with its metas and the events that
        precede it; None for a slot without a frame or a frame lost while
        copied (their events wait for the next frame)."""
        if fr.skipped:
            self._sticky()      # what changed in the frames we lost
        # Records are valid until the next call on the reader.
        area = _copy_area(fr.meta, fr.meta_size)
        events = _record_dicts(area, fr.meta_size, _EVENT_RECORDS,
                               self._malformed)
        for e in events:
            self._follow(e)
        self.pending_events.extend(events)
        if fr.frame_flags & lib.MMAPRING_FRAME_FLAG_NO_BUFFER:
            return None
        frame = self._frame(fr)
        if frame is None:
            return None
        frame.metas = _record_dicts(area, fr.meta_size, _META_RECORDS,
                                    self._malformed)
        frame.events = self.pending_events
        self.pending_events = []
        return frame

    def _follow(self, event):
        """Keeps stream_start and tags up to date with an event."""
        if event["type"] == "stream-start":
            ss = {k: v for k, v in event.items() if k != "type"}
            if self.stream_start is None or \
                    ss.get("stream-id") != self.stream_start.get("stream-id"):
                # A new stream: its tags start afresh (as the writer's).
                self.tags.pop("stream", None)
            self.stream_start = ss
        elif event["type"] == "tags":
            tags = event.get("tags")
            if isinstance(tags, dict):
                scope = event.get("scope", "stream")
                self.tags.setdefault(scope, {}).update(tags)

    def _sticky(self, reset=False):
        """stream_start and tags from the file's sticky area (the writer's
        state for readers that join late); `reset` for a new writer."""
        size = ffi.new("uint32_t *")
        area = _copy_area(lib.mmapring_reader_sticky(self._r, size), size[0])
        if reset:
            self.stream_start = None
            self.tags = {}
        events = _record_dicts(area, size[0], _EVENT_RECORDS,
                               self._malformed)
        if not events:
            return              # none kept: what events said stands
        known, self.stream_start, self.tags = self.stream_start, None, {}
        for e in events:
            self._follow(e)
        if self.stream_start is None:
            self.stream_start = known

    def _frame(self, fr):
        """A Frame of the frame `fr` describes, leased or copied; None if
        it was overwritten meanwhile (the library counted it)."""
        spec = self._layout._spec if self._layout is not None else None
        f = Frame()
        f.closed = False
        f.leased = False
        f.metas = []
        f.events = []
        st = lib.MMAPRING_ERR_NO_LEASE
        if self.zero_copy:
            st = lib.mmapring_reader_lease(self._r, self._lease, self._err)
        if st == lib.MMAPRING_OK:
            lease = self._lease[0]
            size = lib.mmapring_lease_size(lease)
            # The lease lives as long as this pointer, which the buffer
            # under `raw` holds, and `raw` is the base of every array
            # and view of the slot: it ends with the last of them.
            data = ffi.gc(ffi.cast("uint8_t *",
                                   lib.mmapring_lease_data(lease)),
                          lambda _p, _l=lease: lib.mmapring_lease_release(_l))
            raw = np.frombuffer(ffi.buffer(data, size), np.uint8)
            raw.flags.writeable = False
            f.leased = True
            f._raw = raw
            f._array = _frame_arrays(raw, spec, fr, False)
        elif st == lib.MMAPRING_ERR_NO_LEASE:
            buf = np.empty(fr.size, np.uint8)
            if lib.mmapring_reader_copy(self._r, ffi.from_buffer(buf),
                                        fr.size, self._err) != \
                    lib.MMAPRING_OK:
                return None
            f._raw = None
            f._array = _frame_arrays(buf, spec, fr, True)
        else:
            return None         # LOST: overwritten already
        f.latency = (_now_ns() - fr.publish_monotonic_ns) / 1e9
        f.caps = self.caps
        f.format = self._format
        f.width = self._width
        f.height = self._height
        f.seq = fr.seq
        f.pts = _time(fr.pts)
        f.dts = _time(fr.dts)
        f.duration = _time(fr.duration)
        f.pts_monotonic_ns = _time(fr.pts_monotonic_ns)
        f.publish_monotonic_ns = fr.publish_monotonic_ns
        f.publish_realtime_ns = fr.publish_realtime_ns
        f.size = fr.size
        f.buffer_flags = fr.buffer_flags
        f.offset = fr.offset
        f.offset_end = fr.offset_end
        f.writer_id = self._writer_id
        f.caps_seq = fr.caps_seq
        f.skipped = fr.skipped
        f.discont = bool(fr.discont)
        f.keyframe = bool(fr.keyframe)
        return f


# ---------------------------------------------------------------- writer

class Writer:
    """Publishes frames at `path` with `caps` (a GStreamer caps string),
    in a ring of `slot_count` slots of `slot_size` bytes (default: a raw
    video frame of the caps in GStreamer's layout; for other caps, the
    first frame's size, a new file being made for a larger frame).
    `mode`: permission bits of the files.  Error (status "busy") when a
    live writer owns the location.
    """

    def __init__(self, path, caps, slot_count=8, slot_size=None,
                 mode=0o600):
        self.path = os.fspath(path)
        self.slot_count = slot_count
        self.slot_size = slot_size
        self._w = ffi.NULL
        self._err = ffi.new("MmapRingError *")
        self._capacity = 0
        self._mono_base = None
        w = lib.mmapring_writer_open(self.path.encode(), mode, self._err)
        if w == ffi.NULL:
            _raise(self._err)
        self._w = w
        try:
            self.set_caps(caps)
        except BaseException:
            self.close(remove=True)
            raise

    def set_caps(self, caps):
        """New caps: a new file (readers follow it); frame numbers go
        on."""
        self._check_open()
        self.caps = caps
        self.layout = video_layout(caps)
        self._capacity = 0
        need = max(self.slot_size or 0,
                   self.layout.size if self.layout else 0)
        if need:
            self._set_format(need)

    def write(self, data, pts=None, duration=None, flags=0, planes=None,
              dts=None, offset=None, offset_end=None, pts_monotonic_ns=None):
        """Publishes one frame; returns its seq.

        `data`, for raw video caps: an array shaped like Reader frames of
        the caps (a tuple of planes for planar formats), laid out in
        GStreamer's layout of the caps; or bytes (any buffer) of a whole
        frame in that layout (VideoLayout.size bytes), or of the planes
        one after the other without row padding (as numpy or OpenCV hold
        them).  With `planes`, a sequence of (offset, stride) per plane,
        `data` is published as it is, with that layout (mmapsrc converts
        it).  For other caps, bytes published as they are.

        pts, dts, duration: ns or None.  The frame's CLOCK_MONOTONIC time
        (what mmapsrc timestamps in running time from) is now when pts is
        None, else pts on a clock that starts at the first frame's pts
        now, unless `pts_monotonic_ns` says.  flags: GstBufferFlags
        values (layout.BUFFER_FLAG_DELTA_UNIT, ...).  offset, offset_end:
        GstBuffer offsets.
        """
        self._check_open()
        fr = ffi.new("MmapRingFrame *")
        copy, size = self._copier(data, planes, fr)
        now = _now_ns()
        if pts_monotonic_ns is None:
            if pts is None:
                pts_monotonic_ns = now
            else:
                if self._mono_base is None:
                    self._mono_base = now - pts
                pts_monotonic_ns = self._mono_base + pts
        fr.pts = TIME_NONE if pts is None else pts
        fr.dts = TIME_NONE if dts is None else dts
        fr.duration = TIME_NONE if duration is None else duration
        fr.offset = TIME_NONE if offset is None else offset
        fr.offset_end = TIME_NONE if offset_end is None else offset_end
        fr.pts_monotonic_ns = pts_monotonic_ns
        fr.buffer_flags = flags
        fr.size = size
        if size > self._capacity or lib.mmapring_writer_broken(self._w):
            self._set_format(max(size, self._capacity))
        slot = lib.mmapring_writer_acquire(self._w)
        if slot == ffi.NULL:
            raise Error("%s: no free slot" % self.path,
                        lib.MMAPRING_ERR_NO_LEASE)
        try:
            dst = np.frombuffer(ffi.buffer(lib.mmapring_slot_data(slot),
                                           lib.mmapring_slot_capacity(slot)),
                                np.uint8)
            copy(dst)
            del dst
            if lib.mmapring_slot_broken(slot):
                raise Error("%s: the file was truncated while the frame "
                            "was written into it" % self.path,
                            lib.MMAPRING_ERR_IO)
            if lib.mmapring_writer_publish(self._w, slot, fr, self._err) != \
                    lib.MMAPRING_OK:
                _raise(self._err)
        finally:
            lib.mmapring_slot_release(slot)
        return fr.seq

    def eos(self):
        """Ends the stream: readers see EOS once they have read every
        frame (a new frame starts a new stream)."""
        self._check_open()
        lib.mmapring_writer_set_eos(self._w)

    @property
    def seq(self):
        """Number of the last frame published."""
        self._check_open()
        return lib.mmapring_writer_seq(self._w)

    @property
    def keyframe_requests(self):
        """How many times readers asked for a keyframe so far."""
        self._check_open()
        return lib.mmapring_writer_keyframe_requests(self._w)

    def close(self, remove=True):
        """Leaves the location: readers finish the file and wait for the
        next writer.  With `remove` its name and lock file go too; without,
        they stay for the next writer to take over."""
        if self._w != ffi.NULL:
            lib.mmapring_writer_close(self._w, int(bool(remove)))
            self._w = ffi.NULL

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    # -- internals

    def _check_open(self):
        if self._w == ffi.NULL:
            raise ValueError("the writer of %s is closed" % self.path)

    def _set_format(self, capacity):
        fmt = ffi.new("MmapRingFormat *")
        caps = ffi.new("char[]", self.caps.encode())
        fmt.caps = caps
        fmt.slot_count = self.slot_count
        fmt.slot_capacity = capacity
        if lib.mmapring_writer_set_format(self._w, fmt, self._err) != \
                lib.MMAPRING_OK:
            _raise(self._err)
        self._capacity = capacity

    def _copier(self, data, planes, fr):
        """(copy, size): copy(dst) puts the frame into a slot's bytes and
        `fr`'s plane layout is filled in."""
        lo = self.layout
        if planes is not None:
            b = _bytes_of(data)
            if not 1 <= len(planes) <= layout.MAX_PLANES:
                raise ValueError("planes: 1 to %d (offset, stride) pairs" %
                                 layout.MAX_PLANES)
            fr.n_planes = len(planes)
            for p, (o, s) in enumerate(planes):
                fr.plane_offset[p], fr.plane_stride[p] = o, s
            return _flat_copy(b), b.size
        if lo is None:
            b = _bytes_of(data)
            return _flat_copy(b), b.size
        fr.n_planes = len(lo.planes)
        for p, pl in enumerate(lo.planes):
            fr.plane_offset[p], fr.plane_stride[p] = pl.offset, pl.stride
        arrays = self._as_planes(data)
        if arrays is None:
            b = _bytes_of(data)
            if b.size == lo.size:
                return _flat_copy(b), lo.size
            tight = sum(p.rows * p.row_bytes for p in lo.planes)
            if b.size != tight:
                raise ValueError(
                    "%s: %d bytes; a frame of %s %dx%d is %d bytes in "
                    "GStreamer's layout, %d without row padding, or an "
                    "array of shape %s" % (self.path, b.size, lo.format,
                                           lo.width, lo.height, lo.size,
                                           tight, _shapes(lo)))
            arrays, at = [], 0
            for p in lo.planes:
                n = p.rows * p.row_bytes
                arrays.append(b[at:at + n].reshape(p.rows, p.row_bytes))
                at += n
        return (lambda dst: _planes_copy(dst, lo, arrays)), lo.size

    def _as_planes(self, data):
        """`data` as one array per plane when it is shaped like Reader
        frames of the caps; None to take it as bytes."""
        spec = self.layout._spec
        if spec is None:
            return None
        if isinstance(data, (tuple, list)):
            if len(data) != len(spec):
                raise ValueError("%s: %d planes given, %s has %d" %
                                 (self.path, len(data), self.layout.format,
                                  len(spec)))
            out = [np.asarray(a) for a in data]
            for a, (shape, dtype) in zip(out, spec):
                if a.shape != shape:
                    raise ValueError("%s: a plane of shape %s, not %s" %
                                     (self.path, a.shape, shape))
            return out
        if isinstance(data, np.ndarray) and len(spec) == 1 and \
                data.shape == spec[0][0]:
            return [data]
        return None


def _shapes(lo):
    spec = lo._spec
    if spec is None:
        return "(flat bytes)"
    return " + ".join(str(s) for s, _ in spec)


def _bytes_of(data):
    """`data` (any buffer, numpy arrays in any layout) as a flat uint8
    array of its bytes."""
    a = np.asarray(memoryview(data) if not isinstance(data, np.ndarray)
                   else data)
    return np.ascontiguousarray(a).reshape(-1).view(np.uint8)


def _flat_copy(b):
    def copy(dst):
        dst[:b.size] = b
    return copy


def _planes_copy(dst, lo, arrays):
    """Copies one array per plane into `dst` at the layout's offsets and
    strides: values (converting the byte order if need be) when the
    array's dtype matches the plane's, else the array's bytes row by
    row."""
    for i, (p, a) in enumerate(zip(lo.planes, arrays)):
        if lo._spec is not None:
            shape, dtype = lo._spec[i]
        else:
            shape, dtype = (p.rows, p.row_bytes), np.dtype(np.uint8)
        if a.shape == shape and a.dtype.kind == dtype.kind and \
                a.dtype.itemsize == dtype.itemsize:
            np.copyto(_plane_view(dst, shape, dtype, p.offset, p.stride), a)
        else:
            rows = np.ascontiguousarray(a).reshape(-1).view(np.uint8)
            if rows.size != p.rows * p.row_bytes:
                raise ValueError("a plane of %d bytes, not %d rows of %d" %
                                 (rows.size, p.rows, p.row_bytes))
            np.copyto(_plane_view(dst, (p.rows, p.row_bytes),
                                  np.dtype(np.uint8), p.offset, p.stride),
                      rows.reshape(p.rows, p.row_bytes))


def main(argv=None):
    from .__main__ import main as _main
    return _main(argv)

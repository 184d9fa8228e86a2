#!/usr/bin/python3
"""Read video frames that mmapsink publishes in a gst-mmap file.

Pure Python 3 and numpy: no GStreamer, no compiled code.  The file format
and protocol (version 1) are described in docs/FORMAT.md.

    import mmapreader
    for frame in mmapreader.Reader("/dev/shm/cam"):
        print(frame.seq, frame.format, frame.array.shape, frame.latency)

A Reader waits for the file to appear (then reads every frame of that
writer) or joins a running writer at its newest frame, then
yields every later frame once; frames that the writer overwrote before they
could be copied are counted in ``Reader.frames_skipped`` (and in
``Frame.skipped`` of the next frame).  It follows caps changes and writer
restarts by itself.  Every array is a private copy made under the slot's
seqlock, so a frame is never torn.

``Frame.array`` depends on the caps:

* packed RGB-like formats (RGB, BGR: 3 channels; RGBx, BGRx, xRGB, xBGR,
  RGBA, BGRA, ARGB, ABGR: 4 channels): uint8, shape (height, width, channels),
  channels in the order the format name gives;
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
* anything else (other formats, non-video caps, or a descriptor without
  plane layout): 1-D uint8 array of the whole payload.

All arrays are C-contiguous: row padding (plane_stride) is dropped.

Linux only (futex, OFD locks, CLOCK_MONOTONIC shared between processes).
"""

import ctypes
import errno
import fcntl
import mmap
import os
import platform
import re
import stat
import struct
import sys
import time

import numpy as np

__all__ = ["Reader", "Frame", "MmapFormatError", "parse_caps"]

MAGIC = b"GSTMMAP\0"
VERSION = 1
HEADER_SIZE = 4096
SLOT_DESC_SIZE = 256
SLOTS_MIN = 2
SLOTS_MAX = 64
CAPS_OFFSET = 1024
CAPS_MAX = 3072
SLOT_LOG_OFFSET = 256
SLOT_LOG = 64
MAX_PLANES = 4
TIME_NONE = (1 << 64) - 1
WRITER_LOCK_OFFSET = 0

STATE_INIT = 0
STATE_RUNNING = 1
STATE_GONE = 2
STATE_REPLACED = 3

BUFFER_FLAG_LIVE = 1 << 4
BUFFER_FLAG_DISCONT = 1 << 6
BUFFER_FLAG_DELTA_UNIT = 1 << 13

# Header fields before the live words (offsets 0..127).
_HEADER = struct.Struct("<8sIIQIIQQQQIIIIQQIIQQ8x")
_HEADER_FIELDS = (
    "magic", "version", "header_size", "file_size", "slot_count",
    "slot_desc_size", "slot_desc_offset", "slot_data_offset", "slot_stride",
    "slot_capacity", "reader_table_offset", "reader_count",
    "reader_entry_size", "caps_length", "caps_seq", "writer_id",
    "writer_pid", "flags", "base_seq", "created_realtime_ns")
# Live words: indices into 32-bit and 64-bit views of the header.
_U32_STATE = 128 // 4
_U32_FUTEX = 132 // 4
_U32_WAITERS = 136 // 4
_U32_EOS = 140 // 4
_U64_WRITE_SEQ = 144 // 8
_U64_LATENCY = 152 // 8
_U32_SLOT_LOG = SLOT_LOG_OFFSET // 4

_DESC = struct.Struct("<QQQQQQQQQQQII4Q4iQ")
assert _HEADER.size == 128 and _DESC.size == 152

# The futex wait timeout: also how often an idle reader looks for a dead
# writer or a new file at the path, since neither wakes the futex.
_CHECK_INTERVAL = 0.1
# How often to look for the file while there is none to read.
_PATH_POLL = 0.01
# Sleep between polls when the futex cannot be used.
_SPIN_POLL = 0.001
# Further copies of a slot whose lock was odd or moved, before giving the
# frame up for lost.
_READ_RETRIES = 3


class MmapFormatError(Exception):
    """A file that is not a valid gst-mmap version 1 file."""

    def __init__(self, path, reason):
        super().__init__("%s: %s" % (path, reason))
        self.path = path
        self.reason = reason


# ---------------------------------------------------------------- futex

class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


_FUTEX_WAIT = 0
_FUTEX_WAKE_OP = 5
_FUTEX_PRIVATE_FLAG = 128
_FUTEX_OP_ADD = 1
_FUTEX_OP_CMP_LT = 2


def _futex_op(op, oparg, cmp, cmparg):
    return ((op & 0xF) << 28) | ((cmp & 0xF) << 24) \
        | ((oparg & 0xFFF) << 12) | (cmparg & 0xFFF)


class _Futex:
    """futex(2) through libc's syscall(), when ctypes and the arch allow.

    Python has no atomic read-modify-write on shared memory, so the
    `waiters` count is changed with FUTEX_WAKE_OP: the kernel applies the
    add atomically (a locked instruction) and, with no one waiting on that
    word, wakes nobody.
    """

    _NUMBERS = {"x86_64": 202, "amd64": 202, "aarch64": 98, "arm64": 98}

    def __init__(self):
        self.ok = False
        nr = self._NUMBERS.get(platform.machine().lower())
        if nr is None or ctypes.sizeof(ctypes.c_void_p) != 8:
            return
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fn = libc.syscall
        except (OSError, AttributeError):
            return
        fn.restype = ctypes.c_long
        self._fn = fn
        self._nr = ctypes.c_long(nr)
        self._fence_word = ctypes.c_uint32(0)
        self.ok = True

    def _call(self, addr, op, val, arg4, addr2, val3):
        r = self._fn(self._nr, ctypes.c_void_p(addr), ctypes.c_long(op),
                     ctypes.c_long(val), arg4, ctypes.c_void_p(addr2),
                     ctypes.c_long(val3))
        return 0 if r >= 0 else ctypes.get_errno()

    def wait(self, addr, expected, timeout):
        """FUTEX_WAIT (shared).  Returns an errno, 0 when woken."""
        ns = max(0, int(timeout * 1e9))
        ts = _Timespec(ns // 1000000000, ns % 1000000000)
        return self._call(addr, _FUTEX_WAIT, expected, ctypes.byref(ts), 0, 0)

    def add(self, addr, delta, private=False):
        """Atomic *addr += delta (delta in -2048..2047).  Returns an errno."""
        op = _FUTEX_WAKE_OP | (_FUTEX_PRIVATE_FLAG if private else 0)
        return self._call(addr, op, 0, ctypes.c_long(0), addr,
                          _futex_op(_FUTEX_OP_ADD, delta, _FUTEX_OP_CMP_LT, 0))

    def fence(self):
        """A full memory barrier, by way of the kernel's atomic op."""
        self.add(ctypes.addressof(self._fence_word), 0, private=True)


_futex = _Futex()

# x86-64 is TSO: loads are not reordered with older loads, and each access
# here is its own opaque C call, so the compiler cannot reorder them either.
# Weaker architectures need a real barrier around the seqlock-protected copy.
if platform.machine().lower() in ("x86_64", "amd64", "i386", "i686") \
        or not _futex.ok:
    def _fence():
        pass
else:
    _fence = _futex.fence


# ---------------------------------------------------------------- writer lock

_F_OFD_GETLK = getattr(fcntl, "F_OFD_GETLK", 36)
_FLOCK = struct.Struct("@hhqqi4x")


def _writer_alive(fd):
    """False only when nobody holds the writer's lock on byte 0."""
    # Asking about a read lock finds exactly a conflicting write lock and
    # works on a read-only descriptor too.  l_pid must be 0 for OFD locks.
    req = _FLOCK.pack(fcntl.F_RDLCK, os.SEEK_SET, WRITER_LOCK_OFFSET, 1, 0)
    try:
        res = fcntl.fcntl(fd, _F_OFD_GETLK, req)
    except OSError:
        return True
    return _FLOCK.unpack(res)[0] != fcntl.F_UNLCK


# ---------------------------------------------------------------- caps

_MEDIA_RE = re.compile(r"\s*([^,;(\s]+)")
_FIELD_RE = re.compile(
    r",\s*([A-Za-z][\w.+-]*)\s*=\s*(?:\(\s*([\w-]+)\s*\))?\s*"
    r"(\"(?:[^\"\\]|\\.)*\"|[^,;]*)")


def parse_caps(caps):
    """Return (media_type, {field: value string}) for a fixed caps string.

    Good enough for the simple fields of fixed caps (format, width, height,
    framerate, ...); not a full GstCaps parser.
    """
    m = _MEDIA_RE.match(caps)
    media = m.group(1) if m else ""
    fields = {}
    for fm in _FIELD_RE.finditer(caps):
        value = fm.group(3).strip()
        if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        fields.setdefault(fm.group(1), value)
    return media, fields


def _int_field(fields, name):
    try:
        return int(fields[name], 0)
    except (KeyError, ValueError):
        return None


_PACKED = {
    "RGB": 3, "BGR": 3,
    "RGBx": 4, "BGRx": 4, "xRGB": 4, "xBGR": 4,
    "RGBA": 4, "BGRA": 4, "ARGB": 4, "ABGR": 4,
    "GRAY8": 1, "YUY2": 2, "UYVY": 2, "YVYU": 2,
}
_GRAY16 = {"GRAY16_LE": "<u2", "GRAY16_BE": ">u2"}
# Per plane: (horizontal subsampling, vertical subsampling, bytes per sample)
_PLANAR = {
    "I420": ((1, 1, 1), (2, 2, 1), (2, 2, 1)),
    "YV12": ((1, 1, 1), (2, 2, 1), (2, 2, 1)),
    "Y42B": ((1, 1, 1), (2, 1, 1), (2, 1, 1)),
    "Y444": ((1, 1, 1), (1, 1, 1), (1, 1, 1)),
    "NV12": ((1, 1, 1), (2, 2, 2)),
    "NV21": ((1, 1, 1), (2, 2, 2)),
}


def _layout(fmt, width, height):
    """Planes as (rows, shape, dtype, item bytes per column step), or None
    when the payload is returned as flat bytes."""
    if not width or not height or width <= 0 or height <= 0:
        return None
    if fmt in _PACKED:
        c = _PACKED[fmt]
        if c == 2:
            # 4:2:2 packed: pixels go in pairs (Y0 U Y1 V), so an odd
            # width still has a whole last pair, chroma included.
            width += width & 1
        return [((height, width, c), np.uint8)]
    if fmt in _GRAY16:
        return [((height, width, 1), np.dtype(_GRAY16[fmt]))]
    if fmt in _PLANAR:
        planes = []
        for xs, ys, nbytes in _PLANAR[fmt]:
            cols = -(-width // xs) * nbytes
            planes.append(((-(-height // ys), cols), np.uint8))
        return planes
    return None


# ---------------------------------------------------------------- frames

class Frame:
    """One frame, copied out of the shared file.

    Attributes: array (see the module docstring), caps, format, width,
    height, seq, pts/dts/duration (ns or None), pts_monotonic_ns (ns or
    None), publish_monotonic_ns, publish_realtime_ns, latency (seconds from
    publication to the copy, CLOCK_MONOTONIC), size, buffer_flags,
    offset, offset_end, writer_id, caps_seq, skipped (frames lost just
    before this one).
    """

    __slots__ = ("array", "caps", "format", "width", "height", "seq", "pts",
                 "dts", "duration", "pts_monotonic_ns",
                 "publish_monotonic_ns", "publish_realtime_ns", "latency",
                 "size", "buffer_flags", "offset", "offset_end",
                 "writer_id", "caps_seq", "skipped")

    def __repr__(self):
        shape = (tuple(a.shape for a in self.array)
                 if isinstance(self.array, tuple) else self.array.shape)
        return "<Frame seq=%d %s %sx%s %s latency=%.3fms>" % (
            self.seq, self.format, self.width, self.height, shape,
            self.latency * 1e3)


def _time_or_none(t):
    return None if t == TIME_NONE else t


class _File:
    """One mapped, validated file.  Geometry comes from the validated
    snapshot only, so a writer scribbling on the header later cannot push a
    read outside the mapping."""

    def __init__(self, path, fd, st, writable):
        self.fd = fd
        self.dev, self.ino = st.st_dev, st.st_ino
        if st.st_size < HEADER_SIZE:
            raise MmapFormatError(path, "invalid gst-mmap file: file is "
                                  "smaller than the 4096-byte header (%d "
                                  "bytes)" % st.st_size)
        head = os.pread(fd, HEADER_SIZE, 0)
        if len(head) < HEADER_SIZE:
            raise MmapFormatError(path, "invalid gst-mmap file: file is "
                                  "smaller than the 4096-byte header")
        h = dict(zip(_HEADER_FIELDS, _HEADER.unpack_from(head)))
        caps = _check_header(path, h, head, st.st_size)
        self.__dict__.update(h)
        self.caps = caps
        self.media, fields = parse_caps(caps)
        self.format = fields.get("format")
        self.width = _int_field(fields, "width")
        self.height = _int_field(fields, "height")
        self.planes = (_layout(self.format, self.width, self.height)
                       if self.media == "video/x-raw" else None)

        prot = mmap.PROT_READ | (mmap.PROT_WRITE if writable else 0)
        self.mm = mmap.mmap(fd, self.file_size, mmap.MAP_SHARED, prot)
        self.u8 = np.frombuffer(self.mm, np.uint8)
        self.h32 = np.frombuffer(self.mm, np.uint32, HEADER_SIZE // 4)
        self.h64 = np.frombuffer(self.mm, np.uint64, HEADER_SIZE // 8)
        self.d64 = np.frombuffer(self.mm, np.uint64,
                                 self.slot_count * SLOT_DESC_SIZE // 8,
                                 self.slot_desc_offset)
        self.base_addr = self.u8.ctypes.data
        self.can_wait = writable and _futex.ok

    def close(self):
        # The numpy views export the mmap's buffer and must go first.
        self.u8 = self.h32 = self.h64 = self.d64 = None
        if self.mm is not None:
            try:
                self.mm.close()
            except BufferError:
                # A view is still alive somewhere (say, in a traceback);
                # the mapping goes when the last one does.
                pass
            self.mm = None


def _check_header(path, h, head, actual_size):
    def bad(reason):
        raise MmapFormatError(path, "invalid gst-mmap file: " + reason)

    if h["magic"] != MAGIC:
        bad("bad magic %r (not a gst-mmap file)" % h["magic"])
    if h["version"] != VERSION:
        bad("unsupported format version %d (this reader knows %d)"
            % (h["version"], VERSION))
    if h["header_size"] != HEADER_SIZE:
        bad("header_size %d is not %d" % (h["header_size"], HEADER_SIZE))
    fs = h["file_size"]
    if fs < HEADER_SIZE or fs > actual_size:
        bad("file_size %d is larger than the file (%d bytes)"
            % (fs, actual_size))
    n = h["slot_count"]
    if not SLOTS_MIN <= n <= SLOTS_MAX:
        bad("slot_count %d is outside %d..%d" % (n, SLOTS_MIN, SLOTS_MAX))
    if h["slot_desc_size"] != SLOT_DESC_SIZE:
        bad("slot_desc_size %d is not %d"
            % (h["slot_desc_size"], SLOT_DESC_SIZE))
    do = h["slot_desc_offset"]
    if do < HEADER_SIZE or do % 8 or do + n * SLOT_DESC_SIZE > fs:
        bad("slot descriptors at %d lie outside the file" % do)
    data = h["slot_data_offset"]
    if data < do + n * SLOT_DESC_SIZE or data > fs:
        bad("slot_data_offset %d lies outside the file or over the "
            "descriptors" % data)
    # Python integers do not overflow, so the sums are exact.
    if data + n * h["slot_stride"] > fs:
        bad("%d slots of %d bytes at %d lie outside the file"
            % (n, h["slot_stride"], data))
    if h["slot_capacity"] > h["slot_stride"]:
        bad("slot_capacity %d is larger than slot_stride %d"
            % (h["slot_capacity"], h["slot_stride"]))
    cl = h["caps_length"]
    raw = head[CAPS_OFFSET:CAPS_OFFSET + CAPS_MAX]
    if cl >= CAPS_MAX or raw[cl] != 0 or b"\0" in raw[:cl]:
        bad("caps string is not NUL terminated at caps_length %d" % cl)
    state = struct.unpack_from("<I", head, 128)[0]
    if state > STATE_REPLACED:
        bad("unknown state %d" % state)
    return raw[:cl].decode("utf-8", "replace")


def _check_desc(d, capacity):
    size, n_planes = d[10], d[12]
    if size > capacity:
        return "slot descriptor size %d is larger than slot_capacity %d" % (
            size, capacity)
    if n_planes > MAX_PLANES:
        return "slot descriptor n_planes %d is larger than %d" % (
            n_planes, MAX_PLANES)
    for p in range(n_planes):
        if d[13 + p] > size:
            return "plane %d offset %d is outside the %d-byte payload" % (
                p, d[13 + p], size)
        if abs(d[17 + p]) > size:
            return "plane %d stride %d is larger than the %d-byte payload" % (
                p, d[17 + p], size)
    return None


class _Lost(Exception):
    pass


# ---------------------------------------------------------------- reader

class Reader:
    """Follows the gst-mmap file at `location`.

    Iterating yields Frame objects.  With `timeout` (seconds) the iteration
    ends when no frame arrives for that long; with None it waits forever.
    With `stop_on_eos` the iteration also ends when the writer signals end
    of stream.  A file that fails validation raises MmapFormatError; the
    reader stays usable and retries once the path names another file.
    """

    def __init__(self, location, timeout=None, stop_on_eos=False):
        self.path = os.fspath(location)
        self.timeout = timeout
        self.stop_on_eos = stop_on_eos
        self.frames_read = 0
        self.frames_skipped = 0
        self.eos = False
        self._file = None
        self._finished = False
        # Held open after we are done with a file so that its inode number
        # cannot be reused: "the path names the same inode" then reliably
        # means "no new file yet".
        self._stale_fd = None
        self._have_pos = False
        self._waited = False  # no writer when we first looked
        self._next = 0
        self._pos_writer = None
        self._eos_reported = False
        self._pending_skipped = 0
        self._next_check = 0.0

    # -- public API

    def __iter__(self):
        return self

    def __next__(self):
        frame = self.read(self.timeout)
        if frame is None:
            raise StopIteration
        return frame

    def read(self, timeout=None):
        """The next Frame; None on timeout or, with stop_on_eos, at EOS.

        After None, `self.eos` tells the two apart.  Without stop_on_eos an
        EOS is passed over: the reader goes on waiting for more data or for
        a new writer, and the timeout starts again.
        """
        self.eos = False
        while True:
            kind, frame = self._next_event(timeout)
            if kind == "frame":
                return frame
            if kind == "timeout":
                return None
            if self.stop_on_eos:
                self.eos = True
                return None

    def close(self):
        self._drop_current()
        if self._stale_fd is not None:
            os.close(self._stale_fd)
            self._stale_fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    # -- file handling

    def _drop_current(self):
        f = self._file
        if f is None:
            return
        self._file = None
        self._finished = False
        f.close()
        self._set_stale(f.fd)

    def _set_stale(self, fd):
        if self._stale_fd is not None:
            os.close(self._stale_fd)
        self._stale_fd = fd

    def _is_stale(self, st):
        if self._stale_fd is None:
            return False
        s = os.fstat(self._stale_fd)
        return (s.st_dev, s.st_ino) == (st.st_dev, st.st_ino)

    def _try_open(self):
        """True when a new valid file is open, False when there is none."""
        try:
            st = os.stat(self.path)
        except (FileNotFoundError, NotADirectoryError):
            return False
        if self._is_stale(st):
            return False
        writable = True
        try:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CLOEXEC)
            except PermissionError:
                # Still readable, but we cannot register as a futex waiter.
                writable = False
                fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return False
        except OSError as e:
            # A directory, a file we may not read, ...: a refused file.
            if e.errno == errno.EISDIR:
                raise MmapFormatError(self.path,
                                      "not a regular file (a directory)")
            raise MmapFormatError(self.path, "cannot open: %s" % e.strerror)
        st = os.fstat(fd)
        if self._is_stale(st):
            os.close(fd)
            return False
        try:
            if not stat.S_ISREG(st.st_mode):
                raise MmapFormatError(self.path, "not a regular file")
            f = _File(self.path, fd, st, writable)
        except MmapFormatError:
            self._set_stale(fd)
            raise
        except BaseException:
            os.close(fd)
            raise
        self._drop_current()
        if self._stale_fd is not None:
            os.close(self._stale_fd)
            self._stale_fd = None
        self._file = f
        self._finished = False
        self._eos_reported = False
        self._next_check = 0.0
        if self._have_pos:
            if f.writer_id != self._pos_writer:
                # Everything a new writer has published is new to us.
                self._pos_writer = f.writer_id
                self._next = f.base_seq + 1
            elif self._next < f.base_seq + 1:
                # Same writer: numbering continues; frames of files in
                # between are lost.
                self._pending_skipped += f.base_seq + 1 - self._next
                self._next = f.base_seq + 1
        return True

    def _path_names_other_file(self):
        try:
            st = os.stat(self.path)
        except OSError:
            return False
        f = self._file
        return (st.st_dev, st.st_ino) != (f.dev, f.ino)

    # -- the loop

    def _next_event(self, timeout):
        mono = time.monotonic
        deadline = None if timeout is None else mono() + timeout
        while True:
            if self._file is None:
                if not self._try_open():
                    self._waited = True
                    now = mono()
                    if deadline is not None and now >= deadline:
                        return "timeout", None
                    wait = _PATH_POLL if deadline is None \
                        else min(_PATH_POLL, deadline - now)
                    time.sleep(max(wait, 0))
                    continue
            f = self._file

            # Order matters: futex before write_seq so a publication after
            # our check changes the futex word we wait on; state before
            # write_seq so that a final state implies the final write_seq.
            seen_futex = int(f.h32[_U32_FUTEX])
            state = int(f.h32[_U32_STATE])
            if state > STATE_REPLACED:
                self._drop_current()
                raise MmapFormatError(self.path, "invalid gst-mmap file: "
                                      "unknown state %d" % state)
            if state in (STATE_GONE, STATE_REPLACED):
                self._finished = True
            _fence()
            ws = int(f.h64[_U64_WRITE_SEQ])
            _fence()

            if not self._have_pos:
                if not self._finished and not _writer_alive(f.fd):
                    self._finished = True
                if self._finished:
                    # Joining: a file whose writer is done has nothing
                    # current to offer.
                    self._drop_current()
                    self._waited = True
                    continue
                self._have_pos = True
                self._pos_writer = f.writer_id
                # A reader that waited for this writer wants all of its
                # frames; one that finds it running starts at the newest.
                self._next = ws if ws > f.base_seq and not self._waited \
                    else f.base_seq + 1

            if ws >= self._next:
                if ws - self._next >= SLOT_LOG:
                    # Older frames are no longer in the publication log.
                    self._pending_skipped += ws - (SLOT_LOG - 1) - self._next
                    self._next = ws - (SLOT_LOG - 1)
                s = self._next
                self._next += 1
                try:
                    frame = self._read_slot(f, s)
                except _Lost:
                    self._pending_skipped += 1
                    continue
                except MmapFormatError:
                    self._drop_current()
                    raise
                frame.skipped = self._pending_skipped
                self.frames_skipped += self._pending_skipped
                self._pending_skipped = 0
                self.frames_read += 1
                self._eos_reported = False
                return "frame", frame

            if int(f.h32[_U32_EOS]) and not self._eos_reported:
                self._eos_reported = True
                return "eos", None
            if self._finished:
                self._drop_current()
                continue

            now = mono()
            if now >= self._next_check:
                self._next_check = now + _CHECK_INTERVAL
                if not _writer_alive(f.fd) or self._path_names_other_file():
                    # Loop again: frames published before the writer died
                    # or moved on are still readable.
                    self._finished = True
                    continue
            if deadline is not None and now >= deadline:
                return "timeout", None
            until = self._next_check if deadline is None \
                else min(deadline, self._next_check)
            self._wait(f, seen_futex, until - now)

    def _wait(self, f, seen_futex, wait):
        if wait <= 0:
            return
        if not f.can_wait:
            time.sleep(min(wait, _SPIN_POLL))
            return
        waiters = f.base_addr + _U32_WAITERS * 4
        # The writer only calls FUTEX_WAKE when it sees waiters != 0; the
        # atomic increment followed by a re-check of write_seq closes the
        # race with a publication that happened just before.
        if _futex.add(waiters, 1) != 0:
            f.can_wait = False
            return
        try:
            if int(f.h64[_U64_WRITE_SEQ]) < self._next \
                    and int(f.h32[_U32_STATE]) < STATE_GONE:
                err = _futex.wait(f.base_addr + _U32_FUTEX * 4, seen_futex,
                                  wait)
                if err == errno.ENOSYS:
                    f.can_wait = False
        finally:
            _futex.add(waiters, -1)

    def _read_slot(self, f, s):
        i = int(f.h32[_U32_SLOT_LOG + s % SLOT_LOG])
        if i >= f.slot_count:
            raise MmapFormatError(self.path, "invalid gst-mmap file: "
                                  "slot_log names slot %d of %d"
                                  % (i, f.slot_count))
        desc_off = f.slot_desc_offset + i * SLOT_DESC_SIZE
        lock_index = i * SLOT_DESC_SIZE // 8

        attempt = 0
        while True:
            if attempt:
                # An odd or moved lock does not always mean a new frame: a
                # writer may make the lock odd, find the slot leased and
                # make it even again untouched.  Only seq != s proves the
                # frame gone.
                if attempt > _READ_RETRIES:
                    raise _Lost()
                os.sched_yield()
            attempt += 1
            l1 = int(f.d64[lock_index])
            if l1 & 1:
                continue
            _fence()
            d = _DESC.unpack_from(f.mm, desc_off)
            if d[1] != s:
                raise _Lost()
            # The copy may be torn; only a copy that the lock confirms is
            # worth calling the file broken for.
            bad = _check_desc(d, f.slot_capacity)
            array = None
            if bad is None:
                base = f.slot_data_offset + i * f.slot_stride
                array, bad = self._copy_payload(f, base, d)
            _fence()
            if int(f.d64[lock_index]) == l1:
                break
        if bad is not None:
            raise MmapFormatError(self.path, "invalid gst-mmap file: "
                                  "frame %d: %s" % (s, bad))
        now = time.clock_gettime_ns(time.CLOCK_MONOTONIC)

        fr = Frame()
        fr.array = array
        fr.caps = f.caps
        fr.format = f.format
        fr.width = f.width
        fr.height = f.height
        fr.seq = s
        fr.pts = _time_or_none(d[2])
        fr.dts = _time_or_none(d[3])
        fr.duration = _time_or_none(d[4])
        fr.offset = d[5]
        fr.offset_end = d[6]
        fr.pts_monotonic_ns = _time_or_none(d[7])
        fr.publish_monotonic_ns = d[8]
        fr.publish_realtime_ns = d[9]
        fr.latency = (now - d[8]) / 1e9
        fr.size = d[10]
        fr.buffer_flags = d[11]
        fr.writer_id = f.writer_id
        fr.caps_seq = f.caps_seq
        fr.skipped = 0
        return fr

    @staticmethod
    def _copy_payload(f, base, d):
        """(array, None) or (None, reason).  Runs inside the seqlock, so the
        descriptor may be torn: every extent is checked before use."""
        size, n_planes = d[10], d[12]
        planes = f.planes
        if planes is None or n_planes != len(planes):
            return f.u8[base:base + size].copy(), None
        out = []
        for p, (shape, dtype) in enumerate(planes):
            off, stride = d[13 + p], d[17 + p]
            dtype = np.dtype(dtype)
            rows = shape[0]
            row_bytes = int(np.prod(shape[1:])) * dtype.itemsize
            first = off + min(0, (rows - 1) * stride)
            end = off + max(0, (rows - 1) * stride) + row_bytes
            if first < 0 or end > size:
                return None, ("plane %d (offset %d, stride %d) does not hold "
                              "%d rows of %d bytes within the %d-byte payload"
                              % (p, off, stride, rows, row_bytes, size))
            inner = []
            step = dtype.itemsize
            for dim in reversed(shape[1:]):
                inner.insert(0, step)
                step *= dim
            src = np.ndarray(shape, dtype, buffer=f.mm, offset=base + off,
                             strides=(stride,) + tuple(inner))
            out.append(np.array(src, copy=True, order="C"))
        return (out[0] if len(out) == 1 else tuple(out)), None


# ---------------------------------------------------------------- script

def _summary(frame):
    media, fields = parse_caps(frame.caps)
    if media == "video/x-raw":
        s = "%s %sx%s" % (frame.format, frame.width, frame.height)
        if "framerate" in fields:
            s += " @%s" % fields["framerate"]
        return s
    return media


def main(argv=None):
    import argparse

    ap = argparse.ArgumentParser(
        description="Print one line per frame published in a gst-mmap file.")
    ap.add_argument("location", help="the file, e.g. /dev/shm/cam")
    ap.add_argument("-n", "--num-frames", type=int, default=None,
                    help="stop after this many frames")
    ap.add_argument("-t", "--timeout", type=float, default=None,
                    help="give up when no frame comes for this many seconds")
    ap.add_argument("-e", "--exit-on-eos", action="store_true",
                    help="stop at end of stream")
    args = ap.parse_args(argv)

    # stop_on_eos so that read() returns at EOS and the line gets printed.
    reader = Reader(args.location, stop_on_eos=True)
    status = 0
    try:
        while args.num_frames is None or reader.frames_read < args.num_frames:
            frame = reader.read(args.timeout)
            if frame is None:
                if reader.eos:
                    print("EOS", flush=True)
                    if args.exit_on_eos:
                        break
                    continue
                print("no frame for %gs, giving up" % args.timeout,
                      file=sys.stderr)
                status = 1
                break
            pts = "none" if frame.pts is None else "%.6f" % (frame.pts / 1e9)
            print("seq=%d %s pts=%s latency=%.3fms skipped=%d"
                  % (frame.seq, _summary(frame), pts, frame.latency * 1e3,
                     frame.skipped), flush=True)
    except MmapFormatError as e:
        print("error: %s" % e, file=sys.stderr)
        status = 1
    except KeyboardInterrupt:
        pass
    finally:
        print("%d frames read, %d skipped"
              % (reader.frames_read, reader.frames_skipped), file=sys.stderr)
        reader.close()
    return status


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""Tests of the clients that read and write gst-mmap files without
GStreamer: the Python module mmapring (python/; as a library, through
pyreader.py and a writer process of this script, and as a script) and
the C example examples/c/mmapring-read, both over libmmapring.

The writer is a real mmapsink in gst-launch-1.0 that tees what it
publishes into a filesink (written.raw), a small appsrc program of this
script that publishes known bytes, or mmapring.Writer in a process of
this script (read by mmapsrc in gst-launch-1.0, or by the module); what a
client returns is compared with that, frame by frame: shapes, pixels,
caps, sequence numbers, exit codes and error text.  The expected layout
of each frame in written.raw (offsets and strides of GStreamer's default
layout) comes from GstVideo.VideoInfo; the expected array shapes are the
ones the module documents.  Broken files are made with mmapring.layout,
the offsets of lib/mmapring-format.h.

Run by meson (tests/clients/meson.build), one case per meson test:
    /usr/bin/python3 clients.py Clients.test_<case>
It needs the system's Python with numpy, python3-cffi and python3-gi.
Run by hand from the source tree it uses build/ (plugin, python,
examples/c) unless GST_PLUGIN_PATH, PYTHONPATH and MMAPRING_READ say
otherwise; or run it under `meson devenv -C BUILD`.

Every process gets a timeout: a hang fails the test, it never blocks it.
"""

import json
import os
import pickle
import platform
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
BUILD = os.path.join(SOURCE_ROOT, "build")
if "GST_PLUGIN_PATH" not in os.environ:
    os.environ["GST_PLUGIN_PATH"] = os.path.join(BUILD, "plugin")
if "PYTHONPATH" not in os.environ:
    # The build tree's module: generated files, then the sources.
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [os.path.join(BUILD, "python"), os.path.join(SOURCE_ROOT, "python")])
# This process imports it too, from the same place as its children.
sys.path[:0] = os.environ["PYTHONPATH"].split(os.pathsep)
MMAPRING_READ = os.environ.get("MMAPRING_READ") or os.path.join(
    BUILD, "examples", "c", "mmapring-read")
PYREADER = os.path.join(HERE, "pyreader.py")

import gi  # noqa: E402

gi.require_version("Gst", "1.0")
gi.require_version("GstVideo", "1.0")
from gi.repository import Gst, GstVideo  # noqa: E402

Gst.init(None)

import mmapring  # noqa: E402
from mmapring import layout  # noqa: E402

sys.path.insert(0, os.path.join(HERE, ".."))
import gstmmaptest  # noqa: E402
from gstmmaptest import (GST_INSPECT, GST_LAUNCH, PROC_TIMEOUT,  # noqa: E402
                         log, wait_for)

# The system's Python: the one with numpy, cffi (and python3-gi).
PYTHON = "/usr/bin/python3"

# The system calls a client sleeps in while it waits for the file: the
# library polls its directory (inotify) with poll(2) or ppoll(2).
SLEEP_SYSCALLS = {"x86_64": {7, 271}, "aarch64": {73}}.get(
    platform.machine().lower())


def caps_of(fmt, width, height):
    return ("video/x-raw,format=%s,width=%d,height=%d,framerate=30/1" %
            (fmt, width, height))


def video_info(caps):
    return GstVideo.VideoInfo.new_from_caps(Gst.Caps.from_string(caps))


def plane_dtype(finfo):
    """The dtype of the module's arrays for a format: uint8, or uint16 in
    the format's byte order for 16-bit values."""
    if finfo.depth[0] <= 8:
        return np.dtype(np.uint8)
    le = finfo.flags & GstVideo.VideoFormatFlags.LE
    return np.dtype("<u2" if le else ">u2")


def gst_planes(caps):
    """GStreamer's default layout of a frame: [(offset, stride, shape,
    dtype)] per plane, shape in the module's terms: (rows, width, values
    per pixel) for a single-plane packed format, (rows, bytes) per plane
    of a planar one."""
    info = video_info(caps)
    f = info.finfo
    planes = []
    for p in range(f.n_planes):
        c = next(c for c in range(f.n_components) if f.plane[c] == p)
        rows = -((-info.height) >> f.h_sub[c])
        cols = -((-info.width) >> f.w_sub[c])
        if f.n_planes == 1:
            if any(f.w_sub[k] for k in range(f.n_components)):
                # 4:2:2 packed: rows of whole macropixels (Y0 U Y1 V).
                cols = 2 * -(-info.width // 2)
            dtype = plane_dtype(f)
            shape = (rows, cols, f.pixel_stride[c] // dtype.itemsize)
        else:
            dtype = np.dtype(np.uint8)
            shape = (rows, cols * f.pixel_stride[c])
        planes.append((info.offset[p], info.stride[p], shape, dtype))
    return planes


def expected_arrays(data, caps):
    """The arrays the module should return for a frame of `data` bytes in
    GStreamer's default layout: each plane's rows without the row
    padding."""
    out = []
    for offset, stride, shape, dtype in gst_planes(caps):
        inner = (shape[2] * dtype.itemsize, dtype.itemsize) \
            if len(shape) == 3 else (1,)
        out.append(np.ndarray(shape, dtype, buffer=data, offset=offset,
                              strides=(stride,) + inner))
    return out


def gst_frame_bytes(caps, planes):
    """A frame in GStreamer's default layout (GstVideoInfo, zero row
    padding) holding `planes`, arrays shaped like the module's."""
    info = video_info(caps)
    out = bytearray(info.size)
    for (offset, stride, shape, dtype), a in zip(gst_planes(caps), planes):
        rows = np.ascontiguousarray(a.astype(dtype)).view(np.uint8) \
            .reshape(shape[0], -1)
        for r in range(shape[0]):
            at = offset + r * stride
            out[at:at + rows.shape[1]] = rows[r].tobytes()
    return bytes(out)


def as_planes(array):
    return list(array) if isinstance(array, tuple) else [array]


def shape_of(array):
    return (tuple(a.shape for a in array) if isinstance(array, tuple)
            else array.shape)


class Proc(gstmmaptest.Proc):
    """A client or gst-launch-1.0 child; a hung one is stopped with
    SIGTERM first, so that a client unwinds and frees its reader."""

    def wait(self, timeout=PROC_TIMEOUT):
        try:
            self.rc = self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise AssertionError("%s did not exit within %d s\n%s" %
                                 (self.name, timeout, self.describe()))
        return self.rc

    def stop(self):
        """SIGTERM first: the clients then unwind."""
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(5)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()

    def sleeping(self):
        """Blocked in a poll system call: a client waiting for its file
        (the clients sleep nowhere else before they have one)."""
        try:
            with open("/proc/%d/syscall" % self.pid) as f:
                nr = f.read().split()
        except OSError:
            return False  # exited meanwhile: the caller sees it
        return bool(nr) and nr[0].isdigit() and int(nr[0]) in SLEEP_SYSCALLS

    def can_tell_sleeping(self):
        return SLEEP_SYSCALLS is not None and os.access(
            "/proc/%d/syscall" % self.pid, os.R_OK)


# The writers' videotestsrc colours, ARGB: orange on dark blue.
BALL_COLOR = "0xffe09020"
BACKGROUND_COLOR = "0xff203060"

def header(size, **fields):
    """`size` bytes of zeros with a gst-mmap file header's fields set
    (magic and format version unless given), at the offsets and widths of
    lib/mmapring-format.h."""
    out = bytearray(size)
    fields.setdefault("magic", layout.FORMAT_MAGIC)
    fields.setdefault("version", layout.FORMAT_VERSION)
    for name, value in fields.items():
        at = layout.offset("MmapFileHeader", name)
        n = layout.field_size("MmapFileHeader", name)
        out[at:at + n] = value if isinstance(value, bytes) else \
            value.to_bytes(n, "little")
    return bytes(out)


# A header whose fixed fields are right, but for slot_count.
_SANE = dict(header_size=layout.HEADER_SIZE,
             slot_desc_size=layout.SLOT_DESC_SIZE,
             slot_desc_offset=layout.SLOT_DESC_OFFSET,
             reader_table_offset=layout.READER_TABLE_OFFSET,
             reader_entry_size=layout.READER_ENTRY_SIZE,
             reader_count=layout.READER_MAX)

# Garbage at the location, and what every client must say about it (the
# library's reason, after "PATH: ").
GARBAGE = [
    ("64 KiB of random bytes", random.Random(1).randbytes(65536),
     "not a gst-mmap file (bad magic)"),
    ("an empty file", b"", "not a gst-mmap file (shorter than its magic)"),
    ("a short text file", b"hello, I am not a ring\n",
     "not a gst-mmap file (bad magic)"),
    ("a header of format version 7", header(8192, version=7),
     "gst-mmap file format version 7; this reader knows version %d" %
     layout.FORMAT_VERSION),
    ("a header cut short", header(100),
     "truncated: 100 bytes, shorter than the 4096-byte header"),
    ("a header that claims 1 MiB in a 4 KiB file",
     header(4096, file_size=1 << 20),
     "truncated: 4096 bytes, its header says 1048576"),
    ("a header with one slot",
     header(16384, file_size=16384, slot_count=1, **_SANE),
     "invalid gst-mmap file: slot_count is outside 2..64"),
]


def make_fifo(path):
    os.mkfifo(path, 0o600)


def remove_location(path):
    if os.path.isdir(path) and not os.path.islink(path):
        os.rmdir(path)
    elif os.path.lexists(path):
        os.unlink(path)


# Things at the location that are not files at all, and what every
# client must say about them.
NOT_FILES = [
    ("a FIFO", make_fifo, "not a gst-mmap file (not a regular file)"),
    ("a directory", lambda path: os.mkdir(path, 0o700),
     "not a gst-mmap file (a directory)"),
]

# Formats the Python module is read with: frames, and the array shapes its
# docstring promises (packed: (height, width, channels); planar: a tuple
# of (rows, bytes per row), one per plane).
PY_FORMATS = [
    ("RGB", 320, 240, 30, (240, 320, 3)),
    ("I420", 321, 241, 30, ((241, 321), (121, 161), (121, 161))),
    ("GRAY8", 161, 121, 15, (121, 161, 1)),
    ("YUY2", 320, 240, 15, (240, 320, 2)),
    # 16 bits per channel: uint16 values, little-endian.
    ("RGBA64_LE", 64, 48, 10, (48, 64, 4)),
]

# What the Python writer process (--py-writer) publishes: for each caps,
# frames drawn from a generator seeded with the frame's number, given to
# mmapring.Writer.write as `input`: arrays shaped like Reader frames, a
# tuple of planes, native-endian values for a big-endian format, or the
# planes' bytes without row padding.
PYWRITER_CAPS = [
    (caps_of("RGB", 321, 241), "array"),
    (caps_of("I420", 321, 241), "planes"),
    (caps_of("NV12", 322, 242), "tight bytes"),
    (caps_of("GRAY16_BE", 161, 121), "array"),
    (caps_of("RGBA64_LE", 33, 17), "array"),
    (caps_of("YUY2", 319, 240), "array"),
]


def pywriter_frame(n, i):
    """(input, planes) of frame i of PYWRITER_CAPS[n]: what is given to
    write(), and the arrays (shaped like Reader frames) it holds."""
    caps, kind = PYWRITER_CAPS[n]
    rng = np.random.default_rng(1000 * n + i)
    planes = []
    for _, _, shape, dtype in gst_planes(caps):
        native = np.dtype(dtype.newbyteorder("="))
        planes.append(rng.integers(0, np.iinfo(native).max, shape,
                                   dtype=native, endpoint=True))
    if kind == "planes":
        return tuple(planes), planes
    if kind == "tight bytes":
        return b"".join(p.tobytes() for p in planes), planes
    return planes[0], planes

# The frames of the appsrc writer (--appsrc-writer): K frames of each caps,
# each frame's bytes drawn from a generator seeded with its number.
APPSRC_CAPS = [caps_of("RGB", 320, 240), caps_of("I420", 321, 241)]


def appsrc_frames(k):
    for i in range(len(APPSRC_CAPS) * k):
        caps = APPSRC_CAPS[i // k]
        yield caps, random.Random(i).randbytes(video_info(caps).size)


class Clients(unittest.TestCase):

    def setUp(self):
        case = self.id().rsplit(".", 1)[-1].replace("test_", "")
        self.tmpdir = tempfile.mkdtemp(
            prefix="gst-mmap-clients-%d-%s-" % (os.getpid(), case),
            dir="/dev/shm")
        # The location readers and writers share, unique to this test.
        self.loc = "/dev/shm/gst-mmap-clients-%d-%s" % (os.getpid(), case)
        self.procs = []
        # Fill this test's registry once, before processes run at once,
        # and make sure it is this build's plugin that they will load.
        r = subprocess.run([GST_INSPECT, "mmapsink"], capture_output=True,
                           text=True, timeout=PROC_TIMEOUT)
        self.assertEqual(r.returncode, 0,
                         "gst-inspect-1.0 mmapsink: plugin not found\n" +
                         r.stderr)

    def tearDown(self):
        for p in self.procs:
            p.stop()
        d, base = os.path.split(self.loc)
        for name in os.listdir(d):
            if name == base or name.startswith("." + base + "."):
                remove_location(os.path.join(d, name))
        shutil.rmtree(self.tmpdir, ignore_errors=True)

    # --- helpers ---

    def path(self, name):
        return os.path.join(self.tmpdir, name)

    def run_proc(self, name, argv):
        p = Proc(name, argv, self.tmpdir)
        self.procs.append(p)
        return p

    def writer(self, name, fmt, width, height, frames, raw_name,
               pattern="ball"):
        """A gst-launch-1.0 writer that tees what it publishes into a
        file.  The ball's colours (ARGB) make U and V differ, so that the
        chroma planes cannot be mistaken for one another."""
        return self.run_proc(name, [GST_LAUNCH] + (
            "videotestsrc num-buffers=%d pattern=%s foreground-color=%s "
            "background-color=%s ! %s ! tee name=t ! queue ! mmapsink "
            "location=%s t. ! queue ! filesink location=%s"
            % (frames, pattern, BALL_COLOR, BACKGROUND_COLOR,
               caps_of(fmt, width, height), self.loc,
               self.path(raw_name))).split())

    def start_polling(self, name, argv):
        """A client that is waiting for the file before this returns."""
        self.assertFalse(os.path.exists(self.loc))
        p = self.run_proc(name, argv)
        if p.can_tell_sleeping():
            wait_for("%s to poll for the file" % name,
                     lambda: p.p.poll() is not None or p.sleeping())
        else:
            # No list of sleep calls for this machine, or no access to
            # /proc/PID/syscall: give it the time instead.
            time.sleep(1)
        self.assertIsNone(p.p.poll(), "%s exited early\n%s" %
                          (name, p.describe()))
        return p

    def start_pyreader(self, eos_count=1, zero_copy=False, name="pyreader"):
        out = self.path(name + ".pickle")
        r = self.run_proc(name, [PYTHON, PYREADER, "frames", self.loc, out,
                                 str(eos_count)] +
                          (["--zero-copy"] if zero_copy else []))
        wait_for("the Python reader to wait for a writer",
                 lambda: "READY" in r.stdout() or r.p.poll() is not None)
        self.assertIsNone(r.p.poll(), "the Python reader exited early\n" +
                          r.describe())
        return r, out

    def assert_exit(self, proc, expected=0):
        rc = proc.wait()
        self.assertEqual(rc, expected, "%s exited with %d, not %d\n%s" %
                         (proc.name, rc, expected, proc.describe()))

    def written_frames(self, raw_name, caps, frames):
        """The frames a writer teed into raw_name, as bytes each."""
        size = video_info(caps).size
        with open(self.path(raw_name), "rb") as f:
            data = f.read()
        self.assertEqual(len(data), frames * size,
                         "the writer's own dump has %d bytes, not %d frames "
                         "of %d" % (len(data), frames, size))
        out = [data[i * size:(i + 1) * size] for i in range(frames)]
        # Else a frame shifted by one would pass for the right one.
        for i in range(1, frames):
            self.assertTrue(out[i - 1] != out[i], "%s: frames %d and %d "
                            "are the same" % (raw_name, i - 1, i))
        return out

    def check_caps(self, frame, fmt, width, height, what):
        s = Gst.Caps.from_string(frame["caps"]).get_structure(0)
        self.assertEqual((s.get_name(), s.get_string("format"),
                          s.get_int("width")[1], s.get_int("height")[1]),
                         ("video/x-raw", fmt, width, height),
                         "%s: caps %s" % (what, frame["caps"]))
        self.assertEqual((frame["format"], frame["width"], frame["height"]),
                         (fmt, width, height), what)

    def check_py_frame(self, frame, data, caps, shape, what,
                       contiguous=True):
        """One frame from the Python module: shape, dtype and pixels."""
        self.assertEqual(shape_of(frame["array"]), shape,
                         "%s: array shape" % what)
        self.assertEqual(frame["size"], len(data), "%s: size" % what)
        got = as_planes(frame["array"])
        for p, (a, e) in enumerate(zip(got, expected_arrays(data, caps))):
            self.assertEqual(a.dtype, e.dtype, "%s plane %d" % (what, p))
            if contiguous:
                self.assertTrue(a.flags.c_contiguous, "%s plane %d is not "
                                "C-contiguous" % (what, p))
            if not np.array_equal(a, e):
                rows = sorted({int(r) for r in np.argwhere(a != e)[:, 0]})
                self.fail("%s plane %d: pixels differ from the frame "
                          "written, in rows %s" % (what, p, rows[:10]))

    def check_py_stream(self, frames, written, fmt, width, height, shape,
                        what, contiguous=True):
        """The frames of one writer, read from its first frame on."""
        caps = caps_of(fmt, width, height)
        self.assertEqual(len(frames), len(written), "%s: %d frames, the "
                         "writer wrote %d" % (what, len(frames),
                                              len(written)))
        for i, (f, data) in enumerate(zip(frames, written)):
            w = "%s frame %d (seq %d)" % (what, i, f["seq"])
            self.check_caps(f, fmt, width, height, w)
            self.check_py_frame(f, data, caps, shape, w, contiguous)
            self.assertEqual(f["skipped"], 0, w)
            # videotestsrc's timestamps at 30/1.
            self.assertEqual(f["pts"], i * Gst.SECOND // 30, "%s: pts" % w)
            self.assertIsInstance(f["latency"], float, w)
            self.assertGreaterEqual(f["latency"], 0.0, "%s: latency" % w)
        seqs = [f["seq"] for f in frames]
        self.assertEqual(seqs, list(range(seqs[0], seqs[0] + len(seqs))),
                         "%s: seq not one after the other" % what)
        self.assertEqual(len({f["writer_id"] for f in frames}), 1, what)

    def load(self, path):
        with open(path, "rb") as f:
            return pickle.load(f)

    def python_formats(self, fmt, width, height, frames, shape):
        caps = caps_of(fmt, width, height)
        # The shapes the module documents are GStreamer's planes, rows of
        # pixel data without padding.
        planes = gst_planes(caps)
        self.assertEqual(tuple(s for _, _, s, _ in planes),
                         shape if isinstance(shape[0], tuple) else (shape,))
        r, out = self.start_pyreader()
        w = self.writer("writer", fmt, width, height, frames, "written.raw")
        self.assert_exit(w)
        self.assert_exit(r)
        written = self.written_frames("written.raw", caps, frames)
        # Else swapped chroma planes would pass for the right ones.
        e = expected_arrays(written[0], caps)
        for p in range(2, len(e)):
            self.assertFalse(np.array_equal(e[p - 1], e[p]), "planes %d and "
                             "%d of the first frame are alike" % (p - 1, p))
        got = self.load(out)
        self.check_py_stream(got["frames"], written, fmt, width, height,
                             shape, "Python reader")
        self.assertEqual((got["frames_read"], got["frames_skipped"]),
                         (frames, 0))
        seqs = [f["seq"] for f in got["frames"]]
        log("checked: the Python module, started before the writer, got "
            "all %d frames of %s %dx%d (seq %d..%d, pts every 1/30 s) with "
            "%s arrays of shape %s, pixels equal to the writer's frames at "
            "GStreamer's offsets %s and strides %s, caps %s" %
            (frames, fmt, width, height, seqs[0], seqs[-1],
             planes[0][3], shape, [o for o, _, _, _ in planes],
             [s for _, s, _, _ in planes], got["frames"][0]["caps"]))

    def c_read_byte_exact(self, fmt, width, height, frames):
        caps = caps_of(fmt, width, height)
        size = video_info(caps).size
        dump = self.path("dump.raw")
        r = self.start_polling("example", [MMAPRING_READ, "-o", dump,
                                           "-t", "20000", "-e", self.loc])
        w = self.writer("writer", fmt, width, height, frames, "written.raw")
        self.assert_exit(w)
        self.assert_exit(r)
        written = self.written_frames("written.raw", caps, frames)
        with open(dump, "rb") as f:
            got = f.read()
        if got != b"".join(written):
            n = len(got) / size
            first = next((i for i in range(min(int(n), frames))
                          if got[i * size:(i + 1) * size] != written[i]),
                         None)
            self.fail("the example dumped %g frames of %d bytes, the writer "
                      "wrote %d; first differing frame: %s" %
                      (n, size, frames, first))
        lines = r.stdout().splitlines()
        self.assertEqual(len(lines), frames + 1, r.describe())
        self.assertEqual(lines[-1], "EOS", r.describe())
        pat = re.compile(r"^seq=(\d+) size=(\d+) latency=-?[\d.]+ms "
                         r"skipped=(\d+) caps=(.*)$")
        seqs = []
        for line in lines[:-1]:
            m = pat.match(line)
            self.assertTrue(m, "unexpected line %r\n%s" %
                            (line, r.describe()))
            self.assertEqual((int(m.group(2)), int(m.group(3))), (size, 0),
                             line)
            s = Gst.Caps.from_string(m.group(4)).get_structure(0)
            self.assertEqual((s.get_string("format"), s.get_int("width")[1],
                              s.get_int("height")[1]), (fmt, width, height),
                             line)
            seqs.append(int(m.group(1)))
        self.assertEqual(seqs, list(range(seqs[0], seqs[0] + frames)),
                         "seq not one after the other")
        self.assertIn("%d frames read, 0 skipped" % frames, r.stderr())
        log("checked: mmapring-read, started before the writer, dumped "
            "all %d frames of %s %dx%d (%d bytes each) byte for byte, "
            "printed seq %d..%d and EOS, exited 0" %
            (frames, fmt, width, height, size, seqs[0], seqs[-1]))

    def py_writer(self):
        """A process of this script that publishes with mmapring.Writer,
        frame by frame as told (see py_writer_main)."""
        p = Proc("pywriter", [PYTHON, os.path.abspath(__file__),
                              "--py-writer", self.loc], self.tmpdir,
                 stdin=True)
        self.procs.append(p)
        return p

    def tell(self, proc, command, answer):
        """Sends a command to the writer process, waits for its answer
        line; returns the text after the answer word."""
        n = proc.stdout().count("\n")
        self.assertTrue(proc.send(command), "%s is gone\n%s" %
                        (proc.name, proc.describe()))

        def answered():
            lines = proc.stdout().splitlines()
            return len(lines) > n or proc.p.poll() is not None
        wait_for("%s to answer %r" % (proc.name, command), answered)
        line = (proc.stdout().splitlines()[n:] or [""])[0]
        self.assertTrue(line.startswith(answer), "%s answered %r to %r\n%s"
                        % (proc.name, line, command, proc.describe()))
        return line[len(answer):].strip()

    # --- cases: the Python module ---

    def test_python_script_mode(self):
        n = 12
        r = self.start_polling("script", [PYTHON, "-m", "mmapring",
                                          self.loc, "-n", str(n), "-t",
                                          "20"])
        w = self.writer("writer", "RGB", 320, 240, n, "written.raw")
        self.assert_exit(r)
        self.assert_exit(w)
        lines = r.stdout().splitlines()
        self.assertEqual(len(lines), n, r.describe())
        pat = re.compile(r"^seq=(\d+) RGB 320x240 @30/1 pts=([\d.]+) "
                         r"latency=[\d.]+ms skipped=0$")
        seqs = []
        for i, line in enumerate(lines):
            m = pat.match(line)
            self.assertTrue(m, "unexpected line %r\n%s" %
                            (line, r.describe()))
            self.assertEqual(m.group(2), "%.6f" % (i / 30), line)
            seqs.append(int(m.group(1)))
        self.assertEqual(seqs, list(range(seqs[0], seqs[0] + n)))
        self.assertIn("%d frames read, 0 skipped" % n, r.stderr())
        log("checked: python3 -m mmapring LOCATION -n %d, started before "
            "the writer, printed %d lines (seq %d..%d, pts every 1/30 s) "
            "and exited 0" % (n, n, seqs[0], seqs[-1]))

    def test_python_zero_copy_3840x2160(self):
        # Two readers of one writer: frames leased in place, and frames
        # copied.  Both must hold the writer's pixels; the leased ones
        # must be views of the mapping.  How long each took is printed,
        # not checked (timing belongs in bench/python-zero-copy.py).
        fmt, width, height, n = "I420", 3840, 2160, 8
        caps = caps_of(fmt, width, height)
        shape = ((2160, 3840), (1080, 1920), (1080, 1920))
        zc, zc_out = self.start_pyreader(zero_copy=True, name="zerocopy")
        cp, cp_out = self.start_pyreader(name="copy")
        w = self.writer("writer", fmt, width, height, n, "written.raw")
        self.assert_exit(w)
        self.assert_exit(zc)
        self.assert_exit(cp)
        written = self.written_frames("written.raw", caps, n)
        zgot, cgot = self.load(zc_out), self.load(cp_out)
        self.check_py_stream(zgot["frames"], written, fmt, width, height,
                             shape, "zero-copy reader", contiguous=False)
        self.check_py_stream(cgot["frames"], written, fmt, width, height,
                             shape, "copying reader")
        for f in zgot["frames"]:
            what = "zero-copy frame seq %d" % f["seq"]
            self.assertTrue(f["leased"], "%s was copied, not leased" % what)
            for p, h in enumerate(f["held"]):
                self.assertFalse(h["owndata"], "%s plane %d owns its data: "
                                 "not a view of the slot" % (what, p))
                self.assertFalse(h["writeable"], "%s plane %d is writable"
                                 % (what, p))
                self.assertEqual(h["base_type"], "_cffi_backend.buffer",
                                 "%s plane %d: its .base chain ends in %s, "
                                 "not the mapping" % (what, p,
                                                      h["base_type"]))
            self.assertTrue(f["closed"], what)
            self.assertTrue(f["array_after_close"].startswith("ValueError"),
                            "%s: after close, frame.array is %s" %
                            (what, f["array_after_close"]))
        self.assertEqual(zgot["frames_leased"], n)
        self.assertEqual(cgot["frames_leased"], 0)
        self.assertFalse(any(f["leased"] for f in cgot["frames"]))

        def median(values):
            v = sorted(values)
            return v[len(v) // 2]
        figures = {}
        for name, got in (("zero-copy", zgot), ("copy", cgot)):
            figures[name] = (
                median(f["latency"] for f in got["frames"]) * 1e3,
                median(f["read_cpu"] for f in got["frames"]) * 1e3)
        log("measured, %s %dx%d, %d frames (median): zero-copy: latency "
            "%.3f ms, read() CPU %.3f ms; copy: latency %.3f ms, read() "
            "CPU %.3f ms" % ((fmt, width, height, n) + figures["zero-copy"]
                             + figures["copy"]))
        log("checked: %s %dx%d: the zero-copy reader got all %d frames "
            "leased, as read-only views of the mapping (no plane owns its "
            "data, each .base chain ends in the cffi buffer over the slot), "
            "frame.array raising ValueError after close; the copying one "
            "got C-contiguous copies; pixels of both equal the writer's" %
            (fmt, width, height, n))

    def test_python_max_lag_1_gives_newest(self):
        w = self.py_writer()
        self.tell(w, "caps 0", "ok")
        reader = mmapring.Reader(self.loc, max_lag=1)
        self.addCleanup(reader.close)
        caps = PYWRITER_CAPS[0][0]
        # The reader finds a running writer with nothing published yet.
        self.assertIsNone(reader.read(0.2))
        rounds = [(0, 5), (5, 3), (8, 1)]
        for first, count in rounds:
            seqs = [int(self.tell(w, "frame 0 %d" % i, "seq"))
                    for i in range(first, first + count)]
            f = reader.read(5)
            self.assertIsNotNone(f, "no frame after frames %s" % seqs)
            what = "after frames %s were published" % seqs
            self.assertEqual(f.seq, seqs[-1], "%s the reader got seq %d, "
                             "not the newest" % (what, f.seq))
            self.assertEqual(f.skipped, count - 1, what)
            _, planes = pywriter_frame(0, first + count - 1)
            self.assertTrue(np.array_equal(f.array, planes[0]),
                            "%s: the pixels are not the newest frame's" %
                            what)
            self.assertIsNone(reader.read(0.2), "%s: a second frame" % what)
        total = sum(c for _, c in rounds)
        self.assertEqual((reader.frames_read, reader.frames_skipped),
                         (len(rounds), total - len(rounds)))
        self.tell(w, "close", "ok")
        self.assert_exit(w)
        log("checked: Reader(max_lag=1) behind a writer that published "
            "%s frames at a time got the newest each time (pixels "
            "included), skipped the rest and counted them: %d read, %d "
            "skipped (%s)" % ([c for _, c in rounds], reader.frames_read,
                              reader.frames_skipped, caps))

    def test_python_writer_to_mmapsrc_byte_exact(self):
        k = 3
        w = self.py_writer()
        self.tell(w, "caps 0", "ok")
        out = self.path("mmapsrc.raw")
        g = self.run_proc("mmapsrc", [GST_LAUNCH, "-m", "mmapsrc",
                                      "location=" + self.loc, "!", "queue",
                                      "!", "filesink",
                                      "location=" + out])
        wait_for("mmapsrc to find the writer",
                 lambda: "mmapsrc-writer" in g.stdout() or
                 g.p.poll() is not None)
        self.assertIsNone(g.p.poll(), g.describe())
        expected = []
        seqs = []
        for n, (caps, kind) in enumerate(PYWRITER_CAPS):
            if n:
                self.tell(w, "caps %d" % n, "ok")
            for i in range(k):
                seqs.append(int(self.tell(w, "frame %d %d" % (n, i), "seq")))
                expected.append(gst_frame_bytes(caps,
                                                pywriter_frame(n, i)[1]))
        self.tell(w, "eos", "ok")
        self.assert_exit(g)
        self.tell(w, "close", "ok")
        self.assert_exit(w)
        self.assertEqual(seqs, list(range(seqs[0], seqs[0] + len(seqs))))
        with open(out, "rb") as f:
            got = f.read()
        if got != b"".join(expected):
            at, bad = 0, None
            for i, e in enumerate(expected):
                if got[at:at + len(e)] != e:
                    bad = i
                    break
                at += len(e)
            self.fail("mmapsrc wrote %d bytes, the Writer's %d frames are "
                      "%d in GStreamer's layout; first differing frame: %s "
                      "(%s)\n%s" % (len(got), len(expected),
                                    len(b"".join(expected)), bad,
                                    PYWRITER_CAPS[bad // k] if bad is not
                                    None else "-", g.describe()))
        log("checked: mmapring.Writer published %d frames each of %s; "
            "gst-launch-1.0 mmapsrc ! filesink wrote them byte for byte in "
            "GStreamer's layout (%d bytes), following every caps change, "
            "and exited at the Writer's EOS" %
            (k, ", ".join("%s (%s)" % (c.split(",")[1][7:] + " " +
                                       "x".join(re.findall(
                                           r"(?:width|height)=(\d+)", c)),
                                       kind)
                          for c, kind in PYWRITER_CAPS), len(got)))

    def test_python_writer_layouts_are_gstreamers(self):
        # mmapsrc hands a frame downstream as it is only when its layout is
        # GStreamer's: Writer lays frames out as video_layout() says.
        sizes = [(1, 1), (2, 2), (1, 2), (2, 1), (3, 5), (17, 9), (319, 240),
                 (320, 240), (321, 241), (641, 479), (3840, 2160)]
        formats = []
        for v in range(1, 256):
            try:
                name = GstVideo.VideoFormat.to_string(GstVideo.VideoFormat(v))
            except ValueError:
                continue
            if not name or name == "UNKNOWN" or \
                    mmapring.video_layout(caps_of(name, 2, 2)) is None:
                continue
            formats.append(name)
            for width, height in sizes:
                caps = caps_of(name, width, height)
                lo = mmapring.video_layout(caps)
                info = video_info(caps)
                n = info.finfo.n_planes
                self.assertEqual(
                    ([p.offset for p in lo.planes],
                     [p.stride for p in lo.planes], lo.size),
                    (list(info.offset[:n]), list(info.stride[:n]),
                     info.size), "%s: offsets, strides, size" % caps)
        self.assertGreaterEqual(len(formats), 40, formats)
        for fmt in ("I420", "NV12", "RGB", "YUY2", "RGBA64_LE", "GRAY16_BE"):
            self.assertIn(fmt, formats)
        log("checked: for the %d formats the library knows (%s) at %d "
            "sizes, the Writer's plane offsets, strides and frame size are "
            "GstVideoInfo's" % (len(formats), " ".join(formats), len(sizes)))

    def test_python_writer_restart_new_caps(self):
        n = 15
        (f1, w1, h1, _, shape1), (f2, w2, h2, _, shape2) = \
            PY_FORMATS[0], PY_FORMATS[1]
        r, out = self.start_pyreader(eos_count=2)
        w = self.writer("writer1", f1, w1, h1, n, "written1.raw")
        self.assert_exit(w)
        self.assertFalse(os.path.exists(self.loc), "writer1 left its file")
        w = self.writer("writer2", f2, w2, h2, n, "written2.raw")
        self.assert_exit(w)
        self.assert_exit(r)
        got = self.load(out)["frames"]
        self.assertEqual(len(got), 2 * n, "the reader got %d frames, the "
                         "writers wrote %d + %d" % (len(got), n, n))
        self.check_py_stream(
            got[:n], self.written_frames("written1.raw", caps_of(f1, w1, h1),
                                         n), f1, w1, h1, shape1, "writer1")
        self.check_py_stream(
            got[n:], self.written_frames("written2.raw", caps_of(f2, w2, h2),
                                         n), f2, w2, h2, shape2, "writer2")
        self.assertNotEqual(got[0]["writer_id"], got[n]["writer_id"])
        log("checked: one Python reader followed two writers in a row: all "
            "%d frames of %s %dx%d (seq %d..%d), then all %d of %s %dx%d "
            "(seq %d..%d, a new writer_id), each with its shape, caps and "
            "pixels" % (n, f1, w1, h1, got[0]["seq"], got[n - 1]["seq"], n,
                        f2, w2, h2, got[n]["seq"], got[-1]["seq"]))

    def test_python_caps_change_one_writer(self):
        k = 8
        r, out = self.start_pyreader()
        w = self.run_proc("writer", [PYTHON, os.path.abspath(__file__),
                                     "--appsrc-writer", self.loc, str(k)])
        self.assert_exit(w)
        self.assert_exit(r)
        got = self.load(out)["frames"]
        expected = list(appsrc_frames(k))
        self.assertEqual(len(got), len(expected), "the reader got %d "
                         "frames, the writer wrote %d" %
                         (len(got), len(expected)))
        for i, (f, (caps, data)) in enumerate(zip(got, expected)):
            s = Gst.Caps.from_string(caps).get_structure(0)
            fmt, width, height = (s.get_string("format"),
                                  s.get_int("width")[1],
                                  s.get_int("height")[1])
            what = "frame %d (seq %d)" % (i, f["seq"])
            self.check_caps(f, fmt, width, height, what)
            shape = next(p[4] for p in PY_FORMATS if p[:3] ==
                         (fmt, width, height))
            self.check_py_frame(f, data, caps, shape, what)
        seqs = [f["seq"] for f in got]
        self.assertEqual(seqs, list(range(seqs[0], seqs[0] + 2 * k)),
                         "seq does not go on across the caps change")
        self.assertEqual(len({f["writer_id"] for f in got}), 1)
        self.assertNotEqual(got[0]["caps_seq"], got[k]["caps_seq"])
        log("checked: a writer that went from %s to %s after %d frames: "
            "the Python reader got all %d, seq %d..%d, each with its "
            "shape and bytes" % (APPSRC_CAPS[0], APPSRC_CAPS[1], k, 2 * k,
                                 seqs[0], seqs[-1]))

    def test_python_YUY2_319x240_keeps_last_chroma(self):
        # At an odd width the last 4-byte macropixel of each row holds the
        # last pixel's Y, U and V and a padding Y: FORMAT.md counts
        # 4*ceil(w/2) bytes of pixel data per row.  Without its V byte the
        # last column cannot be converted to RGB.
        fmt, width, height, n = "YUY2", 319, 240, 5
        caps = caps_of(fmt, width, height)
        ((offset, stride, _, _),) = gst_planes(caps)
        row_bytes = 4 * -(-width // 2)
        r, out = self.start_pyreader()
        w = self.writer("writer", fmt, width, height, n, "written.raw",
                        pattern="smpte")
        self.assert_exit(w)
        self.assert_exit(r)
        written = self.written_frames("written.raw", caps, n)
        got = self.load(out)["frames"]
        self.assertEqual(len(got), n)
        last_v = {data[offset + row * stride + row_bytes - 1]
                  for data in written for row in range(height)}
        self.assertGreater(len(last_v), 1, "the last V bytes carry nothing")
        for i, (f, data) in enumerate(zip(got, written)):
            a = f["array"]
            expected = np.ndarray((height, row_bytes), np.uint8, buffer=data,
                                  offset=offset, strides=(stride, 1))
            held = a.reshape(a.shape[0], -1) if a.ndim > 1 else a
            self.assertTrue(
                held.shape == expected.shape and
                np.array_equal(held, expected),
                "frame %d: the array of shape %s holds %d bytes per row; "
                "the row has %d bytes of pixel data (4*ceil(%d/2)), the "
                "last pixel's V byte (row offset %d, %d different values in "
                "these frames) is not in the array" %
                (i, a.shape, held.shape[-1], row_bytes, width, row_bytes - 1,
                 len(last_v)))
        log("checked: YUY2 %dx%d: the Python module's arrays hold all %d "
            "bytes of pixel data of every row" % (width, height, row_bytes))

    def test_python_not_a_regular_file_refused(self):
        for what, make, reason in NOT_FILES:
            with self.subTest(what):
                make(self.loc)
                try:
                    self.check_python_refuses(what, reason)
                finally:
                    remove_location(self.loc)

    def check_python_refuses(self, what, reason):
        """Reader raises MmapFormatError naming the file and the library's
        reason; the script prints them and exits 1."""
        with self.subTest(what, client="Reader"):
            out = self.path("error.json")
            r = self.run_proc("pyreader", [PYTHON, PYREADER, "error",
                                           self.loc, out])
            self.assert_exit(r)
            with open(out) as f:
                e = json.load(f)
            self.assertIn(self.loc, e["message"], "%s: %s" % (what, e))
            self.assertTrue(e["is_format_error"], "%s: Reader raised %s(%r),"
                            " not MmapFormatError" % (what, e["type"],
                                                      e["message"]))
            self.assertEqual(e["path"], self.loc, what)
            self.assertEqual(e["reason"], reason, what)
            self.assertEqual(e["message"], "%s: %s" % (self.loc,
                                                       e["reason"]), what)
            log("checked: %s: Reader raised MmapFormatError(%r)" %
                (what, e["message"]))
        with self.subTest(what, client="script"):
            s = self.run_proc("script", [PYTHON, "-m", "mmapring", self.loc,
                                         "-n", "1", "-t", "20"])
            rc = s.wait()
            self.assertNotIn("Traceback", s.stderr(), "%s: the script "
                             "crashed\n%s" % (what, s.describe()))
            self.assertEqual(rc, 1, s.describe())
            self.assertIn("error: %s: %s\n" % (self.loc, reason), s.stderr(),
                          what)
            self.assertEqual(s.stdout(), "", what)
            log("checked: %s: python3 -m mmapring exited 1 with %r" %
                (what, s.stderr().splitlines()[0]))

    def test_python_garbage_refused(self):
        for what, content, reason in GARBAGE:
            with open(self.loc, "wb") as f:
                f.write(content)
            self.check_python_refuses(what, reason)
            with open(self.loc, "rb") as f:
                self.assertEqual(f.read(), content,
                                 "%s: the reader changed the file" % what)

    # --- cases: the C example over the library ---

    def test_c_read_byte_exact_I420_321x241(self):
        self.c_read_byte_exact("I420", 321, 241, 30)

    def test_c_read_byte_exact_RGB_320x240(self):
        self.c_read_byte_exact("RGB", 320, 240, 30)

    def test_c_read_frames_and_timeout(self):
        n, frames = 10, 20
        caps = caps_of("GRAY8", 161, 121)
        dump = self.path("dump.raw")
        r = self.start_polling("example", [MMAPRING_READ, "-n", str(n),
                                           "-o", dump, self.loc])
        w = self.writer("writer", "GRAY8", 161, 121, frames, "written.raw")
        self.assert_exit(r)
        self.assert_exit(w)
        written = self.written_frames("written.raw", caps, frames)
        with open(dump, "rb") as f:
            got = f.read()
        self.assertTrue(got == b"".join(written[:n]), "-n %d: the dump (%d "
                        "bytes) is not the first %d frames (%d bytes each)"
                        % (n, len(got), n, len(written[0])))
        self.assertEqual(len(r.stdout().splitlines()), n, r.describe())
        self.assertIn("%d frames read, 0 skipped" % n, r.stderr())

        t = self.run_proc("timeout", [MMAPRING_READ, "-t", "400",
                                      self.loc + "-nothing"])
        self.assert_exit(t, 1)
        self.assertIn("no frame for", t.stderr(), t.describe())
        self.assertEqual(t.stdout(), "")
        log("checked: mmapring-read -n %d stopped after the first %d of "
            "%d frames (dump byte for byte), exit 0; -t 400 with no writer "
            "exited 1 with %r" % (n, n, frames, t.stderr().splitlines()[-2]))

    def test_c_read_follows_writer_restart(self):
        n = 15
        formats = [("RGB", 320, 240), ("I420", 321, 241)]
        dump = self.path("dump.raw")
        r = self.start_polling("example", [MMAPRING_READ, "-n",
                                           str(2 * n), "-o", dump, "-t",
                                           "20000", self.loc])
        expected = []
        for i, (fmt, width, height) in enumerate(formats):
            w = self.writer("writer%d" % i, fmt, width, height, n,
                            "written%d.raw" % i)
            self.assert_exit(w)
            expected += self.written_frames("written%d.raw" % i,
                                            caps_of(fmt, width, height), n)
        self.assert_exit(r)
        with open(dump, "rb") as f:
            got = f.read()
        self.assertTrue(got == b"".join(expected), "the dump (%d bytes) is "
                        "not the %d frames of both writers (%d bytes)" %
                        (len(got), 2 * n, len(b"".join(expected))))
        lines = [line for line in r.stdout().splitlines() if line != "EOS"]
        self.assertEqual(len(lines), 2 * n, r.describe())
        for i, line in enumerate(lines):
            fmt, width, height = formats[i // n]
            caps = Gst.Caps.from_string(line.split(" caps=", 1)[1])
            s = caps.get_structure(0)
            self.assertEqual((s.get_string("format"), s.get_int("width")[1],
                              s.get_int("height")[1]), (fmt, width, height),
                             line)
        log("checked: mmapring-read followed two writers in a row: its "
            "dump is all %d frames of %s %dx%d then all %d of %s %dx%d, "
            "byte for byte, each line with its writer's caps" %
            ((n,) + formats[0] + (n,) + formats[1]))

    def test_c_read_not_a_regular_file_refused(self):
        for what, make, reason in NOT_FILES:
            with self.subTest(what):
                make(self.loc)
                try:
                    r = self.run_proc("example", [MMAPRING_READ, "-t",
                                                  "20000", self.loc])
                    self.assert_exit(r, 1)
                    self.assertIn("error: %s: %s\n" % (self.loc, reason),
                                  r.stderr(), r.describe())
                    log("checked: %s: mmapring-read exited 1 with %r" %
                        (what, r.stderr().splitlines()[0]))
                finally:
                    remove_location(self.loc)

    def test_c_read_garbage_refused(self):
        for what, content, reason in GARBAGE:
            with open(self.loc, "wb") as f:
                f.write(content)
            r = self.run_proc("example", [MMAPRING_READ, "-t", "20000",
                                          self.loc])
            rc = r.wait()
            self.assertEqual(rc, 1, "%s: exited %d\n%s" %
                             (what, rc, r.describe()))
            self.assertIn("error: %s: %s\n" % (self.loc, reason), r.stderr(),
                          "%s\n%s" % (what, r.describe()))
            self.assertEqual(r.stdout(), "", what)
            with open(self.loc, "rb") as f:
                self.assertEqual(f.read(), content,
                                 "%s: the reader changed the file" % what)
            log("checked: %s: mmapring-read exited %d with %r" %
                (what, rc, r.stderr().splitlines()[0]))


def _python_case(fmt, width, height, frames, shape):
    def test(self):
        self.python_formats(fmt, width, height, frames, shape)
    return test


for _f, _w, _h, _n, _shape in PY_FORMATS:
    setattr(Clients, "test_python_%s_%dx%d" % (_f, _w, _h),
            _python_case(_f, _w, _h, _n, _shape))


def appsrc_writer_main(location, k):
    p = Gst.parse_launch("appsrc name=src format=time ! mmapsink "
                         "location=%s sync=true" % location)
    src = p.get_by_name("src")
    p.set_state(Gst.State.PLAYING)
    last = None
    for i, (caps, data) in enumerate(appsrc_frames(k)):
        if caps != last:
            src.set_property("caps", Gst.Caps.from_string(caps))
            last = caps
        buf = Gst.Buffer.new_wrapped(data)
        buf.pts = i * Gst.SECOND // 30
        buf.duration = Gst.SECOND // 30
        if src.emit("push-buffer", buf) != Gst.FlowReturn.OK:
            sys.exit("push-buffer failed at frame %d" % i)
    src.emit("end-of-stream")
    msg = p.get_bus().timed_pop_filtered(
        PROC_TIMEOUT * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR)
    p.set_state(Gst.State.NULL)
    if msg is None:
        sys.exit("no EOS")
    if msg.type == Gst.MessageType.ERROR:
        err, dbg = msg.parse_error()
        sys.exit("error: %s (%s)" % (err.message, dbg))


def py_writer_main(location):
    """mmapring.Writer at `location`, told what to do on stdin, one
    command a line, answering each on stdout:
        caps N      the caps PYWRITER_CAPS[N] (the first makes the Writer)
        frame N I   publishes pywriter_frame(N, I); answers "seq S"
        eos         end of stream
        close       leaves the location (removing the file), and exits
    Anything else, or an exception, ends it with a non-zero exit code."""
    w = None
    for line in sys.stdin:
        cmd = line.split()
        if cmd[0] == "caps":
            caps = PYWRITER_CAPS[int(cmd[1])][0]
            if w is None:
                w = mmapring.Writer(location, caps)
            else:
                w.set_caps(caps)
            print("ok", flush=True)
        elif cmd[0] == "frame":
            n, i = int(cmd[1]), int(cmd[2])
            data, _ = pywriter_frame(n, i)
            seq = w.write(data, pts=i * Gst.SECOND // 30,
                          duration=Gst.SECOND // 30)
            print("seq %d" % seq, flush=True)
        elif cmd[0] == "eos":
            w.eos()
            print("ok", flush=True)
        elif cmd[0] == "close":
            w.close()
            print("ok", flush=True)
            return
        else:
            sys.exit("unknown command %r" % line)
    sys.exit("stdin closed")


def _terminated(signum, frame):
    # meson's timeout: end the test as an error, so that tearDown still
    # stops the children and removes the files.
    raise SystemExit("terminated by signal %d" % signum)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _terminated)
    if len(sys.argv) > 1 and sys.argv[1] == "--appsrc-writer":
        appsrc_writer_main(sys.argv[2], int(sys.argv[3]))
    elif len(sys.argv) > 1 and sys.argv[1] == "--py-writer":
        py_writer_main(sys.argv[2])
    elif len(sys.argv) > 1 and sys.argv[1] == "--registered":
        cases = {n[len("test_"):] for n in
                 unittest.TestLoader().getTestCaseNames(Clients)}
        missing = sorted(cases - set(sys.argv[2:]))
        unknown = sorted(set(sys.argv[2:]) - cases)
        print("%d cases, %d registered in tests/clients/meson.build" %
              (len(cases), len(set(sys.argv[2:]) & cases)))
        if missing or unknown:
            sys.exit("not run by meson: %s; no such case: %s" %
                     (missing, unknown))
    else:
        unittest.main(verbosity=2)

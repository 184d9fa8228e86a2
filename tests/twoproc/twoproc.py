#!/usr/bin/python3
"""Two-process tests of gst-mmap: real gst-launch-1.0 processes, as users
run them, one writer (mmapsink) and one or more readers (mmapsrc).

Byte-exact checks: the writer tees what it publishes into a filesink, so
the reader's output can be compared with exactly what was written.

Run by meson (tests/meson.build), one case per meson test:
    /usr/bin/python3 twoproc.py TwoProcess.test_<case>
It needs the system's Python with python3-gi (GStreamer bindings), and
the Python module mmapring for the file's layout (format version 2, read
through mmapring.layout: no offset is spelled out here).  Run by hand
from the source tree it uses build/plugin and build/python unless
GST_PLUGIN_PATH and PYTHONPATH say otherwise (`meson devenv -C BUILD`).

Every process gets a timeout: a hang fails the test, it never blocks it.
The assertions are about what a user sees: bytes, caps, frame counts,
exit codes and error text; nothing about how long things took.
"""

import json
import os
import random
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
if "GST_PLUGIN_PATH" not in os.environ:
    os.environ["GST_PLUGIN_PATH"] = os.path.join(HERE, "..", "..", "build",
                                                 "plugin")
try:
    from mmapring import layout
except ImportError:
    sys.path[:0] = [os.path.join(HERE, "..", "..", "build", "python"),
                    os.path.join(HERE, "..", "..", "python")]
    from mmapring import layout

import gi  # noqa: E402

gi.require_version("Gst", "1.0")
gi.require_version("GstVideo", "1.0")
from gi.repository import Gst, GstVideo  # noqa: E402

Gst.init(None)

sys.path.insert(0, os.path.join(HERE, ".."))
from gstmmaptest import (GST_INSPECT, GST_LAUNCH, PROC_TIMEOUT,  # noqa: E402
                         Proc, log, wait_for)


STATE_RUNNING = layout.STATE_RUNNING
# The header fields a test looks at: (offset, struct format), from the
# layout of lib/mmapring-format.h.
_HEADER_FIELDS = {name: (layout.offset("MmapFileHeader", name),
                         {4: "<I", 8: "<Q"}[layout.field_size(
                             "MmapFileHeader", name)])
                  for name in ("writer_pid", "state", "write_seq",
                               "base_seq", "caps_offset", "caps_length")}


def read_header(path):
    """The fields of a gst-mmap file's header a test looks at, with its
    caps (caps_length bytes at caps_offset), or None."""
    try:
        with open(path, "rb") as f:
            h = f.read(layout.HEADER_SIZE)
            if len(h) < layout.HEADER_SIZE or \
                    h[:len(layout.FORMAT_MAGIC)] != layout.FORMAT_MAGIC:
                return None
            out = {name: struct.unpack_from(fmt, h, off)[0]
                   for name, (off, fmt) in _HEADER_FIELDS.items()}
            if out["caps_length"] >= layout.CAPS_MAX:
                return None
            f.seek(out["caps_offset"])
            out["caps"] = f.read(out["caps_length"]).decode(
                errors="replace")
    except FileNotFoundError:
        return None
    return out


def lock_path(loc):
    """The location's lock file (FORMAT.md 3): DIR/.NAME.lock."""
    d, base = os.path.split(loc)
    return os.path.join(d, "." + base + layout.LOCK_FILE_SUFFIX.rstrip(
        b"\0").decode())


def frame_size(caps_str):
    info = GstVideo.VideoInfo.new_from_caps(Gst.Caps.from_string(caps_str))
    return info.size


def caps_equal(a, b):
    return Gst.Caps.from_string(a).is_equal(Gst.Caps.from_string(b))


class TwoProcess(unittest.TestCase):

    def setUp(self):
        case = self.id().rsplit(".", 1)[-1].replace("test_", "")
        self.tmpdir = tempfile.mkdtemp(
            prefix="gst-mmap-test-%d-%s-" % (os.getpid(), case),
            dir="/dev/shm")
        # The location readers and writers share, unique to this test.
        self.loc = "/dev/shm/gst-mmap-test-%d-%s" % (os.getpid(), case)
        self.procs = []
        # Fill this test's registry once, before processes run at once,
        # and make sure it is this build's plugin that they will load.
        r = subprocess.run([GST_INSPECT, "mmapsrc"], capture_output=True,
                           text=True, timeout=PROC_TIMEOUT)
        self.assertEqual(r.returncode, 0,
                         "gst-inspect-1.0 mmapsrc: plugin not found\n" +
                         r.stderr)

    def tearDown(self):
        for p in self.procs:
            p.kill()
        d, base = os.path.split(self.loc)
        for name in os.listdir(d):
            if name == base or name.startswith("." + base + "."):
                os.unlink(os.path.join(d, name))
        shutil.rmtree(self.tmpdir, ignore_errors=True)

    # --- helpers ---

    def path(self, name):
        return os.path.join(self.tmpdir, name)

    def launch(self, name, pipeline, *options):
        p = Proc(name, [GST_LAUNCH] + list(options) + pipeline.split(),
                 self.tmpdir)
        self.procs.append(p)
        return p

    def python(self, name, *args):
        p = Proc(name, [sys.executable, os.path.abspath(__file__)] +
                 list(args), self.tmpdir)
        self.procs.append(p)
        return p

    def start_waiting_reader(self, name, sink):
        """A reader that is waiting for a writer before this returns.
        -v prints the negotiated caps, -m the element messages."""
        r = self.launch(name, "mmapsrc location=%s ! %s" % (self.loc, sink),
                        "-v", "-m")
        wait_for("%s to wait for a writer" % name,
                 lambda: "mmapsrc-waiting" in r.stdout() or
                 r.p.poll() is not None)
        self.assertIsNone(r.p.poll(), "%s exited early\n%s" %
                          (name, r.describe()))
        return r

    def assert_exit(self, proc, expected=0):
        rc = proc.wait()
        self.assertEqual(rc, expected, "%s exited with %d\n%s" %
                         (proc.name, rc, proc.describe()))

    def read_bytes(self, name):
        with open(self.path(name), "rb") as f:
            return f.read()

    def assert_same_frames(self, got, expected, size, what):
        """got == expected, and if not, says which frame differs."""
        if got == expected:
            return
        n_got, n_exp = len(got) / size, len(expected) / size
        first = next((i for i in range(0, min(len(got), len(expected)), size)
                      if got[i:i + size] != expected[i:i + size]), None)
        self.fail("%s: %g frames of %d bytes, the writer wrote %g; first "
                  "differing frame: %s" %
                  (what, n_got, size, n_exp,
                   "none" if first is None else first // size))

    def caps_line(self, proc, element, pad):
        """The last caps gst-launch -v printed for element's pad."""
        pat = re.compile(r"/GstPipeline:pipeline\d+/%s\d*\.GstPad:%s: "
                         r"caps = (.*)$" % (element, pad))
        found = [m.group(1) for m in map(pat.search,
                                         proc.stdout().splitlines()) if m]
        self.assertTrue(found, "%s printed no caps for %s:%s\n%s" %
                        (proc.name, element, pad, proc.describe()))
        return found[-1]

    def writer_caps(self, writer):
        """The caps in the header of the writer's file, once it is there."""
        def caps():
            if writer.p.poll() is not None:
                self.fail("the writer exited before its file appeared\n" +
                          writer.describe())
            h = read_header(self.loc)
            return h and h["state"] == STATE_RUNNING and h["caps"]
        return wait_for("the writer's file", caps)

    def byte_exact(self, fmt, width, height, frames, pattern, readers=1):
        """Readers started first, then a writer that tees what it publishes
        into written.raw: every reader's output equals it, the readers end
        with the writer's EOS (exit 0), with the writer's caps."""
        caps = ("video/x-raw,format=%s,width=%d,height=%d,framerate=30/1" %
                (fmt, width, height))
        size = frame_size(caps)
        rs = [self.start_waiting_reader(
            "reader%d" % i, "filesink location=%s" % self.path(
                "read%d.raw" % i)) for i in range(readers)]
        w = self.launch("writer",
                        "videotestsrc num-buffers=%d pattern=%s ! %s ! "
                        "tee name=t ! queue ! mmapsink location=%s sync=true "
                        "t. ! queue ! filesink location=%s" %
                        (frames, pattern, caps, self.loc,
                         self.path("written.raw")))
        # The writer's caps, as it published them.  (Not from its -v
        # output: gst-launch-1.0 can lose pad caps notifications that
        # several streaming threads post at once.)
        wcaps = self.writer_caps(w)
        self.assert_exit(w)
        written = self.read_bytes("written.raw")
        self.assertEqual(len(written), frames * size,
                         "the writer's own dump has %d bytes, not %d frames "
                         "of %d" % (len(written), frames, size))
        for i, r in enumerate(rs):
            self.assert_exit(r)
            got = self.read_bytes("read%d.raw" % i)
            self.assert_same_frames(got, written, size, r.name)
            rcaps = self.caps_line(r, "GstMmapSrc:mmapsrc", "src")
            self.assertTrue(caps_equal(rcaps, wcaps),
                            "%s has caps %s, the writer %s" %
                            (r.name, rcaps, wcaps))
            s = Gst.Caps.from_string(rcaps).get_structure(0)
            self.assertEqual((s.get_string("format"), s.get_int("width")[1],
                              s.get_int("height")[1]), (fmt, width, height))
        log("checked: %d reader(s) started before the writer got all %d "
            "frames of %s %dx%d (pattern %s, %d bytes each) byte for byte, "
            "exited 0 on the writer's EOS, caps %s" %
            (readers, frames, fmt, width, height, pattern, size, wcaps))

    # --- cases ---

    def test_reader_before_writer_720p(self):
        self.byte_exact("RGB", 1280, 720, 60, "smpte")

    def test_three_readers_and_a_late_one(self):
        fmt, width, height, frames = "I420", 320, 240, 90
        caps = ("video/x-raw,format=%s,width=%d,height=%d,framerate=30/1" %
                (fmt, width, height))
        size = frame_size(caps)
        rs = [self.start_waiting_reader(
            "reader%d" % i, "filesink location=%s" % self.path(
                "read%d.raw" % i)) for i in range(3)]
        w = self.launch("writer",
                        "videotestsrc num-buffers=%d pattern=ball ! %s ! "
                        "tee name=t ! queue ! mmapsink location=%s sync=true "
                        "t. ! queue ! filesink location=%s" %
                        (frames, caps, self.loc, self.path("written.raw")))
        # Joins once the writer is well under way.
        wait_for("the writer to publish 20 frames",
                 lambda: (read_header(self.loc) or {}).get("write_seq", 0)
                 >= 20 or w.p.poll() is not None)
        self.assertIsNone(w.p.poll(), "the writer ended early\n" +
                          w.describe())
        late = self.launch("late", "mmapsrc location=%s ! filesink "
                           "location=%s" % (self.loc, self.path("late.raw")))
        self.assert_exit(w)
        written = self.read_bytes("written.raw")
        self.assertEqual(len(written), frames * size)
        for i, r in enumerate(rs):
            self.assert_exit(r)
            self.assert_same_frames(self.read_bytes("read%d.raw" % i),
                                    written, size, r.name)
        self.assert_exit(late)
        got = self.read_bytes("late.raw")
        self.assertEqual(len(got) % size, 0, "the late reader's output is "
                         "not whole frames: %d bytes" % len(got))
        n = len(got) // size
        self.assertGreater(n, 0, "the late reader got no frame")
        # It started once frame 20 was out: it starts at frame 20 or later.
        self.assertLessEqual(n, frames - 19, "the late reader got frames "
                             "from before it started")
        self.assertTrue(written.endswith(got), "the late reader's %d frames "
                        "are not the last %d frames the writer wrote" % (n, n))
        log("checked: 3 readers got all %d frames byte for byte; a reader "
            "that joined after frame 20 got the last %d frames, in order, "
            "and all exited 0 on the writer's EOS" % (frames, n))

    def test_caps_change_followed(self):
        k = 8
        out = self.path("frames.json")
        r = self.python("reader", "--reader", self.loc, out)
        wait_for("the reader to wait for a writer",
                 lambda: "WAITING" in r.stdout() or r.p.poll() is not None)
        self.assertIsNone(r.p.poll(), r.describe())
        w = self.python("writer", "--writer", self.loc, str(k))
        self.assert_exit(w)
        self.assert_exit(r)
        with open(out) as f:
            got = json.load(f)
        expected = list(writer_frames(k))
        self.assertEqual(len(got), len(expected),
                         "the reader got %d frames, the writer wrote %d:\n%s"
                         % (len(got), len(expected),
                            "\n".join("%s %d" % (c, s) for c, s, _ in got)))
        for i, ((caps, size, digest), (ecaps, data)) in enumerate(
                zip(got, expected)):
            self.assertTrue(caps_equal(caps, ecaps),
                            "frame %d has caps %s, written with %s" %
                            (i, caps, ecaps))
            self.assertEqual(size, len(data), "frame %d size" % i)
            self.assertEqual(digest, hex_digest(data),
                             "frame %d: bytes differ" % i)
        log("checked: a writer that went from %s to %s after %d frames: "
            "the reader got all %d frames in order, each with its caps and "
            "bytes" % (CAPS_A, CAPS_B, k, 2 * k))

    def test_zero_copy_writer_byte_exact(self):
        # Without a tee, videotestsrc draws straight into the file's slots
        # (mmapsink's buffer pool).  What it draws is checked against a run
        # of the same source into a file.
        frames = 30
        caps = "video/x-raw,format=I420,width=640,height=480,framerate=30/1"
        src = "videotestsrc num-buffers=%d pattern=ball ! %s" % (frames, caps)
        size = frame_size(caps)
        ref = self.launch("reference", "%s ! filesink location=%s" %
                          (src, self.path("ref.raw")))
        self.assert_exit(ref)
        expected = self.read_bytes("ref.raw")
        self.assertEqual(len(expected), frames * size)
        r = self.start_waiting_reader("reader", "filesink location=%s" %
                                      self.path("read.raw"))
        w = self.launch("writer", "%s ! mmapsink location=%s sync=true" %
                        (src, self.loc))
        self.assert_exit(w)
        self.assert_exit(r)
        self.assert_same_frames(self.read_bytes("read.raw"), expected, size,
                                r.name)
        log("checked: a writer rendering into the slots (no copy): the "
            "reader got all %d frames byte for byte and exited 0" % frames)

    def test_writer_eos_ends_reader(self):
        r = self.start_waiting_reader("reader", "fakesink")
        w = self.launch("writer", "videotestsrc num-buffers=10 ! "
                        "video/x-raw,width=64,height=48,framerate=30/1 ! "
                        "mmapsink location=%s sync=true" % self.loc)
        self.assert_exit(w)
        self.assert_exit(r)
        self.assertIn("Got EOS from element", r.stdout(),
                      "the reader ended without EOS\n" + r.describe())
        self.assertFalse(os.path.exists(self.loc),
                         "the writer left its file behind at a clean stop")
        self.assertFalse(os.path.exists(lock_path(self.loc)),
                         "the writer left its lock file behind at a clean "
                         "stop")
        log("checked: a reader started before the writer exited 0 on the "
            "writer's EOS; the writer removed its file and its lock file")

    def test_garbage_refused(self):
        cases = [
            # The library's words: "PATH: not a gst-mmap file (why)".
            ("64 KiB of random bytes", os.urandom(65536),
             ["not a gst-mmap file (bad magic)"]),
            ("an empty file", b"", ["not a gst-mmap file"]),
            ("a short text file", b"hello, I am not a ring\n",
             ["not a gst-mmap file"]),
        ]
        for what, content, reasons in cases:
            with open(self.loc, "wb") as f:
                f.write(content)
            r = self.launch("reader", "mmapsrc location=%s ! fakesink" %
                            self.loc)
            rc = r.wait()
            err = r.stderr()
            self.assertNotEqual(rc, 0, "%s: the reader exited 0\n%s" %
                                (what, r.describe()))
            self.assertIn(self.loc + ": ", err, "%s: the error does not name "
                          "the file\n%s" % (what, r.describe()))
            self.assertTrue(any(self.loc + ": " + reason in err
                                for reason in reasons),
                            "%s: the error does not say any of %r\n%s" %
                            (what, reasons, r.describe()))
            with open(self.loc, "rb") as f:
                self.assertEqual(f.read(), content,
                                 "%s: the reader changed the file" % what)
            log("checked: %s at the location: the reader exited %d with %r"
                % (what, rc, err.splitlines()[0]))

    def test_second_writer_refused(self):
        caps = "video/x-raw,width=160,height=120,framerate=30/1"
        w1 = self.launch("writer1", "videotestsrc is-live=true ! %s ! "
                         "mmapsink location=%s" % (caps, self.loc))
        def published():
            hd = read_header(self.loc)
            if w1.p.poll() is not None:
                self.fail("the first writer exited\n" + w1.describe())
            return hd if hd and hd["write_seq"] >= 3 else None

        h = wait_for("the first writer to publish", published)
        self.assertEqual(h["writer_pid"], w1.pid)
        ino = os.stat(self.loc).st_ino

        w2 = self.launch("writer2", "videotestsrc num-buffers=30 ! %s ! "
                         "mmapsink location=%s" % (caps, self.loc))
        rc = w2.wait()
        err = w2.stderr()
        self.assertNotEqual(rc, 0, "the second writer exited 0\n" +
                            w2.describe())
        busy = "%s: in use by another writer (pid %d)" % (self.loc, w1.pid)
        self.assertIn(busy, err, w2.describe())

        # The first writer is unharmed: same file, still publishing, and a
        # reader gets frames from it.
        self.assertIsNone(w1.p.poll(), w1.describe())
        self.assertEqual(os.stat(self.loc).st_ino, ino,
                         "the file at the location was replaced")
        seq = read_header(self.loc)["write_seq"]
        wait_for("the first writer to go on publishing",
                 lambda: read_header(self.loc)["write_seq"] >= seq + 3)
        r = self.launch("reader", "mmapsrc location=%s num-buffers=5 ! "
                        "fakesink" % self.loc)
        self.assert_exit(r)

        # A clean stop (Ctrl-C) removes the file.
        w1.p.send_signal(signal.SIGINT)
        self.assert_exit(w1)
        self.assertFalse(os.path.exists(self.loc),
                         "the first writer left its file at a clean stop")
        self.assertFalse(os.path.exists(lock_path(self.loc)),
                         "the first writer left its lock file at a clean "
                         "stop")
        log("checked: a second writer exited %d with %r; the first (pid "
            "%d) kept publishing in the same file, a reader got 5 frames "
            "from it, and Ctrl-C removed the file" %
            (rc, err.splitlines()[0], w1.pid))


# Formats and odd sizes: one test each (see tests/meson.build).
FORMATS = [
    ("I420", 321, 241, "ball"),
    ("NV12", 322, 242, "snow"),
    ("NV12", 321, 241, "ball"),
    ("YUY2", 319, 240, "snow"),
    ("RGBA", 17, 9, "ball"),
    ("GRAY8", 33, 7, "snow"),
    ("BGRx", 641, 479, "ball"),
    ("Y444", 100, 75, "snow"),
]


def _format_case(fmt, width, height, pattern):
    def test(self):
        self.byte_exact(fmt, width, height, 20, pattern)
    return test


for _fmt, _w, _h, _pattern in FORMATS:
    setattr(TwoProcess, "test_formats_%s_%dx%d" % (_fmt, _w, _h),
            _format_case(_fmt, _w, _h, _pattern))


# --- the writer and reader programs of test_caps_change_followed ---

CAPS_A = "video/x-raw,format=RGB,width=320,height=240,framerate=30/1"
CAPS_B = "video/x-raw,format=I420,width=640,height=480,framerate=30/1"


def writer_frames(k):
    """(caps, bytes) of every frame the writer sends: k of each caps, each
    frame's bytes drawn from a generator seeded with its number."""
    for i in range(2 * k):
        caps = CAPS_A if i < k else CAPS_B
        yield caps, random.Random(i).randbytes(frame_size(caps))


def hex_digest(data):
    import hashlib
    return hashlib.sha256(data).hexdigest()


def run_pipeline_until_eos(pipeline):
    bus = pipeline.get_bus()
    msg = bus.timed_pop_filtered(PROC_TIMEOUT * Gst.SECOND,
                                 Gst.MessageType.EOS | Gst.MessageType.ERROR)
    pipeline.set_state(Gst.State.NULL)
    if msg is None:
        sys.exit("no EOS")
    if msg.type == Gst.MessageType.ERROR:
        err, dbg = msg.parse_error()
        sys.exit("error: %s (%s)" % (err.message, dbg))


def writer_main(location, k):
    p = Gst.parse_launch("appsrc name=src format=time ! mmapsink "
                         "location=%s sync=true" % location)
    src = p.get_by_name("src")
    p.set_state(Gst.State.PLAYING)
    last = None
    for i, (caps, data) in enumerate(writer_frames(k)):
        if caps != last:
            src.set_property("caps", Gst.Caps.from_string(caps))
            last = caps
        buf = Gst.Buffer.new_wrapped(data)
        buf.pts = i * Gst.SECOND // 30
        buf.duration = Gst.SECOND // 30
        if src.emit("push-buffer", buf) != Gst.FlowReturn.OK:
            sys.exit("push-buffer failed at frame %d" % i)
    src.emit("end-of-stream")
    run_pipeline_until_eos(p)


def reader_main(location, out_path):
    p = Gst.parse_launch("mmapsrc location=%s ! appsink name=sink sync=false"
                         % location)
    sink = p.get_by_name("sink")
    bus = p.get_bus()
    p.set_state(Gst.State.PLAYING)
    while True:
        msg = bus.timed_pop_filtered(PROC_TIMEOUT * Gst.SECOND,
                                     Gst.MessageType.ELEMENT |
                                     Gst.MessageType.ERROR)
        if msg is None or msg.type == Gst.MessageType.ERROR:
            sys.exit("no mmapsrc-waiting message")
        if msg.get_structure().get_name() == "mmapsrc-waiting":
            break
    print("WAITING", flush=True)
    frames = []
    deadline = time.monotonic() + PROC_TIMEOUT
    while not sink.props.eos and time.monotonic() < deadline:
        sample = sink.emit("try-pull-sample", Gst.SECOND // 10)
        if sample is None:
            msg = bus.pop_filtered(Gst.MessageType.ERROR)
            if msg:
                err, dbg = msg.parse_error()
                sys.exit("error: %s (%s)" % (err.message, dbg))
            continue
        buf = sample.get_buffer()
        data = buf.extract_dup(0, buf.get_size())
        frames.append((sample.get_caps().to_string(), len(data),
                       hex_digest(data)))
    p.set_state(Gst.State.NULL)
    with open(out_path, "w") as f:
        json.dump(frames, f)
    if not sink.props.eos:
        sys.exit("no EOS after %d frames" % len(frames))


def _terminated(signum, frame):
    # meson's timeout: end the test as an error, so that tearDown still
    # stops the children and removes the files.
    raise SystemExit("terminated by signal %d" % signum)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _terminated)
    if len(sys.argv) > 1 and sys.argv[1] == "--writer":
        writer_main(sys.argv[2], int(sys.argv[3]))
    elif len(sys.argv) > 1 and sys.argv[1] == "--reader":
        reader_main(sys.argv[2], sys.argv[3])
    elif len(sys.argv) > 1 and sys.argv[1] == "--registered":
        cases = {n[len("test_"):] for n in
                 unittest.TestLoader().getTestCaseNames(TwoProcess)}
        missing = sorted(cases - set(sys.argv[2:]))
        unknown = sorted(set(sys.argv[2:]) - cases)
        print("%d cases, %d registered in tests/meson.build" %
              (len(cases), len(set(sys.argv[2:]) & cases)))
        if missing or unknown:
            sys.exit("not run by meson: %s; no such case: %s" %
                     (missing, unknown))
    else:
        unittest.main(verbosity=2)

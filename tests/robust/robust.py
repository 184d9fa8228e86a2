#!/usr/bin/python3
"""Process-level robustness tests of gst-mmap (issue 4): nothing a process
does to the shared file breaks another process.

Writers are killed, restarted with new caps, started twice at once;
readers are killed, frozen and slowed down next to a reader that must
miss nothing; files are planted at the location, cut short, patched with
absurd fields and scribbled on while in use.  Every process is a real
gst-launch-1.0, bench/mmapbench (stamped frames, checked page by page) or
a small GStreamer program of this script.

Run by meson (tests/robust/meson.build), one case per meson test:
    /usr/bin/python3 robust.py Robust.test_<case>
By hand from the source tree it uses build/plugin and build/bench/mmapbench
unless GST_PLUGIN_PATH and MMAPBENCH say otherwise.

Every process gets a timeout: a hang fails the test, it never blocks it.
The assertions are about what a user sees: bytes, frame counts, exit
codes and error text; nothing about how long things took.
"""

import json
import mmap
import os
import random
import signal
import stat
import struct
import sys
import time
import unittest

import robustlib as rl
from robustlib import log, wait_for, PROC_TIMEOUT

import gi  # noqa: E402

gi.require_version("Gst", "1.0")
gi.require_version("GstVideo", "1.0")
from gi.repository import Gst, GstVideo  # noqa: E402

Gst.init(None)

SELF = os.path.abspath(__file__)

# How long a process may take to stop after Ctrl-C: only a hang gets there.
STOP_TIMEOUT = 20

VGA_I420 = "video/x-raw,format=I420,width=640,height=480,framerate=60/1"
SMALL = "video/x-raw,format=I420,width=64,height=48,framerate=30/1"


def frame_size(caps_str):
    info = GstVideo.VideoInfo.new_from_caps(Gst.Caps.from_string(caps_str))
    return info.size


def caps_equal(a, b):
    return Gst.Caps.from_string(a).is_equal(Gst.Caps.from_string(b))


def caps_within(a, b):
    """Caps a are b, with whatever fields the source added."""
    return Gst.Caps.from_string(a).is_subset(Gst.Caps.from_string(b))


def rss_kib(pid):
    """VmRSS of a process in KiB (0 once it is gone)."""
    try:
        with open("/proc/%d/status" % pid) as f:
            return next(int(line.split()[1]) for line in f
                        if line.startswith("VmRSS:"))
    except (FileNotFoundError, StopIteration):
        return 0


def read_file(path):
    with open(path, "rb") as f:
        return f.read()


# --- frames with a per-frame byte pattern (pattern writer and reader) ---
#
# Frame i of writer generation `gen` is filled, every byte, with
# fill_byte(gen, i), and carries (gen << 32 | i) as its buffer offset,
# which mmapsink and mmapsrc pass on.  Consecutive frames differ in every
# byte, so a frame torn between two frames, or a payload that is not the
# frame its descriptor names, is never uniform with the right byte.


def fill_byte(gen, i):
    return 1 + (gen * 37 + i) % 251


def pattern_writer_main(loc, gen, fps, props, specs):
    """specs: "CAPS@N" each, N frames of those caps (0: until killed)."""
    sync = "true" if fps > 0 else "false"
    p = Gst.parse_launch("appsrc name=src format=time block=true max-bytes=1 "
                         "! mmapsink name=sink location=%s sync=%s %s" %
                         (loc, sync, props))
    src = p.get_by_name("src")
    bus = p.get_bus()
    p.set_state(Gst.State.PLAYING)
    period = Gst.SECOND // (fps or 30)
    i = 0
    for spec in specs:
        caps, n = spec.rsplit("@", 1)
        n = int(n)
        src.set_property("caps", Gst.Caps.from_string(caps))
        size = frame_size(caps)
        count = 0
        while n == 0 or count < n:
            i += 1
            buf = Gst.Buffer.new_wrapped(bytes([fill_byte(gen, i)]) * size)
            buf.pts = i * period
            buf.duration = period
            buf.offset = (gen << 32) | i
            if src.emit("push-buffer", buf) != Gst.FlowReturn.OK:
                break
            count += 1
            if i == 1:
                print("PUBLISHING", flush=True)
            msg = bus.pop_filtered(Gst.MessageType.ERROR)
            if msg:
                err, dbg = msg.parse_error()
                sys.exit("writer error: %s (%s)" % (err.message, dbg))
    src.emit("end-of-stream")
    msg = bus.timed_pop_filtered(PROC_TIMEOUT * Gst.SECOND,
                                 Gst.MessageType.EOS | Gst.MessageType.ERROR)
    p.set_state(Gst.State.NULL)
    if msg is None:
        sys.exit("writer: no EOS")
    if msg.type == Gst.MessageType.ERROR:
        err, dbg = msg.parse_error()
        sys.exit("writer error: %s (%s)" % (err.message, dbg))
    print("WROTE %d" % i, flush=True)


def pattern_reader_main(loc, status_path, props):
    """Reads until EOS, checking every frame, and keeps a summary in
    status_path (JSON, rewritten as it goes): frames per run of one
    writer generation with one caps, gaps, and damaged frames."""
    p = Gst.parse_launch("mmapsrc name=src location=%s %s ! appsink "
                         "name=sink sync=false" % (loc, props))
    sink = p.get_by_name("sink")
    bus = p.get_bus()
    stop = []
    signal.signal(signal.SIGINT, lambda *a: stop.append(1))
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    status = {"waiting": 0, "frames": 0, "damaged": 0, "damage": [],
              "segments": [], "eos": False, "error": None}
    sizes = {}
    last_write = [0.0]

    def write_status(force=False):
        now = time.monotonic()
        if not force and now - last_write[0] < 0.1:
            return
        last_write[0] = now
        tmp = status_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(status, f)
        os.replace(tmp, status_path)

    p.set_state(Gst.State.PLAYING)
    seg = None
    while not stop:
        msg = bus.pop_filtered(Gst.MessageType.ELEMENT |
                               Gst.MessageType.ERROR)
        if msg and msg.type == Gst.MessageType.ERROR:
            err, dbg = msg.parse_error()
            status["error"] = err.message
            write_status(True)
            p.set_state(Gst.State.NULL)
            sys.exit("reader error: %s (%s)" % (err.message, dbg))
        if msg and msg.get_structure().get_name() == "mmapsrc-waiting":
            status["waiting"] += 1
            print("WAITING", flush=True)
            write_status(True)
        sample = sink.emit("try-pull-sample", Gst.SECOND // 50)
        if sample is None:
            if sink.props.eos:
                status["eos"] = True
                break
            write_status()
            continue
        buf = sample.get_buffer()
        caps = sample.get_caps().to_string()
        if caps not in sizes:
            sizes[caps] = frame_size(caps)
        data = buf.extract_dup(0, buf.get_size())
        gen, i = buf.offset >> 32, buf.offset & 0xffffffff
        fill = bytes([fill_byte(gen, i)])
        if len(data) != sizes[caps] or data.count(fill) != len(data):
            status["damaged"] += 1
            if len(status["damage"]) < 10:
                status["damage"].append(
                    "generation %d frame %d: %d bytes (caps say %d), %d of "
                    "them 0x%02x" % (gen, i, len(data), sizes[caps],
                                     data.count(fill), fill[0]))
        if seg is None or seg["gen"] != gen or seg["caps"] != caps:
            seg = {"gen": gen, "caps": caps, "first": i, "last": i,
                   "count": 0, "gaps": 0, "backwards": 0}
            status["segments"].append(seg)
        elif i > seg["last"]:
            seg["gaps"] += i - seg["last"] - 1
        else:
            seg["backwards"] += 1
        seg["last"] = i
        seg["count"] += 1
        status["frames"] += 1
        write_status()
    p.set_state(Gst.State.NULL)
    write_status(True)
    if not status["eos"]:
        sys.exit("reader: stopped before EOS")


# --- a reader that opens the location in a tight loop ---


def check_file(data, real_size):
    """Why `data` (the first 8 KiB of a file of real_size bytes) is not a
    complete version 1 gst-mmap file (what mring_open checks), or None."""
    if real_size < rl.SLOT_DESC_OFFSET or len(data) < rl.HEADER_SIZE:
        return "only %d bytes" % real_size
    h = rl.parse_header(data)
    if h is None:
        return "no magic"
    if h["version"] != 1:
        return "version %d" % h["version"]
    if (h["header_size"], h["slot_desc_size"], h["reader_entry_size"],
            h["reader_table_offset"], h["slot_desc_offset"]) != (
                4096, 256, 64, 4096, 8192) or h["reader_count"] > 64:
        return "fixed sizes or offsets"
    if h["file_size"] > real_size:
        return "file_size %d > %d" % (h["file_size"], real_size)
    n = h["slot_count"]
    if not 2 <= n <= 64:
        return "slot_count %d" % n
    if (h["slot_data_offset"] < 8192 + n * 256 or h["slot_capacity"] >
            h["slot_stride"] or h["slot_data_offset"] + n *
            h["slot_stride"] > h["file_size"]):
        return "slots outside the file"
    if h["lease_limit"] >= n:
        return "lease_limit %d" % h["lease_limit"]
    caps = data[rl.CAPS_OFFSET:rl.CAPS_OFFSET + rl.CAPS_MAX]
    if h["caps_length"] >= rl.CAPS_MAX or caps.find(b"\0") != \
            h["caps_length"] or h["caps_length"] == 0:
        return "caps_length %d" % h["caps_length"]
    if h["state"] not in (rl.STATE_RUNNING, rl.STATE_GONE,
                          rl.STATE_REPLACED):
        return "state %d" % h["state"]
    return None


def open_poller_main(loc, status_path):
    stop = []
    signal.signal(signal.SIGINT, lambda *a: stop.append(1))
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    opens = valid = missing = 0
    inodes = set()
    errors = []
    print("POLLING", flush=True)
    while not stop:
        try:
            fd = os.open(loc, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            missing += 1
            continue
        try:
            st = os.fstat(fd)
            data = os.pread(fd, rl.SLOT_DESC_OFFSET, 0)
        finally:
            os.close(fd)
        opens += 1
        why = check_file(data, st.st_size)
        if why:
            if len(errors) < 20:
                errors.append("inode %d: %s" % (st.st_ino, why))
        else:
            valid += 1
            inodes.add(st.st_ino)
    with open(status_path, "w") as f:
        json.dump({"opens": opens, "valid": valid, "missing": missing,
                   "files": len(inodes), "errors": errors}, f)


# --- a process that scribbles on a live file ---


def flipper_main(loc, seed, seconds, regions):
    """Scribbles on the file at loc for `seconds`: each time a random byte
    XORed with a random value, or a whole random 4- or 8-byte word, half
    the time at a random place of one of `regions` (header: all of it;
    live: the words the writer changes as it publishes, slot log included;
    table: the reader table; desc: the slot descriptors), half the time in
    the slot log entry or the descriptor of the newest frame."""
    rng = random.Random(seed)
    fd = os.open(loc, os.O_RDWR)
    h = rl.read_header(loc)
    end = h["slot_data_offset"]
    mm = mmap.mmap(fd, end)
    ranges = {"header": (0, rl.HEADER_SIZE),
              "live": (128, rl.SLOT_LOG_OFFSET + 4 * rl.SLOT_LOG),
              "table": (rl.READER_TABLE_OFFSET, rl.SLOT_DESC_OFFSET),
              "desc": (rl.SLOT_DESC_OFFSET, end)}
    chosen = [ranges[r] for r in regions.split(",")]
    slots = h["slot_count"]
    flips = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if rng.randrange(2):
            lo, hi = rng.choice(chosen)
        else:
            # Where readers look next: the newest frame's slot log entry
            # and its slot's descriptor, just published.
            w = struct.unpack_from("<Q", mm, 144)[0]
            log_at = rl.SLOT_LOG_OFFSET + 4 * (w % rl.SLOT_LOG)
            idx = struct.unpack_from("<I", mm, log_at)[0]
            if rng.randrange(2) or idx >= slots:
                lo, hi = log_at, log_at + 4
            else:
                lo = rl.SLOT_DESC_OFFSET + idx * rl.SLOT_DESC_SIZE
                hi = lo + rl.SLOT_DESC_SIZE
        kind = rng.randrange(3)
        if kind == 0:
            off = rng.randrange(lo, hi)
            mm[off] ^= rng.randrange(1, 256)
        else:
            size = min(4 * kind, hi - lo)
            off = lo + (rng.randrange(hi - lo - size + 1) & ~(size - 1))
            mm[off:off + size] = os.urandom(size)
        flips += 1
        if flips % 8 == 0:
            time.sleep(0.001)
    print("FLIPPED %d" % flips, flush=True)


class Robust(rl.ProcessTestCase):

    def setUp(self):
        super().setUp()
        self.hung = []

    # --- helpers ---

    def python(self, name, *args):
        return self.proc(name, [sys.executable, SELF] + [str(a) for a in
                                                          args])

    def pattern_writer(self, name, gen, specs, fps=0, props="", loc=None):
        return self.python(name, "--pattern-writer", loc or self.loc, gen,
                           fps, props, *specs)

    def pattern_reader(self, name, props="", loc=None):
        r = self.python(name, "--pattern-reader", loc or self.loc,
                        self.path(name + ".json"), props)
        r.status_path = self.path(name + ".json")
        return r

    def status(self, reader):
        try:
            with open(reader.status_path) as f:
                return json.load(f)
        except (FileNotFoundError, ValueError):
            return None

    def frames_of(self, reader, gen):
        s = self.status(reader)
        return sum(seg["count"] for seg in (s or {}).get("segments", [])
                   if seg["gen"] == gen)

    def wait_frames(self, reader, gen, n):
        def enough():
            if not reader.alive():
                self.fail("%s exited\n%s" % (reader.name, reader.describe()))
            return self.frames_of(reader, gen) >= n
        wait_for("%s to get %d frames of writer %d" % (reader.name, n, gen),
                 enough)

    def wait_published(self, writer, n=1, loc=None):
        """The header of the writer's file once it has published n frames
        (of this writer, in this file)."""
        loc = loc or self.loc

        def published():
            if not writer.alive():
                self.fail("%s exited\n%s" % (writer.name, writer.describe()))
            h = rl.read_header(loc)
            if h and h["writer_pid"] == writer.pid and \
                    h["state"] == rl.STATE_RUNNING and \
                    h["write_seq"] >= h["base_seq"] + n:
                return h
            return None
        return wait_for("%s to publish %d frames" % (writer.name, n),
                        published)

    def crashed_writer_file(self, loc, caps=SMALL, slots=4, frames=3):
        """A real file left by a writer killed with SIGKILL after it
        published `frames` frames: state RUNNING, nobody holds the lock."""
        w = self.launch("crashed-writer-" + os.path.basename(loc),
                        "videotestsrc is-live=true ! %s ! mmapsink "
                        "location=%s slots=%d" % (caps, loc, slots))
        self.wait_published(w, frames, loc)
        w.p.send_signal(signal.SIGKILL)
        w.wait()
        h = rl.read_header(loc)
        self.assertEqual((h["state"], h["writer_pid"]),
                         (rl.STATE_RUNNING, w.pid))
        self.assertFalse(rl.locked_by_other(loc),
                         "a killed writer's lock is still held")
        return h

    def refused_writer(self, name, loc, caps=SMALL, options=()):
        """Starts a writer on loc and returns its stderr once it has
        exited non-zero (it must)."""
        w = self.launch(name, "videotestsrc num-buffers=30 ! %s ! mmapsink "
                        "location=%s" % (caps, loc), *options)
        rc = w.wait()
        self.assertNotEqual(rc, 0, "%s was not refused\n%s" %
                            (name, w.describe()))
        self.assert_not_signalled(w)
        err = w.stderr()
        self.assertIn(loc, err, "%s: the error does not name the file\n%s"
                      % (name, w.describe()))
        return rc, err

    def first_error_line(self, proc):
        for line in proc.stderr().splitlines():
            if "ERROR" in line or "error" in line:
                return line.strip()
        return proc.stderr().strip().splitlines()[0] if \
            proc.stderr().strip() else ""

    def stop_launch(self, proc, expected=0):
        """Ctrl-C for a gst-launch-1.0 -e process: EOS, then exit."""
        self.assertTrue(proc.alive(), "%s already exited\n%s" %
                        (proc.name, proc.describe()))
        proc.p.send_signal(signal.SIGINT)
        rc = proc.wait()
        self.assert_not_signalled(proc)
        if expected is not None:
            self.assertEqual(rc, expected, "%s exited with %d after "
                             "Ctrl-C\n%s" % (proc.name, rc,
                                             proc.describe()))
        return rc

    def hoarder(self, name, max_leases=4):
        """A zero-copy reader whose downstream holds on to buffers: a
        queue in front of a slow element keeps up to max_leases slots
        leased all the time."""
        return self.launch(name, "mmapsrc location=%s max-leases=%d ! queue "
                           "max-size-buffers=%d max-size-bytes=0 "
                           "max-size-time=0 ! identity sleep-time=100000 ! "
                           "fakesink sync=false" %
                           (self.loc, max_leases, max_leases), "-e")

    def wait_leases(self, proc, n):
        def holds():
            if not proc.alive():
                self.fail("%s exited\n%s" % (proc.name, proc.describe()))
            return rl.leases_of(self.loc, proc.pid) >= n
        wait_for("%s to lease %d slots" % (proc.name, n), holds)

    def freeze_holding(self, proc, n):
        """SIGSTOPs proc at a moment it leases n slots (checked while it
        is stopped)."""
        for _ in range(50):
            self.wait_leases(proc, n)
            proc.p.send_signal(signal.SIGSTOP)
            time.sleep(0.05)
            held = rl.leases_of(self.loc, proc.pid)
            if held >= n:
                return held
            proc.p.send_signal(signal.SIGCONT)
        self.fail("could not freeze %s while it leased %d slots" %
                  (proc.name, n))

    def check_steady(self, reader, writer_last, what):
        """A reader's window: every frame, intact, none skipped, up to
        the writer's last frame."""
        w = reader.stop_window()
        n = 0
        while w["last_seq"] < writer_last and n < 20 and reader.alive():
            # Still catching up with the writer's last frame: another
            # window, whose gaps count too.
            before = w
            reader.start_window()
            time.sleep(0.5)
            w = reader.stop_window()
            for k in ("missed", "reordered", "frames", "damaged"):
                w[k] += before[k]
            w["element_stats"]["frames-skipped"] += \
                before["element_stats"]["frames-skipped"]
            n += 1
        self.assertEqual(w["damaged"], 0, "%s: %s got damaged frames\n%s" %
                         (what, reader.name, reader.describe()))
        self.assertEqual((w["missed"], w["element_stats"]["frames-skipped"],
                          w["reordered"]), (0, 0, 0),
                         "%s: %s missed frames (or got them out of order): "
                         "%s" % (what, reader.name, w))
        self.assertGreaterEqual(w["last_seq"], writer_last,
                                "%s: %s did not get the writer's last frame"
                                % (what, reader.name))
        self.assertGreater(w["frames"], 0)
        return w

    def check_writer_window(self, writer, what):
        w = writer.stop_window()
        st = w["element_stats"]
        self.assertEqual(st["frames-dropped"], 0, "%s: the writer dropped "
                         "frames: %s" % (what, w))
        # Every frame it produced was published (one may be between the
        # stamp and the publication when the window closes).
        self.assertLessEqual(abs(st["frames-written"] - w["frames"]), 1,
                             "%s: the writer published %d of the %d frames "
                             "it produced" % (what, st["frames-written"],
                                              w["frames"]))
        self.assertGreater(w["frames"], 0)
        return w

    # --- 1. writers killed and restarted ---

    def test_writer_killed_readers_follow_new_caps(self):
        caps_a = "video/x-raw,format=I420,width=640,height=480,framerate=30/1"
        caps_b = "video/x-raw,format=RGB,width=320,height=240,framerate=30/1"
        caps_c = "video/x-raw,format=NV12,width=352,height=288,framerate=30/1"
        readers = [self.pattern_reader("reader-zero-copy"),
                   self.pattern_reader("reader-copy", "zero-copy=false")]
        conv = self.launch("reader-convert", "mmapsrc location=%s ! "
                           "videoconvert ! video/x-raw,format=RGBA ! "
                           "fakesink" % self.loc, "-m")
        for r in readers:
            wait_for("%s to wait for a writer" % r.name,
                     lambda: "WAITING" in r.stdout() or not r.alive())
            self.assert_alive(r)

        # Writer 1, as fast as it goes, killed in mid-stream.
        w1 = self.pattern_writer("writer1", 1, [caps_a + "@0"])
        for r in readers:
            self.wait_frames(r, 1, 200)
        ino1 = os.stat(self.loc).st_ino
        w1.p.send_signal(signal.SIGKILL)
        w1.wait()
        h = rl.read_header(self.loc)
        self.assertEqual((h["state"], h["writer_pid"]),
                         (rl.STATE_RUNNING, w1.pid))
        self.assertFalse(rl.locked_by_other(self.loc))
        # The readers notice that their writer died, and wait.
        for r in readers:
            wait_for("%s to notice the dead writer" % r.name,
                     lambda: r.stdout().count("WAITING") >= 2 or
                     not r.alive())
        self.assert_alive(*readers, conv)

        # Writer 2 takes over the crashed writer's file, new caps, and is
        # killed too.
        w2 = self.pattern_writer("writer2", 2, [caps_b + "@0"])
        for r in readers:
            self.wait_frames(r, 2, 200)
        self.assertNotEqual(os.stat(self.loc).st_ino, ino1)
        w2.p.send_signal(signal.SIGKILL)
        w2.wait()
        self.assert_alive(*readers, conv)

        # Writer 3, paced, ends with EOS: the readers get all its frames
        # and end.
        n3 = 45
        w3 = self.pattern_writer("writer3", 3, [caps_c + "@%d" % n3], fps=90)
        self.assert_exit(w3)
        for r in readers:
            self.assert_exit(r)
            s = self.status(r)
            self.assertEqual(s["damaged"], 0, "%s got damaged frames: %s" %
                             (r.name, s["damage"]))
            gens = [seg["gen"] for seg in s["segments"]]
            self.assertEqual(gens, sorted(gens), "%s went back to an older "
                             "writer's frames: %s" % (r.name, gens))
            self.assertEqual(sorted(set(gens)), [1, 2, 3], r.name)
            for gen, caps in ((1, caps_a), (2, caps_b), (3, caps_c)):
                segs = [seg for seg in s["segments"] if seg["gen"] == gen]
                self.assertTrue(all(caps_equal(seg["caps"], caps)
                                    for seg in segs),
                                "%s: writer %d's frames came with caps %s, "
                                "not %s" % (r.name, gen,
                                            [seg["caps"] for seg in segs],
                                            caps))
                self.assertTrue(all(seg["backwards"] == 0 for seg in segs))
            last = [seg for seg in s["segments"] if seg["gen"] == 3]
            self.assertEqual((len(last), last[0]["first"], last[0]["count"],
                              last[0]["gaps"]), (1, 1, n3, 0),
                             "%s did not get all %d frames of the last "
                             "writer, in order: %s" % (r.name, n3, last))
        self.assert_exit(conv)
        self.assertIn("Got EOS from element", conv.stdout())
        self.assert_clean_location()
        log("checked: 2 readers (zero-copy and copying) and a videoconvert "
            "reader followed a writer killed with SIGKILL, a second one "
            "over its stale file with new caps (%s), also killed, and a "
            "third with other caps (%s): no damaged frame in %s frames, "
            "all %d frames of the last writer, exit 0 on its EOS" %
            (caps_b, caps_c, [self.status(r)["frames"] for r in readers],
             n3))

    def test_stale_file_taken_over(self):
        caps = "video/x-raw,format=I420,width=160,height=120,framerate=60/1"
        cases = ["as the crashed writer left it",
                 "cut to 5000 bytes", "cut to 12288 bytes",
                 "marked format version 2"]
        for what in cases:
            h = self.crashed_writer_file(self.loc)
            if what.startswith("cut to"):
                os.truncate(self.loc, int(what.split()[2]))
            elif "version 2" in what:
                rl.patch_header(self.loc, "version", 2)
            old_ino = os.stat(self.loc).st_ino
            w = self.launch("writer", "videotestsrc is-live=true ! %s ! "
                            "mmapsink location=%s" % (caps, self.loc), "-e")
            nh = self.wait_published(w, 1)
            self.assertNotEqual(os.stat(self.loc).st_ino, old_ino)
            self.assertTrue(caps_within(nh["caps"], caps), nh["caps"])
            r = self.launch("reader", "mmapsrc location=%s num-buffers=5 ! "
                            "fakesink" % self.loc)
            self.assert_exit(r)
            self.stop_launch(w)
            self.assert_clean_location()
            log("checked: a crashed writer's file (pid %d, state RUNNING, "
                "unlocked) %s: a new writer took the location without "
                "help, a reader got 5 frames, and the clean stop left "
                "nothing" % (h["writer_pid"], what))

    # --- 2. killed, frozen and slow readers next to a steady one ---

    def test_frozen_reader_with_leases_costs_nothing(self):
        w = self.bench("writer", "writer", fps=60)
        steady = [self.bench("steady-copy", "reader",
                             props="zero-copy=false"),
                  self.bench("steady-zero-copy", "reader")]
        self.wait_ready(w, *steady)
        limit = rl.read_header(self.loc)["lease_limit"]
        # A zero-copy reader that leases every slot readers may lease,
        # frozen with them.
        hoard = self.hoarder("frozen-zero-copy", max_leases=limit)
        held = self.freeze_holding(hoard, limit)
        # Slow readers, a frozen copying one.
        slow = [self.launch("slow-zero-copy", "mmapsrc location=%s ! "
                            "identity sleep-time=50000 ! fakesink" %
                            self.loc, "-e"),
                self.launch("slow-copy", "mmapsrc location=%s zero-copy=false"
                            " ! identity sleep-time=50000 ! fakesink" %
                            self.loc, "-e")]
        frozen = self.launch("frozen-copy", "mmapsrc location=%s "
                             "zero-copy=false ! fakesink" % self.loc, "-e")
        time.sleep(0.5)
        frozen.p.send_signal(signal.SIGSTOP)
        for b in [w] + steady:
            b.start_window()
        # Readers killed in mid-stream while all that goes on.
        for i in range(4):
            k = self.launch("killed%d" % i, "mmapsrc location=%s max-leases=2"
                            " ! queue ! fakesink" % self.loc)
            time.sleep(0.4)
            self.assert_alive(k)
            k.p.send_signal(signal.SIGKILL)
            k.wait()
        time.sleep(1)
        self.assertEqual(rl.leases_of(self.loc, hoard.pid), held,
                         "the frozen reader's leases changed")
        self.assertEqual(rl.read_header(self.loc)["leases_held"], limit)
        ww = self.check_writer_window(w, "frozen, slow and killed readers")
        for s in steady:
            self.check_steady(s, ww["last_seq"],
                              "frozen, slow and killed readers")
        # Thawed, the frozen readers carry on; all stop cleanly.
        hoard.p.send_signal(signal.SIGCONT)
        frozen.p.send_signal(signal.SIGCONT)
        time.sleep(0.3)
        for p in [hoard, frozen] + slow:
            self.stop_launch(p)
        for b in [w] + steady:
            self.assertEqual(b.quit(), 0, b.describe())
            self.assertEqual(b.total_damaged(), 0, b.describe())
        log("checked: a reader frozen with all %d slots readers may lease, "
            "a frozen copying reader, 2 slow readers and 4 readers killed "
            "in mid-stream: the writer published all %d frames of the "
            "window (0 dropped), both steady readers got every one of them "
            "intact (0 missed, 0 skipped)" % (held, ww["frames"]))

    def test_killed_reader_leases_reclaimed(self):
        w = self.bench("writer", "writer", fps=60)
        steady = self.bench("steady", "reader", props="zero-copy=false")
        self.wait_ready(w, steady)
        limit = rl.read_header(self.loc)["lease_limit"]
        w.start_window()
        steady.start_window()
        # Frozen while it leases all that readers may, so that nobody else
        # can lease until it is gone; then killed.
        hoard = self.hoarder("hoarder", max_leases=limit)
        self.freeze_holding(hoard, limit)
        probe = self.bench("probe", "reader")
        self.wait_ready(probe)
        probe.start_window()
        time.sleep(1)
        before = probe.stop_window()
        self.assertEqual(before["element_stats"]["frames-zero-copy"], 0,
                         "a reader leased a slot while another held all %d "
                         "a reader may: %s" % (limit, before))
        self.assertGreater(before["frames"], 0)

        hoard.p.send_signal(signal.SIGKILL)
        hoard.wait()
        dead = rl.leases_of(self.loc, hoard.pid)
        self.assertGreater(dead, 0, "the reader died without leases: the "
                           "test proves nothing")
        # The writer takes the dead reader's leases back.
        wait_for("the dead reader's leases to be reclaimed",
                 lambda: rl.read_header(self.loc)["leases_held"] < limit and
                 rl.leases_of(self.loc, hoard.pid) == 0)
        probe.start_window()
        late = self.bench("late", "reader")
        self.wait_ready(late)
        late.start_window()
        time.sleep(1)
        after = probe.stop_window()
        late_w = late.stop_window()
        for name, win in (("the reader started before", after),
                          ("a reader started after", late_w)):
            self.assertGreater(win["element_stats"]["frames-zero-copy"], 0,
                               "%s the kill cannot lease: %s" % (name, win))
            self.assertEqual(win["damaged"], 0)
        ww = self.check_writer_window(w, "a reader killed with leases")
        self.check_steady(steady, ww["last_seq"], "a reader killed with "
                          "leases")
        for b in (w, steady, probe, late):
            self.assertEqual(b.quit(), 0, b.describe())
        log("checked: a reader killed while it leased %d slots (the "
            "limit, %d): the writer reclaimed them, readers then leased "
            "again (%d and %d zero-copy frames in 1 s, 0 before); the "
            "writer dropped nothing, a steady reader missed nothing" %
            (dead, limit, after["element_stats"]["frames-zero-copy"],
             late_w["element_stats"]["frames-zero-copy"]))

    # --- 3. two writers ---

    def test_second_writer_refused(self):
        w1 = self.bench("writer1", "writer", fps=30)
        r = self.bench("reader", "reader")
        self.wait_ready(w1, r)
        ino = os.stat(self.loc).st_ino
        w1.start_window()
        r.start_window()
        busy = "in use by another writer (pid %d)" % w1.pid
        attempts = [
            ("the same caps", "video/x-raw,format=I420,width=640,"
             "height=480,framerate=30/1", False),
            ("other caps", "video/x-raw,format=RGB,width=320,height=240",
             False),
            ("while the first is frozen (SIGSTOP)", SMALL, True),
        ]
        for what, caps, freeze in attempts:
            if freeze:
                w1.p.send_signal(signal.SIGSTOP)
            rc, err = self.refused_writer("writer2", self.loc, caps)
            if freeze:
                w1.p.send_signal(signal.SIGCONT)
            self.assertIn(busy, err, what)
            log("checked: a second writer (%s) exited %d with %r" %
                (what, rc, self.first_error_line(self.procs[-1])))
            self.assertEqual(os.stat(self.loc).st_ino, ino)
        time.sleep(0.5)
        self.assertEqual(rl.read_header(self.loc)["writer_pid"], w1.pid)
        ww = self.check_writer_window(w1, "second writers")
        rw = self.check_steady(r, ww["last_seq"], "second writers")
        self.assertEqual(rw["element_stats"]["writers-seen"], 0)
        self.assertEqual(w1.quit(), 0)
        self.assertEqual(r.quit(), 0)
        self.assert_clean_location()
        log("checked: the first writer (pid %d) kept its file and "
            "published all %d frames; its reader got all of them intact "
            "and saw no other writer" % (w1.pid, ww["frames"]))

    def test_simultaneous_writers_one_wins(self):
        for rnd in range(5):
            loc = self.location("-race%d" % rnd)
            ws = [self.launch("writer%d-%d" % (rnd, i),
                              "videotestsrc is-live=true ! %s ! mmapsink "
                              "location=%s" % (SMALL, loc), "-e")
                  for i in range(3)]
            wait_for("two writers of three to give up",
                     lambda: sum(not w.alive() for w in ws) >= 2)
            time.sleep(0.2)
            alive = [w for w in ws if w.alive()]
            self.assertEqual(len(alive), 1, "round %d: %d writers of 3 "
                             "survive\n%s" % (rnd, len(alive), "\n".join(
                                 w.describe() for w in ws)))
            winner = alive[0]
            for w in ws:
                if w is winner:
                    continue
                self.assertNotEqual(w.wait(), 0)
                self.assert_not_signalled(w)
                self.assertIn(loc, w.stderr(), w.describe())
                self.assertTrue(
                    "in use by another writer (pid %d)" % winner.pid in
                    w.stderr() or "created by another writer" in w.stderr(),
                    w.describe())
            self.wait_published(winner, 3, loc)
            r = self.launch("reader%d" % rnd, "mmapsrc location=%s "
                            "num-buffers=5 ! fakesink" % loc)
            self.assert_exit(r)
            self.stop_launch(winner)
            self.assert_clean_location(loc)
        log("checked: 5 times, 3 writers started at once on a fresh "
            "location: one won, the others exited non-zero naming the file "
            "and the winner; a reader got the winner's frames")

    # --- 4. creating the file safely ---

    def test_file_mode(self):
        modes = [(None, 0o600, 0o022), ("0640", 0o640, 0o077),
                 ("0666", 0o666, 0o077), ("0604", 0o604, 0o022)]
        for prop, expected, umask in modes:
            w = self.launch("writer", "videotestsrc is-live=true ! %s ! "
                            "mmapsink location=%s %s" %
                            (SMALL, self.loc, "file-mode=" + prop if prop
                             else ""), "-e", umask=umask)
            self.wait_published(w, 1)
            mode = stat.S_IMODE(os.stat(self.loc).st_mode)
            self.assertEqual(mode, expected, "file-mode=%s (umask %04o): "
                             "the file has mode %04o" % (prop, umask, mode))
            self.stop_launch(w)
            log("checked: file-mode=%s under umask %04o: mode %04o" %
                (prop or "(default)", umask, mode))
        # A new file for new caps keeps the mode.
        w = self.pattern_writer("writer", 1, [SMALL + "@5",
                                              VGA_I420 + "@0"],
                                fps=30, props="file-mode=0640")
        wait_for("the second file", lambda: (rl.read_header(self.loc) or
                                             {}).get("caps", "").startswith(
            "video/x-raw, format=(string)I420, width=(int)640") or
            not w.alive())
        self.assertEqual(stat.S_IMODE(os.stat(self.loc).st_mode), 0o640)
        log("checked: the file a caps change made has mode 0640 too")

    def test_symlink_never_followed(self):
        target = self.path("target.bin")
        content = os.urandom(8192)
        with open(target, "wb") as f:
            f.write(content)
        os.chmod(target, 0o644)
        stale = self.location("-stale")
        self.crashed_writer_file(stale)
        with open(stale, "rb") as f:
            stale_content = f.read()
        targets = [("a regular file", target, content),
                   ("nothing (dangling)", self.path("nothing"), None),
                   ("a crashed writer's gst-mmap file", stale,
                    stale_content),
                   ("a directory", self.tmpdir, None)]
        for what, dest, before in targets:
            st = os.stat(dest) if os.path.exists(dest) else None
            os.symlink(dest, self.loc)
            rc, err = self.refused_writer("writer", self.loc)
            self.assertIn("symbolic link", err, what)
            self.assertTrue(os.path.islink(self.loc), "%s: the link at the "
                            "location is gone" % what)
            self.assertEqual(os.readlink(self.loc), dest)
            if before is None and what.startswith("nothing"):
                self.assertFalse(os.path.exists(dest),
                                 "the writer created the link's target")
            elif before is not None:
                with open(dest, "rb") as f:
                    self.assertEqual(f.read(), before,
                                     "%s: the link's target changed" % what)
                st2 = os.stat(dest)
                self.assertEqual((st.st_ino, st.st_mode, st.st_mtime_ns),
                                 (st2.st_ino, st2.st_mode, st2.st_mtime_ns),
                                 what)
            os.unlink(self.loc)
            self.assert_clean_location()
            log("checked: a symbolic link to %s at the location: the "
                "writer exited %d with %r, the target is untouched" %
                (what, rc, self.first_error_line(self.procs[-1])))

    def test_foreign_file_refused(self):
        cases = [("64 KiB of random bytes", os.urandom(65536)),
                 ("an empty file", b""),
                 ("a short text file", b"hello, I am not a ring\n"),
                 ("8 KiB of zeros", bytes(8192)),
                 ("a file that starts with GSTMMAPX",
                  b"GSTMMAPX" + os.urandom(20000)),
                 ("one of /usr/bin's programs", read_file("/usr/bin/true"))]
        for what, content in cases:
            with open(self.loc, "wb") as f:
                f.write(content)
            os.chmod(self.loc, 0o640)
            st = os.stat(self.loc)
            rc, err = self.refused_writer("writer", self.loc)
            self.assertIn("not a gst-mmap file", err, what)
            with open(self.loc, "rb") as f:
                self.assertEqual(f.read(), content,
                                 "%s: the file changed" % what)
            st2 = os.stat(self.loc)
            self.assertEqual((st.st_ino, st.st_mode, st.st_mtime_ns),
                             (st2.st_ino, st2.st_mode, st2.st_mtime_ns))
            os.unlink(self.loc)
            self.assert_clean_location()
            log("checked: %s at the location: the writer exited %d with "
                "%r, the file is byte-identical" %
                (what, rc, self.first_error_line(self.procs[-1])))
        for what, make in (("a directory", os.mkdir),
                           ("a FIFO", os.mkfifo)):
            make(self.loc)
            rc, err = self.refused_writer("writer", self.loc)
            self.assertTrue("not a regular file" in err or
                            "Is a directory" in err, what)
            os.rmdir(self.loc) if what == "a directory" else \
                os.unlink(self.loc)
            log("checked: %s at the location: the writer exited %d with %r"
                % (what, rc, self.first_error_line(self.procs[-1])))

    def test_never_half_initialised(self):
        poller = self.python("poller", "--open-poller", self.loc,
                             self.path("poller.json"))
        wait_for("the poller", lambda: "POLLING" in poller.stdout() or
                 not poller.alive())
        reader = self.launch("reader", "mmapsrc location=%s "
                             "eos-on-writer-eos=false ! fakesink" % self.loc,
                             "-e", "-m")
        caps = ["video/x-raw,format=I420,width=%d,height=%d,framerate=30/1"
                % (w, h) for w, h in ((64, 48), (320, 240), (96, 64))]
        writers = 0
        for i in range(24):
            kind = i % 4
            c = caps[i % 3]
            if kind == 0:
                w = self.launch("writer", "videotestsrc num-buffers=5 ! %s "
                                "! mmapsink location=%s sync=false" %
                                (c, self.loc))
                self.assert_exit(w)
            elif kind == 1:
                w = self.launch("writer", "videotestsrc is-live=true ! %s ! "
                                "mmapsink location=%s" % (c, self.loc))
                self.wait_published(w, 1)
                w.p.send_signal(signal.SIGKILL)
                w.wait()
            elif kind == 2:
                w = self.pattern_writer("writer", i, [s + "@3" for s in
                                                      caps])
                self.assert_exit(w)
            else:
                w = self.launch("writer", "videotestsrc is-live=true ! %s ! "
                                "mmapsink location=%s" % (c, self.loc))
                time.sleep(random.uniform(0, 0.15))
                w.p.send_signal(signal.SIGKILL)
                w.wait()
            writers += 1
            self.assert_alive(poller, reader)
        poller.p.send_signal(signal.SIGINT)
        self.assertEqual(poller.wait(), 0, poller.describe())
        with open(self.path("poller.json")) as f:
            st = json.load(f)
        self.assertEqual(st["errors"], [], "a reader opened a file that "
                         "was not whole: %s" % st)
        self.assertGreaterEqual(st["files"], 18, "the poller saw only %d "
                                "files: %s" % (st["files"], st))
        self.stop_launch(reader)
        self.assertNotIn("ERROR", reader.stdout() + reader.stderr())
        log("checked: %d writers started, restarted, changed caps and were "
            "killed; a reader opening the location in a loop opened %d "
            "times %d different files and never found one half made; an "
            "mmapsrc following them all never failed" %
            (writers, st["opens"], st["files"]))

    # --- 5. bad files to the reader ---

    def run_readers_on(self, files, wait_s=1.5):
        """One `gst-launch-1.0 -e -m mmapsrc location=F ! fakesink` per
        file, all at once; those still running after wait_s get Ctrl-C.
        Returns {name: (proc, exited_by_itself)}."""
        procs = {}
        for name, path in files.items():
            procs[name] = self.launch("reader-" + name, "mmapsrc location=%s"
                                      " ! fakesink" % path, "-e", "-m")
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline and \
                any(p.alive() for p in procs.values()):
            time.sleep(0.05)
        out = {}
        stopping = {}
        for name, p in procs.items():
            if p.alive():
                stopping[name] = rss_kib(p.pid)
                p.p.send_signal(signal.SIGINT)
        for name, p in procs.items():
            try:
                p.wait(STOP_TIMEOUT)
            except AssertionError:
                # Reported with the others below.
                self.hung.append("%s did not stop within %d s of Ctrl-C "
                                 "(VmRSS %d MiB when it got it)\n%s" %
                                 (name, STOP_TIMEOUT, stopping[name] // 1024,
                                  p.describe()))
                continue
            self.assert_not_signalled(p)
            out[name] = (p, name not in stopping)
        return out

    def assert_none_hung(self):
        if self.hung:
            self.fail("\n".join(self.hung))

    def assert_refused(self, results, reasons):
        for name, (p, by_itself) in results.items():
            err = p.stderr()
            self.assertTrue(by_itself, "%s: the reader did not stop on its "
                            "own\n%s" % (name, p.describe()))
            self.assertNotEqual(p.rc, 0, "%s: exit 0\n%s" %
                                (name, p.describe()))
            path = p.argv[p.argv.index("mmapsrc") + 1].split("=", 1)[1]
            self.assertIn(path, err, "%s: the error does not name the "
                          "file\n%s" % (name, p.describe()))
            self.assertTrue(any(r in err for r in reasons[name]),
                            "%s: the error says none of %r\n%s" %
                            (name, reasons[name], p.describe()))
            log("checked: %s: the reader exited %d with %r" %
                (name, p.rc, self.first_error_line(p)))
        self.assert_none_hung()

    def template(self):
        """A real file: 4 slots of 64x48 I420, a few frames published."""
        loc = self.location("-template")
        h = self.crashed_writer_file(loc)
        with open(loc, "rb") as f:
            return f.read(), h

    def test_garbage_empty_truncated_refused(self):
        data, h = self.template()
        files, reasons = {}, {}

        def add(name, content, why):
            path = self.path(name)
            with open(path, "wb") as f:
                f.write(content)
            files[name] = path
            reasons[name] = why

        add("random-64k", os.urandom(65536), ["not a gst-mmap file"])
        add("empty", b"", ["too short", "not a gst-mmap file"])
        add("text", b"hello\n", ["too short", "not a gst-mmap file"])
        add("magic-then-random", b"GSTMMAP\0" + os.urandom(65536),
            ["format version", "invalid header", "truncated",
             "invalid slot count", "slots outside", "lease limit",
             "caps"])
        size = len(data)
        for cut in sorted({7, 8, 100, 4095, 4096, 8191, 8192, 9000,
                           h["slot_data_offset"], h["slot_data_offset"] + 1,
                           size - 4096, size - 1}):
            add("cut-%d" % cut, data[:cut], ["too short", "truncated"])
        os.mkfifo(self.path("fifo"))
        files["fifo"] = self.path("fifo")
        reasons["fifo"] = ["not a regular file"]
        self.assert_refused(self.run_readers_on(files), reasons)
        log("checked: %d bad files, the reader exited non-zero naming the "
            "file and the reason each time, never by a signal" % len(files))

    def test_absurd_header_fields_refused(self):
        data, h = self.template()
        caps_off = rl.CAPS_OFFSET

        def new_caps(text):
            # Valid as a string (length and NUL agree), whatever it says.
            return [("caps_length", len(text)),
                    (caps_off, text.ljust(rl.CAPS_MAX, b"\0"))]

        patches = {
            # name: ([(field, value) | (offset, bytes)], reasons)
            "slot_count-0": ([("slot_count", 0)], ["invalid slot count"]),
            "slot_count-1": ([("slot_count", 1)], ["invalid slot count"]),
            "slot_count-65": ([("slot_count", 65)], ["invalid slot count"]),
            "slot_count-max": ([("slot_count", 2**32 - 1)],
                               ["invalid slot count"]),
            "stride-huge": ([("slot_stride", 2**62)], ["slots outside"]),
            "stride-max": ([("slot_stride", 2**64 - 1)], ["slots outside"]),
            "stride-file-size": ([("slot_stride", len(data))],
                                 ["slots outside"]),
            "capacity-over-stride": ([("slot_capacity",
                                       h["slot_stride"] + 1)],
                                     ["slots outside"]),
            "data-offset-beyond-end": ([("slot_data_offset", len(data) +
                                         4096)], ["slots outside"]),
            "data-offset-max": ([("slot_data_offset", 2**64 - 4096)],
                                ["slots outside"]),
            "data-offset-in-descriptors": ([("slot_data_offset", 8192)],
                                           ["slots outside"]),
            "file_size-huge": ([("file_size", 2**63)], ["truncated"]),
            "version-2": ([("version", 2)], ["format version 2"]),
            "version-0": ([("version", 0)], ["format version 0"]),
            "header_size": ([("header_size", 8192)], ["invalid header"]),
            "desc-offset": ([("slot_desc_offset", 4096)],
                            ["invalid header"]),
            "reader_count-65": ([("reader_count", 65)], ["invalid header"]),
            "lease_limit": ([("lease_limit", h["slot_count"])],
                            ["lease limit"]),
            "caps-unterminated": ([("caps_length", rl.CAPS_MAX - 1),
                                   (caps_off, b"x" * rl.CAPS_MAX)],
                                  ["invalid caps string"]),
            "caps_length-max": ([("caps_length", 2**32 - 1)],
                                ["invalid caps string"]),
            "caps_length-short": ([("caps_length", 3)],
                                  ["invalid caps string"]),
            "caps-not-caps": (new_caps(b"not caps!"),
                              ["not valid fixed caps"]),
            "caps-empty": (new_caps(b""), ["not valid fixed caps"]),
            "caps-not-fixed": (new_caps(b"video/x-raw, width=(int)[1,10]"),
                               ["not valid fixed caps"]),
            "caps-bigger-than-slots": (
                new_caps(b"video/x-raw,format=I420,width=3840,height=2160,"
                         b"framerate=30/1"), ["cannot hold frames"]),
        }
        files, reasons = {}, {}
        for name, (changes, why) in patches.items():
            path = self.path(name)
            with open(path, "wb") as f:
                f.write(data)
            for field, value in changes:
                if isinstance(field, int):
                    rl.patch(path, field, "%ds" % len(value), value)
                else:
                    rl.patch_header(path, field, value)
            files[name] = path
            reasons[name] = why
        # Half of them with a live writer's lock held (as if a writer had
        # made the file), half without (a crashed writer's): validation
        # comes first either way.
        locks = [rl.hold_writer_lock(p) for i, p in
                 enumerate(sorted(files.values())) if i % 2]
        try:
            self.assert_refused(self.run_readers_on(files), reasons)
        finally:
            for fd in locks:
                os.close(fd)
        log("checked: %d files with absurd header fields: the reader "
            "exited non-zero naming the file and the reason each time" %
            len(files))

    def test_absurd_descriptors_under_live_lock(self):
        data, h = self.template()
        w = h["write_seq"]
        slot = h["slot_log"][w % rl.SLOT_LOG]
        desc = [
            # name, changes, "error" (must fail naming the file) or "go on"
            ("size-huge", [(slot, "size", 2**63)], "error"),
            ("size-capacity+1", [(slot, "size", h["slot_capacity"] + 1)],
             "error"),
            ("n_planes-5", [(slot, "n_planes", 5)], "error"),
            ("n_planes-max", [(slot, "n_planes", 2**32 - 1)], "error"),
            ("plane-offset-beyond", [(slot, "plane_offset",
                                      [0, 2**63, 2**63, 0])], "error"),
            ("stride-0", [(slot, "plane_stride", [0, 32, 32, 0])], "error"),
            ("stride-negative", [(slot, "plane_stride", [-64, 32, 32, 0])],
             "error"),
            ("stride-huge", [(slot, "plane_stride", [2**31 - 1, 32, 32, 0])],
             "error"),
            ("size-0", [(slot, "size", 0)], "error"),
        ]
        hdr = [
            ("slot_log-out-of-range", [("slot_log", 200)], "go on"),
            ("write_seq-below-base", [("base_seq", 10), ("write_seq", 3)],
             "error"),
            # Refused: no writer can have published 2^64 - 1 frames.
            ("write_seq-max", [("write_seq", 2**64 - 1)], "error"),
            ("lock-odd", [(slot, "lock", 1)], "go on"),
            ("seq-other", [(slot, "seq", w + 1000)], "go on"),
        ]
        files, expect, fds = {}, {}, []
        for name, changes, what in desc + hdr:
            path = self.path(name)
            with open(path, "wb") as f:
                f.write(data)
            for change in changes:
                if change[0] == "slot_log":
                    rl.patch(path, rl.SLOT_LOG_OFFSET + 4 * (w % 64), "I",
                             change[1])
                elif isinstance(change[0], str):
                    rl.patch_header(path, *change)
                else:
                    rl.patch_desc(path, *change)
            # A live writer holds the file: the reader reads frames.
            fds.append(rl.hold_writer_lock(path))
            files[name] = path
            expect[name] = what
        try:
            results = self.run_readers_on(files)
        finally:
            for fd in fds:
                os.close(fd)
        for name, (p, by_itself) in results.items():
            if expect[name] == "error":
                self.assertTrue(by_itself and p.rc != 0, "%s: the reader "
                                "did not fail\n%s" % (name, p.describe()))
                self.assertIn(files[name], p.stderr(), p.describe())
                self.assertTrue("outside its slot" in p.stderr() or
                                "below base_seq" in p.stderr() or
                                "out of range" in p.stderr(),
                                p.describe())
            else:
                self.assertFalse(by_itself, "%s: the reader stopped\n%s" %
                                 (name, p.describe()))
                self.assertEqual(p.rc, 0, p.describe())
            log("checked: %s under a live lock: the reader %s (exit %d)%s" %
                (name, "failed" if by_itself else "kept waiting, Ctrl-C "
                 "ended it", p.rc, ": %r" % self.first_error_line(p)
                 if by_itself else ""))
        self.assert_none_hung()

    def test_no_writer_states_wait(self):
        data, h = self.template()
        states = {"running-unlocked": rl.STATE_RUNNING,
                  "gone": rl.STATE_GONE, "init": rl.STATE_INIT,
                  "replaced": rl.STATE_REPLACED, "state-77": 77}
        files = {}
        for name, state in states.items():
            path = self.path(name)
            with open(path, "wb") as f:
                f.write(data)
            rl.patch_header(path, "state", state)
            files[name] = path
        results = self.run_readers_on(files, wait_s=2)
        for name, (p, by_itself) in results.items():
            self.assertFalse(by_itself, "%s: the reader stopped\n%s" %
                             (name, p.describe()))
            self.assertEqual(p.rc, 0, p.describe())
            self.assertIn("mmapsrc-waiting", p.stdout(), p.describe())
            log("checked: a file in state %s with no writer: the reader "
                "waited, Ctrl-C ended it with exit 0" % name)
        self.assert_none_hung()

    def test_live_bytes_flipped(self):
        seed = int(os.environ.get("ROBUST_SEED", random.randrange(1 << 30)))
        w = self.bench("writer", "writer", fps=60)
        readers = [self.bench("reader-zero-copy", "reader"),
                   self.bench("reader-copy", "reader",
                              props="zero-copy=false")]
        self.wait_ready(w, *readers)
        launches = [self.launch("launch-zero-copy", "mmapsrc location=%s ! "
                                "videoconvert ! fakesink" % self.loc, "-e"),
                    self.launch("launch-copy", "mmapsrc location=%s "
                                "zero-copy=false ! fakesink" % self.loc,
                                "-e")]
        time.sleep(0.5)
        flipper = self.python("flipper", "--flipper", self.loc, seed, 4,
                              "header,live,table,desc")
        self.assertEqual(flipper.wait(), 0, flipper.describe())
        # What the bench readers get once the scribbling has stopped (a
        # figure, not a requirement: a reader the writer's file misled
        # may be waiting for a frame number that is far ahead).
        after = {}
        for r in readers:
            if r.alive():
                r.start_window()
        time.sleep(1)
        for r in readers:
            if r.alive():
                after[r.name] = r.stop_window()["frames"]
        outcome = []
        for p in readers + launches:
            if p.alive():
                if isinstance(p, rl.Bench):
                    p.quit()
                else:
                    p.p.send_signal(signal.SIGINT)
                    p.wait()
            else:
                p.wait()
            self.assert_not_signalled(p)
            if p.rc != 0:
                self.assertIn(self.loc, p.stderr(), "%s failed without "
                              "naming the file\n%s" % (p.name,
                                                       p.describe()))
            outcome.append("%s exit %d%s" % (
                p.name, p.rc, " (%d frames in the second after)" %
                after[p.name] if p.name in after else ""))
        self.assert_alive(w)
        self.assertEqual(w.quit(), 0, w.describe())
        log("checked: %s random bytes of the live header, reader table "
            "and slot descriptors flipped for 4 s (seed %d, ROBUST_SEED "
            "to repeat): no process crashed; %s; the writer exited 0" %
            (flipper.stdout().split()[-1], seed, ", ".join(outcome)))

    def test_write_seq_jump_reader_recovers(self):
        # Another process writes a frame number far ahead into write_seq
        # for a moment; the writer then goes on with its own numbers.
        w = self.bench("writer", "writer", fps=60)
        readers = [self.bench("reader-zero-copy", "reader"),
                   self.bench("reader-copy", "reader",
                              props="zero-copy=false")]
        self.wait_ready(w, *readers)
        off = rl.HEADER_FIELDS["write_seq"][0]
        fd = os.open(self.loc, os.O_RDWR)
        try:
            mm = mmap.mmap(fd, rl.HEADER_SIZE)
            deadline = time.monotonic() + 0.3
            while time.monotonic() < deadline:
                seq = struct.unpack_from("<Q", mm, off)[0]
                if seq < 1 << 40:
                    struct.pack_into("<Q", mm, off, seq + 1000)
                time.sleep(0.0005)
            mm.close()
        finally:
            os.close(fd)
        for r in readers:
            r.start_window()
        time.sleep(1)
        problems = []
        for r in readers:
            if not r.alive():
                r.wait()
                self.assert_not_signalled(r)
                if r.rc == 0 or self.loc not in r.stderr():
                    problems.append("%s exited %d without an error naming "
                                    "the file" % (r.name, r.rc))
                continue
            win = r.stop_window()
            if win["frames"] == 0:
                problems.append("%s is alive but gets no frame in the "
                                "second after (the writer published up to "
                                "frame %d)" % (r.name, rl.read_header(
                                    self.loc)["write_seq"]))
            self.assertEqual(win["damaged"], 0)
        if problems:
            self.fail("write_seq 1000 frames ahead for 0.3 s:\n" +
                      "\n".join(problems))
        self.assertEqual(w.quit(), 0)
        for r in readers:
            r.quit()
        log("checked: write_seq set 1000 frames ahead for 0.3 s by another "
            "process: both readers got the writer's frames again")

    def truncate_rounds(self, readers, w):
        h = rl.read_header(self.loc)
        sizes = [0, 8192, 4096, h["file_size"] - 4096,
                 h["slot_data_offset"] + h["slot_stride"]]
        for size in sizes:
            ino = os.stat(self.loc).st_ino
            os.truncate(self.loc, size)
            # The writer notices, and makes a new file.
            wait_for("the writer to replace the file cut to %d bytes" % size,
                     lambda: not w.alive() or (os.path.exists(self.loc) and
                                               os.stat(self.loc).st_ino !=
                                               ino))
            self.assert_alive(w)
            time.sleep(0.3)
        return sizes

    def test_truncated_under_readers_no_sigbus(self):
        w = self.bench("writer", "writer", fps=60)
        readers = [self.bench("reader-zero-copy", "reader"),
                   self.bench("reader-copy", "reader",
                              props="zero-copy=false")]
        self.wait_ready(w, *readers)
        launches = [self.launch("launch-zero-copy", "mmapsrc location=%s ! "
                                "fakesink" % self.loc, "-e"),
                    self.launch("launch-copy", "mmapsrc location=%s "
                                "zero-copy=false ! fakesink" % self.loc,
                                "-e")]
        time.sleep(0.5)
        sizes = self.truncate_rounds(readers, w)
        outcome = []
        for p in readers + launches:
            if p.alive():
                if isinstance(p, rl.Bench):
                    p.quit()
                else:
                    p.p.send_signal(signal.SIGINT)
                    p.wait()
            else:
                p.wait()
            self.assert_not_signalled(p)
            if p.rc != 0:
                self.assertIn(self.loc, p.stderr(), p.describe())
            outcome.append("%s exit %d" % (p.name, p.rc))
        self.assertEqual(w.quit(), 0, w.describe())
        self.assert_not_signalled(w)
        log("checked: the live file cut to %s bytes in turn under zero-copy "
            "and copying readers: none died of SIGBUS (%s); the writer made "
            "a new file each time and exited 0" % (sizes, ", ".join(outcome)))

    def test_truncated_live_file_readers_resume(self):
        w = self.bench("writer", "writer", fps=60)
        readers = [self.bench("reader-zero-copy", "reader"),
                   self.bench("reader-copy", "reader",
                              props="zero-copy=false")]
        self.wait_ready(w, *readers)
        sizes = self.truncate_rounds(readers, w)
        problems = []
        # A copying reader checks each copy after making it: what it
        # outputs is a frame the writer published, whole.  (A zero-copy
        # reader's buffers are the file: what is cut from under them is
        # lost, and counted here only as a figure.)
        damage = readers[1].damage_reports()
        if damage:
            problems.append("the copying reader output damaged frames:\n  " +
                            "\n  ".join(damage))
        for r in readers:
            if not r.alive():
                r.wait()
                problems.append("%s exited %d: %s" % (
                    r.name, r.rc, "; ".join(
                        line for line in r.stderr().splitlines()
                        if "error" in line)))
                continue
            r.start_window()
            time.sleep(0.5)
            win = r.stop_window()
            if win["frames"] == 0:
                problems.append("%s gets no frames from the writer's new "
                                "file" % r.name)
        self.assert_not_signalled(w)
        if problems:
            self.fail("the live file cut to %s bytes in turn, with the "
                      "writer replacing it each time:\n%s" %
                      (sizes, "\n".join(problems)))
        self.assertEqual(w.quit(), 0)
        zc_damaged = []
        for r in readers:
            self.assertEqual(r.quit(), 0, r.describe())
            zc_damaged.append(r.total_damaged())
        log("checked: the live file cut to %s bytes in turn: both readers "
            "kept running and got the writer's frames from its new file; "
            "the copying one never output a damaged frame (the zero-copy "
            "one: %d)" % (sizes, zc_damaged[0]))

    # --- 6. leaks ---

    def test_nothing_left_after_clean_stop(self):
        caps = SMALL
        # EOS at the end of the stream, with readers.
        rs = [self.launch("reader", "mmapsrc location=%s ! fakesink" %
                          self.loc),
              self.launch("reader-copy", "mmapsrc location=%s zero-copy=false"
                          " ! fakesink" % self.loc)]
        w = self.launch("writer", "videotestsrc num-buffers=20 ! %s ! "
                        "mmapsink location=%s" % (caps, self.loc))
        self.assert_exit(w)
        for r in rs:
            self.assert_exit(r)
        self.assert_clean_location()
        log("checked: writer EOS (num-buffers), 2 readers: nothing left")
        for opts, what in ((("-e",), "Ctrl-C with EOS (-e)"),
                           ((), "Ctrl-C without EOS")):
            w = self.launch("writer", "videotestsrc is-live=true ! %s ! "
                            "mmapsink location=%s" % (caps, self.loc), *opts)
            self.wait_published(w, 2)
            w.p.send_signal(signal.SIGINT)
            self.assertIn(w.wait(), (0, 1), w.describe())
            self.assert_not_signalled(w)
            self.assert_clean_location()
            log("checked: writer stopped by %s: nothing left" % what)
        w = self.pattern_writer("writer", 1, [caps + "@3", VGA_I420 + "@3",
                                              caps + "@3"])
        self.assert_exit(w)
        self.assert_clean_location()
        log("checked: writer that made 3 files (caps changes), then EOS: "
            "nothing left")
        self.crashed_writer_file(self.loc)
        w = self.launch("writer", "videotestsrc num-buffers=5 ! %s ! "
                        "mmapsink location=%s" % (caps, self.loc))
        self.assert_exit(w)
        self.assert_clean_location()
        log("checked: writer that took over a crashed writer's file, then "
            "EOS: nothing left")
        w1 = self.launch("writer1", "videotestsrc is-live=true ! %s ! "
                         "mmapsink location=%s" % (caps, self.loc), "-e")
        self.wait_published(w1, 1)
        self.refused_writer("writer2", self.loc)
        d, base = os.path.split(self.loc)
        self.assertEqual([n for n in os.listdir(d) if n.startswith(
            "." + base + ".")], [], "the refused writer left a temporary "
            "file")
        self.stop_launch(w1)
        self.assert_clean_location()
        log("checked: a refused second writer left no temporary file, the "
            "first one nothing at its clean stop")

    def test_reader_follows_30_restarts_no_leak(self):
        # Under AddressSanitizer (scripts/test.sh's sanitize step), memory
        # that was freed stays in its quarantine and counts in VmRSS.
        env = dict(os.environ)
        if "libasan" in env.get("LD_PRELOAD", ""):
            env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + \
                ":quarantine_size_mb=0"
        # fakesink without its last sample: that one buffer would keep a
        # zero-copy reader's previous file mapped until the next frame.
        readers = [self.launch("reader-zero-copy", "mmapsrc location=%s "
                               "eos-on-writer-eos=false ! fakesink "
                               "enable-last-sample=false" % self.loc,
                               "-m", "-e", env=env),
                   self.launch("reader-copy", "mmapsrc location=%s "
                               "eos-on-writer-eos=false zero-copy=false ! "
                               "fakesink enable-last-sample=false" %
                               self.loc, "-m", "-e", env=env)]
        caps = ["video/x-raw,format=I420,width=320,height=240,"
                "framerate=100/1",
                "video/x-raw,format=RGB,width=160,height=120,framerate=100/1",
                "video/x-raw,format=NV12,width=640,height=480,"
                "framerate=100/1"]

        def fds(p):
            out = []
            for fd in os.listdir("/proc/%d/fd" % p.pid):
                try:
                    out.append(os.readlink("/proc/%d/fd/%s" % (p.pid, fd))
                               .split("[")[0])
                except FileNotFoundError:
                    pass
            return sorted(out)

        def usage(p):
            # Once it has let go of the last writer's file (a reader that
            # finds a file its writer just left waits up to 100 ms before
            # it looks again): a file it never lets go of fails here.
            wait_for("%s to close the last writer's file" % p.name,
                     lambda: not any(t in (self.loc, self.loc + " (deleted)")
                                     for t in fds(p)),
                     timeout=10)
            return fds(p), rss_kib(p.pid)

        def saw(r, w, then_waited):
            out = r.stdout()
            at = out.find("pid=(uint)%d" % w.pid)
            return not r.alive() or (at >= 0 and (
                not then_waited or "mmapsrc-waiting" in out[at:]))

        for r in readers:
            wait_for("%s to wait" % r.name,
                     lambda: "mmapsrc-waiting" in r.stdout() or
                     not r.alive())
        seen = {}
        for n in range(1, 31):
            c = caps[n % 3]
            # 5 writers are killed (not 5 and 30: a reader keeps the file
            # of a writer that died open, as it should, until the next one
            # comes).
            if n % 6 == 3:
                w = self.launch("writer%d" % n, "videotestsrc is-live=true ! "
                                "%s ! mmapsink location=%s" % (c, self.loc))
                self.wait_published(w, 5)
                for r in readers:
                    wait_for("%s to see writer %d" % (r.name, n),
                             lambda: saw(r, w, False))
                w.p.send_signal(signal.SIGKILL)
                w.wait()
            else:
                w = self.launch("writer%d" % n, "videotestsrc num-buffers=10"
                                " ! %s ! mmapsink location=%s" %
                                (c, self.loc))
                self.assert_exit(w)
            for r in readers:
                wait_for("%s to follow writer %d and wait again" %
                         (r.name, n), lambda: saw(r, w, True))
                self.assert_alive(r)
            if n in (5, 30):
                seen[n] = [usage(r) for r in readers]
        for r, (fd5, rss5), (fd30, rss30) in zip(readers, seen[5],
                                                  seen[30]):
            self.assertEqual(len(fd30), len(fd5), "%s: %d fds after 5 "
                             "writers (%s), %d after 30 (%s)" %
                             (r.name, len(fd5), fd5, len(fd30), fd30))
            self.assertLess(rss30 - rss5, 8 * 1024, "%s: VmRSS %d KiB after "
                            "5 writers, %d KiB after 30" %
                            (r.name, rss5, rss30))
            log("checked: %s followed 30 writers (5 of them killed): %d "
                "fds after writer 5 and after writer 30, VmRSS %d -> %d KiB"
                % (r.name, len(fd5), rss5, rss30))
        for r in readers:
            self.stop_launch(r)


def _check_registered(names):
    cases = {n[len("test_"):] for n in
             unittest.TestLoader().getTestCaseNames(Robust)}
    missing = sorted(cases - set(names))
    unknown = sorted(set(names) - cases)
    print("%d cases, %d registered in tests/robust/meson.build" %
          (len(cases), len(set(names) & cases)))
    if missing or unknown:
        sys.exit("not run by meson: %s; no such case: %s" %
                 (missing, unknown))


if __name__ == "__main__":
    rl.install_sigterm_handler()
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    if mode == "--pattern-writer":
        pattern_writer_main(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]),
                            sys.argv[5], sys.argv[6:])
    elif mode == "--pattern-reader":
        pattern_reader_main(sys.argv[2], sys.argv[3], sys.argv[4])
    elif mode == "--open-poller":
        open_poller_main(sys.argv[2], sys.argv[3])
    elif mode == "--flipper":
        flipper_main(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]),
                     sys.argv[5])
    elif mode == "--registered":
        _check_registered(sys.argv[2:])
    else:
        unittest.main(verbosity=2)

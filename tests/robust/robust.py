#!/usr/bin/python3
"""Process-level robustness tests of gst-mmap (issue 4): nothing a process
does to the shared file breaks another process.

Writers are killed, restarted with new caps, started twice at once;
readers are killed, frozen and slowed down next to a reader that must
miss nothing; files are planted at the location, cut short, patched with
absurd fields and scribbled on while in use.  Every process is a real
gst-launch-1.0, bench/mmapbench (stamped frames, checked page by page) or
a small GStreamer program of this script; the Python module mmapring
reads next to them, and a process running as another user (nobody) does
what a user who may only read the stream can do.

The file is format version 2 (docs/FORMAT.md).  Every offset a case reads
or patches comes from mmapring.layout, through robustlib's field tables.
Where a case of the version 1 suites tested behaviour version 2 no longer
has, it was rewritten to what version 2 promises, and says so.

Run by meson (tests/robust/meson.build), one case per meson test:
    /usr/bin/python3 robust.py Robust.test_<case>
By hand from the source tree it uses build/plugin, build/bench/mmapbench
and build/python unless GST_PLUGIN_PATH, MMAPBENCH and PYTHONPATH say
otherwise (`meson devenv -C BUILD` sets all but MMAPBENCH).

Every process gets a timeout: a hang fails the test, it never blocks it.
The assertions are about what a user sees: bytes, frame counts, exit
codes and error text; nothing about how long things took.
"""

import json
import mmap
import os
import random
import re
import shutil
import signal
import stat
import struct
import sys
import time
import unittest

import robustlib as rl
from robustlib import layout, log, wait_for, PROC_TIMEOUT

import gi  # noqa: E402

gi.require_version("Gst", "1.0")
gi.require_version("GstVideo", "1.0")
from gi.repository import Gst, GstVideo  # noqa: E402

Gst.init(None)

SELF = os.path.abspath(__file__)
# What a user who may only read the stream does, run as `nobody`.
READONLY_USER = os.path.join(os.path.dirname(SELF), "readonly_user.py")

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


def gst_text(text):
    """gst-launch-1.0 -m output with GstStructure's escapes undone
    ("a\\ b" is "a b")."""
    return re.sub(r"\\(.)", r"\1", text)


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
    """specs: "CAPS@N" each, N frames of those caps (0: until killed), or
    "GATE": print "GATE k" (k counting from 1) and wait for a line on
    stdin before going on, publishing nothing meanwhile."""
    sync = "true" if fps > 0 else "false"
    p = Gst.parse_launch("appsrc name=src format=time block=true max-bytes=1 "
                         "! mmapsink name=sink location=%s sync=%s %s" %
                         (loc, sync, props))
    src = p.get_by_name("src")
    bus = p.get_bus()
    p.set_state(Gst.State.PLAYING)
    period = Gst.SECOND // (fps or 30)
    i = 0
    gates = 0
    for spec in specs:
        if spec == "GATE":
            gates += 1
            print("GATE %d %d" % (gates, i), flush=True)
            if not sys.stdin.readline():
                sys.exit("writer: stdin closed at gate %d" % gates)
            continue
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
    writer generation with one caps, gaps, damaged frames, the
    mmapsrc-skipped messages (skipped, total, resume-frame) and, at the
    end, mmapsrc's stats."""
    p = Gst.parse_launch("mmapsrc name=src location=%s %s ! appsink "
                         "name=sink sync=false" % (loc, props))
    sink = p.get_by_name("sink")
    bus = p.get_bus()
    stop = []
    signal.signal(signal.SIGINT, lambda *a: stop.append(1))
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    status = {"waiting": 0, "frames": 0, "damaged": 0, "damage": [],
              "segments": [], "eos": False, "error": None,
              "skipped_messages": [], "stats": None}
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

    def messages():
        while True:
            msg = bus.pop_filtered(Gst.MessageType.ELEMENT |
                                   Gst.MessageType.ERROR)
            if msg is None:
                return
            if msg.type == Gst.MessageType.ERROR:
                err, dbg = msg.parse_error()
                status["error"] = err.message
                write_status(True)
                p.set_state(Gst.State.NULL)
                sys.exit("reader error: %s (%s)" % (err.message, dbg))
            st = msg.get_structure()
            if st.get_name() == "mmapsrc-waiting":
                status["waiting"] += 1
                print("WAITING", flush=True)
                write_status(True)
            elif st.get_name() == "mmapsrc-skipped":
                status["skipped_messages"].append(
                    [st.get_uint64(k)[1] for k in ("skipped", "total",
                                                   "resume-frame")])

    def stats():
        st = src.get_property("stats")
        return {st.nth_field_name(k): st.get_value(st.nth_field_name(k))
                for k in range(st.n_fields())}

    src = p.get_by_name("src")
    p.set_state(Gst.State.PLAYING)
    seg = None
    while not stop:
        messages()
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
    # The stats go with the library's reader at stop: taken before.
    status["stats"] = stats()
    messages()
    p.set_state(Gst.State.NULL)
    write_status(True)
    if not status["eos"]:
        sys.exit("reader: stopped before EOS")


# --- a reader of the Python module ---


def pyreader_main(loc, count, zero_copy, stop_on_eos):
    """Reads `loc` with the Python module's Reader and prints a line
    per frame: "FRAME seq skipped frames_read frames_skipped writer_id
    leased offset"; "LOOKED" once it has looked at the location; "WAITING
    reason" when the reason it waits changes; "EOS"; and at the end, after
    `count` frames (0: until Ctrl-C), EOS with stop_on_eos, or SIGINT or
    SIGTERM, "STATS frames_read frames_skipped frames_leased"."""
    import mmapring
    stop = []
    signal.signal(signal.SIGINT, lambda *a: stop.append(1))
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    r = mmapring.Reader(loc, stop_on_eos=stop_on_eos, zero_copy=zero_copy)
    n = 0
    reason = None
    looked = False
    while not stop and (count == 0 or n < count):
        f = r.read(0.05)
        if not looked:
            print("LOOKED", flush=True)
            looked = True
        if r.waiting_reason != reason:
            reason = r.waiting_reason
            if reason:
                print("WAITING %s" % reason, flush=True)
        if f is None:
            if r.eos:
                print("EOS", flush=True)
                break
            continue
        n += 1
        print("FRAME %d %d %d %d %d %d %d" % (
            f.seq, f.skipped, r.frames_read, r.frames_skipped, f.writer_id,
            int(f.leased), f.offset), flush=True)
        f.close()
    print("STATS %d %d %d" % (r.frames_read, r.frames_skipped,
                              r.frames_leased), flush=True)
    r.close()


def pyreader_frames(proc):
    """The FRAME lines of a pyreader_main process, as dicts."""
    keys = ("seq", "skipped", "read", "total_skipped", "writer_id", "leased",
            "offset")
    return [dict(zip(keys, map(int, line.split()[1:])))
            for line in proc.stdout().splitlines()
            if line.startswith("FRAME ")]


def pyreader_stats(proc):
    """(frames_read, frames_skipped, frames_leased) of its STATS line, or
    None."""
    for line in proc.stdout().splitlines():
        if line.startswith("STATS "):
            return tuple(map(int, line.split()[1:]))
    return None


# --- a reader that opens the location in a tight loop ---


def check_file(fd, real_size):
    """Why the file open at fd (of real_size bytes) is not a complete,
    valid version 2 gst-mmap file (the checks of FORMAT.md section 6 a
    reader makes before trusting it, and a state a public name never
    has), or None."""
    data = os.pread(fd, rl.HEADER_SIZE, 0)
    if len(data) < 8:
        return "only %d bytes" % len(data)
    h = rl.parse_header(data)
    if h is None:
        return "no magic" if len(data) >= rl.HEADER_SIZE else \
            "only %d bytes" % len(data)
    if h["version"] != layout.FORMAT_VERSION:
        return "version %d" % h["version"]
    if h["file_size"] > real_size:
        return "file_size %d > %d" % (h["file_size"], real_size)
    if (h["header_size"], h["slot_desc_size"], h["reader_entry_size"],
            h["reader_table_offset"], h["slot_desc_offset"]) != (
                rl.HEADER_SIZE, rl.SLOT_DESC_SIZE, rl.READER_ENTRY_SIZE,
                rl.READER_TABLE_OFFSET, rl.SLOT_DESC_OFFSET) or \
            h["reader_count"] > rl.READER_MAX:
        return "fixed sizes or offsets"
    n = h["slot_count"]
    if not layout.SLOTS_MIN <= n <= layout.SLOTS_MAX:
        return "slot_count %d" % n
    desc_end = rl.SLOT_DESC_OFFSET + n * rl.SLOT_DESC_SIZE
    caps_end = h["caps_offset"] + h["caps_length"] + 1
    if h["caps_length"] == 0 or h["caps_length"] >= rl.CAPS_MAX or \
            h["caps_offset"] < desc_end or caps_end > h["file_size"]:
        return "caps at %d, %d bytes" % (h["caps_offset"], h["caps_length"])
    if (h["slot_data_offset"] % layout.PAGE_SIZE or
            h["slot_data_offset"] < caps_end or
            h["slot_capacity"] > h["slot_stride"] or
            h["slot_data_offset"] + n * h["slot_stride"] > h["file_size"]):
        return "slots outside the file"
    if h["lease_limit"] >= n:
        return "lease_limit %d" % h["lease_limit"]
    if not 1 <= h["lock_base"] <= 2**63 - 65:
        return "lock_base %d" % h["lock_base"]
    caps = os.pread(fd, h["caps_length"] + 1, h["caps_offset"])
    if len(caps) != h["caps_length"] + 1 or caps.find(b"\0") != \
            h["caps_length"]:
        return "caps string not %d bytes and a NUL" % h["caps_length"]
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
            why = check_file(fd, st.st_size)
        finally:
            os.close(fd)
        opens += 1
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
              "live": (rl.LIVE_START, rl.LIVE_END),
              "table": (rl.READER_TABLE_OFFSET, rl.SLOT_DESC_OFFSET),
              "desc": (rl.SLOT_DESC_OFFSET, end)}
    chosen = [ranges[r] for r in regions.split(",")]
    slots = h["slot_count"]
    ws_off = rl.HEADER_FIELDS["write_seq"][0]
    flips = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if rng.randrange(2):
            lo, hi = rng.choice(chosen)
        else:
            # Where readers look next: the newest frame's slot log entry
            # and its slot's descriptor, just published.
            w = struct.unpack_from("<Q", mm, ws_off)[0]
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

    def python(self, name, *args, stdin=False):
        return self.proc(name, [sys.executable, SELF] + [str(a) for a in
                                                          args],
                         stdin=stdin)

    def pattern_writer(self, name, gen, specs, fps=0, props="", loc=None):
        """With "GATE" in specs it stops there until self.open_gate()."""
        return self.python(name, "--pattern-writer", loc or self.loc, gen,
                           fps, props, *specs, stdin="GATE" in specs)

    def wait_gate(self, writer, k):
        """Frames the pattern writer had pushed when it reached gate k."""
        def at_gate():
            if not writer.alive():
                self.fail("%s exited\n%s" % (writer.name,
                                              writer.describe()))
            for line in writer.stdout().splitlines():
                if line.startswith("GATE %d " % k):
                    return line
            return None
        return int(wait_for("%s to reach gate %d" % (writer.name, k),
                            at_gate).split()[2])

    def open_gate(self, writer):
        self.assertTrue(writer.send("go"), writer.describe())

    def py_reader(self, name, loc=None, count=0, zero_copy=False,
                  stop_on_eos=False):
        """A reader of the Python module (see pyreader_main)."""
        return self.python(name, "--py-reader", loc or self.loc, count,
                           int(zero_copy), int(stop_on_eos))

    def wait_py_frames(self, reader, n):
        def enough():
            if not reader.alive() and len(pyreader_frames(reader)) < n:
                self.fail("%s exited\n%s" % (reader.name,
                                              reader.describe()))
            return len(pyreader_frames(reader)) >= n
        wait_for("%s to get %d frames" % (reader.name, n), enough)
        return pyreader_frames(reader)

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
        self.assertFalse(rl.writer_lock_held(loc),
                         "a killed writer's lock is still held")
        # Its lock file stays for the next writer, which nobody owns.
        self.assertIs(rl.location_owned(loc), False,
                      "the killed writer's lock file is missing or owned")
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
        # Ours is the only error: not GstBaseSink's "Failed to start" too.
        self.assertNotIn("failed to post a proper error message", err,
                         "%s: a second, generic error\n%s" %
                         (name, w.describe()))
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
        self.assertFalse(rl.writer_lock_held(self.loc))
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
        # Version 2 takes over a dead writer's file of any version, valid
        # or damaged (FORMAT.md 3 and 17): the version 1 suite's "marked
        # format version 2" (a newer version) is now version 1 (an older
        # writer's) and an unknown version 9.  Read locks anyone holds on
        # the file never stop a writer (FORMAT.md 11).
        cases = ["as the crashed writer left it",
                 "cut to 5000 bytes", "cut to 12288 bytes",
                 "marked format version 1", "marked format version 9",
                 "read-locked (byte 0 and the whole file) by a reader"]
        for what in cases:
            h = self.crashed_writer_file(self.loc)
            locks = []
            if what.startswith("cut to"):
                os.truncate(self.loc, int(what.split()[2]))
            elif "version" in what:
                rl.patch_header(self.loc, "version", int(what.split()[-1]))
            elif what.startswith("read-locked"):
                for start, length in ((0, 1), (0, 0)):
                    fd = os.open(self.loc, os.O_RDONLY)
                    rl.take_read_lock(fd, start, length)
                    locks.append(fd)
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
            for fd in locks:
                os.close(fd)
            self.assert_clean_location()
            log("checked: a crashed writer's file (pid %d, state RUNNING, "
                "unlocked, its lock file left) %s: a new writer took the "
                "location without help, a reader got 5 frames, and the "
                "clean stop left nothing (lock file included)" %
                (h["writer_pid"], what))

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
        # Version 2 has no leases_held counter: the leases are the bits
        # of every entry.  A reader trying to lease sets its bit before it
        # counts and backs off (FORMAT.md 15), and one killed in between
        # leaves it until the writer reclaims its entry: what must settle
        # is that nobody but the frozen reader holds a lease.
        wait_for("nobody but the frozen reader to lease (%d leased in all, "
                 "%d by it)" % (rl.leases_total(self.loc), held),
                 lambda: rl.leases_total(self.loc) == held)
        self.assertEqual(held, limit)
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
                 lambda: rl.leases_total(self.loc) < limit and
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
                # Version 2: writers exclude each other through the lock
                # file, so a loser learns the winner's pid from its data
                # file, which the winner may not have made yet.
                busy = re.search(r"in use by another writer \((pid \d+|"
                                 r"which has not created its file yet)\)",
                                 w.stderr())
                self.assertTrue(busy, w.describe())
                self.assertIn(busy.group(1), (
                    "pid %d" % winner.pid,
                    "which has not created its file yet"), w.describe())
            self.wait_published(winner, 3, loc)
            r = self.launch("reader%d" % rnd, "mmapsrc location=%s "
                            "num-buffers=5 ! fakesink" % loc)
            self.assert_exit(r)
            self.stop_launch(winner)
            self.assert_clean_location(loc)
        log("checked: 5 times, 3 writers started at once on a fresh "
            "location: one won, the others exited non-zero naming the file "
            "and the winner; a reader got the winner's frames")
        # The same moment made to last: a writer that owns the location
        # but has no caps yet, so no file of its own, over a crashed
        # writer's file.  The refused writer may not know the owner's pid;
        # it must not name the dead one.
        loc = self.location("-owner-without-file")
        dead = self.crashed_writer_file(loc)
        owner = self.launch("owner", "appsrc is-live=true ! mmapsink "
                            "location=%s" % loc)
        wait_for("the owner to take the location",
                 lambda: rl.location_owned(loc) or not owner.alive())
        self.assert_alive(owner)
        rc, err = self.refused_writer("refused", loc)
        busy = re.search(r"in use by another writer \((pid \d+|which has "
                         r"not created its file yet)\)", err)
        self.assertTrue(busy, err)
        self.assertNotEqual(
            busy.group(1), "pid %d" % dead["writer_pid"],
            "BUG (lib/writer.c, describe_busy): the refused writer names the "
            "pid in the header of the file at the path, which is the dead "
            "writer's (pid %d), not the owner's (pid %d), because the owner "
            "has not made its file yet\n%s" % (dead["writer_pid"], owner.pid,
                                               err))
        self.assertIn(busy.group(1), ("pid %d" % owner.pid,
                                      "which has not created its file yet"))
        owner.kill()
        log("checked: a writer refused by an owner that has not made its "
            "file yet, over a dead writer's file: %r" % busy.group(0))

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
            # The lock file: only the write bits, and the owner's
            # (FORMAT.md 3): who may only read the stream cannot open it.
            lmode = stat.S_IMODE(os.stat(rl.lock_path(self.loc)).st_mode)
            self.assertEqual(lmode, (expected & 0o222) | 0o200,
                             "file-mode=%s (umask %04o): the lock file has "
                             "mode %04o" % (prop, umask, lmode))
            self.stop_launch(w)
            log("checked: file-mode=%s under umask %04o: mode %04o, lock "
                "file %04o" % (prop or "(default)", umask, mode, lmode))
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
        # Version 2 opens (and may create) a second file, the lock file
        # DIR/.NAME.lock: a link planted there is never followed either.
        lock = rl.lock_path(self.loc)
        for what, dest, before in targets[:2]:
            os.symlink(dest, lock)
            rc, err = self.refused_writer("writer", self.loc)
            self.assertIn("symbolic link", err, "lock file -> " + what)
            self.assertEqual(os.readlink(lock), dest)
            self.assertFalse(os.path.lexists(self.loc), "the writer made a "
                             "data file without owning the location")
            if before is None:
                self.assertFalse(os.path.exists(dest),
                                 "the writer created the link's target")
            else:
                with open(dest, "rb") as f:
                    self.assertEqual(f.read(), before, "the lock file "
                                     "link's target changed")
            os.unlink(lock)
            self.assert_clean_location()
            log("checked: a symbolic link to %s at the lock file: the "
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

        # The library's words ("PATH: reason", FORMAT.md 6): a file
        # shorter than the magic is someone else's ("not a gst-mmap
        # file"), one of ours cut short anywhere after it "truncated".
        add("random-64k", os.urandom(65536), ["not a gst-mmap file"])
        add("empty", b"", ["not a gst-mmap file"])
        add("text", b"hello\n", ["not a gst-mmap file"])
        add("magic-then-random", layout.FORMAT_MAGIC + os.urandom(65536),
            ["format version", "invalid gst-mmap file", "truncated"])
        size = len(data)
        hs, ds = rl.HEADER_SIZE, rl.SLOT_DESC_OFFSET
        for cut in sorted({7, 8, 100, hs - 1, hs, ds - 1, ds, ds + 808,
                           h["caps_offset"] + 1,
                           h["caps_offset"] + h["caps_length"],
                           h["slot_data_offset"], h["slot_data_offset"] + 1,
                           size - layout.PAGE_SIZE, size - 1}):
            add("cut-%d" % cut, data[:cut], ["not a gst-mmap file"]
                if cut < len(layout.FORMAT_MAGIC) else ["truncated"])
        os.mkfifo(self.path("fifo"))
        files["fifo"] = self.path("fifo")
        reasons["fifo"] = ["not a regular file"]
        self.assert_refused(self.run_readers_on(files), reasons)
        log("checked: %d bad files, the reader exited non-zero naming the "
            "file and the reason each time, never by a signal" % len(files))

    def test_absurd_header_fields_refused(self):
        data, h = self.template()
        caps_off = h["caps_offset"]
        room = h["slot_data_offset"] - caps_off
        invalid = "invalid gst-mmap file: "

        def new_caps(text):
            # Valid as a string (length and NUL agree), whatever it says.
            assert len(text) < room
            return [("caps_length", len(text)), (caps_off, text + b"\0")]

        # The reasons are the library's (lib/common.c, FORMAT.md 6).
        patches = {
            # name: ([(field, value) | (offset, bytes)], reasons)
            "slot_count-0": ([("slot_count", 0)],
                             [invalid + "slot_count is outside 2..64"]),
            "slot_count-1": ([("slot_count", 1)],
                             [invalid + "slot_count is outside 2..64"]),
            "slot_count-65": ([("slot_count", 65)],
                              [invalid + "slot_count is outside 2..64"]),
            "slot_count-max": ([("slot_count", 2**32 - 1)],
                               [invalid + "slot_count is outside 2..64"]),
            "stride-huge": ([("slot_stride", 2**62)],
                            [invalid + "the slots lie outside the file"]),
            "stride-max": ([("slot_stride", 2**64 - 1)],
                           [invalid + "the slots lie outside the file"]),
            "stride-file-size": ([("slot_stride", len(data))],
                                 [invalid + "the slots lie outside the "
                                  "file"]),
            "capacity-over-stride": ([("slot_capacity",
                                       h["slot_stride"] + 1)],
                                     [invalid + "slot_capacity is larger "
                                      "than slot_stride"]),
            "data-offset-beyond-end": ([("slot_data_offset", len(data) +
                                         layout.PAGE_SIZE)], [invalid + "the slots "
                                                  "start outside the file"]),
            "data-offset-max": ([("slot_data_offset",
                                  2**64 - layout.PAGE_SIZE)],
                                [invalid + "the slots start outside the "
                                 "file"]),
            "data-offset-in-descriptors": ([("slot_data_offset",
                                             rl.SLOT_DESC_OFFSET)],
                                           [invalid + "the slots start "
                                            "outside the file or over the "
                                            "areas before them"]),
            "data-offset-unaligned": ([("slot_data_offset",
                                        h["slot_data_offset"] + 8)],
                                      [invalid + "slot_data_offset is not a "
                                       "multiple of 4096"]),
            "file_size-huge": ([("file_size", 2**63)], ["truncated"]),
            # Version 1 was the other version; now it is the older one.
            "version-1": ([("version", 1)], ["format version 1; this "
                                             "reader knows version 2"]),
            "version-0": ([("version", 0)], ["format version 0"]),
            "version-3": ([("version", 3)], ["format version 3"]),
            "header_size": ([("header_size", 2 * rl.HEADER_SIZE)],
                            [invalid + "header_size is not 4096"]),
            "desc-offset": ([("slot_desc_offset", rl.READER_TABLE_OFFSET)],
                            [invalid + "slot_desc_offset is not 8192"]),
            "entry-size": ([("reader_entry_size", 32)],
                           [invalid + "reader_entry_size is not 64"]),
            "reader_count-65": ([("reader_count", 65)],
                                [invalid + "reader_count is larger than "
                                 "64"]),
            "lease_limit": ([("lease_limit", h["slot_count"])],
                            [invalid + "lease_limit is not smaller than "
                             "slot_count"]),
            # Version 2's own fields: the caps' region, the record areas,
            # the reader entries' bytes in the lock file.
            "caps_offset-beyond-end": ([("caps_offset", len(data))],
                                       [invalid + "the caps lie outside "
                                        "the file"]),
            "caps_offset-max": ([("caps_offset", 2**64 - 1)],
                                [invalid + "the caps lie outside the "
                                 "file"]),
            "caps_offset-in-descriptors": ([("caps_offset",
                                             rl.SLOT_DESC_OFFSET)],
                                           [invalid + "the caps lie outside "
                                            "the file or over the "
                                            "descriptors"]),
            "meta-outside-slot": ([("meta_offset", h["slot_capacity"]),
                                   ("meta_capacity", h["slot_stride"])],
                                  [invalid + "the meta area lies outside "
                                   "its slot"]),
            "sticky-outside": ([("sticky_offset", caps_off + room // 2),
                                ("sticky_capacity", len(data))],
                               [invalid + "the sticky area lies outside "
                                "the file"]),
            "lock_base-0": ([("lock_base", 0)],
                            [invalid + "lock_base is out of range"]),
            "lock_base-huge": ([("lock_base", 2**63)],
                               [invalid + "lock_base is out of range"]),
            "caps-unterminated": ([(caps_off, b"x" * (h["caps_length"] + 1))],
                                  [invalid + "the caps string is not %d "
                                   "bytes and a NUL" % h["caps_length"]]),
            "caps_length-max": ([("caps_length", 2**32 - 1)],
                                [invalid + "caps_length is 1 MiB or more"]),
            "caps_length-short": ([("caps_length", 3)],
                                  [invalid + "the caps string is not 3 "
                                   "bytes and a NUL"]),
            # mmapsrc's own checks of what the caps say: it makes them
            # when it follows the file, so these need a live writer.
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
        # comes first either way.  What mmapsrc checks in the caps it only
        # checks in a file it follows, which needs a live writer (version
        # 2 joins no dead writer's file, FORMAT.md 9).
        live = [p for i, p in enumerate(sorted(files.values()))
                if i % 2 or os.path.basename(p).startswith("caps-") and
                reasons[os.path.basename(p)][0] in ("not valid fixed caps",
                                                    "cannot hold frames")]
        locks = [rl.hold_writer_lock(p) for p in live]
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
        bad = "invalid gst-mmap file: frame %d: " % w
        desc = [
            # name, changes, the error (must fail naming the file and
            # saying this) or "go on"
            ("size-huge", [(slot, "size", 2**63)],
             bad + "size %d is larger than slot_capacity" % 2**63),
            ("size-capacity+1", [(slot, "size", h["slot_capacity"] + 1)],
             bad + "size %d is larger than slot_capacity" %
             (h["slot_capacity"] + 1)),
            ("n_planes-5", [(slot, "n_planes", 5)],
             bad + "n_planes 5 is larger than 4"),
            ("n_planes-max", [(slot, "n_planes", 2**32 - 1)],
             bad + "n_planes %d is larger than 4" % (2**32 - 1)),
            ("plane-offset-beyond", [(slot, "plane_offset",
                                      [0, 2**63, 2**63, 0])],
             bad + "plane 1 (offset %d," % 2**63),
            ("stride-0", [(slot, "plane_stride", [0, 32, 32, 0])],
             bad + "plane 0 (offset 0, stride 0) is outside"),
            ("stride-negative", [(slot, "plane_stride", [-64, 32, 32, 0])],
             bad + "plane 0 (offset 0, stride -64) is outside"),
            ("stride-huge", [(slot, "plane_stride", [2**31 - 1, 32, 32, 0])],
             bad + "plane 0 (offset 0, stride %d) is outside" % (2**31 - 1)),
            ("size-0", [(slot, "size", 0)], bad + "plane "),
            # Version 2's checks against the caps' layout and its new
            # fields (FORMAT.md 6).
            ("n_planes-1-for-I420", [(slot, "n_planes", 1)],
             bad + "1 planes for I420, which has 3"),
            ("stride-below-row", [(slot, "plane_stride", [8, 32, 32, 0])],
             bad + "plane 0 (offset 0, stride 8) does not hold 48 rows of "
             "64 bytes"),
            ("meta_size-over-capacity", [(slot, "meta_size",
                                          h["meta_capacity"] + 8)],
             bad + "meta_size %d is larger than meta_capacity %d" %
             (h["meta_capacity"] + 8, h["meta_capacity"])),
            ("frame_flags-unknown", [(slot, "frame_flags", 6)],
             bad + "unknown frame_flags 0x6"),
        ]
        hdr = [
            # A slot_log entry naming no slot makes the file invalid in
            # version 2 (FORMAT.md 8); version 1 went on.
            ("slot_log-out-of-range", [("slot_log", 200)],
             "invalid gst-mmap file: frame %d: slot_log names slot 200 of "
             "%d" % (w, h["slot_count"])),
            ("slot_log-dropped", [("slot_log", rl.SLOT_NONE)], "go on"),
            # A write_seq below base_seq says "nothing published yet" in
            # version 2, and one that no slot backs is never followed
            # (FORMAT.md 9: a wild write_seq): the reader waits for the
            # writer's next publication.  Version 1 refused both files.
            ("write_seq-below-base", [("base_seq", 10), ("write_seq", 3)],
             "go on"),
            ("write_seq-max", [("write_seq", 2**64 - 1)], "go on"),
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
                    rl.patch(path, rl.SLOT_LOG_OFFSET + 4 * (w % rl.SLOT_LOG),
                             "I", change[1])
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
            if expect[name] != "go on":
                self.assertTrue(by_itself and p.rc != 0, "%s: the reader "
                                "did not fail\n%s" % (name, p.describe()))
                self.assertIn(files[name] + ": " + expect[name], p.stderr(),
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
        who = "its writer (pid %d)" % h["writer_pid"]
        # name: state, what the reader says while it waits (None: it must
        # refuse the file).  Version 2 refuses an unknown state (FORMAT.md
        # 5: "the reader MUST stop using it and report it"); version 1
        # waited.  A dead writer's file that other processes read-lock is
        # still a dead writer's (FORMAT.md 11).
        states = {"running-unlocked": (rl.STATE_RUNNING,
                                       who + " died without stopping"),
                  "running-read-locked": (rl.STATE_RUNNING,
                                          who + " died without stopping"),
                  "gone": (rl.STATE_GONE, who + " has stopped"),
                  "init": (rl.STATE_INIT, who),
                  "replaced": (rl.STATE_REPLACED, who),
                  "state-77": (77, None)}
        files, locks = {}, []
        for name, (state, _) in states.items():
            path = self.path(name)
            with open(path, "wb") as f:
                f.write(data)
            rl.patch_header(path, "state", state)
            files[name] = path
            if "read-locked" in name:
                for start, length in ((0, 1), (0, 0)):
                    fd = os.open(path, os.O_RDONLY)
                    rl.take_read_lock(fd, start, length)
                    locks.append(fd)
        try:
            results = self.run_readers_on(files, wait_s=2)
        finally:
            for fd in locks:
                os.close(fd)
        for name, (p, by_itself) in results.items():
            says = states[name][1]
            if says is None:
                self.assertTrue(by_itself and p.rc != 0, "%s: the reader "
                                "did not refuse the file\n%s" %
                                (name, p.describe()))
                self.assertIn(files[name] + ": invalid gst-mmap file: "
                              "unknown state 77", p.stderr(), p.describe())
                log("checked: a file in state 77: the reader exited %d "
                    "with %r" % (p.rc, self.first_error_line(p)))
                continue
            self.assertFalse(by_itself, "%s: the reader stopped\n%s" %
                             (name, p.describe()))
            self.assertEqual(p.rc, 0, p.describe())
            waiting = [line for line in gst_text(p.stdout()).splitlines()
                       if "mmapsrc-waiting" in line]
            self.assertTrue(any(files[name] + ": " + says in line
                                for line in waiting),
                            "%s: no mmapsrc-waiting saying %r\n%s" %
                            (name, says, p.describe()))
            log("checked: a file in state %s with no writer: the reader "
                "waited (%r), Ctrl-C ended it with exit 0" % (name, says))
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
        # The last page of the last slot's payload (version 1 cut the
        # file's last page, which version 2's meta area now holds: a page
        # only records go to, and that the writer may never touch; the
        # last round of test_truncated_live_file_readers_resume cuts it).
        last = h["slot_data_offset"] + (h["slot_count"] - 1) * \
            h["slot_stride"] + h["slot_capacity"]
        sizes = [0, rl.SLOT_DESC_OFFSET, rl.HEADER_SIZE,
                 (last - 1) // layout.PAGE_SIZE *
                 layout.PAGE_SIZE, h["slot_data_offset"] + h["slot_stride"]]
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
        zc_damaged = []
        for r in readers:
            self.assertEqual(r.quit(), 0, r.describe())
            zc_damaged.append(r.total_damaged())
        log("checked: the live file cut to %s bytes in turn: both readers "
            "kept running and got the writer's frames from its new file; "
            "the copying one never output a damaged frame (the zero-copy "
            "one: %d)" % (sizes, zc_damaged[0]))
        # Version 1's last round cut the file's last page; in version 2
        # that page is the last slot's meta area, which a writer may never
        # touch, so it never faults there.  What a user sees: a reader
        # started after the cut.
        h = rl.read_header(self.loc)
        os.truncate(self.loc, h["file_size"] - layout.PAGE_SIZE)
        time.sleep(1)
        late = self.launch("late-reader", "mmapsrc location=%s "
                           "num-buffers=5 ! fakesink" % self.loc)
        rc = late.wait()
        self.assertEqual(rc, 0, "BUG (lib/writer.c: the writer only learns "
                         "that its file was truncated from a SIGBUS): the "
                         "live file's last page (meta area) cut, the writer "
                         "went on publishing in it for 1 s and a new reader "
                         "refused it\n%s" % late.describe())
        self.assertEqual(w.quit(), 0)

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
        lock_ino = os.stat(rl.lock_path(self.loc)).st_ino
        self.refused_writer("writer2", self.loc)
        d, base = os.path.split(self.loc)
        self.assertEqual([n for n in os.listdir(d) if n.startswith(
            "." + base + ".") and n != "." + base + rl.LOCK_FILE_SUFFIX],
            [], "the refused writer left a temporary file")
        # Nor did it take the first writer's lock file with it.
        self.assertEqual(os.stat(rl.lock_path(self.loc)).st_ino, lock_ino,
                         "the refused writer removed or replaced the lock "
                         "file of the writer that owns the location")
        self.assertTrue(rl.location_owned(self.loc))
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

        def held(p):
            """Inodes of files at the location the reader holds: open or
            mapped."""
            names = (self.loc, self.loc + " (deleted)")
            out = set()
            for fd in os.listdir("/proc/%d/fd" % p.pid):
                path = "/proc/%d/fd/%s" % (p.pid, fd)
                try:
                    if os.readlink(path) in names:
                        out.add(os.stat(path).st_ino)
                except FileNotFoundError:
                    pass
            with open("/proc/%d/maps" % p.pid) as f:
                for line in f:
                    fields = line.split(None, 5)
                    if len(fields) == 6 and fields[5].strip() in names:
                        out.add(int(fields[4]))
            return out

        def usage(p):
            # Once it has let go of the writers' files but the last (a
            # reader that finds a file its writer just left waits up to
            # 100 ms before it looks again): a file it never lets go of
            # fails here.  Version 2 keeps the file it finished open until
            # the path names another one, so that its inode cannot be
            # reused meanwhile (FORMAT.md 12); version 1 closed it.
            try:
                wait_for("%s to hold no writer's file but the last" %
                         p.name, lambda: len(held(p)) <= 1, timeout=10)
            except AssertionError as e:
                self.fail("%s (inodes %s; fds: %s)" % (e, held(p), fds(p)))
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

    # --- 7. what issue 8 found: read-only users, wild write_seq, losses
    # across files, dead waiters, PID namespaces ---

    def as_nobody(self, name, *args):
        """readonly_user.py as uid nobody, gid nogroup, no other group."""
        setpriv = shutil.which("setpriv")
        self.assertTrue(setpriv, "setpriv (util-linux) is needed to run a "
                        "process as another user")
        return self.proc(name, [setpriv, "--reuid=nobody", "--regid=nogroup",
                                "--clear-groups", sys.executable,
                                READONLY_USER] + [str(a) for a in args])

    def wait_line(self, proc, prefix, what):
        """The first line of proc's stdout that starts with prefix."""
        def line():
            for ln in proc.stdout().splitlines():
                if ln.startswith(prefix):
                    return ln
            if not proc.alive():
                self.fail("%s exited before %s\n%s" % (proc.name, what,
                                                       proc.describe()))
            return None
        return wait_for("%s: %s" % (proc.name, what), line)

    def test_readonly_user_cannot_block_writer(self):
        # Writer 1 lets everyone read its stream (0644), and dies.
        w1 = self.launch("writer1", "videotestsrc is-live=true ! %s ! "
                         "mmapsink location=%s file-mode=0644" %
                         (SMALL, self.loc))
        self.wait_published(w1, 3)
        w1.p.send_signal(signal.SIGKILL)
        w1.wait()
        ino1 = os.stat(self.loc).st_ino
        self.assertEqual(stat.S_IMODE(os.stat(self.loc).st_mode), 0o644)
        self.assertEqual(stat.S_IMODE(os.stat(
            rl.lock_path(self.loc)).st_mode), 0o200)
        # Another user, who may read the file: read locks on byte 0 and on
        # the whole file, and a try at the lock file.
        ro = self.as_nobody("nobody", self.loc, 30)
        self.wait_line(ro, "LOCKED %d byte0=held whole=held rest=- "
                       "(read-write open refused EACCES)" % ino1,
                       "read locks on the dead writer's file")
        uid = self.wait_line(ro, "UID ", "its uid")
        self.assertNotEqual(uid.split()[1], "0", ro.describe())
        lockfile = [ln for ln in ro.stdout().splitlines()
                    if ln.startswith("LOCKFILE ")]
        self.assertEqual(lockfile, ["LOCKFILE %s refused EACCES" % m for m in
                                    ("O_RDONLY", "O_WRONLY", "O_RDWR")],
                         "a user who may only read the stream could open "
                         "its lock file\n" + ro.describe())
        # Readers waiting on that file see a dead writer, read locks or
        # not (version 1 took them for a live writer: one stale frame,
        # then silence).
        before = [self.launch("mmapsrc-before", "mmapsrc location=%s "
                              "num-buffers=30 ! fakesink" % self.loc, "-m"),
                  self.py_reader("py-before", count=30)]
        dead = "%s: its writer (pid %d) died without stopping" % (self.loc,
                                                                   w1.pid)
        wait_for("mmapsrc-before to say the writer died",
                 lambda: dead in gst_text(before[0].stdout()) or
                 not before[0].alive())
        self.wait_line(before[1], "WAITING " + dead, "the dead writer")
        self.assert_alive(*before)
        # A new writer: not refused, whatever read locks are held.
        w2 = self.bench("writer2", "writer", fps=60, props="file-mode=0644")
        self.wait_ready(w2)
        h2 = self.wait_published(w2, 1)
        ino2 = os.stat(self.loc).st_ino
        self.assertNotEqual(ino2, ino1)
        # Its live file read-locked too, all but byte 0, whose read lock
        # the writer's write lock refuses: the reader table and every slot.
        self.wait_line(ro, "LOCKED %d byte0=EAGAIN whole=EAGAIN rest=held "
                       "(read-write open refused EACCES)" % ino2,
                       "read locks on the new writer's file")
        self.assertTrue(rl.writer_lock_held(self.loc))
        # The readers that waited get the new writer's frames.
        self.assert_exit(before[0])
        self.assert_exit(before[1])
        # Readers that start now, with the read locks held on the live
        # file: frames, and zero-copy readers still lease.
        after = self.launch("mmapsrc-after", "mmapsrc location=%s "
                            "num-buffers=30 ! fakesink" % self.loc)
        py_zc = self.py_reader("py-zero-copy", count=30, zero_copy=True)
        zc = self.bench("zero-copy", "reader")
        self.wait_ready(zc)
        zc.start_window()
        time.sleep(1)
        win = zc.stop_window()
        self.assert_exit(after)
        self.assert_exit(py_zc)
        for p in (before[1], py_zc):
            frames = pyreader_frames(p)
            self.assertEqual(len(frames), 30, p.describe())
            self.assertEqual({f["writer_id"] for f in frames},
                             {h2["writer_id"]}, "%s got frames of another "
                             "writer\n%s" % (p.name, p.describe()))
            seqs = [f["seq"] for f in frames]
            self.assertEqual(seqs, sorted(set(seqs)), p.name)
        leased = pyreader_stats(py_zc)[2]
        self.assertGreater(leased, 0, "the Python zero-copy reader leased "
                           "nothing next to the read locks\n" +
                           py_zc.describe())
        self.assertGreater(win["element_stats"]["frames-zero-copy"], 0,
                           "mmapsrc leased nothing next to the read locks: "
                           "%s" % win)
        self.assertEqual(win["damaged"], 0)
        # The other user read them too, by copying.
        self.wait_line(ro, "READ 30", "30 frames as a read-only reader")
        ro_frames = [ln.split() for ln in ro.stdout().splitlines()
                     if ln.startswith("FRAME ")]
        self.assertEqual({int(f[2]) for f in ro_frames}, {h2["writer_id"]})
        self.assertEqual({f[3] for f in ro_frames}, {"0"})
        self.assertEqual(w2.quit(), 0, w2.describe())
        self.assert_clean_location()
        log("checked: a user (%s) who may only read a 0644 stream read-locked "
            "byte 0 and the whole of a killed writer's file and of the next "
            "writer's, and could not open the lock file (EACCES for reading, "
            "writing or both): the next writer was not refused; mmapsrc and "
            "the Python module, started before and after it, got 30 of its "
            "frames each; zero-copy readers leased (%d mmapsrc buffers in "
            "1 s, %d Python frames); the other user read 30 frames by "
            "copying" % (uid, win["element_stats"]["frames-zero-copy"],
                         leased))

    def test_wild_write_seq_for_50ms(self):
        w = self.bench("writer", "writer", fps=30)
        readers = [self.bench("reader-zero-copy", "reader", fps=30),
                   self.bench("reader-copy", "reader", fps=30,
                              props="zero-copy=false")]
        py = self.py_reader("py")
        self.wait_ready(w, *readers)
        self.wait_py_frames(py, 5)
        slots = rl.read_header(self.loc)["slot_count"]
        for r in readers:
            r.start_window()
        off, fmt = rl.header_word("write_seq")
        wild = [10**12, 2**63]
        sane = 2**40
        fd = os.open(self.loc, os.O_RDWR)
        try:
            mm = mmap.mmap(fd, rl.HEADER_SIZE)
            w0 = real = struct.unpack_from("<" + fmt, mm, off)[0]
            py_before = len(pyreader_frames(py))
            pokes = 0
            deadline = time.monotonic() + 0.05
            while time.monotonic() < deadline:
                seq = struct.unpack_from("<" + fmt, mm, off)[0]
                if seq < sane:
                    real = seq
                v = wild[pokes % 2]
                struct.pack_into("<" + fmt, mm, off,
                                 real + v if v < 2**63 else v)
                pokes += 1
                time.sleep(0.0005)
            # The writer's next publication puts its own number back.
            w1 = wait_for("the writer to publish again",
                          lambda: (lambda s: s if s < sane else None)(
                              struct.unpack_from("<" + fmt, mm, off)[0]))
            mm.close()
        finally:
            os.close(fd)
        published = w1 - w0
        bound = published + slots
        time.sleep(1)
        for r in readers:
            self.assert_alive(r)
            win = r.stop_window()
            st = win["element_stats"]
            self.assertEqual((win["damaged"], win["reordered"]), (0, 0),
                             "%s: %s" % (r.name, win))
            self.assertGreater(win["last_seq"], w1, "%s got no frame after "
                               "the wild write_seq: %s" % (r.name, win))
            self.assertLess(st["frames-skipped"], bound, "%s counted %d "
                            "frames skipped for %d published while "
                            "write_seq was wild: %s" %
                            (r.name, st["frames-skipped"], published, win))
            self.assertLess(win["missed"], bound, "%s: %s" % (r.name, win))
        self.assert_alive(py)
        frames = pyreader_frames(py)
        seqs = [f["seq"] for f in frames]
        self.assertEqual(seqs, sorted(set(seqs)), "the Python reader's frames "
                         "went back or came twice: %s" % seqs)
        self.assertGreater(seqs[-1], w1, "the Python reader got no frame "
                           "after the wild write_seq\n" + py.describe())
        skipped = frames[-1]["total_skipped"] - \
            frames[py_before - 1]["total_skipped"]
        self.assertLess(skipped, bound, "the Python reader counted %d frames "
                        "skipped for %d published while write_seq was wild" %
                        (skipped, published))
        self.assertEqual(w.quit(), 0, w.describe())
        for r in readers:
            self.assertEqual(r.quit(), 0, r.describe())
        log("checked: write_seq poked %d times in 50 ms to its value + 10^12 "
            "and to 2^63 while %d frames were published: mmapsrc (zero-copy "
            "and copying) and the Python reader went on with the writer's "
            "frames, in order, none damaged, skipped counts below %d" %
            (pokes, published, bound))

    def test_frames_lost_across_replaced_files_counted(self):
        caps_a = "video/x-raw,format=I420,width=64,height=48,framerate=30/1"
        caps_b = "video/x-raw,format=RGB,width=32,height=24,framerate=30/1"
        caps_c = "video/x-raw,format=GRAY8,width=80,height=60,framerate=30/1"
        # Ten frames, then (the readers frozen) four caps changes, the last
        # file getting more frames than its ring holds; then twenty more.
        specs = [caps_a + "@10", "GATE", caps_b + "@5", caps_c + "@5",
                 caps_a + "@5", caps_b + "@12", "GATE", caps_c + "@20"]
        published = 10 + 5 + 5 + 5 + 12 + 20
        readers = [self.pattern_reader("mmapsrc-zero-copy"),
                   self.pattern_reader("mmapsrc-copy", "zero-copy=false")]
        py = self.py_reader("py", stop_on_eos=True)
        for r in readers:
            wait_for("%s to wait for a writer" % r.name,
                     lambda: "WAITING" in r.stdout() or not r.alive())
        self.wait_line(py, "WAITING ", "no writer yet")
        w = self.pattern_writer("writer", 1, specs, fps=30,
                                props="slots=4")
        self.assertEqual(self.wait_gate(w, 1), 10)
        for r in readers:
            self.wait_frames(r, 1, 10)
        self.wait_py_frames(py, 10)
        caps_seq = rl.read_header(self.loc)["caps_seq"]
        frozen = readers + [py]
        for p in frozen:
            p.signal(signal.SIGSTOP)
        t0 = time.monotonic()
        self.open_gate(w)
        self.assertEqual(self.wait_gate(w, 2), published - 20)
        changes = rl.read_header(self.loc)["caps_seq"] - caps_seq
        self.assertEqual(changes, 4, "the writer changed caps %d times while "
                         "the readers were frozen" % changes)
        time.sleep(max(0, 1 - (time.monotonic() - t0)))
        for p in frozen:
            p.signal(signal.SIGCONT)
        self.open_gate(w)
        self.assert_exit(w)
        self.assertIn("WROTE %d" % published, w.stdout())
        problems = []
        for r in readers:
            self.assert_exit(r)
            s = self.status(r)
            st = s["stats"]
            out = sum(seg["count"] for seg in s["segments"])
            self.assertEqual((s["damaged"], sum(seg["backwards"] for seg in
                                                s["segments"])), (0, 0), s)
            self.assertEqual(st["frames-read"], out, s)
            if out + st["frames-skipped"] != published:
                problems.append("%s output %d frames and counted %d skipped "
                                "(mmapsrc stats), of %d published: %s" %
                                (r.name, out, st["frames-skipped"],
                                 published, s))
            if not s["skipped_messages"]:
                problems.append("%s posted no mmapsrc-skipped message" %
                                r.name)
            log("%s: %d frames output, stats %s, mmapsrc-skipped messages "
                "(skipped, total, resume-frame) %s" %
                (r.name, out, st, s["skipped_messages"]))
        self.assert_exit(py)
        frames = pyreader_frames(py)
        read, skipped, _ = pyreader_stats(py)
        seqs = [f["seq"] for f in frames]
        self.assertEqual(seqs, sorted(set(seqs)), seqs)
        if len(frames) + skipped != published:
            problems.append("the Python reader read %d frames and counted "
                            "%d skipped (frames_read %d), of %d published: "
                            "seqs %s" % (len(frames), skipped, read,
                                         published, seqs))
        if problems:
            self.fail("\n".join(problems))
        log("checked: readers frozen for 1 s while the writer made 4 new "
            "files (new caps; %d frames in all): mmapsrc (zero-copy and "
            "copying) and the Python reader (%d read, %d skipped) counted "
            "every frame they did not output as skipped (output + skipped "
            "= published), and mmapsrc posted mmapsrc-skipped" %
            (published, len(frames), skipped))

    def test_reader_killed_in_futex_wait_waiters_reclaimed(self):
        w = self.pattern_writer("writer", 1, [SMALL + "@3", "GATE",
                                              SMALL + "@70", "GATE"], fps=60)
        self.assertEqual(self.wait_gate(w, 1), 3)
        for attempt in range(10):
            r = self.launch("reader%d" % attempt, "mmapsrc location=%s ! "
                            "fakesink" % self.loc)

            def asleep():
                if not r.alive():
                    self.fail("%s exited\n%s" % (r.name, r.describe()))
                return [e for e in rl.reader_entries(self.loc)
                        if e["pid"] == r.pid and e["last_seq"] == 3 and
                        e["waiting"] == 1]
            entry = wait_for("%s to read the 3 frames and wait" % r.name,
                             asleep)[0]
            r.p.send_signal(signal.SIGKILL)
            r.wait()
            e = rl.entries(self.loc, in_use=False)[entry["index"]]
            if e["waiting"] == 1:
                break
            # Killed between two waits: try again (a reader taking the
            # entry over clears what the dead one left).
        else:
            self.fail("no reader could be killed while it waited")
        h = rl.read_header(self.loc)
        self.assertEqual(h["waiters"], 1, "a reader killed in FUTEX_WAIT: "
                         "waiters is %d, its entry %s" % (h["waiters"], e))
        self.open_gate(w)
        self.assertEqual(self.wait_gate(w, 2), 73)
        h = rl.read_header(self.loc)
        e = rl.entries(self.loc, in_use=False)[entry["index"]]
        self.assertEqual((h["waiters"], e["waiting"], e["reader_id"]),
                         (0, 0, 0), "70 frames after a reader died waiting, "
                         "waiters is %d and its entry %s" % (h["waiters"], e))
        self.open_gate(w)
        self.assert_exit(w)
        log("checked: a reader killed with SIGKILL inside FUTEX_WAIT left "
            "waiters at 1 (its entry's waiting flag); after the writer "
            "published 70 more frames the writer had reclaimed its entry "
            "and waiters was 0")

    def test_pid_namespace_reported(self):
        unshare = shutil.which("unshare")
        self.assertTrue(unshare, "unshare (util-linux) is needed: this case "
                        "must not be skipped")
        env = dict(os.environ, GST_DEBUG="mmapsrc:4")
        reader = self.launch("reader", "mmapsrc location=%s ! fakesink" %
                             self.loc, "-m", env=env)
        w = self.proc("writer-in-pidns", [
            unshare, "--pid", "--fork", "--mount-proc", "--kill-child",
            rl.GST_LAUNCH, "videotestsrc", "is-live=true", "!", SMALL, "!",
            "mmapsink", "location=" + self.loc])

        def published():
            if not w.alive():
                self.fail("the writer in a new PID namespace exited\n" +
                          w.describe())
            h = rl.read_header(self.loc)
            return h if h and h["state"] == rl.STATE_RUNNING and \
                h["write_seq"] >= h["base_seq"] + 3 else None
        h = wait_for("the writer in a new PID namespace to publish",
                     published)
        ours = os.stat("/proc/self/ns/pid").st_ino
        self.assertEqual(h["writer_pid"], 1, "the writer is not pid 1 of a "
                         "new PID namespace: %s" % h)
        self.assertNotIn(h["writer_pidns"], (0, ours))
        found = wait_for("the reader's mmapsrc-writer message",
                         lambda: [ln for ln in reader.stdout().splitlines()
                                  if "mmapsrc-writer" in ln] or
                         not reader.alive())
        self.assert_alive(reader)
        self.assertIn("pid=(uint)1, pid-local=(boolean)false", found[0],
                      reader.describe())
        foreign = "pid 1 in another PID namespace"
        self.assertIn("(%s) on %s" % (foreign, self.loc), reader.stderr(),
                      reader.describe())
        rc, err = self.refused_writer("writer2", self.loc)
        self.assertIn("%s: in use by another writer (%s)" % (self.loc,
                                                             foreign), err)
        # And once it died, what the reader says it waits for.
        w.p.send_signal(signal.SIGKILL)
        w.wait()
        wait_for("the writer's lock to go", lambda:
                 not rl.writer_lock_held(self.loc))
        dead = "%s: its writer (%s) died without stopping" % (self.loc,
                                                              foreign)
        wait_for("the reader to say its writer died",
                 lambda: dead in gst_text(reader.stdout()) or
                 not reader.alive())
        self.stop_launch(reader)
        log("checked: a writer in a new PID namespace (pid 1 there): the "
            "reader's mmapsrc-writer said pid-local false (and its log %r), "
            "a second writer was refused with %r, and the reader waited "
            "saying %r once it died" % (foreign, self.first_error_line(
                self.procs[-1]), dead))



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
    elif mode == "--py-reader":
        pyreader_main(sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1",
                      sys.argv[5] == "1")
    elif mode == "--open-poller":
        open_poller_main(sys.argv[2], sys.argv[3])
    elif mode == "--flipper":
        flipper_main(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]),
                     sys.argv[5])
    elif mode == "--registered":
        _check_registered(sys.argv[2:])
    else:
        unittest.main(verbosity=2)

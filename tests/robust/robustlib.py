"""What the robustness tests (robust.py) and the soak (soak.py) share:
child processes with their output in files, the gst-mmap file's layout
as a test reads and patches it, the writer's and readers' OFD locks, and
the stamped-frame program bench/mmapbench driven line by line.

Layout and offsets: include/mmapformat.h (format version 1).
"""

import fcntl
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
# Run by hand from the source tree: the build tree's plugin and benchmark.
if "GST_PLUGIN_PATH" not in os.environ:
    os.environ["GST_PLUGIN_PATH"] = os.path.join(SOURCE_ROOT, "build",
                                                 "plugin")
MMAPBENCH = os.environ.get("MMAPBENCH") or os.path.join(
    SOURCE_ROOT, "build", "bench", "mmapbench")

sys.path.insert(0, os.path.join(HERE, ".."))
# What every Python test driver shares; re-exported for robust.py/soak.py.
from gstmmaptest import (GST_INSPECT, GST_LAUNCH, PROC_TIMEOUT,  # noqa
                         WAIT_TIMEOUT, Proc, log, signal_name, wait_for)

# --- the file (include/mmapformat.h) ---

HEADER_SIZE = 4096
READER_TABLE_OFFSET = 4096
READER_ENTRY_SIZE = 64
READER_MAX = 64
SLOT_DESC_OFFSET = 8192
SLOT_DESC_SIZE = 256
CAPS_OFFSET = 1024
CAPS_MAX = 3072
SLOT_LOG_OFFSET = 256
SLOT_LOG = 64

STATE_INIT, STATE_RUNNING, STATE_GONE, STATE_REPLACED = 0, 1, 2, 3

# name: (offset, struct format), little-endian.
HEADER_FIELDS = {
    "magic": (0, "8s"),
    "version": (8, "I"),
    "header_size": (12, "I"),
    "file_size": (16, "Q"),
    "slot_count": (24, "I"),
    "slot_desc_size": (28, "I"),
    "slot_desc_offset": (32, "Q"),
    "slot_data_offset": (40, "Q"),
    "slot_stride": (48, "Q"),
    "slot_capacity": (56, "Q"),
    "reader_table_offset": (64, "I"),
    "reader_count": (68, "I"),
    "reader_entry_size": (72, "I"),
    "caps_length": (76, "I"),
    "caps_seq": (80, "Q"),
    "writer_id": (88, "Q"),
    "writer_pid": (96, "I"),
    "flags": (100, "I"),
    "base_seq": (104, "Q"),
    "state": (128, "I"),
    "futex": (132, "I"),
    "waiters": (136, "I"),
    "eos": (140, "I"),
    "write_seq": (144, "Q"),
    "latency_ns": (152, "Q"),
    "lease_limit": (160, "I"),
    "leases_held": (164, "I"),
}

ENTRY_FIELDS = {
    "reader_id": (0, "Q"),
    "pid": (8, "I"),
    "leases": (16, "Q"),
    "last_seq": (24, "Q"),
}

DESC_FIELDS = {
    "lock": (0, "Q"),
    "seq": (8, "Q"),
    "offset": (40, "Q"),
    "size": (80, "Q"),
    "n_planes": (92, "I"),
    "plane_offset": (96, "4Q"),
    "plane_stride": (128, "4i"),
    "caps_seq": (144, "Q"),
}


def _unpack(data, fields, base=0):
    out = {}
    for name, (off, fmt) in fields.items():
        v = struct.unpack_from("<" + fmt, data, base + off)
        out[name] = v[0] if len(v) == 1 else list(v)
    return out


def parse_header(data):
    """The header fields of `data` (at least 4096 bytes) as a dict, with
    the caps string; None when it is not a gst-mmap header."""
    if len(data) < HEADER_SIZE or data[:8] != b"GSTMMAP\0":
        return None
    h = _unpack(data, HEADER_FIELDS)
    h["caps"] = data[CAPS_OFFSET:CAPS_OFFSET + CAPS_MAX].split(
        b"\0", 1)[0].decode(errors="replace")
    h["slot_log"] = list(struct.unpack_from("<%dI" % SLOT_LOG, data,
                                            SLOT_LOG_OFFSET))
    return h


def read_header(path):
    """The header of the file at `path`, or None (no file, not ours)."""
    try:
        with open(path, "rb") as f:
            return parse_header(f.read(HEADER_SIZE))
    except (FileNotFoundError, IsADirectoryError):
        return None


def reader_entries(path):
    """Live entries of the reader table: dicts with reader_id, pid,
    leases (bit mask) and `index`."""
    with open(path, "rb") as f:
        f.seek(READER_TABLE_OFFSET)
        data = f.read(READER_MAX * READER_ENTRY_SIZE)
    out = []
    for i in range(len(data) // READER_ENTRY_SIZE):
        e = _unpack(data, ENTRY_FIELDS, i * READER_ENTRY_SIZE)
        if e["reader_id"]:
            e["index"] = i
            out.append(e)
    return out


def leases_of(path, pid):
    """How many slots process `pid` leases in the file now."""
    return sum(bin(e["leases"]).count("1") for e in reader_entries(path)
               if e["pid"] == pid)


def patch(path, offset, fmt, value):
    """Writes struct `fmt` (little-endian) `value` at `offset` of `path`."""
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(struct.pack("<" + fmt, *(value if isinstance(value, (list,
                                                                    tuple))
                                         else [value])))


def patch_header(path, name, value):
    off, fmt = HEADER_FIELDS[name]
    patch(path, off, fmt, value)


def patch_desc(path, idx, name, value):
    off, fmt = DESC_FIELDS[name]
    patch(path, SLOT_DESC_OFFSET + idx * SLOT_DESC_SIZE + off, fmt, value)


# --- OFD locks (the writer's lock is byte 0, see mmapformat.h) ---

F_OFD_GETLK, F_OFD_SETLK = 36, 37


def _flock(l_type, start, length):
    # struct flock on Linux: short type, short whence, off_t start, off_t
    # len, pid_t pid (native alignment).
    return struct.pack("hhqqi4x", l_type, os.SEEK_SET, start, length, 0)


def locked_by_other(path, start=0, length=1):
    """Whether another open file description holds a lock on the range
    (for byte 0: whether a live writer owns the file)."""
    fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    try:
        r = fcntl.fcntl(fd, F_OFD_GETLK, _flock(fcntl.F_WRLCK, start,
                                                 length))
    finally:
        os.close(fd)
    return struct.unpack_from("h", r)[0] != fcntl.F_UNLCK


def hold_writer_lock(path):
    """Takes the writer's lock on `path` as a live writer would; the fd
    holds it until closed."""
    fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    fcntl.fcntl(fd, F_OFD_SETLK, _flock(fcntl.F_WRLCK, 0, 1))
    return fd


class Bench(Proc):
    """bench/mmapbench as a writer or a reader of stamped frames: every
    4 KiB page of a frame carries its number, the reader checks each frame
    and counts the missed and damaged ones (see bench/mmapbench.c)."""

    def __init__(self, name, role, loc, tmpdir, fps=60, fmt="I420",
                 width=640, height=480, props=""):
        argv = [MMAPBENCH, role, "--transport=mmap", "--location=" + loc,
                "--fps=%d" % fps, "--format=" + fmt, "--width=%d" % width,
                "--height=%d" % height]
        if props:
            argv.append("--element-props=" + props)
        super().__init__(name, argv, tmpdir, stdin=True)

    def ready(self):
        return any(line.startswith("READY")
                   for line in self.stdout().splitlines())

    def windows(self):
        return [json.loads(line) for line in self.stdout().splitlines()
                if line.startswith("{")]

    def start_window(self):
        self.send("start")

    def stop_window(self, timeout=WAIT_TIMEOUT):
        """Closes the measurement window: its figures (frames, missed,
        damaged, last_seq, and element_stats, the element's counters over
        the window)."""
        n = len(self.windows())
        if not self.send("stop"):
            raise AssertionError("%s is gone\n%s" % (self.name,
                                                     self.describe()))
        wait_for("%s to report its window" % self.name,
                 lambda: len(self.windows()) > n or not self.alive(),
                 timeout)
        w = self.windows()
        if len(w) <= n:
            raise AssertionError("%s ended without reporting\n%s" %
                                 (self.name, self.describe()))
        return w[-1]

    def quit(self):
        self.send("quit")
        return self.wait()

    def damage_reports(self):
        return [line for line in self.stderr().splitlines()
                if "damaged frame" in line]

    def _totals(self):
        # The last line a bench process prints: "N frames in all, M
        # damaged"; None before it has exited.
        for line in reversed(self.stderr().splitlines()):
            if "frames in all" in line:
                frames, damaged = line.split(":", 1)[1].split(",")
                return int(frames.split()[0]), int(damaged.split()[0])
        return None

    def total_frames(self):
        t = self._totals()
        return t and t[0]

    def total_damaged(self):
        t = self._totals()
        return t and t[1]


def _terminated(signum, frame):
    # meson's timeout: end as an error, so that tearDown still stops the
    # children and removes the files.
    raise SystemExit("terminated by signal %d" % signum)


def install_sigterm_handler():
    signal.signal(signal.SIGTERM, _terminated)


class ProcessTestCase(unittest.TestCase):
    """A test with a location of its own under /dev/shm, children that
    are all killed at the end, and nothing left behind."""

    def setUp(self):
        case = self.id().rsplit(".", 1)[-1].replace("test_", "")
        self.case = case
        self.tmpdir = tempfile.mkdtemp(
            prefix="gst-mmap-robust-%d-%s-" % (os.getpid(), case),
            dir="/dev/shm")
        # The location readers and writers share, unique to this test.
        self.loc = self.location("")
        self.locs = [self.loc]
        self.procs = []
        # Fill this test's registry once, before processes run at once,
        # and make sure it is this build's plugin they will load.
        r = subprocess.run([GST_INSPECT, "mmapsrc"], capture_output=True,
                           text=True, timeout=PROC_TIMEOUT)
        self.assertEqual(r.returncode, 0,
                         "gst-inspect-1.0 mmapsrc: plugin not found\n" +
                         r.stderr)

    def tearDown(self):
        for p in self.procs:
            p.kill()
        for loc in self.locs:
            d, base = os.path.split(loc)
            for name in os.listdir(d):
                if name == base or name.startswith("." + base + "."):
                    path = os.path.join(d, name)
                    if os.path.isdir(path) and not os.path.islink(path):
                        shutil.rmtree(path, ignore_errors=True)
                        continue
                    try:
                        os.unlink(path)
                    except FileNotFoundError:
                        pass
        shutil.rmtree(self.tmpdir, ignore_errors=True)

    # --- helpers ---

    def location(self, suffix):
        loc = "/dev/shm/gst-mmap-robust-%d-%s%s" % (os.getpid(), self.case,
                                                    suffix)
        if suffix:
            self.locs.append(loc)
        return loc

    def path(self, name):
        return os.path.join(self.tmpdir, name)

    def proc(self, name, argv, **kw):
        p = Proc(name, argv, self.tmpdir, **kw)
        self.procs.append(p)
        return p

    def launch(self, name, pipeline, *options, **kw):
        """gst-launch-1.0 with `options` (e.g. -e, -m) and the pipeline."""
        return self.proc(name, [GST_LAUNCH] + list(options) +
                         pipeline.split(), **kw)

    def bench(self, name, role, loc=None, **kw):
        b = Bench(name, role, loc or self.loc, self.tmpdir, **kw)
        self.procs.append(b)
        return b

    def wait_ready(self, *benches):
        for b in benches:
            wait_for("%s to be ready" % b.name,
                     lambda: b.ready() or not b.alive())
            self.assertTrue(b.alive(), "%s exited early\n%s" %
                            (b.name, b.describe()))

    def assert_exit(self, proc, expected=0, timeout=PROC_TIMEOUT):
        rc = proc.wait(timeout)
        self.assertEqual(rc, expected, "%s exited with %d\n%s" %
                         (proc.name, rc, proc.describe()))

    def assert_not_signalled(self, proc, allowed=()):
        """The process ended by itself or by a signal we sent it, never
        by one it brought on itself (SIGSEGV, SIGBUS, SIGABRT...)."""
        sig = signal_name(proc.rc)
        if sig is not None and -proc.rc not in [int(s) for s in allowed]:
            self.fail("%s was killed by %s\n%s" % (proc.name, sig,
                                                   proc.describe()))

    def assert_alive(self, *procs):
        for p in procs:
            self.assertTrue(p.alive(), "%s exited (%s)\n%s" %
                            (p.name, p.p.returncode, p.describe()))

    def assert_clean_location(self, loc=None):
        """Nothing at the location, and no temporary file next to it."""
        loc = loc or self.loc
        d, base = os.path.split(loc)
        left = [n for n in os.listdir(d)
                if n == base or n.startswith("." + base + ".")]
        self.assertEqual(left, [], "left in %s for %s: %s" % (d, base,
                                                               left))

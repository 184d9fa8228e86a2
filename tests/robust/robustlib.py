"""What the robustness tests (robust.py) and the soak (soak.py) share:
child processes with their output in files, the gst-mmap file's layout
as a test reads and patches it, the writer's and readers' OFD locks, and
the stamped-frame program bench/mmapbench driven line by line.

Layout: format version 2 (docs/FORMAT.md, lib/mmapring-format.h).  Not
one offset is spelled out here: every field table is built from the
Python module's mmapring.layout, which reads the C header's structs and
checks them against its _Static_asserts, so a test that patches a field
patches the one the library reads.
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
# Run by hand from the source tree: the build tree's plugin, benchmark and
# Python module (meson gives all three through the environment).
if "GST_PLUGIN_PATH" not in os.environ:
    os.environ["GST_PLUGIN_PATH"] = os.path.join(SOURCE_ROOT, "build",
                                                 "plugin")
MMAPBENCH = os.environ.get("MMAPBENCH") or os.path.join(
    SOURCE_ROOT, "build", "bench", "mmapbench")
try:
    import mmapring  # noqa: F401
except ImportError:
    sys.path[:0] = [os.path.join(SOURCE_ROOT, "build", "python"),
                    os.path.join(SOURCE_ROOT, "python")]
    os.environ["PYTHONPATH"] = os.pathsep.join(
        sys.path[:2] + [os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
from mmapring import layout  # noqa: E402

sys.path.insert(0, os.path.join(HERE, ".."))
# What every Python test driver shares; re-exported for robust.py/soak.py.
from gstmmaptest import (GST_INSPECT, GST_LAUNCH, PROC_TIMEOUT,  # noqa
                         WAIT_TIMEOUT, Proc, log, signal_name, wait_for)

# --- the file (lib/mmapring-format.h, through mmapring.layout) ---

HEADER_SIZE = layout.HEADER_SIZE
READER_TABLE_OFFSET = layout.READER_TABLE_OFFSET
READER_ENTRY_SIZE = layout.READER_ENTRY_SIZE
READER_MAX = layout.READER_MAX
SLOT_DESC_OFFSET = layout.SLOT_DESC_OFFSET
SLOT_DESC_SIZE = layout.SLOT_DESC_SIZE
SLOT_LOG_OFFSET = layout.SLOT_LOG_OFFSET
SLOT_LOG = layout.SLOT_LOG
CAPS_MAX = layout.CAPS_MAX
WRITER_LOCK_OFFSET = layout.WRITER_LOCK_OFFSET
SLOT_NONE = 0xFFFFFFFF          # slot_log: the writer dropped the frame
LOCK_FILE_SUFFIX = layout.LOCK_FILE_SUFFIX.rstrip(b"\0").decode()

STATE_INIT = layout.STATE_INIT
STATE_RUNNING = layout.STATE_RUNNING
STATE_GONE = layout.STATE_GONE
STATE_REPLACED = layout.STATE_REPLACED

# C element types of the header's fields, as struct(3) formats.
_CTYPES = {"char": "s", "uint8_t": "B", "int32_t": "i", "uint32_t": "I",
           "int64_t": "q", "uint64_t": "Q"}


def _fields(struct_name):
    """name: (offset, struct format) of every field of a struct of
    lib/mmapring-format.h but its reserved bytes, little-endian; arrays
    as "8s" (char[8]) or "64I" (uint32_t[64])."""
    out = {}
    for name, f in layout.ffi.typeof(struct_name).fields:
        if name.startswith("reserved"):
            continue
        t = f.type
        if t.kind == "array":
            fmt = "%d%s" % (t.length, _CTYPES[t.item.cname])
        else:
            fmt = _CTYPES[t.cname]
        if layout.offset(struct_name, name) != f.offset or \
                struct.calcsize("<" + fmt) != layout.field_size(struct_name,
                                                                 name):
            raise ImportError("robustlib: %s.%s does not match the layout" %
                              (struct_name, name))
        out[name] = (f.offset, fmt)
    return out


HEADER_FIELDS = _fields("MmapFileHeader")
ENTRY_FIELDS = _fields("MmapReaderEntry")
DESC_FIELDS = _fields("MmapSlotDesc")
# The live words (FORMAT.md 4.1): from `state` to the end of slot_log.
LIVE_START = HEADER_FIELDS["state"][0]
LIVE_END = SLOT_LOG_OFFSET + 4 * SLOT_LOG


def _unpack(data, fields, base=0):
    out = {}
    for name, (off, fmt) in fields.items():
        v = struct.unpack_from("<" + fmt, data, base + off)
        out[name] = v[0] if len(v) == 1 or fmt.endswith("s") else list(v)
    return out


def parse_header(data):
    """The header fields of `data` (at least 4096 bytes, the start of a
    file) as a dict, slot_log a list; None when it is not a gst-mmap
    header.  `caps` is the caps string (caps_offset, caps_length) when
    `data` holds it, else None."""
    if len(data) < HEADER_SIZE or data[:8] != layout.FORMAT_MAGIC:
        return None
    h = _unpack(data, HEADER_FIELDS)
    off, n = h["caps_offset"], h["caps_length"]
    h["caps"] = None
    if n < CAPS_MAX and off + n <= len(data):
        h["caps"] = data[off:off + n].decode(errors="replace")
    return h


def read_header(path):
    """The header of the file at `path`, with its caps, or None (no file,
    not ours)."""
    try:
        with open(path, "rb") as f:
            h = parse_header(f.read(HEADER_SIZE))
            if h is not None and h["caps_length"] < CAPS_MAX:
                f.seek(h["caps_offset"])
                h["caps"] = f.read(h["caps_length"]).decode(
                    errors="replace")
            return h
    except (FileNotFoundError, IsADirectoryError):
        return None


def entries(path, in_use=True):
    """The reader table's entries (all 64, or those with a reader_id):
    dicts of the entry's fields and `index`."""
    with open(path, "rb") as f:
        f.seek(READER_TABLE_OFFSET)
        data = f.read(READER_MAX * READER_ENTRY_SIZE)
    out = []
    for i in range(len(data) // READER_ENTRY_SIZE):
        e = _unpack(data, ENTRY_FIELDS, i * READER_ENTRY_SIZE)
        e["index"] = i
        if e["reader_id"] or not in_use:
            out.append(e)
    return out


def reader_entries(path):
    """Entries in use: dicts with reader_id, pid, leases (bit mask),
    waiting, ... and `index`."""
    return entries(path)


def leases_of(path, pid):
    """How many slots process `pid` leases in the file now."""
    return sum(bin(e["leases"]).count("1") for e in reader_entries(path)
               if e["pid"] == pid)


def leases_total(path):
    """Slots leased in the file now, all readers together: the bits set in
    every entry's `leases` (FORMAT.md 15; version 1's leases_held counter
    is gone)."""
    return sum(bin(e["leases"]).count("1")
               for e in entries(path, in_use=False))


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


def header_word(name):
    """(offset, struct format) of a header field, for code that reads or
    pokes it in a mapping."""
    return HEADER_FIELDS[name]


def lock_path(loc):
    """The location's lock file, DIR/.NAME.lock (FORMAT.md 3)."""
    d, base = os.path.split(loc)
    return os.path.join(d, "." + base + LOCK_FILE_SUFFIX)


# --- OFD locks (FORMAT.md 11 and 15) ---

F_OFD_GETLK, F_OFD_SETLK = 36, 37


def _flock(l_type, start, length):
    # struct flock on 64-bit Linux (FORMAT.md 11): short type, short
    # whence, off_t start, off_t len, pid_t pid (0), native alignment.
    return struct.pack("hhqqi4x", l_type, os.SEEK_SET, start, length, 0)


def writer_lock_held(path):
    """Whether a live writer holds its file (FORMAT.md 11): ask, on a
    read-only descriptor, whether a read lock on byte 0 would be refused.
    Only a write lock refuses one: read locks anyone took never count."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        r = fcntl.fcntl(fd, F_OFD_GETLK,
                        _flock(fcntl.F_RDLCK, WRITER_LOCK_OFFSET, 1))
    finally:
        os.close(fd)
    return struct.unpack_from("h", r)[0] != fcntl.F_UNLCK


def location_owned(loc):
    """Whether a writer owns the location: the write lock on byte 0 of its
    lock file (FORMAT.md 3); None when there is no lock file."""
    try:
        fd = os.open(lock_path(loc), os.O_WRONLY | os.O_CLOEXEC |
                     os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    try:
        r = fcntl.fcntl(fd, F_OFD_GETLK,
                        _flock(fcntl.F_RDLCK, WRITER_LOCK_OFFSET, 1))
    finally:
        os.close(fd)
    return struct.unpack_from("h", r)[0] != fcntl.F_UNLCK


def hold_writer_lock(path):
    """Takes the writer's lock on `path` as a live writer would; the fd
    holds it until closed."""
    fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    fcntl.fcntl(fd, F_OFD_SETLK, _flock(fcntl.F_WRLCK, WRITER_LOCK_OFFSET,
                                        1))
    return fd


def take_read_lock(fd, start, length):
    """An OFD read lock on [start, start + length) of fd (length 0: to
    the end of the file, however it grows), as anyone who may open the
    file may take; raises OSError when refused."""
    fcntl.fcntl(fd, F_OFD_SETLK, _flock(fcntl.F_RDLCK, start, length))


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

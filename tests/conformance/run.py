#!/usr/bin/python3
"""Runs the conformance files (generate.py) through the front ends and
compares what each outputs with the table (cases.py, as expected.json).

    run.py --files DIR --frontend mmapsrc|c|python|all [--conf-read EXE]
           [NAME...]
    run.py --check-rules docs/FORMAT.md [--files DIR]

For every file and front end: the front end is started on an empty
location (a directory of its own) and says it is waiting; then the file
is put there as a writer would put it: created under a temporary name,
write-locked on byte 0 (an OFD lock, held from an fd kept open, so that
readers see a live writer), then renamed to the location's name, next to
a lock file of the location whose inode the file's lock_ino names (so
that readers take a reader-table entry: futex waits, leases).  What the
front end prints (one JSON line per frame: GstBuffer.offset and a hash
of the bytes, then how it ended) is compared with the verdict: frames,
skipped count, EOS, or the error's status and reason.

The writer's lock is dropped once a front end has output what the
verdict has before "writer-gone", or when it has printed nothing for
IDLE seconds (a reader that waits where the table says it must end):
then it must say that its writer died, and the comparison says what it
did.  A front end that prints nothing for IDLE seconds more is killed
and started again for the next file.

Front ends hash different bytes by design (generate.py): the C API the
slot's payload, mmapsrc the frame in GStreamer's default layout (it
converts other layouts), the Python module its Frame.array.

--check-rules: the table covers FORMAT.md section 6, rule by rule.
"""

import argparse
import fcntl
import json
import os
import re
import select
import shutil
import stat
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

# Seconds without a line from a front end before the runner acts.
IDLE = 10.0
# Seconds a front end may take to start and look at the location.
START = 30.0

FRONTENDS = {
    # name: (argv, the form of the frames' bytes it outputs)
    "mmapsrc": (lambda a: [sys.executable,
                           os.path.join(HERE, "frontend_mmapsrc.py")],
                "default"),
    "c": (lambda a: [a.conf_read], "payload"),
    "python": (lambda a: [sys.executable,
                          os.path.join(HERE, "frontend_python.py")],
               "arrays"),
}


def log(msg=""):
    print(msg, flush=True)


# ---------------------------------------------------------------- locks

def _flock(kind, start, length):
    # struct flock on 64-bit Linux (FORMAT.md section 11).
    return struct.pack("hh4xqqi4x", kind, os.SEEK_SET, start, length, 0)


def write_lock(fd, start=0):
    fcntl.fcntl(fd, fcntl.F_OFD_SETLK, _flock(fcntl.F_WRLCK, start, 1))


# ---------------------------------------------------------------- placing

def copy_sparse(src, dst_fd):
    """Copies src into dst_fd, holes left as holes (a 4 GiB sticky area
    costs nothing)."""
    with open(src, "rb") as f:
        fd = f.fileno()
        size = os.fstat(fd).st_size
        at = 0
        while at < size:
            try:
                data = os.lseek(fd, at, os.SEEK_DATA)
            except OSError:
                break                   # only a hole is left
            hole = os.lseek(fd, data, os.SEEK_HOLE)
            while data < hole:
                chunk = os.pread(fd, min(hole - data, 1 << 20), data)
                os.pwrite(dst_fd, chunk, data)
                data += len(chunk)
            at = hole
        os.ftruncate(dst_fd, size)


class Location:
    """A directory of its own with an empty location in it; place() puts
    a file there as a live writer would."""

    def __init__(self, root):
        self.dir = tempfile.mkdtemp(prefix="loc-", dir=root)
        self.path = os.path.join(self.dir, "stream")
        self.fds = []

    def place(self, src):
        from mmapring import layout
        tmp = os.path.join(self.dir, ".stream.conf%d" % os.getpid())
        if stat.S_ISFIFO(os.lstat(src).st_mode):
            os.mkfifo(tmp, 0o600)
            os.rename(tmp, self.path)
            return
        lock_fd = os.open(os.path.join(self.dir, ".stream" +
                                       layout.LOCK_FILE_SUFFIX.decode()
                                       .rstrip("\0")),
                          os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o200)
        write_lock(lock_fd, layout.WRITER_LOCK_OFFSET)
        self.fds.append(lock_fd)
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC,
                     0o600)
        write_lock(fd, layout.WRITER_LOCK_OFFSET)
        self.fds.append(fd)
        copy_sparse(src, fd)
        head = os.pread(fd, len(layout.FORMAT_MAGIC), 0)
        if head == layout.FORMAT_MAGIC and \
                os.fstat(fd).st_size >= layout.HEADER_SIZE:
            os.pwrite(fd, struct.pack("<Q", os.fstat(lock_fd).st_ino),
                      layout.offset("MmapFileHeader", "lock_ino"))
        os.rename(tmp, self.path)

    def writer_leaves(self):
        """The writer dies: its locks go with its fds."""
        for fd in self.fds:
            os.close(fd)
        self.fds = []

    def remove(self):
        self.writer_leaves()
        shutil.rmtree(self.dir, ignore_errors=True)


# ---------------------------------------------------------------- front ends

class FrontEnd:
    """A front end process: locations on its stdin, JSON lines out."""

    def __init__(self, name, argv, logdir):
        self.name = name
        self.argv = argv
        self.err_path = os.path.join(logdir, name + ".stderr")
        self.p = None

    def start(self):
        with open(self.err_path, "ab") as err:
            self.p = subprocess.Popen(self.argv, stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, stderr=err)
        self.buf = b""

    def send(self, line):
        if self.p is not None and self.p.poll() is not None:
            self.p = None
        if self.p is None:
            self.start()
        self.p.stdin.write((line + "\n").encode())
        self.p.stdin.flush()

    def line(self, timeout):
        """The next JSON line; None after `timeout` s; {"end": "crashed"}
        if the process is gone."""
        deadline = time.monotonic() + timeout
        fd = self.p.stdout.fileno()
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            if select.select([fd], [], [], left)[0]:
                chunk = os.read(fd, 65536)
                if not chunk:
                    rc = self.p.wait()
                    self.p = None
                    return {"end": "crashed", "rc": rc}
                self.buf += chunk
        raw, self.buf = self.buf.split(b"\n", 1)
        try:
            return json.loads(raw)
        except ValueError:
            return {"garbage": raw.decode(errors="replace")}

    def kill(self):
        if self.p is not None:
            self.p.kill()
            self.p.wait()
            self.p = None

    def stop(self):
        if self.p is not None:
            self.p.stdin.close()
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
            self.p = None

    def stderr_tail(self, n=1500):
        try:
            with open(self.err_path, errors="replace") as f:
                return f.read()[-n:]
        except OSError:
            return ""


def run_one(fe, exp, files_dir, root):
    """What front end `fe` does with the file of verdict `exp`."""
    loc = Location(root)
    got = {"frames": [], "end": None, "events": [], "location": loc.path}
    try:
        fe.send(loc.path)
        first = fe.line(START)
        if first is None or "waiting" not in first:
            got["end"] = (first or {}).get("end", "no waiting line")
            got["events"].append(first)
            if first is None:
                fe.kill()
            return got
        loc.place(os.path.join(files_dir, exp["name"]))
        release_at = len(exp["frames"]) if exp["end"] == "writer-gone" \
            else None
        while True:
            if release_at is not None and loc.fds and \
                    len(got["frames"]) >= release_at:
                loc.writer_leaves()
            msg = fe.line(IDLE)
            if msg is None and loc.fds:
                got["events"].append("nothing for %g s while the writer "
                                     "lived: the writer leaves" % IDLE)
                loc.writer_leaves()
                continue
            if msg is None:
                got["end"] = "nothing for %g s after the writer left" % IDLE
                fe.kill()
                return got
            if "frame" in msg:
                got["frames"].append([msg["frame"], msg["hash"]])
            elif "end" in msg:
                got.update(msg)
                return got
            else:
                got["events"].append(msg)
    finally:
        loc.remove()


def compare(exp, got, key):
    """What is wrong with `got` (a list of sentences)."""
    bad = []
    want = [[f["offset"], f[key]] for f in exp["frames"]]
    if got["frames"] != want:
        bad.append("frames differ")
    if got["end"] != exp["end"]:
        bad.append("ends with %r, not %r" % (got["end"], exp["end"]))
    elif exp["skipped"] is not None and got.get("skipped") != exp["skipped"]:
        bad.append("skipped %r, not %r" % (got.get("skipped"),
                                           exp["skipped"]))
    if got["end"] == exp["end"] == "error":
        if got.get("status") != exp["status"]:
            bad.append("status %r, not %r" % (got.get("status"),
                                              exp["status"]))
        if exp["reason"] not in got.get("message", ""):
            bad.append("the message does not say %r" % exp["reason"])
        if got["location"] not in got.get("message", ""):
            # FORMAT.md 2: a refusal says the path and the reason.
            bad.append("the message does not name the location")
    if got["end"] == exp["end"] == "writer-gone" and \
            exp["reason"] not in got.get("reason", ""):
        bad.append("the reason does not say %r" % exp["reason"])
    return bad


def describe_expected(exp, key):
    out = "end %s" % exp["end"]
    if exp["end"] == "error":
        out += ", status %r, reason %r" % (exp["status"], exp["reason"])
    elif exp["skipped"] is not None:
        out += ", skipped %d" % exp["skipped"]
    frames = [[f["offset"], f[key]] for f in exp["frames"]]
    return "%s, frames %s" % (out, json.dumps(frames))


def describe_got(got):
    extra = {k: v for k, v in got.items()
             if k not in ("frames", "end", "events", "location")}
    out = "end %s %s, frames %s" % (got["end"], json.dumps(extra),
                                    json.dumps(got["frames"]))
    if got["events"]:
        out += "\n        events: %s" % json.dumps(got["events"])
    return out


def run(args):
    with open(os.path.join(args.files, "expected.json")) as f:
        verdicts = json.load(f)
    if args.names:
        unknown = set(args.names) - {v["name"] for v in verdicts}
        if unknown:
            sys.exit("no such files: %s" % ", ".join(sorted(unknown)))
        verdicts = [v for v in verdicts if v["name"] in args.names]
    names = list(FRONTENDS) if args.frontend == "all" else [args.frontend]
    root = tempfile.mkdtemp(prefix="gst-mmap-conformance-",
                            dir="/dev/shm" if os.access("/dev/shm", os.W_OK)
                            else None)
    fes = [FrontEnd(n, FRONTENDS[n][0](args), root) for n in names]
    failures = []
    try:
        for exp in verdicts:
            verdict_of = {}
            for fe in fes:
                key = FRONTENDS[fe.name][1]
                got = run_one(fe, exp, args.files, root)
                bad = compare(exp, got, key)
                verdict_of[fe.name] = "ok" if not bad else "FAIL"
                if bad:
                    failures.append((exp["name"], fe.name))
                    log("FAIL %s [%s]: %s" % (exp["name"], fe.name,
                                              "; ".join(bad)))
                    log("    file:     %s (%s%s)" % (
                        exp["what"] or exp["category"], exp["category"],
                        ", " + exp["rule"] if exp["rule"] else ""))
                    if exp["note"]:
                        log("    why:      %s" % exp["note"])
                    log("    expected: %s" % describe_expected(exp, key))
                    log("    got:      %s" % describe_got(got))
                    if got["end"] in ("crashed",) or \
                            str(got["end"]).startswith("nothing"):
                        log("    stderr:   %s" % fe.stderr_tail())
            log("%-40s %s" % (exp["name"], "  ".join(
                "%s %s" % (n, v) for n, v in verdict_of.items())))
    finally:
        for fe in fes:
            fe.stop()
        shutil.rmtree(root, ignore_errors=True)
    log()
    log("%d files x %d front ends: %d failed" % (len(verdicts), len(fes),
                                                 len(failures)))
    for name, fe in failures:
        log("  %s [%s]" % (name, fe))
    return 1 if failures else 0


# ---------------------------------------------------------------- rules

def format_rules(path):
    """[(id, text)] of the rules of FORMAT.md section 6: its numbered
    checks of a file, then its checks of every frame (the bullets)."""
    with open(path) as f:
        text = f.read()
    sec = text[text.index("\n## 6."):text.index("\n## 7.")]
    files, frames = sec.split("\nFor every frame", 1)
    frames = frames.split("\nA descriptor copy can be torn", 1)[0]
    out = []
    numbered = re.findall(r"^(\d+)\. (.*)$", files, re.M)
    for i, (n, line) in enumerate(numbered, 1):
        if int(n) != i:
            raise ValueError("FORMAT.md section 6: rule %s after %d" %
                             (n, i - 1))
        out.append(("header-%s" % n, line))
    for i, line in enumerate(re.findall(r"^- (.*)$", frames, re.M), 1):
        out.append(("frame-%d" % i, line))
    return out


def check_rules(args):
    import cases
    bad = []
    rules = format_rules(args.check_rules)
    ids = [i for i, _ in rules]
    if ids != list(cases.RULES):
        bad.append("FORMAT.md section 6 has the rules %s; cases.RULES has "
                   "%s" % (ids, list(cases.RULES)))
    for rid, text in rules:
        files = [c.name for c in cases.CASES if c.rule == rid]
        log("%-10s %-3d %s" % (rid, len(files), text[:60]))
        if not files:
            bad.append("no file for %s (%s)" % (rid, text))
    for c in cases.CASES:
        if c.rule is not None and c.rule not in cases.RULES:
            bad.append("%s names rule %s, which FORMAT.md does not have" %
                       (c.name, c.rule))
        if (c.rule is None) != (c.category in ("valid", "mid-update")):
            bad.append("%s (%s): a broken file names the rule it breaks, "
                       "only those" % (c.name, c.category))
    if args.files:
        with open(os.path.join(args.files, "expected.json")) as f:
            generated = [v["name"] for v in json.load(f)]
        if generated != [c.name for c in cases.CASES]:
            bad.append("%s/expected.json is not the table's files: "
                       "generate again" % args.files)
        for name in generated:
            if not os.path.lexists(os.path.join(args.files, name)):
                bad.append("%s was not generated" % name)
    for b in bad:
        log("FAIL " + b)
    log("%d rules, %d files: %s" % (len(rules), len(cases.CASES),
                                    "FAIL" if bad else "ok"))
    return 1 if bad else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", help="generate.py's output directory")
    ap.add_argument("--frontend", choices=list(FRONTENDS) + ["all"])
    ap.add_argument("--conf-read", help="the conf-read program")
    ap.add_argument("--check-rules", metavar="FORMAT_MD")
    ap.add_argument("names", nargs="*", help="only these files")
    args = ap.parse_args()
    if args.check_rules:
        return check_rules(args)
    if not args.files or not args.frontend:
        ap.error("--files and --frontend (or --check-rules)")
    if args.frontend in ("c", "all") and not args.conf_read:
        ap.error("the C front end needs --conf-read")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())

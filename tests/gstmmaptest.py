"""What the Python test drivers (twoproc, clients, robust, soak, shapes,
waiting, recipes, metas) share: child processes with their output in
files, waiting for a condition, a test case with a location of its own,
and where the GStreamer tools are.  Imported with tests/ on sys.path.
"""

import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

GST_LAUNCH = shutil.which("gst-launch-1.0") or "/usr/bin/gst-launch-1.0"
GST_INSPECT = shutil.which("gst-inspect-1.0") or "/usr/bin/gst-inspect-1.0"

# Longest any one process may take, in seconds: only a hang gets there.
PROC_TIMEOUT = 40
# How long to wait for something to happen (a message, a file, frames).
WAIT_TIMEOUT = 20


def log(msg):
    print(msg, flush=True)


def wait_for(what, predicate, timeout=WAIT_TIMEOUT, interval=0.01):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(interval)


def waits_for_a_file(pid):
    """True once process `pid` watches a directory with inotify: a reader
    of ours with no file at its location yet.  Such a reader has waited
    for the writer, and reads all of it from its first frame."""
    fdinfo = "/proc/%d/fdinfo" % pid
    try:
        names = os.listdir(fdinfo)
    except FileNotFoundError:
        return False
    for n in names:
        try:
            with open(os.path.join(fdinfo, n)) as f:
                if "inotify wd:" in f.read():
                    return True
        except (FileNotFoundError, PermissionError):
            pass
    return False


def signal_name(rc):
    """'SIGBUS' for an exit code of -7, None for a normal exit."""
    if rc is None or rc >= 0:
        return None
    try:
        return signal.Signals(-rc).name
    except ValueError:
        return "signal %d" % -rc


class Proc:
    """A child process with its output in files (no pipe to fill up) and,
    when asked, a pipe on its stdin for commands."""

    def __init__(self, name, argv, tmpdir, stdin=False, env=None,
                 umask=None):
        self.name = name
        self.argv = argv
        self.out_path = os.path.join(tmpdir, name + ".out")
        self.err_path = os.path.join(tmpdir, name + ".err")
        self.sent = []          # signals we sent it
        preexec = (lambda: os.umask(umask)) if umask is not None else None
        with open(self.out_path, "wb") as out, \
                open(self.err_path, "wb") as err:
            self.p = subprocess.Popen(
                argv, stdout=out, stderr=err, env=env, preexec_fn=preexec,
                stdin=subprocess.PIPE if stdin else subprocess.DEVNULL)
        self.pid = self.p.pid
        self.rc = None

    def stdout(self):
        with open(self.out_path, errors="replace") as f:
            return f.read()

    def stderr(self):
        with open(self.err_path, errors="replace") as f:
            return f.read()

    def alive(self):
        return self.p.poll() is None

    def send(self, line):
        """One command line on stdin; False if the process is gone."""
        try:
            self.p.stdin.write((line + "\n").encode())
            self.p.stdin.flush()
            return True
        except (BrokenPipeError, ValueError):
            return False

    def signal(self, sig):
        if self.alive():
            self.sent.append(sig)
            self.p.send_signal(sig)

    def wait(self, timeout=PROC_TIMEOUT):
        """The exit code; kills the process and fails if it hangs."""
        try:
            self.rc = self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("%s did not exit within %d s\n%s" %
                                 (self.name, timeout, self.describe()))
        return self.rc

    def kill(self):
        if self.p.poll() is None:
            try:
                os.kill(self.pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
            self.p.kill()
            self.p.wait()
        if self.p.stdin:
            try:
                self.p.stdin.close()
            except BrokenPipeError:
                pass

    def describe(self):
        return ("--- %s (pid %d): %s\n--- stdout (tail):\n%s\n--- stderr "
                "(tail):\n%s" % (self.name, self.pid, " ".join(self.argv),
                                 self.stdout()[-3000:],
                                 self.stderr()[-3000:]))


class LocationTest(unittest.TestCase):
    """A test case with a scratch directory for its processes' output
    (self.tmp), a location in /dev/shm (self.loc) and the processes it
    started (self.procs): at the end the processes are killed and the
    location's file and lock file removed.  PREFIX names both."""

    PREFIX = "gst-mmap-test"

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix=self.PREFIX + "-")
        self.loc = "/dev/shm/%s-%d" % (self.PREFIX, os.getpid())
        self.procs = []

    def tearDown(self):
        for p in self.procs:
            p.kill()
        shutil.rmtree(self.tmp, ignore_errors=True)
        for f in (self.loc, os.path.join(
                "/dev/shm", "." + os.path.basename(self.loc) + ".lock")):
            try:
                os.unlink(f)
            except (FileNotFoundError, IsADirectoryError):
                pass

#!/usr/bin/python3
"""Tests of gst-mmap-info (tools/): what it shows of real streams, written
by mmapsink in gst-launch-1.0 and read by mmapsrc in gst-launch-1.0, as
text and as JSON; what it says of a dead writer's file and how
--remove-stale cleans up after it; directories of several streams with
foreign and refused files among them; exit codes.

Run by meson (tests/info/meson.build), one case per meson test:
    /usr/bin/python3 info.py Info.test_<case>
Run by hand from the source tree it uses build/ (plugin, tools) unless
GST_PLUGIN_PATH and GST_MMAP_INFO say otherwise.

Every process gets a timeout: a hang fails the test, it never blocks it.
Streams live in locations of this test's own under /dev/shm, removed at
the end with what their writers left next to them.
"""

import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.path.join(HERE, "..", "..", "build")
if "GST_PLUGIN_PATH" not in os.environ:
    os.environ["GST_PLUGIN_PATH"] = os.path.join(BUILD, "plugin")
INFO = os.environ.get("GST_MMAP_INFO") or os.path.join(
    BUILD, "tools", "gst-mmap-info")

sys.path.insert(0, os.path.join(HERE, ".."))
from gstmmaptest import (GST_INSPECT, GST_LAUNCH, PROC_TIMEOUT,  # noqa: E402
                         Proc, log, wait_for)

CAPS = "video/x-raw,format=I420,width=320,height=240,framerate=30/1"
SUMMARY = "video/x-raw I420 320x240@30"
# Each look starts the tool: not more often than this (seconds).
POLL = 0.1


def poll(what, predicate, timeout=None):
    if timeout is None:
        return wait_for(what, predicate, interval=POLL)
    return wait_for(what, predicate, timeout=timeout, interval=POLL)


def list_line(out, loc):
    """The columns of loc's line in the text list, or None."""
    for ln in out.splitlines():
        cols = ln.split()
        if cols[:1] == [loc]:
            if cols[1] == "refused:":
                return {"refused": " ".join(cols[2:])}
            return {"caps": " ".join(cols[1:-5]), "pid": cols[-5],
                    "state": cols[-4], "frames": int(cols[-3]),
                    "fps": float(cols[-2]), "readers": int(cols[-1])}
    return None


class Info(unittest.TestCase):

    def setUp(self):
        self.case = self.id().rsplit(".", 1)[-1].replace("test_", "")
        self.logdir = tempfile.mkdtemp(prefix="gst-mmap-info-%s-" % self.case)
        # Directly in /dev/shm: the default directory is listed too.
        self.loc = "/dev/shm/gst-mmap-info-test-%d-%s" % (os.getpid(),
                                                          self.case)
        self.dirs = []
        self.procs = []
        # Fill this test's registry once, before processes run at once.
        r = subprocess.run([GST_INSPECT, "mmapsink"], capture_output=True,
                           text=True, timeout=PROC_TIMEOUT)
        self.assertEqual(r.returncode, 0,
                         "gst-inspect-1.0 mmapsink: plugin not found\n" +
                         r.stderr)

    def tearDown(self):
        for p in self.procs:
            p.kill()
        d, base = os.path.split(self.loc)
        for name in os.listdir(d):
            if name == base or name.startswith("." + base + "."):
                os.unlink(os.path.join(d, name))
        for d in self.dirs:
            shutil.rmtree(d, ignore_errors=True)
        shutil.rmtree(self.logdir, ignore_errors=True)

    # --- helpers ---

    def stream_dir(self):
        """A directory of this test's own under /dev/shm."""
        d = tempfile.mkdtemp(prefix="gst-mmap-info-test-%s-" % self.case,
                             dir="/dev/shm")
        self.dirs.append(d)
        return d

    def launch(self, name, pipeline):
        p = Proc(name, [GST_LAUNCH] + pipeline.split(), self.logdir)
        self.procs.append(p)
        return p

    def writer(self, loc, caps=CAPS, name="writer"):
        w = self.launch(name, "videotestsrc is-live=true ! %s ! "
                        "mmapsink location=%s" % (caps, loc))
        poll("%s to publish" % name,
                 lambda: self.stream_if(loc, lambda s: s["write_seq"] > 0,
                                        w))
        return w

    def reader(self, loc, name, options=""):
        return self.launch(name, "mmapsrc location=%s %s ! fakesink" %
                           (loc, options))

    def run_info(self, *args, expect=0):
        r = subprocess.run([INFO] + list(args), capture_output=True,
                           text=True, timeout=PROC_TIMEOUT)
        log("$ gst-mmap-info %s -> %d" % (" ".join(args), r.returncode))
        self.assertEqual(r.returncode, expect,
                         "gst-mmap-info %s: exit %d\n--- stdout:\n%s\n"
                         "--- stderr:\n%s" % (" ".join(args), r.returncode,
                                              r.stdout, r.stderr))
        return r

    def json_info(self, *args, expect=0):
        r = self.run_info("--json", *args, expect=expect)
        return json.loads(r.stdout)

    def stream_if(self, loc, predicate, writer=None):
        """The JSON of loc when the tool can open it and predicate holds."""
        if writer is not None:
            self.assertTrue(writer.alive(), writer.describe())
        r = subprocess.run([INFO, "--json", loc], capture_output=True,
                           text=True, timeout=PROC_TIMEOUT)
        if r.returncode != 0:
            return None
        s = json.loads(r.stdout)
        return s if predicate(s) else None

    def readers_by_pid(self, s):
        return {r["pid"]: r for r in s["readers"]}

    def running_with_readers(self):
        """A 30 fps writer and two readers (the second with max-lag=1), the
        first frozen with SIGSTOP once both read; its JSON then."""
        w = self.writer(self.loc)
        r1 = self.reader(self.loc, "frozen")
        r2 = self.reader(self.loc, "freshest", "max-lag=1")

        def both_read(s):
            rs = self.readers_by_pid(s)
            return all(p in rs and rs[p]["last_seq"] > 0
                       for p in (r1.pid, r2.pid))
        poll("both readers to read",
             lambda: self.stream_if(self.loc, both_read, w))
        r1.signal(signal.SIGSTOP)
        return w, r1, r2

    def lag_of(self, s, reader):
        return self.readers_by_pid(s)[reader.pid]["lag"]

    # --- a running stream with two readers ---

    def test_running_stream_text(self):
        w, frozen, fresh = self.running_with_readers()

        # The list of /dev/shm: a line of its own for this stream.
        def listed():
            return list_line(self.run_info().stdout, self.loc)
        line = poll("the stream in the list", listed)
        log("list: %s" % line)
        self.assertEqual(line["caps"], SUMMARY)
        self.assertEqual((line["pid"], line["state"]),
                         (str(w.pid), "running"))
        self.assertGreater(line["frames"], 0)
        self.assertEqual(line["readers"], 2)
        poll("the list's fps near 30",
             lambda: 20 < listed()["fps"] < 40, timeout=5)

        # The stream in full: caps, writer, both readers.
        out = self.run_info(self.loc).stdout
        log(out)
        self.assertIn("format=(string)I420, width=(int)320, "
                      "height=(int)240, framerate=(fraction)30/1", out)
        self.assertIn("summary       %s\n" % SUMMARY, out)
        self.assertIn("writer        pid %d, running\n" % w.pid, out)
        self.assertIn("slots         8 of 115200 bytes", out)
        self.assertRegex(out, r"\n  rate          [0-9.]+ fps")
        self.assertIn("readers       2\n", out)
        rows = {}
        for ln in out.splitlines():
            f = ln.split()
            if len(f) == 11 and f[0].isdigit():
                rows[int(f[1])] = f
        self.assertEqual(set(rows), {frozen.pid, fresh.pid})
        self.assertEqual(rows[fresh.pid][2], "alive")
        self.assertEqual(rows[frozen.pid][2], "alive")    # stopped, alive
        self.assertEqual(rows[fresh.pid][9], "1")        # max-lag
        self.assertEqual(rows[frozen.pid][9], "0")
        self.assertIn("removable     no: its writer is alive", out)

        # The frozen reader's lag grows from look to look.
        def lag_text():
            for ln in self.run_info(self.loc).stdout.splitlines():
                f = ln.split()
                if len(f) == 11 and f[1] == str(frozen.pid):
                    return int(f[6])
        lag = lag_text()
        poll("the frozen reader's lag to grow",
             lambda: lag_text() >= lag + 15)

    def test_running_stream_json(self):
        w, frozen, fresh = self.running_with_readers()

        s = poll("fps near 30", lambda: self.stream_if(
            self.loc, lambda s: 20 < s["fps"] < 40, w), timeout=5)
        log(json.dumps(s, indent=2))
        self.assertEqual(s["location"], self.loc)
        self.assertIn("format=(string)I420", s["caps"])
        self.assertEqual(s["media_type"], "video/x-raw")
        self.assertEqual(s["summary"], SUMMARY)
        self.assertEqual(s["state"], "running")
        self.assertEqual(s["writer_pid"], w.pid)
        self.assertTrue(s["writer_pid_local"])
        self.assertEqual(s["slot_count"], 8)
        self.assertEqual(s["slot_capacity"], 320 * 240 * 3 // 2)
        self.assertGreaterEqual(s["slot_stride"], s["slot_capacity"])
        self.assertGreater(s["file_size"], 8 * s["slot_capacity"])
        self.assertGreater(s["write_seq"], 0)
        self.assertEqual(s["reader_count"], 2)
        self.assertFalse(s["removable"])
        self.assertEqual(s["stale_files"], [])
        rs = self.readers_by_pid(s)
        self.assertEqual(set(rs), {frozen.pid, fresh.pid})
        for r in rs.values():
            self.assertEqual(r["state"], "alive")
            self.assertTrue(r["zero_copy"])
            self.assertGreater(r["frames_read"], 0)
            self.assertTrue(all(0 <= k < 8 for k in r["leases"]))
        self.assertEqual(rs[fresh.pid]["max_lag"], 1)
        self.assertEqual(rs[frozen.pid]["max_lag"], 0)

        # The frozen reader falls behind; the other one keeps up.
        lag = self.lag_of(s, frozen)
        s = poll("the frozen reader's lag to grow", lambda: self.stream_if(
            self.loc, lambda s: self.lag_of(s, frozen) >= lag + 30, w))
        rs = self.readers_by_pid(s)
        self.assertEqual(rs[frozen.pid]["last_seq"] + rs[frozen.pid]["lag"],
                         s["write_seq"])
        self.assertLess(rs[fresh.pid]["lag"], rs[frozen.pid]["lag"])

        # The list of /dev/shm holds the same object.
        listed = [x for x in self.json_info() if x["location"] == self.loc]
        self.assertEqual(len(listed), 1)
        self.assertEqual(listed[0]["writer_pid"], w.pid)
        self.assertEqual(len(listed[0]["readers"]), 2)

    def test_watch(self):
        w = self.writer(self.loc)
        p = Proc("watch-json", [INFO, "--json", "--watch", "--interval",
                                "0.2", self.loc], self.logdir)
        self.procs.append(p)
        poll("three looks", lambda: p.stdout().count("\n") >= 3)
        p.signal(signal.SIGINT)
        self.assertEqual(p.wait(), 0, p.describe())
        docs = [json.loads(ln) for ln in p.stdout().splitlines()]
        self.assertGreaterEqual(len(docs), 3)
        self.assertTrue(all(d["writer_pid"] == w.pid for d in docs))
        seqs = [d["write_seq"] for d in docs]
        self.assertEqual(seqs, sorted(seqs))
        self.assertGreater(seqs[-1], seqs[0])

        p = Proc("watch-text", [INFO, "--watch", "-i", "0.2"], self.logdir)
        self.procs.append(p)
        poll("two screens", lambda: p.stdout().count("\033[2J") >= 2)
        p.signal(signal.SIGTERM)
        self.assertEqual(p.wait(), 0, p.describe())
        screens = p.stdout().split("\033[H\033[2J")[1:]
        self.assertTrue(all(self.loc in sc for sc in screens[:-1]), screens)

    def test_writer_in_another_pid_namespace(self):
        unshare = shutil.which("unshare")
        if not unshare or subprocess.run(
                [unshare, "--pid", "--fork", "--mount-proc", "true"],
                capture_output=True, timeout=PROC_TIMEOUT).returncode != 0:
            self.skipTest("cannot make a PID namespace here (unshare)")
        # gst-launch-1.0 is pid 1 there; it dies with unshare.
        w = Proc("writer", [unshare, "--pid", "--fork", "--mount-proc",
                            "--kill-child", GST_LAUNCH] +
                 ("videotestsrc is-live=true ! %s ! mmapsink location=%s" %
                  (CAPS, self.loc)).split(), self.logdir)
        self.procs.append(w)
        s = poll("the writer to publish", lambda: self.stream_if(
            self.loc, lambda s: s["write_seq"] > 0, w))
        self.assertEqual(s["writer_pid"], 1)
        self.assertFalse(s["writer_pid_local"])
        self.assertEqual(s["state"], "running")
        out = self.run_info().stdout
        self.assertEqual(list_line(out, self.loc)["pid"], "1*")
        self.assertIn("\n* pid in another PID namespace\n", out)
        self.assertIn("writer        pid 1 (in another PID namespace), "
                      "running\n", self.run_info(self.loc).stdout)

    # --- a dead writer's file, and removing it ---

    def test_dead_writer_removed(self):
        w = self.writer(self.loc)
        lock = os.path.join(os.path.dirname(self.loc),
                            "." + os.path.basename(self.loc) + ".lock")
        self.assertTrue(os.path.exists(lock))
        w.signal(signal.SIGKILL)
        w.wait()

        s = self.json_info(self.loc)
        self.assertEqual(s["state"], "dead")
        self.assertEqual(s["writer_pid"], w.pid)
        self.assertTrue(s["removable"])
        self.assertEqual(s["stale_files"], [lock])
        out = self.run_info(self.loc).stdout
        self.assertIn("writer        pid %d, dead\n" % w.pid, out)
        self.assertIn("stale files\n    %s\n" % lock, out)
        self.assertIn("removable     yes: gst-mmap-info --remove-stale %s\n"
                      % self.loc, out)
        line = list_line(self.run_info().stdout, self.loc)
        self.assertEqual((line["pid"], line["state"]), (str(w.pid), "dead"))

        r = self.run_info("--remove-stale", self.loc)
        self.assertEqual(r.stdout.splitlines(),
                         ["removed " + self.loc, "removed " + lock])
        self.assertFalse(os.path.exists(self.loc))
        self.assertFalse(os.path.exists(lock))

        # Nothing left: the location is not found.
        r = self.run_info("--remove-stale", self.loc, expect=1)
        self.assertIn(self.loc, r.stderr)
        self.assertEqual(r.stdout, "")
        r = self.run_info(self.loc, expect=1)
        self.assertIn("No such file or directory", r.stderr)

    def test_remove_stale_refuses_live_stream(self):
        w = self.writer(self.loc)
        r = self.run_info("--remove-stale", self.loc, expect=1)
        self.assertIn("%s: in use by another writer (pid %d)" %
                      (self.loc, w.pid), r.stderr)
        self.assertEqual(r.stdout, "")
        d = self.json_info("--remove-stale", self.loc, expect=1)
        self.assertEqual(d["error"]["status"], "busy")
        self.assertIn("pid %d" % w.pid, d["error"]["message"])
        self.assertEqual(d["removed"], [])
        # Untouched: the writer goes on in the same file.
        self.assertTrue(w.alive(), w.describe())
        seq = self.json_info(self.loc)["write_seq"]
        poll("more frames", lambda: self.stream_if(
            self.loc, lambda s: s["state"] == "running" and
            s["write_seq"] > seq, w))

    # --- directories ---

    def test_directory_of_three_streams(self):
        d = self.stream_dir()
        caps = {
            "a": (CAPS, SUMMARY),
            "b": ("video/x-raw,format=RGB,width=160,height=120,"
                  "framerate=15/1", "video/x-raw RGB 160x120@15"),
            "c": ("video/x-raw,format=GRAY8,width=64,height=48,"
                  "framerate=10/1", "video/x-raw GRAY8 64x48@10"),
        }
        writers = {n: self.writer(os.path.join(d, n), c[0], "writer-" + n)
                   for n, c in caps.items()}
        # What is not a stream: a foreign file, a hidden one, a directory.
        with open(os.path.join(d, "foreign"), "w") as f:
            f.write("not a gst-mmap file\n" * 300)
        with open(os.path.join(d, ".hidden"), "w") as f:
            f.write("hidden\n")
        os.mkdir(os.path.join(d, "subdir"))

        out = self.run_info("-d", d).stdout
        log(out)
        lines = out.splitlines()
        self.assertEqual(lines[0].split(), ["LOCATION", "CAPS", "PID",
                                            "STATE", "FRAMES", "FPS",
                                            "READERS"])
        self.assertEqual(len(lines), 4, out)
        for ln, (n, c) in zip(lines[1:], sorted(caps.items())):
            line = list_line(ln, os.path.join(d, n))
            self.assertIsNotNone(line, ln)
            self.assertEqual(line["caps"], c[1])
            self.assertEqual((line["pid"], line["state"]),
                             (str(writers[n].pid), "running"))
            self.assertEqual(line["readers"], 0)
        for name in ("foreign", "hidden", "subdir"):
            self.assertNotIn(name, out)

        listed = self.json_info("--dir", d)
        self.assertEqual([s["location"] for s in listed],
                         [os.path.join(d, n) for n in sorted(caps)])
        self.assertEqual([s["summary"] for s in listed],
                         [caps[n][1] for n in sorted(caps)])
        self.assertTrue(all(s["state"] == "running" for s in listed))

        # A name without a slash is a stream of the directory.
        s = self.json_info("-d", d, "b")
        self.assertEqual(s["location"], os.path.join(d, "b"))
        self.assertEqual(s["writer_pid"], writers["b"].pid)

    def test_refused_file_listed_with_reason(self):
        d = self.stream_dir()
        # The magic and version of a gst-mmap file, but not its header.
        with open(os.path.join(d, "short"), "wb") as f:
            f.write(b"GSTMMAP\0" + struct.pack("<I", 2) + bytes(88))
        with open(os.path.join(d, "foreign"), "wb") as f:
            f.write(bytes(8192))
        out = self.run_info("-d", d).stdout
        log(out)
        lines = out.splitlines()
        self.assertEqual(len(lines), 2, out)
        self.assertRegex(lines[1], r"^%s +refused: truncated: 100 bytes" %
                         re.escape(os.path.join(d, "short")))
        listed = self.json_info("-d", d)
        self.assertEqual(len(listed), 1)
        self.assertEqual(listed[0]["location"], os.path.join(d, "short"))
        self.assertEqual(listed[0]["error"]["status"], "truncated")
        self.assertNotIn("caps", listed[0])
        # Asked for by name, it is an error on the location.
        r = self.run_info(os.path.join(d, "short"), expect=1)
        self.assertIn("truncated", r.stderr)

    def test_empty_directory(self):
        d = self.stream_dir()
        self.assertEqual(self.run_info("-d", d).stdout,
                         "no gst-mmap streams in %s\n" % d)
        self.assertEqual(self.json_info("-d", d), [])

    # --- exit codes ---

    def test_exit_codes(self):
        d = self.stream_dir()
        missing = os.path.join(d, "missing")
        foreign = os.path.join(d, "foreign")
        with open(foreign, "w") as f:
            f.write("hello\n")

        r = self.run_info(missing, expect=1)
        self.assertIn(missing, r.stderr)
        e = self.json_info(missing, expect=1)
        self.assertEqual(e["location"], missing)
        self.assertEqual(e["error"]["status"], "not_found")
        e = self.json_info(foreign, expect=1)
        self.assertEqual(e["error"]["status"], "not_ours")
        self.run_info("-d", d, expect=0)
        self.run_info("-d", missing, expect=1)
        self.run_info("--remove-stale", missing, expect=1)
        r = self.run_info("--remove-stale", foreign, expect=1)
        self.assertTrue(os.path.exists(foreign))

        for args in (["--no-such-option"], [missing, foreign],
                     ["--remove-stale"], ["--remove-stale", missing, foreign],
                     ["--watch", "--remove-stale", missing]):
            r = self.run_info(*args, expect=2)
            self.assertIn("usage:", r.stderr)
        for interval in ("0", "soon", "-1"):
            r = self.run_info("--watch", "-i", interval, expect=2)
            self.assertIn("bad interval", r.stderr)
        self.assertIn("usage:", self.run_info("--help").stdout)
        self.assertIn("format version 2", self.run_info("--version").stdout)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--registered":
        cases = {n[len("test_"):] for n in
                 unittest.TestLoader().getTestCaseNames(Info)}
        missing = sorted(cases - set(sys.argv[2:]))
        unknown = sorted(set(sys.argv[2:]) - cases)
        print("%d cases, %d registered in tests/info/meson.build" %
              (len(cases), len(set(sys.argv[2:]) & cases)))
        if missing or unknown:
            sys.exit("not run by meson: %s; no such case: %s" %
                     (missing, unknown))
    else:
        unittest.main(verbosity=2)

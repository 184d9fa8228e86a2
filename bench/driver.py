#!/usr/bin/python3
"""The gst-mmap benchmark driver; run it through bench/run.sh.

Starts bench/mmapbench writer and reader processes for mmapsink/mmapsrc,
shmsink/shmsrc and gdppay ! tcpserversink / tcpclientsrc ! gdpdepay,
alternating between them, and writes a markdown report, the raw figures as
JSON and a latency CDF plot (gnuplot).

Each case: start a writer, wait for its READY, start the readers, wait for
each one's first intact frame, let things settle, then send "start" to
every process at once, wait, send "stop" and collect one JSON line from
each (frames, CPU time, misses, damage; readers also write their latencies
to a file, and mmap readers of the latency test each frame's stages).  The
CPU figures are each process's own CPU time over that window, so start-up
costs do not count, and the kernel's (/proc) over the same window.

Tests:
  latency     live writer at 30 fps, one reader, --rounds rounds per case
              (size and writer pattern), every round reported: p50/p99,
              CPU per frame, and for mmap where each frame's time goes
  throughput  writer as fast as it can, one reader, --rounds rounds per
              size: delivered frames/s; plus the writer alone into
              fakesink (the ceiling)
  readers     1920x1080 NV12 at 60 fps with 1, 2, 4 and 8 readers
  idle        a reader whose writer is alive but publishes nothing: its CPU
              over 6 s from /proc/<pid>/stat and /proc/<pid>/task/*/schedstat

Only the Python standard library; use /usr/bin/python3 (Debian's).
"""

import argparse
import glob
import hashlib
import json
import math
import os
import platform
import select
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

SIZES = [
    # key, label, format, width, height
    ("480p-yuy2", "640x480 YUY2", "YUY2", 640, 480),
    ("720p-rgb", "1280x720 RGB", "RGB", 1280, 720),
    ("1080p-nv12", "1920x1080 NV12", "NV12", 1920, 1080),
    ("2160p-i420", "3840x2160 I420", "I420", 3840, 2160),
]
TRANSPORTS = ["mmap", "shm", "tcp"]
TRANSPORT_LABELS = {
    "mmap": "mmapsink/mmapsrc",
    "mmap-base": "mmapsink/mmapsrc, baseline build",
    "shm": "shmsink/shmsrc",
    "tcp": "TCP + gdppay",
    "fakesink": "writer alone (fakesink)",
}
READER_COUNTS = [1, 2, 4, 8]
READERS_SIZE = "1080p-nv12"
READERS_FPS = 60
IDLE_SECONDS = 6.0


def shm_frames(readers):
    """Frames the shmsink area holds: 32, plus 2 a reader."""
    return 32 + 2 * max(readers, 1)


# The latency test's writer: --pattern, except at these sizes, where it
# runs once from each pattern listed (a light writer, and videotestsrc's
# default, as a new user would try them).
LATENCY_PATTERNS = {"720p-rgb": ["solid-color", "smpte"]}

# Where a frame's time goes, in the order of mmapbench's --breakdown
# columns.
STAGES = [
    ("writer", "from the stamp at mmapsink's pad to the frame's publication "
     "(mmapsrc's `publish-last-ns` − the writer's stamp)"),
    ("wake", "from publication to the reader finding the frame "
     "(`wake-last-us`)"),
    ("mmapsrc", "from finding it to create() handing it to basesrc "
     "(`latency-last-us` − `wake-last-us`)"),
    ("basesrc+down", "from there to the probe on the reader's fakesink "
     "pad (the probe's clock − `publish-last-ns` − `latency-last-us`)"),
]

# Issue 12's goals (ratios of mmap to shm in the same run).
GOAL_P50_US = 100.0             # every round's p50
GOAL_P50_RATIO = 0.8            # median p50 over the rounds
GOAL_P99_RATIO = 1.0            # median p99 over the rounds
GOAL_READER_CPU_RATIO = 1.2     # reader CPU per frame at 30 fps
GOAL_THROUGHPUT_RATIO = 1.1     # median delivered frames/s, unthrottled
GOAL_IDLE_CPU_MS = 20.0         # in IDLE_SECONDS
GOAL_WRITER_CPU_RATIO = 1.2     # 8 readers against one


class BenchError(Exception):
    pass


def log(msg):
    print(msg, flush=True)


def percentile(sorted_values, q):
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[rank - 1]


class Proc:
    """One mmapbench process, talked to line by line."""

    def __init__(self, ctx, name, argv, env):
        self.name = name
        self.log_path = os.path.join(ctx.logdir, name + ".log")
        self.log = open(self.log_path, "w")
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=self.log,
                                  env=env)
        self.buf = b""

    @property
    def pid(self):
        return self.p.pid

    def log_tail(self, lines=6):
        self.log.flush()
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""

    def readline(self, deadline):
        fd = self.p.stdout.fileno()
        while b"\n" not in self.buf:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode(errors="replace")

    def expect(self, prefix, timeout):
        deadline = time.monotonic() + timeout
        while True:
            line = self.readline(deadline)
            if line is None:
                state = ("exited with %d" % self.p.poll()
                         if self.p.poll() is not None else "still running")
                raise BenchError("%s: no %r within %.0f s (%s); its log "
                                 "ends with:\n%s" % (self.name, prefix,
                                                     timeout, state,
                                                     self.log_tail()))
            if line.startswith(prefix):
                return line

    def result(self, timeout=10):
        return json.loads(self.expect("{", timeout))

    def send(self, cmd):
        try:
            self.p.stdin.write((cmd + "\n").encode())
            self.p.stdin.flush()
        except (BrokenPipeError, ValueError):
            pass

    def close(self):
        if self.p.poll() is None:
            self.send("quit")
            try:
                self.p.wait(5)
            except subprocess.TimeoutExpired:
                self.p.terminate()
                try:
                    self.p.wait(3)
                except subprocess.TimeoutExpired:
                    self.p.kill()
                    self.p.wait()
        for f in (self.p.stdin, self.p.stdout):
            try:
                f.close()
            except (BrokenPipeError, OSError):
                pass
        self.log.close()
        return self.p.returncode


def read_latency_file(path):
    """A reader's latencies (sorted, us) and, with --breakdown, each
    frame's stages [writer, wake, src, down] in us followed by the
    writer's and the reader's CPU numbers (see mmapbench.c)."""
    lat, stages = [], []
    with open(path) as f:
        for line in f:
            v = line.split()
            if not v:
                continue
            lat.append(int(v[0]) / 1000.0)
            if len(v) == 3 + len(STAGES):
                stages.append([int(x) / 1000.0 for x in v[1:-2]] +
                              [int(x) for x in v[-2:]])
    return sorted(lat), stages


def proc_cpu(pid):
    """CPU time of a process so far: (clock-tick figure from
    /proc/<pid>/stat in s, per-thread schedstat sum in s, voluntary context
    switches of all threads)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])       # utime + stime
    stat_s = ticks / os.sysconf("SC_CLK_TCK")
    sched_s = 0.0
    switches = 0
    for task in glob.glob("/proc/%d/task/*" % pid):
        try:
            with open(task + "/schedstat") as f:
                sched_s += int(f.read().split()[0]) / 1e9
            with open(task + "/status") as f:
                for line in f:
                    if line.startswith("voluntary_ctxt_switches:"):
                        switches += int(line.split()[1])
        except OSError:
            pass                # a thread that just ended
    return stat_s, sched_s, switches


class Bench:
    def __init__(self, args):
        self.args = args
        self.root = os.path.dirname(os.path.dirname(os.path.abspath(
            __file__)))
        self.build = os.path.join(self.root, args.build_dir) \
            if not os.path.isabs(args.build_dir) else args.build_dir
        self.exe = os.path.join(self.build, "bench", "mmapbench")
        self.cacheline_exe = os.path.join(self.build, "bench", "cacheline")
        self.last_cacheline = (None, None)
        self.plugin_dir = os.path.abspath(args.plugin_dir) \
            if args.plugin_dir else os.path.join(self.build, "plugin")
        self.workdir = tempfile.mkdtemp(prefix="mmapbench.", dir="/dev/shm")
        self.logdir = os.path.join(self.workdir, "logs")
        os.makedirs(self.logdir)
        # Run a copy of the plugin: a rebuild while we run must not mix
        # two versions in one report.
        self.plugin = snapshot(os.path.join(self.plugin_dir, "libgstmmap.so"),
                               os.path.join(self.workdir, "plugin"))
        # ... and of the library it links (its RUNPATH is $ORIGIN/../lib).
        snapshot_library(self.plugin_dir, os.path.join(self.workdir, "lib"))
        self.env = dict(os.environ)
        self.env["GST_PLUGIN_PATH"] = os.path.dirname(self.plugin)
        # A registry of our own: other GStreamer programs running meanwhile
        # do not rewrite it under us, and it holds this build's plugin.
        self.env["GST_REGISTRY_1_0"] = os.path.join(self.workdir,
                                                   "registry.bin")
        # The "mmap-base" transport: the same elements from another build
        # (--baseline), alternated with the others in the same run.
        self.base_env = dict(self.env)
        if args.baseline:
            self.base_env["GST_PLUGIN_PATH"] = os.path.dirname(snapshot(
                os.path.join(args.baseline, "libgstmmap.so"),
                os.path.join(self.workdir, "baseline", "plugin")))
            snapshot_library(args.baseline, os.path.join(
                self.workdir, "baseline", "lib"))
            self.base_env["GST_REGISTRY_1_0"] = os.path.join(
                self.workdir, "registry-baseline.bin")
        self.procs = []
        self.case_no = 0
        self.failures = []
        self.damage = []

    # --- processes ---

    def spawn(self, name, role, transport, size, fps, extra=(),
              pattern=None):
        key, _label, fmt, width, height = size
        env = self.base_env if transport == "mmap-base" else self.env
        argv = [self.exe, role, "--transport=" + transport.split("-")[0],
                "--format=" + fmt, "--width=%d" % width,
                "--height=%d" % height, "--fps=%d" % fps]
        if role == "writer":
            argv.append("--pattern=" + (pattern or self.args.pattern))
        argv += list(extra)
        props = self.args.writer_props if role == "writer" \
            else self.args.reader_props
        prop_key = transport.split("-")[0]
        if props.get(prop_key):
            argv.append("--element-props=" + props[prop_key])
        p = Proc(self, name, argv, env)
        self.procs.append(p)
        return p

    def close_all(self):
        """Stops every process (readers first, so that no reader sees its
        writer vanish) and notes the damaged frames their logs report."""
        for p in reversed(self.procs):
            p.close()
            with open(p.log_path, errors="replace") as f:
                for line in f:
                    if "damaged frame" in line:
                        self.damage.append("%s: %s" % (p.name, line.strip()))
        self.procs = []

    # --- one case ---

    def run_case(self, test, transport, size, fps, readers, seconds,
                 publish=None, pattern=None):
        """Runs one writer and `readers` readers; returns (writer result,
        [reader results], {reader index: sorted latencies in us},
        {reader index: per-frame stages in us, for mmap's latency test})."""
        self.case_no += 1
        tag = "%03d-%s-%s-%s-%dr" % (self.case_no, test, size[0], transport,
                                     readers)
        location = os.path.join(self.workdir, tag)
        extra = ["--location=" + location]
        if transport == "shm":
            # A generous area: when it runs full, shmsink waits (and with
            # a tight one, throughput swings from run to run).
            extra.append("--shm-frames=%d" % shm_frames(readers))
            if self.shm_copies(test):
                extra.append("--drop-allocation")
        if publish is not None:
            extra.append("--publish=%d" % publish)
        # Where a frame's time goes: mmapsrc's own account of each frame.
        # Only here, where it is wanted: reading it costs the reader CPU.
        breakdown = ["--breakdown"] if test == "latency" and \
            transport.startswith("mmap") else []
        try:
            w = self.spawn(tag + "-writer", "writer", transport, size, fps,
                           extra, pattern)
            ready = w.expect("READY", 30)
            port = ready.split("port=")[1] if "port=" in ready else "0"
            rs = []
            for i in range(readers):
                lat = os.path.join(self.workdir, "%s-r%d.lat" % (tag, i))
                rs.append((self.spawn(
                    "%s-reader%d" % (tag, i), "reader", transport, size, fps,
                    ["--location=" + location, "--port=" + port,
                     "--latency-file=" + lat] + breakdown), lat))
            for r, _ in rs:
                r.expect("READY", 30)
            time.sleep(self.args.settle)
            if publish is not None:
                return self.idle_window(w, [r for r, _ in rs], seconds)
            everyone = [w] + [r for r, _ in rs]
            # The kernel's count too, over the same window (give or take
            # the few ms of our reads and of each process's answer).
            before = [proc_cpu(p.pid) for p in everyone]
            for p in everyone:
                p.send("start")
            time.sleep(seconds)
            for p in everyone:
                p.send("stop")
            results = []
            for p, b0 in zip(everyone, before):
                res = p.result()
                after = proc_cpu(p.pid)
                res["proc_stat_seconds"] = after[0] - b0[0]
                res["proc_sched_seconds"] = after[1] - b0[1]
                results.append(res)
            wres, rres = results[0], results[1:]
            lats, stages = {}, {}
            for i, (_r, lat) in enumerate(rs):
                lats[i], stages[i] = read_latency_file(lat)
            return wres, rres, lats, stages
        finally:
            self.close_all()
            if os.path.exists(location):
                os.unlink(location)

    def idle_window(self, w, readers, seconds):
        r = readers[0]
        before = proc_cpu(r.pid)
        r.send("start")
        time.sleep(seconds)
        r.send("stop")
        res = r.result()
        after = proc_cpu(r.pid)
        res["proc_stat_ms"] = (after[0] - before[0]) * 1000
        res["schedstat_ms"] = (after[1] - before[1]) * 1000
        res["proc_wakeups"] = after[2] - before[2]
        res["proc_seconds"] = seconds
        return None, [res], {}, {}

    def cacheline_ns(self):
        """The CPU-to-CPU cache-line round trip now (bench/cacheline.c),
        or None when it cannot be measured."""
        try:
            out = subprocess.run([self.cacheline_exe], capture_output=True,
                                 text=True, timeout=10).stdout
            return int(out.split()[0])
        except (OSError, subprocess.SubprocessError, ValueError, IndexError):
            return None

    def try_case(self, *a, **kw):
        before = self.cacheline_ns()
        try:
            res = self.run_case(*a, **kw)
            self.last_cacheline = (before, self.cacheline_ns())
            return res
        except BenchError as e:
            msg = "%s %s %s: %s" % (a[0], a[1], a[2][1], e)
            log("  FAILED: " + msg)
            self.failures.append(msg)
            return None

    # --- tests ---

    def order(self, items, i):
        """Rotates the transports from one step to the next, so that none
        always runs first or last (and right after the same neighbour)."""
        k = i % len(items)
        return items[k:] + items[:k]

    def latency_cases(self, sizes):
        """[(size, writer pattern, transports)] of the latency test."""
        cases = []
        for size in sizes:
            for j, pattern in enumerate(LATENCY_PATTERNS.get(
                    size[0], [self.args.pattern])):
                # A second writer at the same size is mmap against shm:
                # TCP's milliseconds there would only add time.
                ts = [t for t in self.args.transports
                      if j == 0 or t != "tcp"]
                if ts:
                    cases.append((size, pattern, ts))
        return cases

    def test_latency(self, sizes):
        rows = []
        for i, (size, pattern, transports) in enumerate(
                self.latency_cases(sizes)):
            for rnd in range(self.args.rounds):
                for t in self.order(transports, i + rnd):
                    log("latency  %-15s %-11s %-5s 30 fps, round %d" %
                        (size[1], pattern, t, rnd + 1))
                    res = self.try_case("latency", t, size, 30, 1,
                                        self.args.latency_seconds,
                                        pattern=pattern)
                    if res:
                        rows.append(self.row(size, t, res, round_no=rnd,
                                             pattern=pattern))
        return rows

    def shm_copies(self, test):
        """shmsink lets upstream allocate in its area.  Unthrottled, the
        writer's pool grows until the area is full of its own idle buffers,
        and shmsink then waits for space forever (writer and reader stall
        within a second or so): there shm only works with the writer's
        copy into the area, so that is what it is measured with."""
        return test == "throughput" and not self.args.shm_upstream_alloc

    def test_throughput(self, sizes):
        rows = []
        for i, size in enumerate(sizes):
            for rnd in range(self.args.rounds):
                for t in self.order(self.args.transports + ["fakesink"],
                                    i + rnd):
                    log("unthrottled %-15s %-8s round %d" % (size[1], t,
                                                             rnd + 1))
                    res = self.try_case("throughput", t, size, 0,
                                        0 if t == "fakesink" else 1,
                                        self.args.throughput_seconds)
                    if res:
                        rows.append(self.row(size, t, res, round_no=rnd))
        return rows

    def test_readers(self, size):
        rows = []
        for i, n in enumerate(self.args.reader_counts):
            for t in self.order(self.args.transports, i):
                log("readers  %-15s %-5s %d fps, %d readers" %
                    (size[1], t, READERS_FPS, n))
                res = self.try_case("readers", t, size, READERS_FPS, n,
                                    self.args.readers_seconds)
                if res:
                    rows.append(self.row(size, t, res, readers=n))
        return rows

    def test_idle(self, size):
        rows = []
        for t in self.args.transports:
            log("idle     %-15s %-5s %.0f s" % (size[1], t,
                                                  self.args.idle_seconds))
            # 15 frames at 30 fps, then nothing: the reader has had frames
            # (it is connected and past start-up), then only waits.
            res = self.try_case("idle", t, size, 30, 1,
                                self.args.idle_seconds, publish=15)
            if res:
                r = res[1][0]
                rows.append({
                    "transport": t, "size": size[1],
                    "seconds": r["proc_seconds"],
                    "proc_stat_ms": r["proc_stat_ms"],
                    "schedstat_ms": r["schedstat_ms"],
                    "own_cpu_ms": r["cpu_seconds"] * 1000,
                    "wakeups": r["proc_wakeups"],
                    "frames": r["frames"],
                })
        return rows

    # --- figures ---

    def row(self, size, transport, res, readers=1, round_no=0,
            pattern=None):
        """One case (one round of it) as the processes reported it."""
        wres, rres, lats, stages = res
        pattern = pattern or self.args.pattern
        row = {"size": size[1], "size_key": size[0], "pattern": pattern,
               "case": case_label(size[1], pattern), "transport": transport,
               "readers": readers, "round": round_no}
        # The machine's CPU-to-CPU cache-line round trip before and after
        # the case (ns): which of its speeds the round ran at.
        row["cacheline_ns"] = list(self.last_cacheline)
        row["writer_seconds"] = wres["seconds"]
        row["writer_frames"] = wres["frames"]
        row["writer_cpu_s"] = wres["cpu_seconds"]
        row["writer_proc_stat_s"] = wres["proc_stat_seconds"]
        row["writer_sched_s"] = wres["proc_sched_seconds"]
        row["writer_copies"] = wres.get("copies", 0)
        row["writer_stats"] = wres.get("element_stats", {})
        if rres:
            row["reader_stats"] = add_stats(r.get("element_stats", {})
                                            for r in rres)
            row["reader_frames"] = [r["frames"] for r in rres]
            row["reader_seconds"] = [r["seconds"] for r in rres]
            row["reader_cpu_s"] = [r["cpu_seconds"] for r in rres]
            row["reader_proc_stat_s"] = [r["proc_stat_seconds"]
                                         for r in rres]
            row["reader_sched_s"] = [r["proc_sched_seconds"] for r in rres]
            row["reader_stats_read_s"] = [r.get("stats_read_seconds", 0.0)
                                          for r in rres]
            row["missed"] = [r["missed"] for r in rres]
            row["reordered"] = [r["reordered"] for r in rres]
            row["damaged"] = [r["damaged"] for r in rres]
            row["latencies_us"] = [lats[i] for i in range(len(rres))]
            if stages.get(0):
                row["stages_us"] = stages[0]
        return summarize(row)


def summarize(row):
    """The figures of one round (or of one readers-test case)."""
    w_frames = row["writer_frames"]
    row["writer_fps"] = w_frames / row["writer_seconds"]
    row["writer_cpu_us"] = (row["writer_cpu_s"] * 1e6 / w_frames
                            if w_frames else None)
    if "reader_frames" not in row:
        return row
    fps = [f / s for f, s in zip(row["reader_frames"],
                                 row["reader_seconds"])]
    row["delivered_fps"] = sum(fps) / len(fps)
    row["delivered_fps_min"] = min(fps)
    frames = sum(row["reader_frames"])
    row["reader_cpu_us"] = (sum(row["reader_cpu_s"]) * 1e6 / frames
                            if frames else None)
    all_lat = sorted(x for lat in row["latencies_us"] for x in lat)
    row["p50_us"] = percentile(all_lat, 0.50)
    row["p99_us"] = percentile(all_lat, 0.99)
    row["max_us"] = all_lat[-1] if all_lat else None
    # The worst reader's p99: with several readers, the one that matters.
    p99s = [percentile(lat, 0.99) for lat in row["latencies_us"] if lat]
    row["worst_p99_us"] = max(p99s) if p99s else None
    row["samples"] = len(all_lat)
    return row


def case_label(size, pattern):
    return "%s, %s" % (size, pattern)


def by_case(rows, pattern=None):
    """The rounds of a test grouped by case and transport, each group
    summarised (summarize_rounds), in the order the cases ran.  Rows of an
    older results.json have no case: theirs is their size and `pattern`."""
    groups = {}
    for r in rows:
        if "case" not in r:
            r = dict(r, pattern=pattern, case=case_label(r["size"], pattern))
        groups.setdefault((r["case"], r["transport"]), []).append(r)
    return [summarize_rounds(v) for v in groups.values()]


def cases_of(summaries):
    seen = []
    for s in summaries:
        if s["case"] not in seen:
            seen.append(s["case"])
    return seen


def summarize_rounds(rounds):
    """One case and transport over its rounds: medians of the per-round
    figures, pooled latencies, and CPU and counts summed over the rounds.
    Reader CPU from its own clock and from schedstat leaves out
    mmapbench's reads of the source's stats (the breakdown's instrument,
    not the transport's work)."""
    rounds = sorted(rounds, key=lambda r: r.get("round", 0))
    first = rounds[0]
    s = {k: first.get(k) for k in ("size", "size_key", "pattern", "case",
                                    "transport", "readers")}
    s["rounds"] = rounds

    def median(key):
        v = [r[key] for r in rounds if r.get(key) is not None]
        return statistics.median(v) if v else None

    def total(key):
        if any(r.get(key) is None for r in rounds):
            return None
        return sum(sum(r[key]) if isinstance(r[key], list) else r[key]
                   for r in rounds)

    def per_frame(seconds, frames, less=0.0):
        if seconds is None or not frames:
            return None
        return (seconds - less) * 1e6 / frames

    s["median_writer_fps"] = median("writer_fps")
    w_frames = total("writer_frames")
    s["writer_cpu_us"] = per_frame(total("writer_cpu_s"), w_frames)
    s["writer_proc_stat_us"] = per_frame(total("writer_proc_stat_s"),
                                         w_frames)
    s["writer_stats"] = add_stats(r.get("writer_stats", {}) for r in rounds)
    if "reader_frames" not in first:
        return s
    frames = total("reader_frames")
    reads = total("reader_stats_read_s") or 0.0
    s["frames"] = frames
    s["reader_cpu_us"] = per_frame(total("reader_cpu_s"), frames, reads)
    # The kernel's tick count as it stands: ticks are too coarse to take
    # the reads out of.
    s["reader_proc_stat_us"] = per_frame(total("reader_proc_stat_s"),
                                         frames)
    s["reader_sched_us"] = per_frame(total("reader_sched_s"), frames, reads)
    s["stats_read_us"] = per_frame(reads, frames)
    s["reader_stats"] = add_stats(r.get("reader_stats", {}) for r in rounds)
    for k in ("missed", "reordered", "damaged"):
        s[k] = total(k)
    s["median_delivered_fps"] = median("delivered_fps")
    s["median_p50_us"] = median("p50_us")
    s["median_p99_us"] = median("p99_us")
    p50s = [r["p50_us"] for r in rounds if r.get("p50_us") is not None]
    s["worst_p50_us"] = max(p50s) if p50s else None
    pooled = sorted(x for r in rounds for lat in r.get("latencies_us", [])
                    for x in lat)
    s["pooled_p50_us"] = percentile(pooled, 0.50)
    s["pooled_p99_us"] = percentile(pooled, 0.99)
    s["max_us"] = pooled[-1] if pooled else None
    return s


def breakdown(summary):
    """Where a frame's time went, over every round of a case: p50 and p90
    of each stage and of their sum (the latency), and each round's p50 of
    the wake-up.  A frame whose stages are not all ≥ 0 had mmapsrc's
    account of another frame: counted as stale, left out."""
    n = len(STAGES)
    frames = [f for r in summary["rounds"] for f in r.get("stages_us", [])]
    if not frames:
        return None
    good = [f for f in frames if min(f[:n]) >= 0]
    out = {"frames": len(frames), "stale": len(frames) - len(good)}
    for k, (name, _what) in enumerate(STAGES):
        col = sorted(f[k] for f in good)
        out[name] = (percentile(col, 0.5), percentile(col, 0.9))
    total = sorted(sum(f[:n]) for f in good)
    out["total"] = (percentile(total, 0.5), percentile(total, 0.9))
    out["late_wakes"] = sum(1 for f in good if f[1] > GOAL_P50_US) / \
        len(good) if good else None
    out["wake_p50_by_round"] = [
        percentile(sorted(f[1] for f in r.get("stages_us", [])
                          if min(f[:n]) >= 0), 0.5)
        for r in summary["rounds"]]
    # Where the reader woke: on the writer's CPU, or on another.
    placed = [f for f in good if len(f) == n + 2 and min(f[n:]) >= 0]
    out["same_cpu"] = (sum(1 for f in placed if f[n] == f[n + 1]) /
                       len(placed) if placed else None)
    return out


def add_stats(dicts):
    """Sums element counters (mmapsink/mmapsrc "stats") over processes."""
    total = {}
    for d in dicts:
        for k, v in d.items():
            total[k] = total.get(k, 0) + v
    return total


def zero_copy(row):
    """'writer % / reader %' of frames mmapsink and mmapsrc moved without
    a copy, from their stats properties ('–' for elements without)."""
    w, r = row.get("writer_stats", {}), row.get("reader_stats", {})

    def share(d, total_key):
        if "frames-zero-copy" not in d or not d.get(total_key):
            return "–"
        return "%.0f%%" % (100.0 * d["frames-zero-copy"] / d[total_key])
    text = "%s / %s" % (share(w, "frames-written"), share(r, "frames-read"))
    if w.get("frames-dropped"):
        text += ", %d dropped" % w["frames-dropped"]
    return text


# --- report ---

def fmt(v, digits=0):
    if v is None:
        return "–"
    if isinstance(v, float) and digits == 0 and abs(v) < 10:
        return "%.1f" % v
    return "%.*f" % (digits, v)


def ratio(a, b):
    if a is None or not b:
        return None
    return a / b


def fmt_ratio(r):
    return "–" if r is None else "%.2f×" % r


def find(rows, **kw):
    for r in rows:
        if all(r.get(k) == v for k, v in kw.items()):
            return r
    return None


def table(header, rows):
    out = ["| " + " | ".join(header) + " |",
           "|" + "|".join(" --- " if i == 0 else " ---: "
                          for i in range(len(header))) + "|"]
    for r in rows:
        out.append("| " + " | ".join(r) + " |")
    return out


def n_rounds(summaries):
    return max((r.get("round", 0) + 1 for s in summaries
                for r in s["rounds"]), default=0)


def by_round(summary, n, cell):
    """One cell per round (– for a round that failed)."""
    cells = ["–"] * n
    for r in summary["rounds"]:
        cells[r.get("round", 0)] = cell(r)
    return cells


def cacheline_table(summaries, n, transports, label):
    """Per round, the CPU-to-CPU cache-line round trip before / after each
    case (bench/cacheline.c): which speed of the machine a round ran at."""
    body = []
    for case in cases_of(summaries):
        for t in transports:
            s = find(summaries, case=case, transport=t)
            if not s or not any(r.get("cacheline_ns") for r in s["rounds"]):
                continue
            body.append([s[label], TRANSPORT_LABELS[t]] + by_round(
                s, n, lambda r: " / ".join(
                    fmt(x) for x in r.get("cacheline_ns") or [None, None])))
    if not body:
        return []
    return ["", "### The machine in each round", "",
            "CPU-to-CPU cache-line round trip, ns, before / after the case "
            "(bench/cacheline.c).  On a virtual machine the host may run "
            "the two vCPUs on cores that share a cache or on cores that do "
            "not, and move them: every transport that hands frames from "
            "one process to the other then has two speeds, and this says "
            "which one a round had.", ""] + table(
        [label.capitalize(), "Transport"] +
        ["Round %d" % (i + 1) for i in range(n)], body)


def report(meta, res, args):
    md = ["# gst-mmap benchmark results", ""]
    md += ["Made by `%s` on %s (%.0f s)." % (meta["command"], meta["date"],
                                             meta["elapsed_s"]), ""]
    md += ["- Machine: %s, %d CPUs, Linux %s; load average before the run "
           "%s, after it %s" % (meta["cpu"], meta["cpus"], meta["kernel"],
                                meta["loadavg_before"],
                                meta.get("loadavg_after", "?")),
           "- GStreamer %s; plugin `%s` (sha256 %s…)" % (
               meta["gstreamer"], meta["plugin"], meta["plugin_sha256"][:12]),
           "- Source: git %s%s" % (meta["git"], "; the working tree "
                                   "differed from it in " + meta["git_dirty"]
                                   if meta["git_dirty"] else ""),
           ] + ([
               "- Baseline (\"%s\"): `%s/libgstmmap.so` (sha256 %s…), the "
               "same elements from another build, alternated with the "
               "others" % (TRANSPORT_LABELS["mmap-base"], meta["baseline"],
                           meta["baseline_sha256"][:12])]
               if meta.get("baseline") else []) + [
           "- Every figure is from one window in which all processes of the "
           "case ran (after start-up and %.1f s to settle).  CPU per frame: "
           "the process's own CPU time (all threads) in the window divided "
           "by the frames it wrote or received.  Latency: reader's "
           "CLOCK_MONOTONIC when the frame reaches its sink minus the "
           "writer's when the frame entered the transport." % args.settle,
           ""]
    pattern = getattr(args, "pattern", "black")
    lat = by_case(res.get("latency", []), pattern)
    thr = by_case(res.get("throughput", []), pattern)
    if lat:
        md += latency_report(lat, args)
    if thr:
        md += throughput_report(thr, args)
    md += readers_report(meta, res.get("readers", []), args)
    md += idle_report(res.get("idle", []), args)
    md += goals(meta, res, args)
    md += ["## Pipelines", "",
           "Writer: `videotestsrc is-live=true|false pattern=… ! "
           "video/x-raw,format=…,width=…,height=…,framerate=… ! "
           "<sink>`, with a probe on the sink's pad that stamps each frame "
           "(pattern %s, except in the latency test's cases named "
           "otherwise); the reader: `<source> ! fakesink sync=false`, with "
           "a probe that checks it.  Sinks and sources:" % pattern, ""]
    md += ["- mmap: `mmapsink location=… sync=false`, "
           "`mmapsrc location=…`",
           "- shm: `shmsink socket-path=… wait-for-connection=false "
           "sync=false shm-size=<(32 + 2 × readers) frames + 1 MiB>`, "
           "`shmsrc socket-path=… is-live=true ! <caps>`",
           "- tcp: `gdppay ! tcpserversink host=127.0.0.1 sync=false "
           "units-soft-max=16 recover-policy=latest`, `tcpclientsrc "
           "host=127.0.0.1 port=… ! gdpdepay`",
           "- All sinks also have `enable-last-sample=false`.  The exact "
           "lines are at the top of each process's log (`--keep-logs`).",
           ""]

    notes = []
    for f in res.get("failures", []):
        notes.append("- Failed: " + f.replace("\n", " ").strip())
    for d in res.get("damage", [])[:20]:
        notes.append("- " + d)
    if notes:
        md += ["## Problems seen in this run", ""] + notes + [""]
    if res.get("compare"):
        md += res["compare"]
    return "\n".join(md)


def latency_report(lat, args):
    n = n_rounds(lat)
    cases = cases_of(lat)
    md = ["## Latency at 30 fps, one reader", "",
          "Cases: a size and the writer's videotestsrc pattern.  %d "
          "round(s) of %s s per case; in each round every transport runs "
          "once, in an order that rotates from one round and case to the "
          "next." % (
              n, fmt(args.latency_seconds)), "",
          "### Every round", "",
          "p50 / p99 µs of each round (mmap's p50 in bold where it is over "
          "%.0f µs), and the medians over the rounds." % GOAL_P50_US, ""]
    body = []
    for case in cases:
        for t in args.transports:
            s = find(lat, case=case, transport=t)
            if not s:
                continue

            def cell(r):
                p50 = fmt(r["p50_us"])
                if t.startswith("mmap") and r["p50_us"] is not None and \
                        r["p50_us"] > GOAL_P50_US:
                    p50 = "**%s**" % p50
                return "%s / %s" % (p50, fmt(r["p99_us"]))
            body.append([case, TRANSPORT_LABELS[t]] + by_round(s, n, cell) +
                        ["%s / %s" % (fmt(s["median_p50_us"]),
                                      fmt(s["median_p99_us"]))])
    md += table(["Case", "Transport"] + ["Round %d" % (i + 1)
                                         for i in range(n)] +
                ["Median"], body)
    md += cacheline_table(lat, n, args.transports, "case")
    md += ["", "### Over the rounds", "",
           "Medians over the rounds; vs shm: mmap's median ÷ shm's.  Pooled: "
           "every frame of every round together.  mmap zero-copy: the share "
           "of frames mmapsink and mmapsrc moved without a copy, from their "
           "`stats`.", ""]
    body = []
    for case in cases:
        shm = find(lat, case=case, transport="shm")
        for t in args.transports:
            s = find(lat, case=case, transport=t)
            if not s:
                continue
            vs = ["", ""]
            if t.startswith("mmap") and shm:
                vs = [fmt_ratio(ratio(s["median_p50_us"],
                                      shm["median_p50_us"])),
                      fmt_ratio(ratio(s["median_p99_us"],
                                      shm["median_p99_us"]))]
            body.append([case, TRANSPORT_LABELS[t], str(s["frames"]),
                         fmt(s["median_p50_us"]), fmt(s["median_p99_us"]),
                         fmt(s["worst_p50_us"]),
                         "%s / %s / %s" % (fmt(s["pooled_p50_us"]),
                                           fmt(s["pooled_p99_us"]),
                                           fmt(s["max_us"]))] + vs +
                        [str(s["missed"]), str(s["damaged"]),
                         zero_copy(s) if t.startswith("mmap") else ""])
    md += table(["Case", "Transport", "Frames", "Median p50 µs",
                 "Median p99 µs", "Worst round's p50 µs",
                 "Pooled p50 / p99 / max µs", "p50 vs shm", "p99 vs shm",
                 "Missed", "Damaged", "mmap zero-copy w / r"], body)
    md += ["", "![Latency CDF](latency-cdf.png)", ""]
    md += cpu_report(lat, cases, args)
    md += breakdown_report(lat, cases, args)
    return md


def cpu_report(lat, cases, args):
    md = ["### CPU per frame at 30 fps", "",
          "Over all rounds: CPU time in the windows ÷ frames.  Own clock: "
          "the process's `CLOCK_PROCESS_CPUTIME_ID`; `/proc` stat: utime + "
          "stime of `/proc/<pid>/stat` over the same window (clock ticks "
          "of %.0f ms, so only a few per round); `/proc` schedstat: the sum "
          "of `/proc/<pid>/task/*/schedstat` (ns).  For mmap the reader "
          "also reads mmapsrc's `stats` for every frame, for the breakdown "
          "below; the last column is what that cost, and the own-clock and "
          "schedstat figures leave it out (/proc stat's ticks are too "
          "coarse to: it has it in)." % (
              1000 / os.sysconf("SC_CLK_TCK")), ""]
    body = []
    for case in cases:
        shm = find(lat, case=case, transport="shm")
        for t in args.transports:
            s = find(lat, case=case, transport=t)
            if not s:
                continue
            vs = ""
            if t.startswith("mmap") and shm:
                vs = "%s / %s" % (
                    fmt_ratio(ratio(s["reader_cpu_us"],
                                    shm["reader_cpu_us"])),
                    fmt_ratio(ratio(s["reader_proc_stat_us"],
                                    shm["reader_proc_stat_us"])))
            body.append([case, TRANSPORT_LABELS[t], fmt(s["writer_cpu_us"]),
                         fmt(s["writer_proc_stat_us"]),
                         fmt(s["reader_cpu_us"]),
                         fmt(s["reader_proc_stat_us"]),
                         fmt(s["reader_sched_us"]), vs,
                         fmt(s["stats_read_us"], 1)
                         if s["stats_read_us"] else ""])
    md += table(["Case", "Transport", "Writer, own clock",
                 "Writer, /proc stat", "Reader, own clock",
                 "Reader, /proc stat", "Reader, /proc schedstat",
                 "Reader vs shm (own / stat)", "stats reads"], body)
    return md + [""]


def breakdown_report(lat, cases, args):
    rows = []
    for case in cases:
        for t in args.transports:
            s = find(lat, case=case, transport=t)
            b = breakdown(s) if s else None
            if b:
                rows.append([case, TRANSPORT_LABELS[t], str(b["frames"])] +
                            ["%s / %s" % (fmt(b[k][0]), fmt(b[k][1]))
                             for k in [n for n, _ in STAGES] + ["total"]] +
                            [", ".join(fmt(x) for x in
                                       b["wake_p50_by_round"]),
                             "–" if b["late_wakes"] is None else
                             "%.0f%%" % (100 * b["late_wakes"]),
                             "–" if b.get("same_cpu") is None else
                             "%.0f%%" % (100 * b["same_cpu"]),
                             str(b["stale"])])
    if not rows:
        return []
    md = ["### Where a frame's time goes (mmap)", "",
          "p50 / p90 µs of each stage over every frame of every round, "
          "from mmapsrc's account of each frame (its `stats`, read by the "
          "reader's probe) and the writer's stamp:", ""]
    md += ["- **%s**: %s" % (name, what) for name, what in STAGES]
    md += ["", "The stages of a frame add up to its latency (total); their "
           "p50s need not add up to the total's.  On the writer's CPU: "
           "frames the reader's probe ran on the CPU the writer stamped "
           "them on; a reader woken there waits until the writer sleeps or "
           "yields (mmapring writers yield to woken readers up to 1000 "
           "frames/s).  Stale: frames whose account did not match them "
           "(left out).", ""]
    md += table(["Case", "Transport", "Frames"] +
                ["%s p50 / p90" % n for n, _ in STAGES] +
                ["total p50 / p90", "wake p50 by round",
                 "wake > %.0f µs" % GOAL_P50_US, "On the writer's CPU",
                 "Stale"], rows)
    return md + [""]


def throughput_report(thr, args):
    n = n_rounds(thr)
    cases = cases_of(thr)
    transports = args.transports + ["fakesink"]
    md = ["## Unthrottled, one reader", "",
          "Writer `videotestsrc is-live=false` as fast as it goes, %d "
          "round(s) of %s s per size, the transports and the writer alone "
          "rotating within each round.  Delivered: frames/s the reader "
          "received intact.  The writer alone into `fakesink` is the "
          "ceiling.  mmapsink never waits for readers, so its writer can "
          "run ahead and the reader skips (missed); shmsink waits for free "
          "space; tcpserversink lets a client fall 16 frames behind, then "
          "skips it to the newest.%s" % (
              n, fmt(args.throughput_seconds),
              "" if args.shm_upstream_alloc else
              "  Here shm runs with `identity drop-allocation=true` "
              "before shmsink, so its writer copies each frame into the "
              "area: with videotestsrc allocating in the area itself, "
              "shmsink deadlocks within a second or so when the writer "
              "runs ahead (see bench/README.md)."), "",
          "### Every round", "",
          "Delivered frames/s (for the writer alone: its frames/s).", ""]
    body = []
    for case in cases:
        for t in transports:
            s = find(thr, case=case, transport=t)
            if not s:
                continue
            key = "writer_fps" if t == "fakesink" else "delivered_fps"
            med = s["median_writer_fps"] if t == "fakesink" \
                else s["median_delivered_fps"]
            body.append([s["size"], TRANSPORT_LABELS[t]] +
                        by_round(s, n, lambda r: fmt(r[key])) + [fmt(med)])
    md += table(["Size", "Transport"] + ["Round %d" % (i + 1)
                                         for i in range(n)] + ["Median"],
                body)
    md += cacheline_table(thr, n, transports, "size")
    md += ["", "### Over the rounds", "",
           "Frames/s: medians over the rounds; vs: ratios of the medians.  "
           "Missed, damaged and CPU: over all rounds.", ""]
    body = []
    for case in cases:
        shm = find(thr, case=case, transport="shm")
        alone = find(thr, case=case, transport="fakesink")
        for t in transports:
            s = find(thr, case=case, transport=t)
            if not s:
                continue
            if t == "fakesink":
                body.append([s["size"], TRANSPORT_LABELS[t],
                             fmt(s["median_writer_fps"]), "", "", "", "", "",
                             fmt(s["writer_cpu_us"]), "", ""])
                continue
            vs_shm = fmt_ratio(ratio(s["median_delivered_fps"],
                                     shm["median_delivered_fps"])) \
                if shm and t.startswith("mmap") else ""
            vs_alone = fmt_ratio(ratio(s["median_delivered_fps"],
                                       alone["median_writer_fps"])) \
                if alone else ""
            body.append([s["size"], TRANSPORT_LABELS[t],
                         fmt(s["median_writer_fps"]),
                         fmt(s["median_delivered_fps"]), vs_shm, vs_alone,
                         str(s["missed"]), str(s["damaged"]),
                         fmt(s["writer_cpu_us"]), fmt(s["reader_cpu_us"]),
                         zero_copy(s) if t.startswith("mmap") else ""])
    md += table(["Size", "Transport", "Writer frames/s",
                 "Delivered frames/s", "vs shm (goal ≥ %.1f)" %
                 GOAL_THROUGHPUT_RATIO, "vs writer alone", "Missed",
                 "Damaged", "Writer CPU µs/frame",
                 "Reader CPU µs/frame", "mmap zero-copy w / r"], body)
    return md + [""]


def readers_report(meta, rd, args):
    if not rd:
        return []
    md = ["## Several readers, %s at %d fps" % (
        meta["readers_size"], READERS_FPS), "",
        "%s s per case.  Delivered: the slowest reader's frames/s.  "
        "Missed and damaged: summed over all readers.  Writer CPU vs 1 "
        "reader: goal ≤ %.1f at 8 readers." % (
            fmt(args.readers_seconds), GOAL_WRITER_CPU_RATIO), ""]
    body = []
    for t in args.transports:
        one = find(rd, transport=t, readers=1)
        for n in args.reader_counts:
            r = find(rd, transport=t, readers=n)
            if not r:
                continue
            body.append([TRANSPORT_LABELS[t], str(n),
                         fmt(r["delivered_fps_min"]),
                         str(sum(r["missed"])), str(sum(r["damaged"])),
                         fmt(r["p50_us"]), fmt(r["worst_p99_us"]),
                         fmt(r["max_us"]), fmt(r["writer_cpu_us"]),
                         fmt_ratio(ratio(r["writer_cpu_us"],
                                         one["writer_cpu_us"]))
                         if one else "–",
                         fmt(r["reader_cpu_us"]),
                         zero_copy(r) if t.startswith("mmap") else ""])
    md += table(["Transport", "Readers", "Delivered frames/s (min)",
                 "Missed", "Damaged", "p50 µs", "worst reader p99 µs",
                 "max µs", "Writer CPU µs/frame", "Writer CPU vs 1 "
                 "reader", "Reader CPU µs/frame (mean)",
                 "mmap zero-copy w / r"], body)
    return md + [""]


def idle_report(idle, args):
    if not idle:
        return []
    md = ["## Idle reader", "",
          "The writer (%s, 30 fps) publishes 15 frames, then stays "
          "alive and publishes nothing.  The reader's CPU over %.0f s "
          "from `/proc/<pid>/stat` (utime + stime, clock ticks of "
          "%.0f ms), from the per-thread `schedstat` (ns), and its "
          "own count; wake-ups: voluntary context switches of all its "
          "threads.  Goal: under %.0f ms." % (
              idle[0]["size"], args.idle_seconds,
              1000 / os.sysconf("SC_CLK_TCK"), GOAL_IDLE_CPU_MS), ""]
    body = [[TRANSPORT_LABELS[r["transport"]], fmt(r["proc_stat_ms"]),
             fmt(r["schedstat_ms"], 2), fmt(r["own_cpu_ms"], 2),
             str(r["wakeups"]), str(r["frames"])] for r in idle]
    md += table(["Transport", "/proc stat ms", "schedstat ms",
                 "own CPU ms", "Wake-ups", "Frames in the window"], body)
    return md + [""]


def goals(meta, res, args):
    """Issue 12's goals, each against this run's figures."""
    pattern = getattr(args, "pattern", "black")
    lat = by_case(res.get("latency", []), pattern)
    thr = by_case(res.get("throughput", []), pattern)
    rd, idle = res.get("readers", []), res.get("idle", [])
    body = []

    def status(ok):
        if ok is None:
            return "no figure"
        return "met" if ok else "**not met**"

    def at_most(r, limit):
        return None if r is None else r <= limit

    def vs_shm(m, s, key, what=""):
        r = ratio(m[key], s[key])
        return r, "mmap %s, shm %s%s: %s" % (fmt(m[key]), fmt(s[key]), what,
                                             fmt_ratio(r))

    pairs = [(c, find(lat, case=c, transport="mmap"),
              find(lat, case=c, transport="shm")) for c in cases_of(lat)]
    for c, m, s in pairs:
        if m:
            p50s = [r["p50_us"] for r in m["rounds"]]
            body.append(["every round's p50 ≤ %.0f µs" % GOAL_P50_US, c,
                         "worst %s µs (rounds: %s)" % (
                             fmt(m["worst_p50_us"]),
                             ", ".join(fmt(x) for x in p50s)),
                         status(at_most(m["worst_p50_us"], GOAL_P50_US))])
    for c, m, s in pairs:
        if m and s:
            r, text = vs_shm(m, s, "median_p50_us", " µs")
            body.append(["median p50 ≤ %.1f× shm's" % GOAL_P50_RATIO, c,
                         text, status(at_most(r, GOAL_P50_RATIO))])
    for c, m, s in pairs:
        if m and s:
            r, text = vs_shm(m, s, "median_p99_us", " µs")
            body.append(["median p99 ≤ shm's", c, text,
                         status(at_most(r, GOAL_P99_RATIO))])
    for c, m, s in pairs:
        if m and s:
            r, text = vs_shm(m, s, "reader_cpu_us", " µs")
            r_stat = ratio(m["reader_proc_stat_us"],
                           s["reader_proc_stat_us"])
            body.append(["reader CPU per frame at 30 fps ≤ %.1f× shm's" %
                         GOAL_READER_CPU_RATIO, c, text +
                         " (/proc stat: %s)" % fmt_ratio(r_stat),
                         status(at_most(r, GOAL_READER_CPU_RATIO))])
    for c in cases_of(thr):
        m = find(thr, case=c, transport="mmap")
        s = find(thr, case=c, transport="shm")
        if m and s:
            r, text = vs_shm(m, s, "median_delivered_fps", " frames/s")
            body.append(["unthrottled delivered frames/s ≥ %.1f× shm's" %
                         GOAL_THROUGHPUT_RATIO, m["size"], text,
                         status(None if r is None
                                else r >= GOAL_THROUGHPUT_RATIO)])
    m = find(idle, transport="mmap")
    if m:
        # Judged on the kernel's nanosecond count: /proc stat's 10 ms
        # ticks cannot resolve a 20 ms goal (it reads 0, 10 or 20 ms for
        # the same 5-7 ms); it is shown alongside.
        body.append(["idle reader under %.0f ms of CPU in %.0f s" % (
            GOAL_IDLE_CPU_MS * m["seconds"] / IDLE_SECONDS, m["seconds"]),
            "", "%s ms (schedstat; /proc stat: %s ms)" % (
                fmt(m["schedstat_ms"], 2), fmt(m["proc_stat_ms"])),
            status(m["schedstat_ms"] <
                   GOAL_IDLE_CPU_MS * m["seconds"] / IDLE_SECONDS)])
    top = max(args.reader_counts) if args.reader_counts else None
    m8 = find(rd, transport="mmap", readers=top) if top else None
    m1 = find(rd, transport="mmap", readers=1)
    if m8:
        body.append(["%d readers of %s at %d fps miss nothing" % (
            top, meta["readers_size"], READERS_FPS), "",
            "%d missed, slowest reader %s frames/s" % (
                sum(m8["missed"]), fmt(m8["delivered_fps_min"])),
            # A reader that stalled misses nothing it could count: the
            # slowest one must also have kept up with the frame rate.
            status(sum(m8["missed"]) == 0 and sum(m8["reordered"]) == 0 and
                   m8["delivered_fps_min"] >= 0.95 * READERS_FPS)])
    if m8 and m1:
        r = ratio(m8["writer_cpu_us"], m1["writer_cpu_us"])
        body.append(["writer CPU per frame with %d readers ≤ %.1f× with "
                     "one" % (top, GOAL_WRITER_CPU_RATIO), "",
                     "%s µs, one reader %s µs: %s" % (
                         fmt(m8["writer_cpu_us"]), fmt(m1["writer_cpu_us"]),
                         fmt_ratio(r)),
                     status(at_most(r, GOAL_WRITER_CPU_RATIO))])
    damaged = sum(sum(r.get("damaged", [])) for k in ("latency",
                                                       "throughput",
                                                       "readers")
                  for r in res.get(k, []) if r["transport"] == "mmap")
    return ["## Goals for mmapsink/mmapsrc (issue 12)", "",
            "Against shm in this same run; latency and frames/s on the "
            "medians over the rounds.  Reader CPU is judged on the "
            "processes' own clocks (`/proc` stat, in 10 ms ticks, "
            "alongside).", ""] + \
        table(["Goal", "Case", "This run", "Status"], body) + [
            "", "Damaged or torn frames in the mmap cases: %d." % damaged, ""]


def compare(old_path, res, args):
    """Before/after: this run's mmap figures next to an earlier run's, with
    shm as the control for how much the machine itself moved."""
    with open(old_path) as f:
        old = json.load(f)
    old_pattern = old["meta"].get("settings", {}).get("pattern", "black")
    md = ["## Compared with %s (git %s, %s)" % (
        os.path.relpath(old_path), old["meta"]["git"], old["meta"]["date"]),
        "", "Before → now; latency and frames/s are medians over the "
        "rounds (pooled for an older run without them).  shm did not "
        "change between the two: its movement shows the machine's noise.",
        ""]
    lat_now = by_case(res.get("latency", []), args.pattern)
    lat_old = by_case(old.get("latency", []), old_pattern)
    thr_now = by_case(res.get("throughput", []), args.pattern)
    thr_old = by_case(old.get("throughput", []), old_pattern)
    body = []
    for t in ("mmap", "shm"):
        for s in lat_now:
            # Same size and writer; else same size (the writer named).
            o = find(lat_old, case=s["case"], transport=t) or \
                find(lat_old, size=s["size"], transport=t)
            if s["transport"] == t and o:
                what = s["case"] if o["case"] == s["case"] else \
                    "%s (before: %s)" % (s["case"], o["pattern"])
                body.append(["latency p50 / p99 µs, " + what,
                             TRANSPORT_LABELS[t], "%s / %s → %s / %s" % (
                                 fmt(o["median_p50_us"]),
                                 fmt(o["median_p99_us"]),
                                 fmt(s["median_p50_us"]),
                                 fmt(s["median_p99_us"]))])
        for s in thr_now:
            o = find(thr_old, size=s["size"], transport=t)
            if s["transport"] == t and o:
                body.append(["delivered frames/s, " + s["size"],
                             TRANSPORT_LABELS[t], "%s → %s" % (
                                 fmt(o["median_delivered_fps"]),
                                 fmt(s["median_delivered_fps"]))])
                body.append(["writer / reader CPU µs/frame unthrottled, " +
                             s["size"], TRANSPORT_LABELS[t],
                             "%s / %s → %s / %s" % (
                                 fmt(o["writer_cpu_us"]),
                                 fmt(o["reader_cpu_us"]),
                                 fmt(s["writer_cpu_us"]),
                                 fmt(s["reader_cpu_us"]))])
        for r in res.get("readers", []):
            if r["transport"] != t:
                continue
            o = find(old.get("readers", []), transport=t,
                     readers=r["readers"])
            if o:
                body.append(["%d readers: missed, writer CPU µs/frame" %
                             r["readers"], TRANSPORT_LABELS[t],
                             "%d, %s → %d, %s" % (
                                 sum(o["missed"]), fmt(o["writer_cpu_us"]),
                                 sum(r["missed"]), fmt(r["writer_cpu_us"]))])
        for r in res.get("idle", []):
            if r["transport"] != t:
                continue
            o = find(old.get("idle", []), transport=t)
            if o:
                body.append(["idle reader CPU ms (schedstat)",
                             TRANSPORT_LABELS[t], "%s → %s" % (
                                 fmt(o["schedstat_ms"], 2),
                                 fmt(r["schedstat_ms"], 2))])
    return md + table(["Figure", "Transport", "Before → now"], body) + [""]


def plot(res, meta, args, outdir, workdir):
    """Latency CDF, one panel per case, one curve per transport and round
    (a round unlike the others stands out)."""
    lat = by_case(res.get("latency", []), args.pattern)
    if not lat:
        return None
    panels = []
    for case in cases_of(lat):
        curves = []
        for t in args.transports:
            s = find(lat, case=case, transport=t)
            if not s:
                continue
            for k, r in enumerate(s["rounds"]):
                values = sorted(x for l in r["latencies_us"] for x in l)
                if not values:
                    continue
                path = os.path.join(workdir, "cdf-%d-%s-%d.dat" % (
                    len(panels), t, r.get("round", 0)))
                with open(path, "w") as f:
                    n = len(values)
                    for i, v in enumerate(values):
                        f.write("%.3f %.6f\n" % (v, (i + 1) / n))
                curves.append((path, TRANSPORT_LABELS[t] if k == 0 else "",
                               t))
        panels.append((case, curves))
    colors = {"mmap": "#1b9e77", "mmap-base": "#66a61e", "shm": "#d95f02",
              "tcp": "#7570b3"}
    cols = 2 if len(panels) > 1 else 1
    nrows = math.ceil(len(panels) / cols)
    # One x range for every panel, whole decades, so panels compare.
    everything = [x for s in lat for r in s["rounds"]
                  for l in r["latencies_us"] for x in l if x > 0]
    lo = 10 ** math.floor(math.log10(min(everything))) if everything else 1
    hi = 10 ** math.ceil(math.log10(max(everything))) if everything else 1e5
    out = os.path.join(outdir, "latency-cdf.png")
    gp = ["set terminal pngcairo size %d,%d font 'Sans,11'" % (
        700 * cols, 500 * nrows + 40),
        "set output '%s'" % out,
        "set multiplot layout %d,%d title 'Latency at 30 fps, one "
        "reader: CDF of each round (%s, git %s)' font 'Sans,13'" % (
            nrows, cols, meta["date"][:10], meta["git"]),
        "set logscale x", "set xrange [%g:%g]" % (lo, hi),
        "set xlabel 'latency (µs, log scale)'",
        "set ylabel 'fraction of frames'", "set yrange [0:1.02]",
        "set ytics 0.1", "set grid xtics ytics mxtics",
        "set key bmargin center horizontal maxrows 2",
        "set bmargin %d" % (6 if len(args.transports) <= 3 else 7),
        "set xlabel offset 0,0.5",
        "set format x '%.0f'",
        # Guides at the two percentiles the goals are about.
        "set arrow 1 from graph 0, first 0.5 to graph 1, first 0.5 nohead "
        "dt 3 lc rgb 'gray40'",
        "set arrow 2 from graph 0, first 0.99 to graph 1, first 0.99 "
        "nohead dt 3 lc rgb 'gray40'",
        "set label 1 'p50' at graph 0.01, first 0.52 tc rgb 'gray40'",
        "set label 2 'p99' at graph 0.01, first 0.96 tc rgb 'gray40'"]
    for case, curves in panels:
        gp.append("set title '%s'" % case)
        gp.append("plot " + ", ".join(
            "'%s' using 1:2 with steps lw 1.5 lc rgb '%s' %s" % (
                p, colors[t], "title '%s'" % label if label else "notitle")
            for p, label, t in curves))
    gp.append("unset multiplot")
    script = os.path.join(workdir, "latency-cdf.gp")
    with open(script, "w") as f:
        f.write("\n".join(gp) + "\n")
    subprocess.run(["gnuplot", script], check=True)
    return out


def git_info(root):
    def git(*a):
        try:
            return subprocess.run(["git", "-C", root] + list(a),
                                  capture_output=True, text=True,
                                  check=True).stdout.strip()
        except (subprocess.CalledProcessError, OSError):
            return ""
    rev = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("diff", "--name-only", "HEAD", "--", "plugin", "include")
    return rev, ", ".join(sorted(dirty.split()))


def snapshot(path, directory):
    os.makedirs(directory)
    return shutil.copy2(path, directory)


def snapshot_library(plugin_dir, directory):
    """libmmapring next to a snapshot of the plugin (builds that have it:
    from format 2 on, the plugin is a front end over it)."""
    lib = os.path.join(plugin_dir, "..", "lib", "libmmapring.so.0")
    if os.path.exists(lib):
        os.makedirs(directory)
        shutil.copy2(os.path.realpath(lib), os.path.join(
            directory, "libmmapring.so.0"))


def command_line(args):
    """The bench/run.sh command as typed (run.sh adds --build-dir)."""
    argv, skip = [], False
    for a in sys.argv[1:]:
        if skip:
            skip = False
        elif a == "--build-dir":
            skip = True
        elif not a.startswith("--build-dir="):
            argv.append(shlex.quote(a))
    env = "" if args.build_dir == "build" else \
        "BUILD_DIR=%s " % shlex.quote(args.build_dir)
    return env + " ".join(["./bench/run.sh"] + argv)


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def machine_info():
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    return cpu, load


def parse_props(values):
    props = {}
    for v in values or []:
        t, _, p = v.partition(":")
        if t not in TRANSPORTS or not p:
            raise SystemExit("--*-props wants TRANSPORT:PROPS, e.g. "
                             "mmap:slots=16")
        props[t] = (props.get(t, "") + " " + p).strip()
    return props


def main():
    ap = argparse.ArgumentParser(
        prog="bench/run.sh",
        description="gst-mmap benchmark: mmapsink/mmapsrc against "
        "shmsink/shmsrc and TCP+gdppay, in one run.",
        epilog="Defaults take about 15 minutes on 2 cores (19 with "
        "--baseline).")
    ap.add_argument("--quick", action="store_true",
                    help="smoke check: one size (1280x720 RGB), 3 rounds, "
                    "1 and 2 readers, short windows (under 2 minutes)")
    ap.add_argument("--tests", default="latency,throughput,readers,idle",
                    help="which tests, comma separated (default: all)")
    ap.add_argument("--transports", default=",".join(TRANSPORTS),
                    help="default: mmap,shm,tcp")
    ap.add_argument("--sizes", default=None,
                    help="size keys, comma separated: " +
                    ",".join(s[0] for s in SIZES))
    ap.add_argument("--rounds", type=int, default=None,
                    help="latency and unthrottled tests: rounds per case, "
                    "each running every transport once, each reported "
                    "(default 5; 3 with --quick)")
    ap.add_argument("--latency-seconds", type=float, default=None,
                    help="window of one latency case (default 6; 3 with "
                    "--quick)")
    ap.add_argument("--throughput-seconds", type=float, default=None,
                    help="window of one unthrottled case (default 2.5; 2 "
                    "with --quick)")
    ap.add_argument("--pattern", default="black",
                    help="videotestsrc pattern of the writer (default "
                    "black: cheap to draw, so the transport shows); the "
                    "latency test at 1280x720 runs solid-color and smpte "
                    "instead")
    ap.add_argument("--out", default=None,
                    help="directory for results.md, results.json and "
                    "latency-cdf.png (default bench/results, with --quick "
                    "bench/results-quick)")
    ap.add_argument("--compare", metavar="RESULTS_JSON",
                    help="add a before → now section against an earlier "
                    "results.json (copy it away before it is overwritten)")
    ap.add_argument("--writer-props", action="append", metavar="T:PROPS",
                    help="extra sink properties, e.g. mmap:slots=16")
    ap.add_argument("--reader-props", action="append", metavar="T:PROPS",
                    help="extra source properties, e.g. "
                    "mmap:timestamp-mode=arrival")
    ap.add_argument("--baseline", metavar="DIR",
                    help="also run mmapsink/mmapsrc from the libgstmmap.so "
                    "in DIR (another version's build) as transport "
                    "\"mmap-base\", alternated with the others: a "
                    "before/after comparison within one run")
    ap.add_argument("--baseline-label", default="baseline build",
                    metavar="TEXT", help="what to call the baseline in the "
                    "report (e.g. \"copying, 4a4cb03\")")
    ap.add_argument("--plugin-dir", metavar="DIR",
                    help="take libgstmmap.so from DIR instead of the "
                    "build's plugin/ (e.g. an older version's build, for a "
                    "before/after comparison)")
    ap.add_argument("--shm-upstream-alloc", action="store_true",
                    help="unthrottled test: let upstream allocate in "
                    "shmsink's area as in the other tests (it stalls: see "
                    "bench/README.md)")
    ap.add_argument("--keep-logs", action="store_true",
                    help="copy every process's log to OUT/logs")
    ap.add_argument("--report-only", metavar="RESULTS_JSON",
                    help="run nothing: write results.md and the plot again "
                    "from a results.json (into its directory, or --out)")
    ap.add_argument("--build-dir", default="build", help=argparse.SUPPRESS)
    args = ap.parse_args()

    args.transports = [t for t in args.transports.split(",") if t]
    for t in args.transports:
        if t not in TRANSPORTS:
            ap.error("unknown transport %r" % t)
    TRANSPORT_LABELS["mmap-base"] = "mmapsink/mmapsrc, " + args.baseline_label
    if args.baseline:
        if not os.path.isfile(os.path.join(args.baseline, "libgstmmap.so")):
            ap.error("no libgstmmap.so in %s" % args.baseline)
        args.transports.insert(args.transports.index("mmap") + 1
                               if "mmap" in args.transports else 0,
                               "mmap-base")
    tests = [t for t in args.tests.split(",") if t]
    for t in tests:
        if t not in ("latency", "throughput", "readers", "idle"):
            ap.error("unknown test %r" % t)
    args.writer_props = parse_props(args.writer_props)
    args.reader_props = parse_props(args.reader_props)
    args.writer_props.setdefault("fakesink", "")
    if args.quick:
        sizes = [s for s in SIZES if s[0] == "720p-rgb"]
        rounds, latency_s, throughput_s = 3, 3, 2
        args.readers_seconds, args.idle_seconds = 2, 2.0
        args.reader_counts = [1, 2]
        args.settle = 0.5
    else:
        sizes = SIZES
        rounds, latency_s, throughput_s = 5, 6, 2.5
        args.readers_seconds, args.idle_seconds = 5, IDLE_SECONDS
        args.reader_counts = READER_COUNTS
        args.settle = 1.0
    if args.rounds is None:
        args.rounds = rounds
    if args.rounds < 1:
        ap.error("--rounds wants at least 1")
    if args.latency_seconds is None:
        args.latency_seconds = latency_s
    if args.throughput_seconds is None:
        args.throughput_seconds = throughput_s
    if args.sizes:
        keys = args.sizes.split(",")
        sizes = [s for s in SIZES if s[0] in keys]
        if len(sizes) != len(keys):
            ap.error("unknown size in %r" % args.sizes)
    readers_size = [s for s in SIZES if s[0] == READERS_SIZE][0]

    if args.report_only:
        return report_only(args)

    b = Bench(args)
    # A smoke check does not overwrite the full run kept in the repository.
    outdir = args.out or os.path.join(
        b.root, "bench", "results-quick" if args.quick else "results")
    if not os.access(b.exe, os.X_OK):
        raise SystemExit("%s is not built (bench/run.sh builds it)" % b.exe)
    check = subprocess.run(["gst-inspect-1.0", "mmapsink"], env=b.env,
                           capture_output=True, text=True)
    if check.returncode != 0:
        raise SystemExit("mmapsink not found in %s" % b.plugin_dir)
    plugin = os.path.join(b.plugin_dir, "libgstmmap.so")
    plugin_sha = sha256(b.plugin)
    cpu, load = machine_info()
    rev, dirty = git_info(b.root)
    gst = subprocess.run(["gst-inspect-1.0", "--version"],
                         capture_output=True, text=True).stdout.split("\n")
    meta = {
        "command": command_line(args),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "cpu": cpu, "cpus": os.cpu_count(), "kernel": platform.release(),
        "loadavg_before": load,
        "gstreamer": gst[1].split()[-1] if len(gst) > 1 else "?",
        "plugin": os.path.relpath(plugin, b.root),
        "plugin_sha256": plugin_sha, "git": rev, "git_dirty": dirty,
        "baseline": os.path.abspath(args.baseline) if args.baseline
        else None,
        "baseline_sha256": sha256(os.path.join(
            b.base_env["GST_PLUGIN_PATH"], "libgstmmap.so"))
        if args.baseline else None,
        "sizes": [s[1] for s in sizes], "readers_size": readers_size[1],
        "settings": {k: getattr(args, k) for k in SETTINGS},
    }
    log("gst-mmap benchmark: git %s%s, load %s, work dir %s" % (
        rev, " (working tree differs in %s)" % dirty if dirty else "", load,
        b.workdir))
    t0 = time.monotonic()
    res = {}
    try:
        if "latency" in tests:
            res["latency"] = b.test_latency(sizes)
        if "throughput" in tests:
            res["throughput"] = b.test_throughput(sizes)
        if "readers" in tests:
            res["readers"] = b.test_readers(readers_size)
        if "idle" in tests:
            res["idle"] = b.test_idle(readers_size)
    except KeyboardInterrupt:
        log("interrupted: writing what there is")
    finally:
        b.close_all()
    meta["elapsed_s"] = time.monotonic() - t0
    res["failures"] = b.failures
    res["damage"] = b.damage
    with open("/proc/loadavg") as f:
        meta["loadavg_after"] = " ".join(f.read().split()[:3])

    os.makedirs(outdir, exist_ok=True)
    # The figures first: whatever happens to the report, they are kept.
    save_json(os.path.join(outdir, "results.json"), meta, res)
    if args.keep_logs:
        shutil.copytree(b.logdir, os.path.join(outdir, "logs"),
                        dirs_exist_ok=True)
    write_report(meta, res, args, outdir, b.workdir)
    shutil.rmtree(b.workdir, ignore_errors=True)
    return 1 if b.failures else 0


# What the report needs to know of the options; kept in results.json so
# that --report-only can redo the report.
SETTINGS = ("transports", "reader_counts", "rounds", "pattern", "settle",
            "shm_upstream_alloc", "baseline_label",
            "latency_seconds", "throughput_seconds", "readers_seconds",
            "idle_seconds")


def save_json(path, meta, res):
    def slim(row, keep_latencies):
        # The plot needs the 30 fps latencies; elsewhere the percentiles
        # say enough (unthrottled runs have thousands).
        row = dict(row)
        if "latencies_us" in row:
            if keep_latencies:
                row["latencies_us"] = [[round(x, 1) for x in lat]
                                       for lat in row["latencies_us"]]
            else:
                del row["latencies_us"]
        if "stages_us" in row:
            row["stages_us"] = [[round(x, 1) for x in f]
                                for f in row["stages_us"]]
        return row
    out = {"meta": meta}
    for k, v in res.items():
        out[k] = [slim(r, k == "latency") if isinstance(r, dict) else r
                  for r in v]
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


def write_report(meta, res, args, outdir, workdir):
    if args.compare:
        res["compare"] = compare(args.compare, res, args)
    try:
        plot(res, meta, args, outdir, workdir)
    except (subprocess.CalledProcessError, OSError) as e:
        res.setdefault("failures", []).append("gnuplot: %s" % e)
    md = report(meta, res, args)
    res.pop("compare", None)
    with open(os.path.join(outdir, "results.md"), "w") as f:
        f.write(md + "\n")
    log("\n" + md)
    log("\nwrote %s/results.md, results.json, latency-cdf.png (%.0f s)" % (
        os.path.relpath(outdir), meta["elapsed_s"]))


def report_only(args):
    """Redoes results.md and the plot from a results.json."""
    with open(args.report_only) as f:
        data = json.load(f)
    meta = data.pop("meta")
    for k, v in meta["settings"].items():
        setattr(args, k, v)
    TRANSPORT_LABELS["mmap-base"] = "mmapsink/mmapsrc, " + \
        args.baseline_label
    outdir = args.out or os.path.dirname(os.path.abspath(args.report_only))
    os.makedirs(outdir, exist_ok=True)
    workdir = tempfile.mkdtemp(prefix="mmapbench-report.")
    try:
        write_report(meta, data, args, outdir, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

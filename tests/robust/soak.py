#!/usr/bin/python3
"""Soak test of gst-mmap: one writer publishing stamped frames as fast as
it can, and readers started, killed, frozen, thawed and stopped at random
for a while.

    /usr/bin/python3 tests/robust/soak.py [SECONDS] [--seed N] [--fps N]

SECONDS defaults to 120.  Run by `meson test --suite soak` (not by a
plain `meson test`), or by hand from the source tree, which uses
build/plugin and build/bench/mmapbench unless GST_PLUGIN_PATH and
MMAPBENCH say otherwise.

Writer and readers are bench/mmapbench: the writer stamps every frame
(its number on every 4 KiB page), each reader checks every frame it gets
and counts the missed and damaged ones.  Next to them, zero-copy readers
whose downstream holds on to buffers keep slots leased, and get frozen
and killed with their leases.

At the end it prints the figures (frames written and read, skipped,
damaged, what happened to the readers) and exits non-zero if any frame
was damaged or out of order, the writer dropped a frame, or a process
died of a signal it was not sent or stopped with an error.
"""

import argparse
import os
import random
import shutil
import signal
import sys
import tempfile
import time

import robustlib as rl
from robustlib import log

# The most readers of each kind at once.
MAX_READERS = 4
MAX_HOARDERS = 2


class Soak:

    def __init__(self, seconds, seed, fps):
        self.seconds = seconds
        self.rng = random.Random(seed)
        self.seed = seed
        self.fps = fps
        self.tmpdir = tempfile.mkdtemp(prefix="gst-mmap-soak-%d-" %
                                       os.getpid(), dir="/dev/shm")
        self.loc = "/dev/shm/gst-mmap-soak-%d" % os.getpid()
        self.writer = None
        self.readers = []       # bench readers, all ever started
        self.hoarders = []      # gst-launch zero-copy readers holding slots
        self.frozen = {}        # proc -> when to thaw it
        self.killed = set()
        self.n = 0
        self.events = {"started": 0, "killed": 0, "frozen": 0, "stopped": 0,
                       "hoarders started": 0, "hoarders killed": 0,
                       "hoarders frozen": 0}
        self.failures = []

    # --- processes ---

    def name(self, kind):
        self.n += 1
        return "%s%d" % (kind, self.n)

    def running(self, procs):
        return [p for p in procs if p.alive() and p not in self.killed and
                not getattr(p, "stopping", False)]

    def start_reader(self):
        props = self.rng.choice(["", "zero-copy=false", "max-leases=4",
                                 "max-leases=1"])
        r = rl.Bench(self.name("reader"), "reader", self.loc, self.tmpdir,
                     fps=self.fps, props=props)
        r.start_window()
        self.readers.append(r)
        self.events["started"] += 1

    def start_hoarder(self):
        n = self.rng.randrange(1, 5)
        h = rl.Proc(self.name("hoarder"), [
            rl.GST_LAUNCH, "-e", "mmapsrc", "location=" + self.loc,
            "max-leases=%d" % n, "!", "queue", "max-size-buffers=%d" % n,
            "max-size-bytes=0", "max-size-time=0", "!", "identity",
            "sleep-time=%d" % self.rng.choice([20000, 100000, 300000]), "!",
            "fakesink", "sync=false"], self.tmpdir)
        self.hoarders.append(h)
        self.events["hoarders started"] += 1

    def kill(self, p, what):
        if p in self.frozen:
            del self.frozen[p]
        p.signal(signal.SIGKILL)
        self.killed.add(p)
        self.events[what] += 1

    def freeze(self, p, what):
        p.signal(signal.SIGSTOP)
        self.frozen[p] = time.monotonic() + self.rng.uniform(0.2, 3.0)
        self.events[what] += 1

    def thaw(self, p):
        p.signal(signal.SIGCONT)
        del self.frozen[p]

    def stop_reader(self, r):
        if r in self.frozen:
            self.thaw(r)
        r.send("stop")
        r.send("quit")
        r.stopping = True
        self.events["stopped"] += 1

    def act(self):
        readers = [r for r in self.running(self.readers)
                   if r not in self.frozen]
        hoarders = [h for h in self.running(self.hoarders)
                    if h not in self.frozen]
        actions = []
        if len(self.running(self.readers)) < MAX_READERS:
            actions += ["start"] * 3
        if len(self.running(self.hoarders)) < MAX_HOARDERS:
            actions += ["hoard"]
        if readers:
            actions += ["kill", "freeze", "stop"]
        if hoarders:
            actions += ["kill hoarder", "freeze hoarder"]
        if not actions:
            return
        a = self.rng.choice(actions)
        if a == "start":
            self.start_reader()
        elif a == "hoard":
            self.start_hoarder()
        elif a == "kill":
            self.kill(self.rng.choice(readers), "killed")
        elif a == "freeze":
            self.freeze(self.rng.choice(readers), "frozen")
        elif a == "stop":
            self.stop_reader(self.rng.choice(readers))
        elif a == "kill hoarder":
            self.kill(self.rng.choice(hoarders), "hoarders killed")
        elif a == "freeze hoarder":
            self.freeze(self.rng.choice(hoarders), "hoarders frozen")

    def check_unexpected_exits(self):
        """A process that ended while it should have been running."""
        for p in [self.writer] + self.readers + self.hoarders:
            if p in self.killed or getattr(p, "stopping", False) or \
                    getattr(p, "reported", False) or p.alive():
                continue
            p.wait()
            p.reported = True
            self.failures.append("%s ended by itself with %s" % (
                p.name, rl.signal_name(p.rc) or "exit %d" % p.rc))
            log("FAILURE: %s" % p.describe())

    # --- the run ---

    def run(self):
        log("soak: %d s, seed %d, writer at %s, location %s" %
            (self.seconds, self.seed, "%d fps" % self.fps if self.fps
             else "full speed", self.loc))
        self.writer = rl.Bench("writer", "writer", self.loc, self.tmpdir,
                               fps=self.fps)
        rl.wait_for("the writer", lambda: self.writer.ready() or
                    not self.writer.alive())
        if not self.writer.alive():
            sys.exit("the writer did not start\n" + self.writer.describe())
        self.writer.start_window()
        start = time.monotonic()
        last_roll = last_report = start
        while time.monotonic() - start < self.seconds:
            now = time.monotonic()
            for p, when in list(self.frozen.items()):
                if now >= when:
                    self.thaw(p)
            if now - last_roll >= 1:
                # Roll the measurement windows: what a reader killed later
                # got until now is counted.
                for b in [self.writer] + self.running(self.readers):
                    b.send("stop")
                    b.send("start")
                last_roll = now
            if now - last_report >= 10:
                log("soak: %3.0f s, writer at frame %s, %d readers running, "
                    "%s" % (now - start, (rl.read_header(self.loc) or
                                          {}).get("write_seq"),
                            len(self.running(self.readers)), self.events))
                last_report = now
            self.check_unexpected_exits()
            self.act()
            time.sleep(self.rng.uniform(0.05, 0.4))
        self.finish()

    def finish(self):
        for p in list(self.frozen):
            self.thaw(p)
        for r in self.running(self.readers):
            self.stop_reader(r)
        for h in self.running(self.hoarders):
            h.signal(signal.SIGINT)
            h.stopping = True
        for p in self.readers + self.hoarders:
            try:
                p.wait(rl.PROC_TIMEOUT)
            except AssertionError as e:
                self.failures.append(str(e).splitlines()[0])
        self.check_exits(self.readers + self.hoarders)
        self.writer.send("stop")
        self.writer.send("quit")
        try:
            self.writer.wait(rl.PROC_TIMEOUT)
        except AssertionError as e:
            self.failures.append(str(e).splitlines()[0])
        self.check_exits([self.writer])
        self.report()

    def check_exits(self, procs):
        for p in procs:
            if getattr(p, "reported", False) or p.rc is None:
                continue
            sig = rl.signal_name(p.rc)
            if p in self.killed:
                if p.rc != -signal.SIGKILL:
                    self.failures.append("%s: killed, but ended with %s" %
                                         (p.name, sig or p.rc))
            elif p.rc != 0:
                self.failures.append("%s ended with %s" %
                                     (p.name, sig or "exit %d" % p.rc))
                log("FAILURE: %s" % p.describe())

    def report(self):
        frames = skipped = missed = damaged = reordered = zero_copy = 0
        for r in self.readers:
            wins = r.windows()
            frames += sum(w["frames"] for w in wins)
            missed += sum(w["missed"] for w in wins)
            reordered += sum(w["reordered"] for w in wins)
            skipped += sum(w["element_stats"]["frames-skipped"] for w in wins)
            zero_copy += sum(w["element_stats"]["frames-zero-copy"]
                             for w in wins)
            # Whole life when it stopped by itself; a killed one reported
            # its damaged frames on stderr (the first 5) as they came.
            d = r.total_damaged()
            if d is None:
                d = max(sum(w["damaged"] for w in wins),
                        len(r.damage_reports()))
            if d:
                self.failures.append("%s: %d damaged frames:\n  %s" % (
                    r.name, d, "\n  ".join(r.damage_reports())))
            damaged += d
        wins = self.writer.windows()
        produced = sum(w["frames"] for w in wins)
        written = sum(w["element_stats"]["frames-written"] for w in wins)
        dropped = sum(w["element_stats"]["frames-dropped"] for w in wins)
        if dropped:
            self.failures.append("the writer dropped %d frames" % dropped)
        if reordered:
            self.failures.append("%d frames came out of order" % reordered)
        log("soak: writer: %d frames produced and %d published while "
            "readers came and went (%s in all), %d dropped" %
            (produced, written, self.writer.total_frames(), dropped))
        log("soak: readers: %d frames read (%d without a copy), %d missed "
            "(gaps in the frame numbers), %d skipped (mmapsrc's count), "
            "%d damaged, %d out of order" %
            (frames, zero_copy, missed, skipped, damaged, reordered))
        log("soak: %s" % ", ".join("%s %d" % kv for kv in
                                  self.events.items()))
        if self.failures:
            log("soak: FAILED:\n  " + "\n  ".join(self.failures))
        else:
            log("checked: %d s of readers started, killed, frozen and "
                "stopped at random (seed %d) next to a writer at full speed: "
                "0 damaged frames, 0 out of order, 0 dropped, no process "
                "died of a signal it was not sent" % (self.seconds,
                                                      self.seed))

    def cleanup(self):
        for p in [self.writer] + self.readers + self.hoarders:
            if p is not None:
                p.kill()
        d, base = os.path.split(self.loc)
        for name in os.listdir(d):
            if name == base or name.startswith("." + base + "."):
                os.unlink(os.path.join(d, name))
        if not self.failures:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
        else:
            log("soak: logs kept in %s" % self.tmpdir)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("seconds", nargs="?", type=float, default=120)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--fps", type=int, default=0,
                    help="the writer's frame rate (0: as fast as it can)")
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    if not os.access(rl.MMAPBENCH, os.X_OK):
        sys.exit("no %s: build it (ninja -C build) or set MMAPBENCH" %
                 rl.MMAPBENCH)
    rl.install_sigterm_handler()
    soak = Soak(args.seconds, seed, args.fps)
    try:
        soak.run()
    finally:
        soak.cleanup()
    sys.exit(1 if soak.failures else 0)


if __name__ == "__main__":
    main()

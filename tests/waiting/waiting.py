#!/usr/bin/python3
"""mmapsrc waiting says why, and a reader chooses how far behind it may
fall (issue 9).  Real gst-launch-1.0 processes, as users run them.

- no writer at the location: after a few seconds gst-launch-1.0 prints a
  warning saying what is there (nothing, a missing directory, a file the
  reader may not read, a dead writer's file);
- `timeout=N` turns the wait into an error (exit code 1, the reason);
- Ctrl-C gets gst-launch-1.0 out of the wait (with and without -e);
- downstream refusing the writer's caps: the error quotes both;
- `max-lag=1` behind an element that takes 100 ms a frame outputs the
  freshest frame each time, counting what it skipped.

    waiting.py Waiting.test_<case>
"""

import os
import re
import signal
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
if "GST_PLUGIN_PATH" not in os.environ:
    os.environ["GST_PLUGIN_PATH"] = os.path.join(HERE, "..", "..", "build",
                                                 "plugin")
sys.path.insert(0, os.path.join(HERE, ".."))
from gstmmaptest import (GST_LAUNCH, LocationTest, Proc, log,  # noqa: E402
                         wait_for)

RAW = "video/x-raw,format=I420,width=320,height=240,framerate=30/1"


class Waiting(LocationTest):
    PREFIX = "gst-mmap-waiting"

    def launch(self, name, *args, env=None):
        p = Proc(name, [GST_LAUNCH] + list(args), self.tmp, env=env)
        self.procs.append(p)
        return p

    def reader(self, loc, *extra, name="reader", env=None):
        return self.launch(name, "mmapsrc", "location=" + loc, *extra, "!",
                           "fakesink", env=env)

    def expect_warning(self, loc, reason, env=None):
        r = self.reader(loc, env=env)
        wait_for("the warning", lambda: "WARNING" in r.stdout() + r.stderr(),
                 timeout=15)
        out = r.stdout() + r.stderr()
        log(out)
        self.assertIn("Still no writer at %s" % loc, out)
        self.assertIn(reason, out)
        r.signal(signal.SIGINT)
        self.assertEqual(r.wait(20), 0, r.describe())

    def test_warning_no_file(self):
        self.expect_warning(self.loc, "no such file yet")

    def test_warning_missing_directory(self):
        self.expect_warning("/dev/shm/gst-mmap-no-such-dir-%d/cam" %
                            os.getpid(), "does not exist")

    def test_warning_unreadable_file(self):
        # A writer whose file only its user may read; the reader runs as
        # nobody (the tests run as root).
        w = self.launch("writer", "videotestsrc", "is-live=true", "!", RAW,
                        "!", "mmapsink", "location=" + self.loc,
                        "file-mode=0600")
        wait_for("the file", lambda: os.path.exists(self.loc))
        r = Proc("reader", ["setpriv", "--reuid=nobody", "--regid=nogroup",
                            "--clear-groups", GST_LAUNCH, "mmapsrc",
                            "location=" + self.loc, "!", "fakesink"],
                 self.tmp)
        self.procs.append(r)
        wait_for("the warning", lambda: "WARNING" in r.stdout() + r.stderr(),
                 timeout=15)
        out = r.stdout() + r.stderr()
        log(out)
        self.assertIn("Permission denied", out)
        r.signal(signal.SIGINT)
        r.wait(20)
        w.kill()

    def test_warning_dead_writer(self):
        w = self.launch("writer", "videotestsrc", "is-live=true", "!", RAW,
                        "!", "mmapsink", "location=" + self.loc)
        wait_for("the file", lambda: os.path.exists(self.loc))
        time.sleep(0.3)
        w.signal(signal.SIGKILL)
        w.wait()
        self.expect_warning(self.loc, "died without stopping")

    def test_timeout_is_an_error(self):
        r = self.reader(self.loc, "timeout=2")
        self.assertEqual(r.wait(30), 1, r.describe())
        err = r.stdout() + r.stderr()
        self.assertIn("No writer at %s after 2 s" % self.loc, err)
        self.assertIn("no such file yet", err)

    def test_ctrl_c_while_waiting(self):
        for args in ([], ["-e"]):
            r = self.launch("reader" + "".join(args), *args, "mmapsrc",
                            "location=" + self.loc, "!", "fakesink")
            wait_for("the pipeline", lambda: "PLAYING" in r.stdout())
            time.sleep(0.5)
            r.signal(signal.SIGINT)
            self.assertEqual(r.wait(20), 0, r.describe())

    def test_not_negotiated_quotes_both_caps(self):
        w = self.launch("writer", "videotestsrc", "is-live=true", "!", RAW,
                        "!", "mmapsink", "location=" + self.loc)
        r = self.launch("reader", "mmapsrc", "location=" + self.loc, "!",
                        "video/x-raw,format=GRAY8", "!", "fakesink")
        self.assertEqual(r.wait(30), 1, r.describe())
        err = r.stdout() + r.stderr()
        log(err)
        self.assertIn("Downstream does not accept the caps of the writer",
                      err)
        self.assertIn("format=(string)I420", err)
        self.assertIn("GRAY8", err)
        w.kill()

    def test_max_lag_one_behind_slow_element(self):
        # 30 fps, a consumer of 100 ms a frame: with max-lag=1 each frame
        # it outputs is the newest, so consecutive outputs are about 3
        # frames apart and none is more than one frame old when taken.
        w = self.launch("writer", "videotestsrc", "is-live=true",
                        "num-buffers=150", "!", RAW, "!", "mmapsink",
                        "location=" + self.loc)
        r = Proc("reader", [sys.executable, __file__, "slow-reader",
                            self.loc, "1"], self.tmp)
        self.procs.append(r)
        self.assertEqual(r.wait(60), 0, r.describe())
        self.assertEqual(w.wait(30), 0, w.describe())
        out = r.stdout()
        log(out[-2000:])
        offsets = [int(x) for x in re.findall(r"^offset (\d+)", out, re.M)]
        ages = [float(x) for x in re.findall(r"age ([\d.]+)", out)]
        skipped = int(re.search(r"skipped (\d+)", out).group(1))
        self.assertGreater(len(offsets), 20)
        gaps = [b - a for a, b in zip(offsets, offsets[1:])]
        # In order, never the same frame twice, and skipping: a reader
        # that read every frame would step by 1.
        self.assertTrue(all(g >= 1 for g in gaps), gaps)
        self.assertGreater(sum(gaps) / len(gaps), 2.0, gaps)
        self.assertEqual(skipped, sum(g - 1 for g in gaps), "what the "
                         "reader skipped is not what it counted")
        log("frames output %d, mean step %.2f, age when taken: median "
            "%.1f ms, max %.1f ms" % (len(offsets), sum(gaps) / len(gaps),
                                      sorted(ages)[len(ages) // 2],
                                      max(ages)))


def slow_reader(location, max_lag):
    """mmapsrc max-lag=N ! a 100 ms consumer; prints each frame's offset
    and its age when the consumer takes it (now - its capture time on
    CLOCK_MONOTONIC, which mmapsrc's running-time stamps give back)."""
    import gi
    gi.require_version("Gst", "1.0")
    from gi.repository import Gst
    Gst.init(None)
    p = Gst.parse_launch(
        "mmapsrc name=src location=%s max-lag=%s timeout=20 ! "
        "fakesink name=out sync=false signal-handoffs=true" % (
            location, max_lag))

    def handoff(sink, buf, pad):
        clock = sink.get_clock()
        if clock:
            age = (clock.get_time() - sink.get_base_time() - buf.pts) / 1e6
            print("offset %d age %.1f" % (buf.offset, age), flush=True)
        time.sleep(0.1)

    p.get_by_name("out").connect("handoff", handoff)
    p.set_state(Gst.State.PLAYING)
    msg = p.get_bus().timed_pop_filtered(
        60 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR)
    stats = p.get_by_name("src").get_property("stats")
    p.set_state(Gst.State.NULL)
    print("skipped %d" % stats.get_value("frames-skipped"), flush=True)
    return 0 if msg and msg.type == Gst.MessageType.EOS else 1


def registered(names):
    cases = sorted(n[5:] for n in dir(Waiting) if n.startswith("test_"))
    if sorted(names) != cases:
        print("meson.build lists %s, waiting.py has %s" % (sorted(names),
                                                           cases))
        return 1
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "slow-reader":
        sys.exit(slow_reader(sys.argv[2], sys.argv[3]))
    if len(sys.argv) > 1 and sys.argv[1] == "--registered":
        sys.exit(registered(sys.argv[2:]))
    unittest.main()

#!/usr/bin/python3
"""The recipes of the README and docs/NETWORK.md, run as users run them
(issue 11): real OpenCV, real gst-rtsp-server, real clients.

- OpenCV: examples/python/opencv_writer.py (cv2.VideoWriter, CAP_GSTREAMER)
  and opencv_reader.py (cv2.VideoCapture) in two processes, pixel-exact;
  the reader gives up cleanly when there is no writer.
- numpy: examples/python/numpy_writer.py and numpy_reader.py (the
  mmapring module, no GStreamer).
- RTSP: pipelines/rtsp-server.py serving an mmapsrc stream, two rtspsrc
  clients on 127.0.0.1 decoding it at once.

The assertions are frames and pixels; latency figures are printed, and
measured in bench/ (bench/opencv-latency.py), never asserted.

    recipes.py Recipes.test_<case>
"""

import os
import re
import socket
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
EXAMPLES = os.path.join(ROOT, "examples", "python")
PIPELINES = os.path.join(ROOT, "pipelines")
if "GST_PLUGIN_PATH" not in os.environ:
    os.environ["GST_PLUGIN_PATH"] = os.path.join(ROOT, "build", "plugin")
sys.path.insert(0, os.path.join(HERE, ".."))
from gstmmaptest import (GST_LAUNCH, LocationTest, Proc, log,  # noqa: E402
                         wait_for, waits_for_a_file)

PY = "/usr/bin/python3"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Recipes(LocationTest):
    PREFIX = "gst-mmap-recipes"

    def spawn(self, name, argv):
        p = Proc(name, argv, self.tmp)
        self.procs.append(p)
        return p

    def test_opencv_writer_and_reader(self):
        frames = 90
        reader = self.spawn("reader", [PY, os.path.join(
            EXAMPLES, "opencv_reader.py"), self.loc, str(frames), "--verify"])
        wait_for("the reader to wait", lambda: waits_for_a_file(reader.pid))
        writer = self.spawn("writer", [PY, os.path.join(
            EXAMPLES, "opencv_writer.py"), self.loc, str(frames)])
        self.assertEqual(writer.wait(60), 0, writer.describe())
        self.assertEqual(reader.wait(60), 0, reader.describe())
        lines = reader.stdout().splitlines()
        self.assertNotIn("mismatch", reader.stdout(), "a frame's pixels "
                         "differ from what OpenCV wrote")
        got = [int(m.group(1)) for m in map(
            re.compile(r"frame (\d+) latency").match, lines) if m]
        lat = sorted(float(l.split()[3]) for l in lines if "latency" in l)
        log("OpenCV: %d of %d frames, capture to read() p50 %.3f ms, max "
            "%.3f ms" % (len(got), frames, lat[len(lat) // 2], lat[-1]))
        # max-lag=1 and appsink drop=true give the freshest frame: a read
        # loop that keeps up gets every one, in order.
        self.assertEqual(got, list(range(frames)))

    def test_opencv_reader_gives_up_without_writer(self):
        reader = self.spawn("reader", [PY, os.path.join(
            EXAMPLES, "opencv_reader.py"), self.loc, "10", "--timeout", "2"])
        self.assertEqual(reader.wait(60), 1, reader.describe())
        self.assertIn("could not open the GStreamer reader", reader.stderr())

    def test_numpy_writer_and_reader(self):
        reader = self.spawn("reader", [PY, os.path.join(
            EXAMPLES, "numpy_reader.py"), self.loc, "60"])
        # A reader that waited for the writer reads all of it; one that
        # comes after the writer's first frame joins at the newest.
        wait_for("the reader to wait", lambda: waits_for_a_file(reader.pid))
        writer = self.spawn("writer", [PY, os.path.join(
            EXAMPLES, "numpy_writer.py"), self.loc, "60"])
        self.assertEqual(writer.wait(60), 0, writer.describe())
        self.assertEqual(reader.wait(60), 0, reader.describe())
        got = re.findall(r"^#(\d+)", reader.stdout(), re.M)
        self.assertEqual(len(got), 60, reader.describe())

    def test_rtsp_server_two_clients(self):
        port = free_port()
        writer = self.spawn("writer", [
            GST_LAUNCH, "-q", "videotestsrc", "is-live=true",
            "pattern=smpte", "num-buffers=600", "!",
            "video/x-raw,width=320,height=240,framerate=30/1", "!",
            "mmapsink", "location=" + self.loc])
        server = self.spawn("server", [PY, os.path.join(
            PIPELINES, "rtsp-server.py"), self.loc, str(port)])
        wait_for("the RTSP server", lambda: "serving" in server.stdout())
        clients = [self.spawn("client%d" % i, [
            PY, __file__, "client", "rtsp://127.0.0.1:%d/cam" % port, "90"])
            for i in range(2)]
        for c in clients:
            self.assertEqual(c.wait(60), 0, c.describe())
            out = c.stdout()
            log("%s: %s" % (c.name, out.strip().splitlines()[-1]))
            self.assertIn("90 frames", out)
            psnr = float(re.search(r"psnr ([\d.]+)", out).group(1))
            self.assertGreater(psnr, 30, "the decoded picture is not the "
                               "writer's SMPTE bars")
        writer.kill()


def rtsp_client(uri, frames):
    """Decodes `frames` frames from `uri` and compares the colour bars of
    the last one with SMPTE bars made here (PSNR, in dB)."""
    import gi
    gi.require_version("Gst", "1.0")
    from gi.repository import Gst
    import numpy as np
    Gst.init(None)

    def grab(desc):
        p = Gst.parse_launch(desc + " ! videoconvert ! video/x-raw,format="
                             "RGB,width=320,height=240 ! appsink name=s "
                             "sync=false")
        p.set_state(Gst.State.PLAYING)
        return p, p.get_by_name("s")

    # Through I420, as the server encodes it: 4:2:0 chroma on sharp bars
    # is not what the comparison is about.
    ref_p, ref_s = grab("videotestsrc pattern=smpte num-buffers=1 ! "
                        "video/x-raw,format=I420,width=320,height=240")
    sample = ref_s.emit("try-pull-sample", 10 * Gst.SECOND)
    ref = np.frombuffer(sample.get_buffer().extract_dup(
        0, 320 * 240 * 3), np.uint8).astype(np.float64)
    ref_p.set_state(Gst.State.NULL)
    p, s = grab("rtspsrc location=%s latency=100 ! rtph264depay ! "
                "h264parse ! avdec_h264" % uri)
    got, last = 0, None
    while got < frames:
        sample = s.emit("try-pull-sample", 20 * Gst.SECOND)
        if sample is None:
            break
        got += 1
        last = sample
    p.set_state(Gst.State.NULL)
    if last is None:
        print("no frames")
        return 1
    pic = np.frombuffer(last.get_buffer().extract_dup(0, 320 * 240 * 3),
                        np.uint8).astype(np.float64)
    # The colour bars (the top two thirds): the bottom of SMPTE has a block
    # of fresh noise in every frame, and blocks whose colour depends on
    # the colorimetry the writer's caps happened to get.
    bars = slice(0, 3 * 320 * 150)
    mse = max(np.mean((pic[bars] - ref[bars]) ** 2), 1e-9)
    print("%d frames, psnr %.1f" % (got, 10 * np.log10(255 ** 2 / mse)))
    return 0 if got == frames else 1


def registered(names):
    cases = sorted(n[5:] for n in dir(Recipes) if n.startswith("test_"))
    if sorted(names) != cases:
        print("meson.build lists %s, recipes.py has %s" % (sorted(names),
                                                           cases))
        return 1
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "client":
        sys.exit(rtsp_client(sys.argv[2], int(sys.argv[3])))
    if len(sys.argv) > 1 and sys.argv[1] == "--registered":
        sys.exit(registered(sys.argv[2:]))
    unittest.main()

#!/usr/bin/python3
"""Pipeline shapes before mmapsink (issue 9): the writer never loses a
frame on its own, whatever upstream looks like.

Each case starts a reader first (`mmapsrc ! fakesink`, so it waits for
the writer and must get every frame), then a writer pipeline of the shape
people write: queues of any size, tee + queue, multiqueue, appsrc pushing
bursts, videorate (which pushes a buffer twice), decoders with pools of
their own, encoders with variable-size frames, a live source.  Both are
real processes.  The assertions are frame counts: the writer's stats say
every frame was written and none dropped, and the reader got each one
once, in order, none skipped.

    shapes.py Shapes.test_<case>          (one meson test per case)
    shapes.py writer LOCATION PIPELINE    (child: runs a writer, prints stats)
    shapes.py appsrc LOCATION FRAMES      (child: bursts from appsrc)
    shapes.py reader LOCATION             (child: counts frames, prints stats)
"""

import json
import os
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
if "GST_PLUGIN_PATH" not in os.environ:
    os.environ["GST_PLUGIN_PATH"] = os.path.join(HERE, "..", "..", "build",
                                                 "plugin")
sys.path.insert(0, os.path.join(HERE, ".."))
from gstmmaptest import LocationTest, Proc, log, wait_for  # noqa: E402

import gi  # noqa: E402

gi.require_version("Gst", "1.0")
from gi.repository import Gst  # noqa: E402

Gst.init(None)

RAW = "video/x-raw,format=I420,width=320,height=240,framerate=30/1"
FRAMES = 90


def structure_to_dict(s):
    return {s.nth_field_name(i): s.get_value(s.nth_field_name(i))
            for i in range(s.n_fields())}


def run_until_eos(pipeline, timeout=60):
    """Plays `pipeline` to EOS; an error message or a timeout raises."""
    pipeline.set_state(Gst.State.PLAYING)
    bus = pipeline.get_bus()
    msg = bus.timed_pop_filtered(timeout * Gst.SECOND,
                                 Gst.MessageType.EOS | Gst.MessageType.ERROR)
    if msg is None:
        raise SystemExit("no EOS within %d s" % timeout)
    if msg.type == Gst.MessageType.ERROR:
        err, dbg = msg.parse_error()
        raise SystemExit("error: %s (%s)" % (err.message, dbg))


def child_writer(location, desc):
    p = Gst.parse_launch(desc.replace("@LOC@", location))
    run_until_eos(p)
    stats = structure_to_dict(p.get_by_name("sink").get_property("stats"))
    p.set_state(Gst.State.NULL)
    print(json.dumps(stats), flush=True)


def child_appsrc(location, frames):
    """Pushes `frames` frames in bursts of 20 as fast as it can, then
    pauses, as an application handing over what it batched does."""
    p = Gst.parse_launch(
        "appsrc name=src format=time caps=%s ! queue ! "
        "mmapsink name=sink location=%s" % (RAW, location))
    src = p.get_by_name("src")
    p.set_state(Gst.State.PLAYING)
    size = 320 * 240 * 3 // 2
    for n in range(frames):
        buf = Gst.Buffer.new_wrapped(bytes([n % 256]) * size)
        buf.pts = n * Gst.SECOND // 30
        buf.duration = Gst.SECOND // 30
        buf.offset = n
        if src.emit("push-buffer", buf) != Gst.FlowReturn.OK:
            raise SystemExit("push-buffer refused frame %d" % n)
        if n % 20 == 19:
            time.sleep(0.5)
    src.emit("end-of-stream")
    bus = p.get_bus()
    msg = bus.timed_pop_filtered(60 * Gst.SECOND,
                                 Gst.MessageType.EOS | Gst.MessageType.ERROR)
    if msg is None or msg.type == Gst.MessageType.ERROR:
        raise SystemExit("no EOS: %s" % (msg and msg.parse_error()[0]))
    stats = structure_to_dict(p.get_by_name("sink").get_property("stats"))
    p.set_state(Gst.State.NULL)
    print(json.dumps(stats), flush=True)


def child_reader(location):
    p = Gst.parse_launch("mmapsrc name=src location=%s timeout=30 ! "
                         "fakesink name=out sync=false signal-handoffs=true"
                         % location)
    seen = {"frames": 0, "discont": 0}

    def handoff(sink, buf, pad):
        seen["frames"] += 1
        if buf.has_flags(Gst.BufferFlags.DISCONT) and seen["frames"] > 1:
            seen["discont"] += 1

    p.get_by_name("out").connect("handoff", handoff)
    p.set_state(Gst.State.PLAYING)
    print("READY", flush=True)
    bus = p.get_bus()
    msg = bus.timed_pop_filtered(90 * Gst.SECOND,
                                 Gst.MessageType.EOS | Gst.MessageType.ERROR)
    if msg is None or msg.type == Gst.MessageType.ERROR:
        raise SystemExit("reader: no EOS: %s" % (
            msg and msg.parse_error()[0].message))
    stats = structure_to_dict(p.get_by_name("src").get_property("stats"))
    p.set_state(Gst.State.NULL)
    seen.update({"skipped": stats["frames-skipped"],
                 "read": stats["frames-read"]})
    print(json.dumps(seen), flush=True)


class Shapes(LocationTest):
    PREFIX = "gst-mmap-shapes"

    def spawn(self, name, *args):
        p = Proc(name, [sys.executable, __file__] + list(args), self.tmp)
        self.procs.append(p)
        return p

    def json_of(self, proc):
        rc = proc.wait(120)
        self.assertEqual(rc, 0, proc.describe())
        return json.loads(proc.stdout().strip().splitlines()[-1])

    def check(self, writer_args, expect=None):
        reader = self.spawn("reader", "reader", self.loc)
        wait_for("the reader to start", lambda: "READY" in reader.stdout())
        writer = self.spawn("writer", *writer_args)
        w = self.json_of(writer)
        r = self.json_of(reader)
        log("writer %s\nreader %s" % (w, r))
        self.assertEqual(w["frames-dropped"], 0, "the writer dropped frames")
        if expect is not None:
            self.assertEqual(w["frames-written"], expect,
                             "the writer did not publish every frame")
        self.assertEqual(r["frames"], w["frames-written"],
                         "the reader did not get every frame published")
        self.assertEqual(r["skipped"], 0)
        self.assertEqual(r["discont"], 0)
        return w, r

    def pipeline(self, middle, src="videotestsrc num-buffers=%d" % FRAMES,
                 caps=RAW, expect=FRAMES):
        desc = "%s ! %s ! %s ! mmapsink name=sink location=@LOC@" % (
            src, caps, middle)
        return self.check(["writer", self.loc, desc], expect)

    def test_queue(self):
        w, _ = self.pipeline("queue")
        self.assertEqual(w["frames-zero-copy"], FRAMES,
                         "upstream should render into the file's slots")

    def test_big_queue(self):
        self.pipeline("queue max-size-buffers=100")

    def test_leaky_free_queue_unlimited(self):
        self.pipeline("queue max-size-buffers=0 max-size-bytes=0 "
                      "max-size-time=0")

    def test_tee_queue(self):
        self.pipeline("tee name=t ! queue", expect=FRAMES)

    def test_tee_two_branches(self):
        desc = ("videotestsrc num-buffers=%d ! %s ! tee name=t ! queue ! "
                "mmapsink name=sink location=@LOC@ t. ! queue ! fakesink "
                "sync=true" % (FRAMES, RAW))
        self.check(["writer", self.loc, desc], FRAMES)

    def test_multiqueue(self):
        self.pipeline("multiqueue")

    def test_appsrc_bursts(self):
        self.check(["appsrc", self.loc, str(FRAMES)], FRAMES)

    def test_videorate_duplicates(self):
        # 15 fps in, 30 fps out: videorate pushes every buffer twice.
        self.pipeline("videorate ! %s ! queue" % RAW,
                      caps=RAW.replace("30/1", "15/1"), expect=None)

    def test_live_source(self):
        self.pipeline("queue", src="videotestsrc is-live=true num-buffers=%d"
                      % FRAMES)

    def test_jpeg(self):
        self.pipeline("jpegenc ! queue")

    def test_decoder_pool(self):
        self.pipeline("jpegenc ! jpegdec ! queue")

    def test_h264(self):
        self.pipeline("x264enc key-int-max=30 ! h264parse ! queue")

    def test_h264_decoded(self):
        self.pipeline("x264enc tune=zerolatency ! avdec_h264 ! queue")


def registered(names):
    """The cases meson registers must be exactly the cases here."""
    cases = sorted(n[5:] for n in dir(Shapes) if n.startswith("test_"))
    if sorted(names) != cases:
        print("meson.build lists %s, shapes.py has %s" % (sorted(names),
                                                          cases))
        return 1
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "writer":
        child_writer(sys.argv[2], sys.argv[3])
    elif len(sys.argv) > 1 and sys.argv[1] == "appsrc":
        child_appsrc(sys.argv[2], int(sys.argv[3]))
    elif len(sys.argv) > 1 and sys.argv[1] == "reader":
        child_reader(sys.argv[2])
    elif len(sys.argv) > 1 and sys.argv[1] == "--registered":
        sys.exit(registered(sys.argv[2:]))
    else:
        unittest.main()

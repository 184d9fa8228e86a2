#!/usr/bin/python3
"""Metas, tags and events across processes (FORMAT.md section 16), and the
keyframe rules for readers that join late or resume after a gap
(section 9).  Writer and readers are separate processes.

The GStreamer side is metas-helper (C): `write` pushes frames with metas
and events through appsrc into mmapsink, `run` runs any pipeline (mmapsrc
readers, writers without appsrc); both print what reaches the pad they
watch, one JSON object a line, described by the same code, so a case
compares what entered mmapsink with what left mmapsrc.  The Python
module's reader is a child of this script (pyreader), as are the H.264
writer and reader (GStreamer through gi).

    metas.py Metas.test_<case>              (one meson test per case)
    metas.py pyreader LOCATION              (child: mmapring.Reader)
    metas.py h264writer LOCATION RAWFILE    (child: live x264enc writer)
    metas.py h264reader LOCATION OUTDIR     (child: mmapsrc + avdec_h264)
"""

import json
import os
import signal
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.path.join(HERE, "..", "..", "build")
if "GST_PLUGIN_PATH" not in os.environ:
    os.environ["GST_PLUGIN_PATH"] = os.path.join(BUILD, "plugin")
HELPER = os.environ.get("METAS_HELPER") or os.path.join(
    BUILD, "tests", "metas", "metas-helper")
sys.path.insert(0, os.path.join(HERE, ".."))
from gstmmaptest import LocationTest, Proc, log, wait_for  # noqa: E402

import gi  # noqa: E402

gi.require_version("Gst", "1.0")
from gi.repository import Gst  # noqa: E402

Gst.init(None)

FRAMES = 30
APPSRC = ("appsrc name=src format=time caps=video/x-raw,format=GRAY8,"
          "width=64,height=48,framerate=30/1")
TAGS = {"title": ["hello"], "artist": ["me"]}
TAGINJECT = 'taginject tags="title=hello,artist=me"'
ALL_METAS = "--metas=roi,reference,caption,custom"
CUSTOM_META = "metas-test-custom-meta"
# Writers publish at 30 fps; the H.264 frames are this big.
H264_W, H264_H = 320, 240
I420_SIZE = H264_W * H264_H * 3 // 2
SLOTS = 8                       # mmapsink's default
# GstVideoEncoder moves timestamps (and its segment) 1000 hours on, so
# that DTS never goes below 0.
ENCODER_OFFSET = 1000 * 3600 * Gst.SECOND


def frame_index(pts):
    """The number of a 30 fps frame from its PTS, before or after the
    encoder."""
    if pts >= ENCODER_OFFSET:
        pts -= ENCODER_OFFSET
    return round(pts * 30 / Gst.SECOND)


def jsonable(v):
    if isinstance(v, bytes):
        return {"$bytes": v.hex()}
    raise TypeError(repr(v))


def unbytes(d):
    if set(d) == {"$bytes"}:
        return bytes.fromhex(d["$bytes"])
    return d


def json_lines(text):
    out = []
    for line in text.splitlines():
        try:
            x = json.loads(line, object_hook=unbytes)
        except ValueError:
            continue
        if isinstance(x, dict):
            out.append(x)
    return out


# ---------------------------------------------------------------- children

def write_seq(location):
    """The writer's last frame number, from the file (as gst-mmap-info
    sees it); 0 if there is no file."""
    from mmapring import ffi, lib
    err = ffi.new("MmapRingError *")
    ins = lib.mmapring_inspector_open(location.encode(), err)
    if ins == ffi.NULL:
        return 0
    info = ffi.new("MmapRingInfo *")
    lib.mmapring_inspector_sample(ins, info)
    seq = info.write_seq
    lib.mmapring_inspector_free(ins)
    return seq


def child_pyreader(location):
    """Every frame the Python module reads, with its metas and events and
    the reader's stream-start and tags at that moment; then what is
    pending at EOS."""
    import itertools
    import mmapring
    r = mmapring.Reader(location, stop_on_eos=True, timeout=30)
    # Looked once: from now on it is a reader that waits for the writer
    # (and gets its every frame), unless one is there already.
    first = r.read(0.05)
    print('"READY"', flush=True)
    for f in itertools.chain([first] if first else [], r):
        print(json.dumps({"frame": f.seq, "offset": f.offset,
                          "skipped": f.skipped, "metas": f.metas,
                          "events": f.events, "tags": r.tags,
                          "stream_start": r.stream_start},
                         default=jsonable), flush=True)
    print(json.dumps({"eos": r.eos, "pending_events": r.pending_events,
                      "tags": r.tags, "stream_start": r.stream_start,
                      "malformed": r.records_malformed,
                      "skipped": r.frames_skipped}, default=jsonable),
          flush=True)


def pipeline_messages(bus, into):
    while True:
        msg = bus.pop_filtered(Gst.MessageType.ERROR |
                               Gst.MessageType.WARNING)
        if msg is None:
            return
        if msg.type == Gst.MessageType.ERROR:
            err, dbg = msg.parse_error()
        else:
            err, dbg = msg.parse_warning()
        into.append({"type": "error" if msg.type == Gst.MessageType.ERROR
                     else "warning", "source": msg.src.get_name(),
                     "text": err.message, "debug": dbg})


def child_h264writer(location, rawfile):
    """A live H.264 writer, raw frames teed before the encoder into
    `rawfile` (their PTS listed at the end); runs until "stop" on stdin."""
    p = Gst.parse_launch(
        "videotestsrc is-live=true pattern=smpte horizontal-speed=3 ! "
        "video/x-raw,format=I420,width=%d,height=%d,framerate=30/1 ! "
        "tee name=t ! queue ! x264enc key-int-max=300 tune=zerolatency ! "
        "h264parse ! mmapsink name=sink location=%s "
        "t. ! queue max-size-buffers=0 max-size-bytes=0 max-size-time=0 ! "
        "filesink name=raw location=%s" % (H264_W, H264_H, location,
                                           rawfile))
    raw_pts = []

    def probe(pad, info):
        raw_pts.append(info.get_buffer().pts)
        return Gst.PadProbeReturn.OK

    p.get_by_name("raw").get_static_pad("sink").add_probe(
        Gst.PadProbeType.BUFFER, probe)
    p.set_state(Gst.State.PLAYING)
    p.get_state(Gst.CLOCK_TIME_NONE)
    print('"PLAYING"', flush=True)
    for line in sys.stdin:
        if line.strip() == "stop":
            break
    p.send_event(Gst.Event.new_eos())
    msg = p.get_bus().timed_pop_filtered(
        30 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR)
    messages = []
    pipeline_messages(p.get_bus(), messages)
    s = p.get_by_name("sink").get_property("stats")
    stats = {s.nth_field_name(i): s.get_value(s.nth_field_name(i))
             for i in range(s.n_fields())}
    p.set_state(Gst.State.NULL)
    print(json.dumps({"eos": msg is not None and
                      msg.type == Gst.MessageType.EOS, "stats": stats,
                      "raw_pts": raw_pts, "messages": messages}), flush=True)


def child_h264reader(location, outdir):
    """mmapsrc ! h264parse ! avdec_h264 ! appsink: a line per decoded
    picture, with mmapsrc's skipped count then; the first picture and the
    first after each gap in the writer's frame numbers (PTS) saved; the
    writer's frame number when it started and at its first picture."""
    p = Gst.parse_launch(
        "mmapsrc name=src location=%s timestamp-mode=writer timeout=30 ! "
        "h264parse name=parse ! avdec_h264 name=dec ! appsink name=out "
        "caps=video/x-raw,format=I420 sync=false" % location)
    sink, src = p.get_by_name("out"), p.get_by_name("src")
    messages, pictures, saved = [], [], {}
    seq_at_start = write_seq(location)
    p.set_state(Gst.State.PLAYING)
    seq_at_first = None
    last_index = None
    while True:
        sample = sink.emit("try-pull-sample", Gst.SECOND // 10)
        pipeline_messages(p.get_bus(), messages)
        if sample is None:
            if sink.get_property("eos") or any(m["type"] == "error"
                                               for m in messages):
                break
            continue
        if seq_at_first is None:
            seq_at_first = write_seq(location)
        buf = sample.get_buffer()
        index = frame_index(buf.pts)
        skipped = src.get_property("stats").get_value("frames-skipped")
        if last_index is None or index != last_index + 1:
            ok, m = buf.map(Gst.MapFlags.READ)
            name = os.path.join(outdir, "picture-%d.yuv" % index)
            with open(name, "wb") as f:
                f.write(bytes(m.data))
            buf.unmap(m)
            saved[index] = name
        last_index = index
        pictures.append({"pts": buf.pts, "index": index,
                         "skipped": skipped})
        print(json.dumps({"picture": index, "skipped": skipped}),
              flush=True)
    s = src.get_property("stats")
    stats = {s.nth_field_name(i): s.get_value(s.nth_field_name(i))
             for i in range(s.n_fields())}
    p.set_state(Gst.State.NULL)
    print(json.dumps({"done": True, "pictures": pictures, "saved": saved,
                      "seq_at_start": seq_at_start,
                      "seq_at_first": seq_at_first, "stats": stats,
                      "messages": messages}), flush=True)


# ---------------------------------------------------------------- checks

def struct_py(text):
    """A GstStructure string as the Python module gives structures:
    {"name": ..., "fields": {...}} with Python values of the same
    types."""
    s = Gst.Structure.from_string(text)[0]
    fields = {}
    for i in range(s.n_fields()):
        k = s.nth_field_name(i)
        ok, num, den = s.get_fraction(k)
        fields[k] = [num, den] if ok else s.get_value(k)
    return {"name": s.get_name(), "fields": fields}


def meta_py(m):
    """A meta as metas-helper describes it, as the Python module should
    give it (FORMAT.md 16.2 field names)."""
    m = dict(m)
    if m["type"] == "roi":
        m["params"] = [struct_py(p) for p in m["params"]]
    elif m["type"] == "caption":
        m["data"] = bytes.fromhex(m["data"])
    elif m["type"] == "custom":
        m["structure"] = struct_py(m["structure"])
    elif m["type"] == "timecode" and m["latest-daily-jam"] is None:
        del m["latest-daily-jam"]
    return m


def same(a, b):
    """Equal, with the same types all the way down (1 is not 1.0)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def tags_of(event):
    """The tags of a tag event line, {name: [values]}."""
    s = Gst.Structure.from_string(event["tags"])[0]
    return {s.nth_field_name(i): [s.get_value(s.nth_field_name(i))]
            for i in range(s.n_fields())}


def buffers(items):
    return [x for x in items if "buffer" in x]


def events(items, *names):
    return [x for x in items if x.get("event") in names]


def stats(items, element):
    return next(x["stats"] for x in items if x.get("element") == element)


def warnings(items):
    return [x for x in items if x.get("message") in ("warning", "error")]


def before_first_buffer(items):
    return items[:next(i for i, x in enumerate(items) if "buffer" in x)]


def travelling(items):
    """The custom events and buffers as they came, then EOS: what the
    writer sends must arrive in this order."""
    out = []
    for x in items:
        if x.get("event") in ("custom-downstream",
                              "custom-downstream-sticky"):
            out.append((x["event"], x["structure"]))
        elif "buffer" in x:
            out.append(("buffer", x["buffer"]))
        elif x.get("event") == "eos":
            out.append(("eos",))
    return out


def psnr(a, b):
    import numpy as np
    a = np.frombuffer(a, np.uint8).astype(np.float64)
    b = np.frombuffer(b, np.uint8).astype(np.float64)
    mse = np.mean((a - b) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255 ** 2 / mse)


class Metas(LocationTest):
    maxDiff = None

    PREFIX = "gst-mmap-metas"

    # -- processes

    def spawn(self, name, argv, stdin=False):
        p = Proc(name, argv, self.tmp, stdin=stdin)
        self.procs.append(p)
        return p

    def helper(self, name, *args):
        return self.spawn(name, [HELPER] + list(args))

    def child(self, name, *args, stdin=False):
        return self.spawn(name, [sys.executable, __file__] + list(args),
                          stdin=stdin)

    def reader(self, name="reader"):
        """`mmapsrc ! fakesink`, ready once it says so."""
        r = self.helper(name, "run", "mmapsrc name=src location=%s "
                        "timeout=30 ! fakesink name=out" % self.loc)
        wait_for(name + " to start", lambda: "READY" in r.stdout())
        return r

    def pyreader(self, name="pyreader"):
        r = self.child(name, "pyreader", self.loc)
        wait_for(name + " to start", lambda: "READY" in r.stdout())
        return r

    def writer(self, middle, *options, frames=FRAMES):
        return self.helper("writer", "write", "%s ! %s mmapsink name=sink "
                           "location=%s" % (APPSRC, middle, self.loc),
                           str(frames), *options)

    def finish(self, proc, timeout=90):
        rc = proc.wait(timeout)
        self.assertEqual(rc, 0, proc.describe())
        return json_lines(proc.stdout())

    def py_frames(self, out):
        frames = [x for x in out if "frame" in x]
        end = next(x for x in out if "eos" in x)
        return frames, end

    # -- checks shared by the cases

    def assert_every_frame(self, w, r, what):
        wb, rb = buffers(w), buffers(r)
        self.assertEqual([b["buffer"] for b in rb],
                         [b["buffer"] for b in wb],
                         "%s did not get every frame once, in order" % what)
        self.assertEqual(stats(r, "src")["frames-skipped"], 0)
        self.assertEqual(stats(w, "sink")["frames-dropped"], 0)

    def assert_python_metas(self, wb, frames):
        """The Python module's metas of each frame equal (values and
        types) what the writer's buffer carried."""
        by_offset = {b["buffer"]: b for b in wb}
        self.assertEqual([f["offset"] for f in frames], sorted(by_offset))
        for f in frames:
            want = [meta_py(m) for m in by_offset[f["offset"]]["metas"]]
            self.assertTrue(same(f["metas"], want),
                            "frame %d: Python has metas\n%r\nthe writer's "
                            "buffer had\n%r" % (f["offset"], f["metas"],
                                                want))

    # -- the cases

    def test_metas_travel(self):
        r, py = self.reader(), self.pyreader()
        w = self.finish(self.writer("timecodestamper ! %s !" % TAGINJECT,
                                    ALL_METAS))
        r, py = self.finish(r), self.finish(py)
        self.assertEqual(warnings(w) + warnings(r), [])
        self.assert_every_frame(w, r, "mmapsrc")
        wb, rb = buffers(w), buffers(r)
        kinds = ["roi", "reference-timestamp", "caption", "custom",
                 "timecode"]
        for b in wb:
            # What the writer sent is what this case means to send.
            n = b["buffer"]
            roi, ref, cap, custom, tc = b["metas"]
            self.assertEqual([m["type"] for m in b["metas"]], kinds)
            self.assertEqual((roi["id"], roi["parent-id"], roi["x"],
                              roi["y"]), (100 + n, 3, n, 2 * n))
            self.assertEqual(ref["timestamp"], 3900000000 * Gst.SECOND +
                             n * (Gst.SECOND // 30))
            self.assertEqual(cap["caption-type"], 4)
            self.assertEqual(custom["name"], CUSTOM_META)
            self.assertEqual(tc["frames"], n - 1)
        for x, y in zip(wb, rb):
            metas = [m for m in y["metas"] if m["type"] != "other"]
            self.assertEqual(metas, x["metas"], "frame %d: mmapsrc's buffer "
                             "does not carry the writer's metas" %
                             x["buffer"])
        tags = events(before_first_buffer(r), "tag")
        self.assertTrue(tags, "no tag event before mmapsrc's first buffer")
        self.assertEqual(tags_of(tags[-1]), TAGS)

        frames, end = self.py_frames(py)
        self.assert_python_metas(wb, frames)
        stream_id = events(w, "stream-start")[0]["stream-id"]
        first = frames[0]["events"]
        self.assertEqual([e["type"] for e in first], ["stream-start",
                                                      "tags"])
        self.assertEqual(first[0]["stream-id"], stream_id)
        self.assertEqual(first[1]["tags"], TAGS)
        for f in frames:
            self.assertEqual(f["tags"], {"stream": TAGS})
        self.assertEqual(end["tags"], {"stream": TAGS})
        self.assertEqual(end["malformed"], 0)
        log("checked: %d frames, each with ROI, reference timestamp, "
            "caption, custom and time code metas, equal in mmapsrc's "
            "buffers and in Frame.metas; tags title=hello, artist=me" %
            len(wb))

    def test_events_in_order(self):
        r, py = self.reader(), self.pyreader()
        w = self.finish(self.writer(
            "", "--event=1:ev-first", "--event=10:ev-before-10",
            "--event=11:ev-b1", "--event=11:ev-b2",
            "--sticky-event=15:ev-sticky", "--flush=20",
            "--event=21:ev-after-flush", "--last-event=ev-last"))
        r, py = self.finish(r), self.finish(py)
        self.assertEqual(warnings(w) + warnings(r), [])
        # The writer's pipeline did flush, and got a segment of its own.
        self.assertEqual(len(events(w, "flush-start", "flush-stop")), 2)
        self.assertEqual(len(events(w, "segment")), 2)
        want = travelling(w)
        self.assertEqual(len([x for x in want if x[0] != "buffer"]), 8)
        with self.subTest("mmapsrc"):
            self.assertEqual(travelling(r), want, "mmapsrc's events and "
                             "buffers are not the writer's, in its order")
        with self.subTest("mmapsrc: what stays in the writer's process"):
            self.assertEqual(events(r, "flush-start", "flush-stop"), [],
                             "a flush of the writer's pipeline reached "
                             "mmapsrc's")
            segs = events(r, "segment")
            self.assertEqual(len(segs), 1, "mmapsrc pushed more than its "
                             "own segment: %r" % segs)
            self.assertEqual(segs[0]["applied-rate"], 1)
        with self.subTest("python"):
            frames, end = self.py_frames(py)
            got = []
            for f in frames:
                got += [("custom-downstream-sticky" if e["sticky"] else
                         "custom-downstream", e["structure"])
                        for e in f["events"] if e["type"] == "event"]
                got.append(("buffer", f["offset"]))
            got += [("custom-downstream-sticky" if e["sticky"] else
                     "custom-downstream", e["structure"])
                    for e in end["pending_events"]]
            got.append(("eos",))
            self.assertTrue(end["eos"])
            want_py = [(x[0], struct_py(x[1])) if x[0].startswith("custom")
                       else x for x in want]
            self.assertEqual(got, want_py, "the Python module's events and "
                             "frames are not the writer's, in order")
        log("compared: %d custom events, each before the frame it "
            "preceded (the last one before EOS), in mmapsrc and in Python; "
            "no flush, one segment" % (len(want) - FRAMES - 1))

    def test_late_reader_gets_stream_start_and_tags(self):
        w = self.writer(TAGINJECT + " !", ALL_METAS, frames=150)
        wait_for("the writer's 30th frame", lambda: len(
            buffers(json_lines(w.stdout()))) >= 30)
        r = self.helper("reader", "run", "mmapsrc name=src location=%s "
                        "timeout=30 ! fakesink name=out" % self.loc)
        py = self.child("pyreader", "pyreader", self.loc)
        script = self.spawn("script", [sys.executable, "-m", "mmapring",
                                       self.loc, "-n", "10", "-t", "30",
                                       "--metas"])
        w, r, py = self.finish(w), self.finish(r), self.finish(py)
        self.assertEqual(script.wait(), 0, script.describe())
        stream_id = events(w, "stream-start")[0]["stream-id"]
        first = buffers(r)[0]["buffer"]
        self.assertGreater(first, 20, "the reader was not late")
        head = before_first_buffer(r)
        starts = events(head, "stream-start")
        self.assertTrue(starts, "no stream-start before the first buffer")
        self.assertEqual(starts[-1]["stream-id"], stream_id,
                         "mmapsrc's stream is not the writer's")
        tags = events(head, "tag")
        self.assertTrue(tags, "no tags before mmapsrc's first buffer")
        self.assertEqual(tags_of(tags[-1]), TAGS)

        frames, _ = self.py_frames(py)
        self.assertGreater(frames[0]["offset"], 20)
        self.assertEqual(frames[0]["stream_start"]["stream-id"], stream_id)
        self.assertEqual(frames[0]["tags"], {"stream": TAGS})
        self.assert_python_metas(buffers(w)[frames[0]["offset"] - 1:],
                                 frames)

        # python3 -m mmapring --metas: each frame's metas under its line,
        # as JSON (bytes in hex).
        by_seq, seq = {}, None
        for line in script.stdout().splitlines():
            if line.startswith("seq="):
                seq = int(line.split()[0][4:])
                by_seq[seq] = []
            elif line.startswith("  meta "):
                by_seq[seq].append(json.loads(line[7:]))
        self.assertEqual(len(by_seq), 10, script.describe())
        written = {b["buffer"]: b for b in buffers(w)}
        for seq, metas in by_seq.items():
            # The first file's frame numbers are the writer's offsets.
            want = [dict(meta_py(m), **({"data": m["data"]}
                                        if m["type"] == "caption" else {}))
                    for m in written[seq]["metas"]]
            self.assertEqual(metas, want, "frame %d" % seq)
        log("checked: readers that joined at frames %d (mmapsrc) and %d "
            "(Python) had stream %s and the tags before their first frame, "
            "and its metas; python3 -m mmapring --metas printed them" %
            (first, frames[0]["offset"], stream_id))

    def test_meta_overflow(self):
        r, py = self.reader(), self.pyreader()
        w = self.finish(self.helper(
            "writer", "write", "%s ! mmapsink name=sink location=%s "
            "meta-size=256" % (APPSRC, self.loc), str(FRAMES),
            "--extra-roi=3", "--metas=reference,caption"))
        r, py = self.finish(r), self.finish(py)
        self.assert_every_frame(w, r, "mmapsrc")
        self.assertEqual(warnings(r), [])
        warned = warnings(w)
        self.assertEqual(len(warned), 1, "not one warning: %r" % warned)
        self.assertEqual(warned[0]["source"], "sink")
        self.assertIn("meta-size", warned[0]["text"])
        dropped = 0
        for x, y in zip(buffers(w), buffers(r)):
            got = [m for m in y["metas"] if m["type"] != "other"]
            # Whole metas of the writer's, in its order, or none.
            it = iter(x["metas"])
            self.assertTrue(all(m in it for m in got),
                            "frame %d: %r are not whole metas of the "
                            "writer's %r" % (x["buffer"], got, x["metas"]))
            dropped += len(x["metas"]) - len(got)
        self.assertGreater(dropped, 0, "every meta fitted: nothing tested")
        self.assertEqual(stats(w, "sink")["records-dropped"], dropped)
        # The Python module sees the same whole metas.
        frames, _ = self.py_frames(py)
        self.assertEqual(len(frames), FRAMES)
        for f, y in zip(frames, buffers(r)):
            want = [meta_py(m) for m in y["metas"] if m["type"] != "other"]
            self.assertTrue(same(f["metas"], want), "frame %d: %r != %r" %
                            (f["offset"], f["metas"], want))
        log("checked: %d metas that did not fit 256 bytes were left out "
            "whole, counted in records-dropped, one warning, every frame "
            "read" % dropped)

    # -- H.264: joining late, resuming after a freeze

    def h264(self, freeze):
        raw = os.path.join(self.tmp, "raw.yuv")
        w = self.child("writer", "h264writer", self.loc, raw, stdin=True)
        wait_for("the writer to play", lambda: "PLAYING" in w.stdout())
        time.sleep(2.5)         # the scenario: a reader 2.5 s later
        r = self.child("reader", "h264reader", self.loc, self.tmp)

        def pictures():
            return [x for x in json_lines(r.stdout()) if "picture" in x]
        wait_for("30 decoded pictures", lambda: len(pictures()) >= 30, 30)
        published = None
        if freeze:
            before = write_seq(self.loc)
            r.signal(signal.SIGSTOP)
            time.sleep(2)
            r.signal(signal.SIGCONT)
            published = write_seq(self.loc) - before
            n = len(pictures())
            wait_for("30 pictures after the resume",
                     lambda: len(pictures()) >= n + 30, 30)
        w.send("stop")
        w_out = self.finish(w)[-1]
        r_out = self.finish(r)[-1]
        self.assertTrue(w_out["eos"], w.describe())
        self.assertEqual(w_out["messages"], [])
        bad = [m for m in r_out["messages"] if m["type"] == "error" or
               m["source"] in ("dec", "parse")]
        self.assertEqual(bad, [], "the reader's bus")
        self.assertGreaterEqual(w_out["stats"]["keyframes-requested"], 1)
        self.assertEqual(w_out["stats"]["frames-dropped"], 0)
        raw_index = {frame_index(pts): i
                     for i, pts in enumerate(w_out["raw_pts"])}

        def clean(index):
            with open(r_out["saved"][str(index)], "rb") as f:
                got = f.read()
            with open(raw, "rb") as f:
                f.seek(raw_index[index] * I420_SIZE)
                want = f.read(I420_SIZE)
            return psnr(got, want)
        return w_out, r_out, clean, published

    def test_h264_late_join(self):
        w, r, clean, _ = self.h264(False)
        first = r["pictures"][0]["index"]
        quality = clean(first)
        self.assertGreater(quality, 30, "the first picture is not clean")
        waited = r["seq_at_first"] - r["seq_at_start"]
        self.assertLess(waited, 60, "the writer published %d frames before "
                        "the reader's first picture" % waited)
        log("checked: joined at frame %d, first picture %d frames later "
            "(writer frame %d, %.1f dB), %d keyframe requests upstream, no "
            "decoder message" % (r["seq_at_start"], waited, first, quality,
                                 w["stats"]["keyframes-requested"]))

    def test_h264_resume_after_freeze(self):
        w, r, clean, published = self.h264(True)
        pics = r["pictures"]
        gaps = [(a, b) for a, b in zip(pics, pics[1:])
                if b["index"] != a["index"] + 1]
        self.assertTrue(gaps, "no frame was lost while the reader was "
                        "frozen for 2 s (%d published)" % published)
        # The freeze: the widest gap.
        a, b = max(gaps, key=lambda g: g[1]["index"] - g[0]["index"])
        quality = clean(b["index"])
        self.assertGreater(quality, 30, "the picture after the resume is "
                           "not clean")
        # Every frame it did not output after the first picture, it
        # counted as skipped: gaps in the frame numbers it decoded are
        # what mmapsrc's frames-skipped grew by.
        missing = sum(y["index"] - x["index"] - 1
                      for x, y in zip(pics, pics[1:]))
        counted = r["stats"]["frames-skipped"] - pics[0]["skipped"]
        self.assertEqual(counted, missing, "mmapsrc counted %d skipped "
                         "frames, %d frames are missing" % (counted,
                                                            missing))
        self.assertGreaterEqual(b["index"] - a["index"] - 1,
                                published - SLOTS - 1)
        log("checked: frozen for 2 s (%d frames published), resumed at "
            "writer frame %d after %d lost, %.1f dB, %d skipped counted" %
            (published, b["index"], b["index"] - a["index"] - 1, quality,
             counted))

    # -- JPEG and audio: unchanged

    def byte_exact(self, source):
        written = os.path.join(self.tmp, "written.bin")
        read = os.path.join(self.tmp, "read.bin")
        r = self.helper("reader", "run", "mmapsrc name=src location=%s "
                        "timeout=30 ! identity name=out ! filesink "
                        "location=%s" % (self.loc, read))
        wait_for("the reader to start", lambda: "READY" in r.stdout())
        w = self.helper("writer", "run", "%s ! tee name=t ! queue ! "
                        "mmapsink name=sink location=%s t. ! queue ! "
                        "identity name=out ! filesink location=%s" %
                        (source, self.loc, written))
        w, r = self.finish(w), self.finish(r)
        self.assertEqual(warnings(w) + warnings(r), [])
        wb, rb = buffers(w), buffers(r)
        self.assertEqual([b["size"] for b in rb], [b["size"] for b in wb],
                         "not every buffer once, in order")
        with open(written, "rb") as f, open(read, "rb") as g:
            self.assertTrue(f.read() == g.read(), "the bytes differ")
        self.assertEqual(events(r, "caps")[-1]["caps"],
                         events(w, "caps")[-1]["caps"])
        self.assertEqual(stats(r, "src")["frames-skipped"], 0)
        sink = stats(w, "sink")
        self.assertEqual(sink["frames-dropped"], 0)
        self.assertEqual(sink["records-dropped"], 0)
        self.assertEqual(sink["keyframes-requested"], 0)
        return len(wb), sum(b["size"] for b in wb)

    def test_jpeg_unchanged(self):
        n, size = self.byte_exact(
            "videotestsrc num-buffers=60 pattern=ball ! video/x-raw,"
            "width=320,height=240,framerate=30/1 ! jpegenc")
        self.assertEqual(n, 60)
        log("checked: %d JPEG frames (%d bytes) read back byte-exact, in "
            "order" % (n, size))

    def test_audio_unchanged(self):
        n, size = self.byte_exact(
            "audiotestsrc num-buffers=100 samplesperbuffer=441 freq=440 ! "
            "audio/x-raw,format=S16LE,rate=44100,channels=2,"
            "layout=interleaved")
        self.assertEqual(n, 100)
        log("checked: %d audio buffers (%d bytes) read back byte-exact, in "
            "order" % (n, size))


def registered(names):
    """The cases meson registers must be exactly the cases here."""
    cases = sorted(n[5:] for n in dir(Metas) if n.startswith("test_"))
    if sorted(names) != cases:
        print("meson.build lists %s, metas.py has %s" % (sorted(names),
                                                         cases))
        return 1
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "pyreader":
        child_pyreader(sys.argv[2])
    elif len(sys.argv) > 1 and sys.argv[1] == "h264writer":
        child_h264writer(sys.argv[2], sys.argv[3])
    elif len(sys.argv) > 1 and sys.argv[1] == "h264reader":
        child_h264reader(sys.argv[2], sys.argv[3])
    elif len(sys.argv) > 1 and sys.argv[1] == "--registered":
        sys.exit(registered(sys.argv[2:]))
    else:
        unittest.main()

#!/usr/bin/python3
"""Publish video from Python through mmapsink: appsrc -> mmapsink.

Draws a moving gradient (RGB, 640x480, 30 fps) with numpy, pushes FRAMES
frames, then EOS, so that readers end too and mmapsink removes its file.

Usage: /usr/bin/python3 writer.py [LOCATION] [FRAMES]
  LOCATION  default /dev/shm/gst-mmap
  FRAMES    default 300 (10 s)

Needs Debian's python3-gi and python3-numpy (hence /usr/bin/python3), and
GST_PLUGIN_PATH=build/plugin when the plugin is not installed (or run
it under `meson devenv -C build`).  numpy_writer.py does the same without
GStreamer, over the mmapring module.
"""
import sys

import gi
import numpy as np

gi.require_version("Gst", "1.0")
from gi.repository import Gst  # noqa: E402

WIDTH, HEIGHT, FPS = 640, 480, 30


def draw_frame(n):
    """Frame n: red grows to the right, green downwards, sliding left."""
    frame = np.empty((HEIGHT, WIDTH, 3), np.uint8)
    frame[:, :, 0] = (np.arange(WIDTH) + 4 * n) % 256
    frame[:, :, 1] = (np.arange(HEIGHT) * 255 // (HEIGHT - 1))[:, None]
    frame[:, :, 2] = (2 * n) % 256
    # RGB rows of 640 pixels are 1920 bytes, already GStreamer's stride.
    buf = Gst.Buffer.new_wrapped(frame.tobytes())
    # mmapsink carries timestamps and offsets to the readers.
    buf.pts = n * Gst.SECOND // FPS
    buf.duration = Gst.SECOND // FPS
    buf.offset = n
    return buf


def main():
    location = sys.argv[1] if len(sys.argv) > 1 else "/dev/shm/gst-mmap"
    frames = int(sys.argv[2]) if len(sys.argv) > 2 else 300
    Gst.init(None)

    # The caps readers will negotiate come from here, through the file.
    # mmapsink syncs on the clock, which paces the pushes at 30 fps.
    pipeline = Gst.parse_launch(
        "appsrc name=src format=time block=true max-buffers=4 "
        f"caps=video/x-raw,format=RGB,width={WIDTH},height={HEIGHT},"
        f"framerate={FPS}/1 ! mmapsink name=sink")
    src = pipeline.get_by_name("src")
    sink = pipeline.get_by_name("sink")
    sink.set_property("location", location)

    # On failure (e.g. another writer holds the location) the reason is an
    # error message on the bus.
    if pipeline.set_state(Gst.State.PLAYING) != Gst.StateChangeReturn.FAILURE:
        print(f"writing {frames} frames to {location}", flush=True)
        for n in range(frames):
            if src.emit("push-buffer", draw_frame(n)) != Gst.FlowReturn.OK:
                break  # the pipeline failed: the error is on the bus
        src.emit("end-of-stream")

    # Wait until EOS has gone through mmapsink (it marks it in the file).
    msg = pipeline.get_bus().timed_pop_filtered(
        Gst.CLOCK_TIME_NONE, Gst.MessageType.EOS | Gst.MessageType.ERROR)
    ok = msg.type == Gst.MessageType.EOS
    if ok:
        print("done:", sink.get_property("stats").to_string())
    else:
        err, dbg = msg.parse_error()
        print(f"error: {err.message}\n{dbg}", file=sys.stderr)
    pipeline.set_state(Gst.State.NULL)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

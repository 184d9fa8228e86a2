#!/usr/bin/python3
"""Take frames from an mmapsink in another process: mmapsrc -> appsink.

Prints one line per frame (our count, the writer's buffer offset when it
set one, the PTS, the mean of the frame's bytes taken as a numpy array,
DISCONT when frames were skipped before it), the caps when they change,
the source's element messages (`mmapsrc-waiting` while there is no
writer, `mmapsrc-writer` when one is found), and at the end the source's
`stats`.

Usage: /usr/bin/python3 reader.py [LOCATION] [FRAMES]
  LOCATION  default /dev/shm/gst-mmap
  FRAMES    stop after this many frames (default: until the writer's EOS)

Needs Debian's python3-gi and python3-numpy (hence /usr/bin/python3), and
GST_PLUGIN_PATH=build/plugin when the plugin is not installed (or run
it under `meson devenv -C build`).  numpy_reader.py does the same without
GStreamer, over the mmapring module.
"""
import sys

import gi
import numpy as np

gi.require_version("Gst", "1.0")
from gi.repository import GLib, Gst  # noqa: E402


def main():
    location = sys.argv[1] if len(sys.argv) > 1 else "/dev/shm/gst-mmap"
    max_frames = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    Gst.init(None)

    # No caps to give: mmapsrc negotiates the writer's.  emit-signals makes
    # appsink call on_sample (in the streaming thread) for every frame.
    pipeline = Gst.parse_launch(
        "mmapsrc name=src ! appsink name=sink emit-signals=true sync=false")
    src = pipeline.get_by_name("src")
    src.set_property("location", location)
    loop = GLib.MainLoop()
    state = {"frames": 0, "caps": None, "error": False}

    def on_sample(sink):
        sample = sink.emit("pull-sample")
        buf, caps = sample.get_buffer(), sample.get_caps()
        if state["caps"] is None or not caps.is_equal(state["caps"]):
            print("caps", caps.to_string())
            state["caps"] = caps
        ok, info = buf.map(Gst.MapFlags.READ)
        mean = np.frombuffer(info.data, np.uint8).mean()
        buf.unmap(info)
        discont = " DISCONT" if buf.has_flags(Gst.BufferFlags.DISCONT) else ""
        offset = ("" if buf.offset == Gst.BUFFER_OFFSET_NONE
                  else f" offset {buf.offset}")
        print(f"#{state['frames']}{offset} pts {buf.pts / Gst.SECOND:.3f} s "
              f"mean {mean:.1f}{discont}", flush=True)
        state["frames"] += 1
        if state["frames"] == max_frames:
            GLib.idle_add(loop.quit)
        return Gst.FlowReturn.OK

    # mmapsrc's element messages.  As a sync message this runs at once in
    # the thread that posts it, mmapsrc's streaming thread, the one that
    # also calls on_sample: the lines come out in order.
    def on_element(bus, msg):
        s = msg.get_structure()
        if s.get_name() == "mmapsrc-waiting":
            print("waiting for a writer:", s.get_string("reason"), flush=True)
        elif s.get_name() == "mmapsrc-writer":
            print(f"writer found: pid {s.get_value('pid')}", flush=True)

    # End of stream and errors, in the main loop.
    def on_message(bus, msg):
        if msg.type == Gst.MessageType.EOS:
            print("end of stream (the writer sent EOS)")
            loop.quit()
        elif msg.type == Gst.MessageType.ERROR:
            err, dbg = msg.parse_error()
            print(f"error: {err.message}\n{dbg}", file=sys.stderr)
            state["error"] = True
            loop.quit()

    pipeline.get_by_name("sink").connect("new-sample", on_sample)
    bus = pipeline.get_bus()
    bus.enable_sync_message_emission()
    bus.connect("sync-message::element", on_element)
    bus.add_signal_watch()
    bus.connect("message", on_message)

    pipeline.set_state(Gst.State.PLAYING)
    try:
        loop.run()
    except KeyboardInterrupt:
        pass
    print(f"{state['frames']} frames")
    print(src.get_property("stats").to_string())
    pipeline.set_state(Gst.State.NULL)
    bus.remove_signal_watch()
    bus.disable_sync_message_emission()
    return 1 if state["error"] else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""Serves one gst-mmap stream to any number of RTSP clients
(gst-rtsp-server, Debian's gir1.2-gst-rtsp-server-1.0).

    pipelines/rtsp-server.py [LOCATION] [PORT] [MOUNT]
        LOCATION  default /dev/shm/gst-mmap
        PORT      default 8554
        MOUNT     default /cam: clients open rtsp://HOST:PORT/cam

    gst-launch-1.0 rtspsrc location=rtsp://127.0.0.1:8554/cam latency=100 ! \\
        rtph264depay ! h264parse ! avdec_h264 ! videoconvert ! autovideosink
    (or vlc / ffplay rtsp://HOST:8554/cam)

The media is shared: one mmapsrc reader and one encoder for all clients,
however many connect (the writer sees one more reader, whatever the
number of viewers).  It is made when the first client connects and stays
while there are clients.  The encoder is x264enc (gstreamer1.0-plugins-
ugly) with low-latency settings, a key frame every 30 frames, SPS/PPS
with each (config-interval=-1), so that a client joining late shows a
picture within a second.  BITRATE (kbit/s, default 2000) sets the rate.

GST_PLUGIN_PATH defaults to the build tree's plugin when it exists.
"""
import os
import signal
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD_PLUGIN = os.path.join(HERE, "..", "build", "plugin")
if not os.environ.get("GST_PLUGIN_PATH") and os.path.isdir(BUILD_PLUGIN):
    os.environ["GST_PLUGIN_PATH"] = BUILD_PLUGIN

import gi  # noqa: E402

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main():
    location = sys.argv[1] if len(sys.argv) > 1 else "/dev/shm/gst-mmap"
    port = sys.argv[2] if len(sys.argv) > 2 else "8554"
    mount = sys.argv[3] if len(sys.argv) > 3 else "/cam"
    bitrate = int(os.environ.get("BITRATE", "2000"))
    Gst.init(None)

    server = GstRtspServer.RTSPServer()
    server.set_service(port)
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(
        "( mmapsrc location=%s ! videoconvert ! video/x-raw,format=I420 ! "
        "x264enc tune=zerolatency speed-preset=veryfast bitrate=%d "
        "key-int-max=30 ! rtph264pay name=pay0 pt=96 config-interval=-1 )"
        % (location, bitrate))
    factory.set_shared(True)
    server.get_mount_points().add_factory(mount, factory)
    if server.attach(None) == 0:
        print("error: cannot listen on port %s" % port, file=sys.stderr)
        return 1
    print("serving %s at rtsp://127.0.0.1:%s%s" % (location, port, mount),
          flush=True)

    loop = GLib.MainLoop()
    # SIGTERM (systemd, docker stop) and Ctrl-C stop it cleanly.
    for sig in (signal.SIGINT, signal.SIGTERM):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, loop.quit)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())

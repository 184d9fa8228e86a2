#!/usr/bin/python3
"""OpenCV writes into gst-mmap: cv2.VideoWriter with CAP_GSTREAMER.

A camera loop of your own (here a moving test pattern, or /dev/video0 with
--camera) hands BGR frames to `appsrc ! videoconvert ! mmapsink`.  Any
number of readers follow (opencv_reader.py, mmapsrc, the numpy reader).

    /usr/bin/python3 opencv_writer.py [LOCATION] [FRAMES] [--camera]

The pipeline is the part to copy:

    appsrc ! videoconvert ! video/x-raw,format=BGR ! mmapsink location=L sync=false

`sync=false`: OpenCV's appsrc stamps frames from 0 and is not live, so
with the default sync=true mmapsink would hold each frame until its
timestamp comes round on the clock (tens of ms); a camera loop is paced
by the camera already.  Keeping BGR end to end makes frames pixel-exact
for an OpenCV reader (videoconvert passes them through).

Each frame carries its number and its CLOCK_MONOTONIC capture time in
its first row (bytes 0-7 and 8-15), so that opencv_reader.py can check
it and measure the latency from capture to cv2.VideoCapture.read().
"""
import sys
import time

import cv2
import numpy as np

WIDTH, HEIGHT, FPS = 640, 480, 30


def pattern(n):
    frame = np.empty((HEIGHT, WIDTH, 3), np.uint8)
    frame[:, :, 0] = (np.arange(WIDTH) + 4 * n) % 256
    frame[:, :, 1] = (np.arange(HEIGHT) * 255 // (HEIGHT - 1))[:, None]
    frame[:, :, 2] = (2 * n) % 256
    return frame


def stamp(frame, n):
    """Frame number and capture time, in the first 16 bytes."""
    row = frame.reshape(-1)
    row[0:8] = np.frombuffer(np.uint64(n).tobytes(), np.uint8)
    row[8:16] = np.frombuffer(
        np.uint64(time.clock_gettime_ns(time.CLOCK_MONOTONIC)).tobytes(),
        np.uint8)


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    location = args[0] if args else "/dev/shm/gst-mmap"
    frames = int(args[1]) if len(args) > 1 else 300
    camera = cv2.VideoCapture(0) if "--camera" in sys.argv else None

    out = cv2.VideoWriter(
        "appsrc ! videoconvert ! video/x-raw,format=BGR ! "
        f"mmapsink location={location} sync=false",
        cv2.CAP_GSTREAMER, 0, FPS, (WIDTH, HEIGHT), True)
    if not out.isOpened():
        print("error: could not open the GStreamer writer (is the mmap "
              "plugin on GST_PLUGIN_PATH?)", file=sys.stderr)
        return 1
    start = time.monotonic()
    for n in range(frames):
        if camera is not None:
            ok, frame = camera.read()
            if not ok:
                break
            frame = cv2.resize(frame, (WIDTH, HEIGHT))
        else:
            frame = pattern(n)
            # Paced as a camera would deliver them.
            time.sleep(max(0.0, start + n / FPS - time.monotonic()))
        stamp(frame, n)
        out.write(frame)
    out.release()               # EOS: readers see the end of the stream
    return 0


if __name__ == "__main__":
    sys.exit(main())

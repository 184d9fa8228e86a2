#!/usr/bin/python3
"""Publish numpy frames without GStreamer: a camera loop over mmapring.

Draws the same moving gradient as writer.py (RGB, 640x480) at 30 frames
per second, as a camera would deliver them: each frame is "captured" at
its time, stamped with that time and published with mmapring.Writer.
Any reader follows: mmapsrc, numpy_reader.py, reader.py, the C examples.
After FRAMES frames (or on Ctrl-C) it ends the stream and leaves.

Usage: /usr/bin/python3 numpy_writer.py [LOCATION] [FRAMES]
  LOCATION  default /dev/shm/gst-mmap
  FRAMES    default 300 (10 s); 0: until Ctrl-C

Needs Debian's python3-numpy and python3-cffi (hence /usr/bin/python3)
and the mmapring module: run it under `meson devenv -C build`, or with
mmapring installed.
"""
import sys
import time

import numpy as np

import mmapring

WIDTH, HEIGHT, FPS = 640, 480, 30
CAPS = (f"video/x-raw,format=RGB,width={WIDTH},height={HEIGHT},"
        f"framerate={FPS}/1")


def capture(n):
    """Frame n: red grows to the right, green downwards, sliding left."""
    frame = np.empty((HEIGHT, WIDTH, 3), np.uint8)
    frame[:, :, 0] = (np.arange(WIDTH) + 4 * n) % 256
    frame[:, :, 1] = (np.arange(HEIGHT) * 255 // (HEIGHT - 1))[:, None]
    frame[:, :, 2] = (2 * n) % 256
    return frame


def main():
    location = sys.argv[1] if len(sys.argv) > 1 else "/dev/shm/gst-mmap"
    frames = int(sys.argv[2]) if len(sys.argv) > 2 else 300
    period = 1_000_000_000 // FPS

    try:
        # Fails (mmapring.Error) when another writer holds the location.
        writer = mmapring.Writer(location, CAPS)
    except mmapring.Error as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"writing {frames or 'endless'} frames to {location}", flush=True)
    start = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    n = 0
    try:
        while frames == 0 or n < frames:
            # Wait for the "sensor": one frame every period.
            due = start + n * period
            now = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
            if due > now:
                time.sleep((due - now) / 1e9)
            image = capture(n)
            # The shape readers get back, (480, 640, 3): write() lays the
            # rows out as GStreamer does.  The PTS counts from the first
            # frame; pts_monotonic_ns is the capture instant, from which
            # mmapsrc stamps the buffer in its own running time.
            writer.write(image, pts=due - start, duration=period, offset=n,
                         pts_monotonic_ns=due)
            n += 1
    except KeyboardInterrupt:
        pass
    # EOS ends every reader that stops at it; close() removes the file.
    writer.eos()
    seq = writer.seq
    writer.close()
    print(f"done: {n} frames, the last one seq {seq}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

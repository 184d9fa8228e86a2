#!/usr/bin/python3
"""OpenCV reads from gst-mmap: cv2.VideoCapture with CAP_GSTREAMER.

    /usr/bin/python3 opencv_reader.py [LOCATION] [FRAMES] [--slow MS]
        [--timeout S] [--verify] [--show]

The pipeline is the part to copy:

    mmapsrc location=L max-lag=1 timeout=10 ! videoconvert ! video/x-raw,format=BGR !
        appsink sync=false drop=true max-buffers=1

- `appsink sync=false`: hand each frame to read() when it arrives, not
  when the pipeline clock says (with the default, the latency is tens of
  milliseconds: the writer's pipeline latency on top of the transfer);
- `drop=true max-buffers=1`: a loop slower than the camera gets the
  newest frame, not a queue of old ones;
- `max-lag=1`: the same one step earlier, in mmapsrc (it skips to the
  newest frame and counts what it skipped);
- `timeout=10`: without a writer, VideoCapture fails after 10 s instead
  of waiting for ever (mmapsrc warns after 3 s either way).

With opencv_writer.py as the writer, each frame's first row holds its
number and capture time: this prints, per frame, its number and the
latency from capture to read(), and at the end how many frames came.
`--slow MS` sleeps that long per frame, as a detector would; `--timeout
S` sets mmapsrc's timeout (default 10); `--verify` checks every pixel
against opencv_writer.py's pattern and says "mismatch" if one differs;
`--show` opens a window.
"""
import sys
import time

import cv2
import numpy as np

from opencv_writer import pattern


def main():
    args = sys.argv[1:]
    show = "--show" in args
    verify = "--verify" in args
    slow, timeout = 0.0, 10
    if "--slow" in args:
        slow = float(args[args.index("--slow") + 1]) / 1000
        del args[args.index("--slow"):args.index("--slow") + 2]
    if "--timeout" in args:
        timeout = int(args[args.index("--timeout") + 1])
        del args[args.index("--timeout"):args.index("--timeout") + 2]
    args = [a for a in args if not a.startswith("--")]
    location = args[0] if args else "/dev/shm/gst-mmap"
    frames = int(args[1]) if len(args) > 1 else 0

    cap = cv2.VideoCapture(
        f"mmapsrc location={location} max-lag=1 timeout={timeout} ! "
        "videoconvert ! "
        "video/x-raw,format=BGR ! appsink sync=false drop=true max-buffers=1",
        cv2.CAP_GSTREAMER)
    if not cap.isOpened():
        print("error: could not open the GStreamer reader (no writer, or "
              "the mmap plugin is not on GST_PLUGIN_PATH)", file=sys.stderr)
        return 1
    got = 0
    while not frames or got < frames:
        ok, frame = cap.read()
        if not ok:
            break               # the writer's EOS, or the timeout
        now = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
        row = frame.reshape(-1)
        n = int(np.frombuffer(row[0:8].tobytes(), np.uint64)[0])
        t = int(np.frombuffer(row[8:16].tobytes(), np.uint64)[0])
        print(f"frame {n} latency {(now - t) / 1e6:.3f} ms", flush=True)
        if verify:
            want = pattern(n).reshape(-1)
            if not np.array_equal(row[16:], want[16:]):
                print(f"frame {n} mismatch", flush=True)
        got += 1
        if show:
            cv2.imshow(location, frame)
            cv2.waitKey(1)
        if slow:
            time.sleep(slow)
    cap.release()
    print(f"{got} frames read", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

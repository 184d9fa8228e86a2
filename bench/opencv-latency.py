#!/usr/bin/python3
"""OpenCV through gst-mmap: latency from cv2.VideoWriter.write() to
cv2.VideoCapture.read(), with GStreamer's defaults and with the settings
the README recommends (mmapsink sync=false; appsink sync=false drop=true
max-buffers=1; mmapsrc max-lag=1).  Timing lives here, not in the tests.

    meson devenv -C build /usr/bin/python3 ../bench/opencv-latency.py [FRAMES]

(meson devenv runs it in build/)

Prints p50, p90 and max in milliseconds for each setting, for frames
stamped with their CLOCK_MONOTONIC time just before write().
"""
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SETTINGS = {
    "defaults": ("appsrc ! videoconvert ! video/x-raw,format=BGR ! "
                 "mmapsink location={loc}",
                 "mmapsrc location={loc} ! videoconvert ! "
                 "video/x-raw,format=BGR ! appsink"),
    "tuned": ("appsrc ! videoconvert ! video/x-raw,format=BGR ! "
              "mmapsink location={loc} sync=false",
              "mmapsrc location={loc} max-lag=1 ! videoconvert ! "
              "video/x-raw,format=BGR ! appsink sync=false drop=true "
              "max-buffers=1"),
}


def writer(desc, frames):
    import cv2
    import numpy as np
    out = cv2.VideoWriter(desc, cv2.CAP_GSTREAMER, 0, 30, (640, 480), True)
    start = time.monotonic()
    for n in range(frames):
        f = np.zeros((480, 640, 3), np.uint8)
        time.sleep(max(0.0, start + n / 30 - time.monotonic()))
        f.reshape(-1)[0:8] = np.frombuffer(np.uint64(
            time.clock_gettime_ns(time.CLOCK_MONOTONIC)).tobytes(), np.uint8)
        out.write(f)
    out.release()


def reader(desc, frames):
    import cv2
    import numpy as np
    cap = cv2.VideoCapture(desc, cv2.CAP_GSTREAMER)
    lat = []
    while len(lat) < frames:
        ok, f = cap.read()
        if not ok:
            break
        now = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
        t = int(np.frombuffer(f.reshape(-1)[0:8].tobytes(), np.uint64)[0])
        lat.append((now - t) / 1e6)
    print(" ".join("%.3f" % x for x in lat), flush=True)


def main():
    frames = int(sys.argv[1]) if len(sys.argv) > 1 else 150
    for name, (w, r) in SETTINGS.items():
        loc = "/dev/shm/gst-mmap-opencv-bench-%d" % os.getpid()
        rd = subprocess.Popen([sys.executable, __file__, "--reader",
                               r.format(loc=loc), str(frames - 10)],
                              stdout=subprocess.PIPE, text=True)
        time.sleep(1.0)
        subprocess.run([sys.executable, __file__, "--writer",
                        w.format(loc=loc), str(frames)], check=True)
        out, _ = rd.communicate(timeout=60)
        lat = sorted(float(x) for x in out.split())
        if not lat:
            print("%-9s no frames" % name)
            continue
        print("%-9s %3d frames  p50 %7.3f ms  p90 %7.3f ms  max %7.3f ms" % (
            name, len(lat), lat[len(lat) // 2], lat[len(lat) * 9 // 10],
            lat[-1]))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--writer"]:
        writer(sys.argv[2], int(sys.argv[3]))
    elif sys.argv[1:2] == ["--reader"]:
        reader(sys.argv[2], int(sys.argv[3]))
    else:
        main()

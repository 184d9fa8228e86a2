#!/usr/bin/python3
"""Display test: the video a writer process publishes shows in a reader's
window.

On a virtual X server (Xvfb, on a display number it picks itself), for each
video sink (autovideosink, which picks glimagesink or ximagesink by what the
server offers, then ximagesink by name), it runs the two processes a user
runs:

  gst-launch-1.0 -e videotestsrc pattern=smpte is-live=true \
    ! video/x-raw,width=640,height=480,framerate=30/1 ! mmapsink location=L
  gst-launch-1.0 -v mmapsrc location=L ! videoconvert ! SINK

waits for the reader's window, grabs the screen with ximagesrc and looks for
the SMPTE bars' top row: seven bars, white, yellow, cyan, green, magenta,
red, blue from left to right, of equal width and one intensity, wherever the
window is and whatever its size.  The last grab is saved as
OUT/display-SINK.png.

Usage: display.py [--out DIR] [--pattern PATTERN] [--sink SINK ...]
  --pattern  the writer's videotestsrc pattern (default smpte).  Any pattern
             without the bars (black, snow, ...) must make the test fail.
Exit status: 0 bars found with every sink, 1 not, 77 (skip) without Xvfb.
Run with /usr/bin/python3 (python3-gi, python3-numpy).
"""
import argparse
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import gi
import numpy as np

gi.require_version("Gst", "1.0")
from gi.repository import Gst  # noqa: E402

SCREEN = (1280, 720)
WINDOW_TIMEOUT = 15  # s for the reader's window to be mapped
BARS_TIMEOUT = 5  # s more for the bars to show in it

# Top-row bars as (R, G, B) high/low, left to right.
BARS = [("white", (1, 1, 1)), ("yellow", (1, 1, 0)), ("cyan", (0, 1, 1)),
        ("green", (0, 1, 0)), ("magenta", (1, 0, 1)), ("red", (1, 0, 0)),
        ("blue", (0, 0, 1))]
BAR_CODES = [r * 4 + g * 2 + b for _, (r, g, b) in BARS]
HIGH, LOW = 128, 64  # a channel is on at >= HIGH, off at <= LOW
MIN_BAR_WIDTH = 8  # px
MIN_ROWS = 40  # px of height the bars must span


def log(*args):
    print("display:", *args, flush=True)


def start_xvfb():
    """Starts Xvfb on a free display number; returns (process, ":N")."""
    r, w = os.pipe()
    xvfb = subprocess.Popen(
        ["Xvfb", "-displayfd", str(w), "-screen", "0",
         "%dx%dx24" % SCREEN, "-nolisten", "tcp"],
        pass_fds=(w,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(w)
    number = b""
    while not number.endswith(b"\n"):
        if not select.select([r], [], [], 10)[0]:
            break
        chunk = os.read(r, 16)
        if not chunk:
            break
        number += chunk
    os.close(r)
    if not number.strip().isdigit():
        xvfb.kill()
        sys.exit("display: Xvfb did not start")
    return xvfb, ":" + number.decode().strip()


def mapped_windows(display):
    """Top-level windows the X server shows, as xwininfo lines."""
    out = subprocess.run(
        ["xwininfo", "-display", display, "-root", "-children"],
        capture_output=True, text=True).stdout
    shown = []
    for wid in re.findall(r"^\s+(0x[0-9a-f]+)", out, re.M):
        info = subprocess.run(["xwininfo", "-display", display, "-id", wid],
                              capture_output=True, text=True).stdout
        if "IsViewable" in info:
            shown.append(info.strip().splitlines()[0])
    return shown


def grab(display):
    """The whole screen as a GstSample of RGB."""
    pipeline = Gst.parse_launch(
        f"ximagesrc display-name={display} num-buffers=1 use-damage=false "
        "show-pointer=false ! videoconvert ! video/x-raw,format=RGB "
        "! appsink name=sink")
    pipeline.set_state(Gst.State.PLAYING)
    sample = pipeline.get_by_name("sink").emit("try-pull-sample",
                                               5 * Gst.SECOND)
    pipeline.set_state(Gst.State.NULL)
    if sample is None:
        sys.exit(f"display: could not grab the screen of {display}")
    return sample


def to_array(sample):
    s = sample.get_caps().get_structure(0)
    width, height = s.get_value("width"), s.get_value("height")
    stride = (width * 3 + 3) & ~3  # GStreamer's default for RGB
    buf = sample.get_buffer()
    data = buf.extract_dup(0, buf.get_size())
    rows = np.frombuffer(data, np.uint8)[:stride * height]
    return rows.reshape(height, stride)[:, :width * 3].reshape(
        height, width, 3)


def save_png(sample, path):
    pipeline = Gst.parse_launch(
        "appsrc name=src ! videoconvert ! pngenc ! filesink name=sink")
    src = pipeline.get_by_name("src")
    src.set_property("caps", sample.get_caps())
    pipeline.get_by_name("sink").set_property("location", path)
    pipeline.set_state(Gst.State.PLAYING)
    src.emit("push-sample", sample)
    src.emit("end-of-stream")
    pipeline.get_bus().timed_pop_filtered(
        5 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR)
    pipeline.set_state(Gst.State.NULL)


def find_bars(rgb):
    """Where the seven top bars are, as (x0, x1, y0, y1, level), or None.

    Each pixel gets a code from its channels (R*4 + G*2 + B, each on or
    off, -1 when one is in between).  On each row we look for seven runs
    with the bars' codes in order, side by side, about equally wide; the
    rows where they are at the same place must span MIN_ROWS."""
    on, off = rgb >= HIGH, rgb <= LOW
    code = (on[..., 0] * 4 + on[..., 1] * 2 + on[..., 2]).astype(np.int16)
    code[~(on | off).all(axis=2)] = -1
    found = {}
    for y in range(code.shape[0]):
        row = code[y]
        starts = np.concatenate(([0], np.flatnonzero(np.diff(row)) + 1))
        ends = np.concatenate((starts[1:], [row.size]))
        # Scaling blends neighbours over a pixel or two: skip such runs.
        runs = [(row[s], s, e) for s, e in zip(starts, ends) if e - s > 3]
        for i in range(len(runs) - len(BARS) + 1):
            seq = runs[i:i + len(BARS)]
            if [r[0] for r in seq] != BAR_CODES:
                continue
            widths = np.array([e - s for _, s, e in seq])
            gaps = [seq[k + 1][1] - seq[k][2] for k in range(len(BARS) - 1)]
            if (widths.min() >= MIN_BAR_WIDTH and max(gaps) <= 4
                    and widths.max() <= 1.25 * np.median(widths)
                    and widths.min() >= 0.75 * np.median(widths)):
                found.setdefault((seq[0][1], seq[-1][2]), []).append(y)
    if not found:
        return None
    (x0, x1), ys = max(found.items(), key=lambda kv: len(kv[1]))
    if len(ys) < MIN_ROWS:
        return None
    y0, y1 = min(ys), max(ys) + 1
    # The bars' "on" channels share one intensity (255 for pattern=smpte,
    # 191 for smpte75).
    bars = rgb[y0:y1, x0:x1]
    level = bars[on[y0:y1, x0:x1]]
    if level.size == 0 or np.percentile(level, 95) - np.percentile(
            level, 5) > 32:
        return None
    return x0, x1, y0, y1, int(np.median(level))


def describe(rgb):
    colours, counts = np.unique(rgb.reshape(-1, 3) // 64 * 64, axis=0,
                                return_counts=True)
    top = np.argsort(counts)[::-1][:5]
    return ", ".join(f"{tuple(int(c) for c in colours[i])}x{counts[i]}"
                     for i in top)


def run_case(display, sink, pattern, out_dir, tmp):
    """Writer, reader showing with `sink`, check.  True when bars show."""
    location = f"/dev/shm/gst-mmap-display-{os.getpid()}-{sink}"
    env = dict(os.environ, DISPLAY=display, XDG_RUNTIME_DIR=tmp)
    env.pop("WAYLAND_DISPLAY", None)  # X11 only: the server we grab
    wlog = open(os.path.join(tmp, f"writer-{sink}.log"), "w+")
    rlog = open(os.path.join(tmp, f"reader-{sink}.log"), "w+")
    writer = subprocess.Popen(
        ["gst-launch-1.0", "-e", "videotestsrc", f"pattern={pattern}",
         "is-live=true", "!",
         "video/x-raw,width=640,height=480,framerate=30/1", "!",
         "mmapsink", f"location={location}"],
        env=env, stdout=wlog, stderr=subprocess.STDOUT)
    reader = subprocess.Popen(
        ["gst-launch-1.0", "-v", "mmapsrc", f"location={location}", "!",
         "videoconvert", "!", sink],
        env=env, stdout=rlog, stderr=subprocess.STDOUT)
    ok = False
    try:
        deadline = time.monotonic() + WINDOW_TIMEOUT
        windows = []
        while not windows and time.monotonic() < deadline:
            if reader.poll() is not None or writer.poll() is not None:
                break
            time.sleep(0.2)
            windows = mapped_windows(display)
        bars = None
        if windows:
            log(f"{sink}: window {windows[0]}")
            deadline = time.monotonic() + BARS_TIMEOUT
            while True:
                sample = grab(display)
                bars = find_bars(to_array(sample))
                if bars or time.monotonic() > deadline:
                    break
                time.sleep(0.3)
        else:
            sample = grab(display)
        png = os.path.join(out_dir, f"display-{sink}.png")
        save_png(sample, png)
        log(f"{sink}: screenshot {png}")
        if bars:
            x0, x1, y0, y1, level = bars
            log(f"{sink}: SMPTE bars at x {x0}..{x1}, y {y0}..{y1}, "
                f"level {level}")
            ok = True
        elif windows:
            log(f"{sink}: FAIL: no SMPTE bars on the screen; commonest "
                f"colours (rounded down to 64): "
                f"{describe(to_array(sample))}")
        else:
            log(f"{sink}: FAIL: no window within {WINDOW_TIMEOUT} s "
                f"(writer exit {writer.poll()}, reader exit {reader.poll()})")
    finally:
        rlog.seek(0)
        chosen = re.search(r"actual-sink-(\w+)", rlog.read())
        if chosen:
            log(f"{sink}: autovideosink chose {chosen.group(1)}")
        for p in (reader, writer):  # SIGINT: -e makes the writer send EOS
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        if not ok:
            for name, f in (("writer", wlog), ("reader", rlog)):
                f.seek(0)
                print(f"--- {name} ({sink}) ---\n{f.read()}", flush=True)
        wlog.close()
        rlog.close()
    return ok


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=".",
                        help="folder for the screenshots (default: .)")
    parser.add_argument("--pattern", default="smpte")
    parser.add_argument("--sink", action="append",
                        help="video sink; repeatable (default: "
                        "autovideosink, then ximagesink)")
    args = parser.parse_args()
    sinks = args.sink or ["autovideosink", "ximagesink"]

    for tool in ("Xvfb", "xwininfo", "gst-launch-1.0"):
        if not shutil.which(tool):
            print(f"display: SKIP: {tool} not found (Debian: xvfb, "
                  "x11-utils, gstreamer1.0-tools)")
            return 77
    Gst.init(None)
    if not Gst.ElementFactory.find("ximagesrc"):
        print("display: SKIP: no ximagesrc (Debian: "
              "gstreamer1.0-plugins-good)")
        return 77

    xvfb, display = start_xvfb()
    log(f"Xvfb on {display}, writer pattern={args.pattern}")
    try:
        with tempfile.TemporaryDirectory(prefix="gst-mmap-display-") as tmp:
            results = [run_case(display, s, args.pattern, args.out, tmp)
                       for s in sinks]
    finally:
        xvfb.terminate()
        xvfb.wait()
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())

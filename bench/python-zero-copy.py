#!/usr/bin/python3
"""How many 3840x2160 frames per second the Python module hands out, read
in place (Reader(zero_copy=True): numpy views of a leased slot) against
copied (mmapring_reader_copy into a fresh numpy array), for I420 and RGBA.

    meson devenv -C build /usr/bin/python3 ../bench/python-zero-copy.py [-n N]

(meson devenv runs it in build/)

(or with PYTHONPATH naming an installed or built mmapring).  One process:
a Writer publishes a frame, then a zero-copy Reader and a copying Reader
each take it; only their read() calls are timed (the frame is there
already: no waiting), then the same again with one pass over the pixels
(a sum of every plane), which a real consumer makes in either case.
Frames/s are N divided by the summed time of the N calls.  Not part of
`meson test`: the figures depend on the machine.
"""

import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
try:
    import mmapring
except ImportError:
    root = os.path.dirname(HERE)
    sys.path[:0] = [os.path.join(root, "build", "python"),
                    os.path.join(root, "python")]
    import mmapring

import numpy as np

WIDTH, HEIGHT = 3840, 2160


def planes_of(array):
    return array if isinstance(array, tuple) else (array,)


def consume(frame):
    # One pass over every pixel, as any use of the frame makes.
    return sum(int(p.sum(dtype=np.uint64)) for p in planes_of(frame.array))


def bench(fmt, n):
    caps = ("video/x-raw,format=%s,width=%d,height=%d,framerate=30/1" %
            (fmt, WIDTH, HEIGHT))
    loc = "/dev/shm/mmapring-bench-%d" % os.getpid()
    lo = mmapring.video_layout(caps)
    data = np.random.default_rng(1).integers(0, 255, lo.size, np.uint8)
    readers = {"zero-copy": mmapring.Reader(loc, zero_copy=True),
               "copy": mmapring.Reader(loc)}
    for r in readers.values():
        r.read(0)               # waiting for the writer: it gets every frame
    spent = {(name, c): 0.0 for name in readers for c in (False, True)}
    with mmapring.Writer(loc, caps, slot_count=4) as w:
        warmup = 8              # the slots' first page faults, both sides
        for i in range(warmup + 2 * n):
            w.write(data)
            with_pass = i >= warmup + n
            for name, r in readers.items():
                t = time.perf_counter()
                f = r.read(1)
                if f is None:
                    sys.exit("%s: %s reader got no frame" % (fmt, name))
                if with_pass:
                    consume(f)
                f.close()
                if i >= warmup:
                    spent[(name, with_pass)] += time.perf_counter() - t
        leased = readers["zero-copy"].frames_leased
    for r in readers.values():
        r.close()
    print("%s %dx%d (%.1f MB a frame), %d frames each:" %
          (fmt, WIDTH, HEIGHT, lo.size / 1e6, n))
    for with_pass in (False, True):
        print("  %-26s zero-copy %8.1f frames/s   copy %7.1f frames/s" %
              ("read():" if not with_pass else "read() + a pass over it:",
               n / spent[("zero-copy", with_pass)],
               n / spent[("copy", with_pass)]))
    if leased < warmup + 2 * n:
        print("  (only %d of %d frames were leased)" %
              (leased, warmup + 2 * n))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=60, help="frames per figure")
    args = ap.parse_args()
    print("mmapring %s (%s), numpy %s" % (mmapring.version(),
                                          mmapring.LIBRARY, np.__version__))
    for fmt in ("I420", "RGBA"):
        bench(fmt, args.n)


if __name__ == "__main__":
    main()

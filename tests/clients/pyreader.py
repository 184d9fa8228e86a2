#!/usr/bin/python3
"""The reader process of the client tests (clients.py): the Python module
mmapring (python/, found through PYTHONPATH), used as a program that
knows no GStreamer would use it.  This file imports neither GStreamer nor
PyGObject; it checks that the module did not either.

    pyreader.py frames LOCATION OUT [EOS_COUNT] [--zero-copy]
        Prints READY once the reader has looked at LOCATION and found no
        file (so it waits for the writer and must get all its frames),
        then reads until the EOS_COUNT-th end of stream (default 1) and
        pickles every frame's array, caps, seq, pts, latency, ... to OUT.
        With --zero-copy the frames are leased views of the slots, one
        lease at a time: it records how each array is held (a view of the
        mapping or not), pickles a copy and closes the frame.  It records
        the CPU time each read() took.

    pyreader.py error LOCATION OUT
        Reads once from LOCATION, expecting the module to refuse the file;
        writes what it raised (type, path, reason, message) as JSON to OUT.

Exit code 0 when it did that, non-zero (with the reason on stderr)
otherwise: a frame where an error was expected, no EOS, a timeout.
"""

import json
import os
import pickle
import signal
import sys
import time

import numpy as np

import mmapring

# Longest wait for any one frame or end of stream: only a hang gets there.
READ_TIMEOUT = 20


def no_gstreamer():
    loaded = sorted(m for m in sys.modules
                    if m == "gi" or m.startswith(("gi.", "gst", "Gst")))
    if loaded:
        sys.exit("the module loaded GStreamer modules: %s" % loaded)


def planes_of(array):
    return list(array) if isinstance(array, tuple) else [array]


def how_held(array):
    """What a user can tell about where an array's pixels are: whether it
    owns them, and the type at the end of its .base chain (a cffi buffer
    over the mapping, for a view of the slot)."""
    out = []
    for a in planes_of(array):
        base = a
        while isinstance(base, np.ndarray) and base.base is not None:
            base = base.base
        out.append({"owndata": bool(a.flags.owndata),
                    "writeable": bool(a.flags.writeable),
                    "base_type": type(base).__module__ + "." +
                    type(base).__name__})
    return out


def frames_main(location, out_path, eos_count, zero_copy):
    # One lease at a time: a frame whose lease did not end at close would
    # make the next one a copy.
    reader = mmapring.Reader(location, stop_on_eos=True, zero_copy=zero_copy,
                             max_leases=1)
    # A first look that finds no file: from here on the reader waits for
    # the writer, and takes all of its frames.
    if reader.read(0) is not None or os.path.exists(location):
        sys.exit("%s already exists: start the reader first" % location)
    print("READY", flush=True)
    frames = []
    eos_seen = 0
    while eos_seen < eos_count:
        cpu = time.thread_time()
        f = reader.read(READ_TIMEOUT)
        cpu = time.thread_time() - cpu
        if f is None:
            if not reader.eos:
                sys.exit("no frame or EOS for %d s after %d frames, %d EOS"
                         % (READ_TIMEOUT, len(frames), eos_seen))
            eos_seen += 1
            continue
        rec = {
            "caps": f.caps, "format": f.format, "width": f.width,
            "height": f.height, "seq": f.seq, "pts": f.pts,
            "latency": f.latency, "size": f.size, "skipped": f.skipped,
            "writer_id": f.writer_id, "caps_seq": f.caps_seq,
            "leased": f.leased, "read_cpu": cpu,
        }
        if zero_copy:
            with f:
                rec["held"] = how_held(f.array)
                rec["array"] = (tuple(np.array(a) for a in f.array)
                                if isinstance(f.array, tuple)
                                else np.array(f.array))
            rec["closed"] = f.closed
            try:
                f.array
                rec["array_after_close"] = "usable"
            except ValueError as e:
                rec["array_after_close"] = "ValueError: %s" % e
        else:
            rec["array"] = f.array
        frames.append(rec)
    result = {"frames": frames, "frames_read": reader.frames_read,
              "frames_skipped": reader.frames_skipped,
              "frames_leased": reader.frames_leased}
    reader.close()
    no_gstreamer()
    with open(out_path, "wb") as out:
        pickle.dump(result, out)


def error_main(location, out_path):
    reader = mmapring.Reader(location)
    try:
        f = reader.read(READ_TIMEOUT)
    except Exception as e:  # what it raises is what the test checks
        got = {"type": type(e).__name__, "message": str(e),
               "path": getattr(e, "path", None),
               "reason": getattr(e, "reason", None),
               "is_format_error": isinstance(e, mmapring.MmapFormatError)}
    else:
        sys.exit("no exception: read() returned %r" % (f,))
    finally:
        reader.close()
    no_gstreamer()
    with open(out_path, "w") as out:
        json.dump(got, out)


def _terminated(signum, frame):
    # The test's tearDown or meson's timeout: unwind, so that the reader
    # is freed (its reader-table entry goes with the process anyway).
    raise SystemExit("terminated by signal %d" % signum)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _terminated)
    args = [a for a in sys.argv[1:] if a != "--zero-copy"]
    zc = len(args) != len(sys.argv) - 1
    if len(args) in (3, 4) and args[0] == "frames":
        frames_main(args[1], args[2], int(args[3]) if len(args) == 4 else 1,
                    zc)
    elif len(args) == 3 and args[0] == "error" and not zc:
        error_main(args[1], args[2])
    else:
        sys.exit(__doc__)

#!/usr/bin/python3
"""The reader process of the client tests (clients.py): the Python client,
clients/python/mmapreader.py, used as a program that knows no GStreamer
would use it.  This file imports neither GStreamer nor PyGObject; it
checks that the client did not either.

    pyreader.py frames LOCATION OUT [EOS_COUNT]
        Prints READY once the reader has looked at LOCATION and found no
        file (so it waits for the writer and must get all its frames),
        then reads until the EOS_COUNT-th end of stream (default 1) and
        pickles every frame's array, caps, seq, pts, latency, ... to OUT.

    pyreader.py error LOCATION OUT
        Reads once from LOCATION, expecting the client to refuse the file;
        writes what it raised (type, path, reason, message) as JSON to OUT.

Exit code 0 when it did that, non-zero (with the reason on stderr)
otherwise: a frame where an error was expected, no EOS, a timeout.
"""

import json
import os
import pickle
import signal
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "clients", "python"))

import mmapreader  # noqa: E402

# Longest wait for any one frame or end of stream: only a hang gets there.
READ_TIMEOUT = 20


def no_gstreamer():
    loaded = sorted(m for m in sys.modules
                    if m == "gi" or m.startswith(("gi.", "gst", "Gst")))
    if loaded:
        sys.exit("the client loaded GStreamer modules: %s" % loaded)


def frames_main(location, out_path, eos_count):
    reader = mmapreader.Reader(location, stop_on_eos=True)
    # A first look that finds no file: from here on the reader waits for
    # the writer, and takes all of its frames.
    if reader.read(0) is not None or os.path.exists(location):
        sys.exit("%s already exists: start the reader first" % location)
    print("READY", flush=True)
    frames = []
    eos_seen = 0
    while eos_seen < eos_count:
        f = reader.read(READ_TIMEOUT)
        if f is None:
            if not reader.eos:
                sys.exit("no frame or EOS for %d s after %d frames, %d EOS"
                         % (READ_TIMEOUT, len(frames), eos_seen))
            eos_seen += 1
            continue
        frames.append({
            "array": f.array, "caps": f.caps, "format": f.format,
            "width": f.width, "height": f.height, "seq": f.seq,
            "pts": f.pts, "latency": f.latency, "size": f.size,
            "skipped": f.skipped, "writer_id": f.writer_id,
            "caps_seq": f.caps_seq,
        })
    result = {"frames": frames, "frames_read": reader.frames_read,
              "frames_skipped": reader.frames_skipped}
    reader.close()
    no_gstreamer()
    with open(out_path, "wb") as out:
        pickle.dump(result, out)


def error_main(location, out_path):
    reader = mmapreader.Reader(location)
    try:
        f = reader.read(READ_TIMEOUT)
    except Exception as e:  # what it raises is what the test checks
        got = {"type": type(e).__name__, "message": str(e),
               "path": getattr(e, "path", None),
               "reason": getattr(e, "reason", None),
               "is_format_error": isinstance(e, mmapreader.MmapFormatError)}
    else:
        sys.exit("no exception: read() returned %r" % (f,))
    finally:
        reader.close()
    no_gstreamer()
    with open(out_path, "w") as out:
        json.dump(got, out)


def _terminated(signum, frame):
    # The test's tearDown or meson's timeout: unwind, so that the client's
    # finally blocks undo its `waiters` increment.
    raise SystemExit("terminated by signal %d" % signum)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _terminated)
    if len(sys.argv) in (4, 5) and sys.argv[1] == "frames":
        frames_main(sys.argv[2], sys.argv[3],
                    int(sys.argv[4]) if len(sys.argv) == 5 else 1)
    elif len(sys.argv) == 4 and sys.argv[1] == "error":
        error_main(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)

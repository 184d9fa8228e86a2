#!/usr/bin/python3
"""The Python module's front end of the conformance suite (run.py).

Reads locations from stdin, one a line, follows each with an
mmapring.Reader as a user of the module would (copies, stop_on_eos), and
prints the JSON lines conf-read.c prints.  A frame's hash is over the
bytes of its Frame.array (each plane's rows in turn, without padding),
which is what the module hands out.
"""

import json
import sys
import time
import zlib

import mmapring

# Per read(): short, so that a writer leaving is noticed.
SLICE = 0.1
GIVE_UP = 30.0


def say(**kw):
    print(json.dumps(kw), flush=True)


def frame_hash(frame):
    a = frame.array
    data = b"".join(p.tobytes() for p in a) if isinstance(a, tuple) \
        else a.tobytes()
    return "%08x/%d" % (zlib.crc32(data) & 0xffffffff, len(data))


def follow(path):
    r = mmapring.Reader(path, stop_on_eos=True)
    try:
        # Once, to look at the location: nothing there yet.
        if r.read(timeout=0) is None and r.waiting_reason and \
                r.caps is None:
            say(waiting=r.waiting_reason)
        idle_since = time.monotonic()
        while True:
            try:
                frame = r.read(timeout=SLICE)
            except mmapring.MmapFormatError as e:
                say(end="error", status=e.status, message=str(e))
                return
            if frame is not None:
                say(frame=frame.offset, hash=frame_hash(frame))
                frame.close()
                idle_since = time.monotonic()
            elif r.eos:
                say(end="eos", skipped=r.frames_skipped)
                return
            elif r.caps is not None and r.waiting_reason:
                # Followed a file, and now waits for the next writer.
                say(end="writer-gone", skipped=r.frames_skipped,
                    reason=r.waiting_reason)
                return
            elif time.monotonic() - idle_since > GIVE_UP:
                say(end="timeout")
                return
    finally:
        r.close()


def main():
    for line in sys.stdin:
        path = line.strip()
        if path:
            follow(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""Take frames as numpy arrays without GStreamer: mmapring.Reader.

Prints one line per frame like reader.py (our count, the writer's offset
when it set one, its PTS, the mean of the pixels, DISCONT after a gap or
for a new writer), the caps when they change, and what the reader waits
for while there is no writer.  Frames are read in place (zero-copy): the
arrays are read-only views of the writer's slot, which stays leased until
the `with frame:` block ends; --copy copies them instead.  It stops at the
writer's EOS or after FRAMES frames.

Usage: /usr/bin/python3 numpy_reader.py [--copy] [LOCATION] [FRAMES]
  LOCATION  default /dev/shm/gst-mmap
  FRAMES    stop after this many frames (default: until the writer's EOS)

Needs Debian's python3-numpy and python3-cffi (hence /usr/bin/python3)
and the mmapring module: run it under `meson devenv -C build`, or with
mmapring installed.
"""
import sys

import mmapring


def main():
    args = [a for a in sys.argv[1:] if a != "--copy"]
    copy = len(args) != len(sys.argv) - 1
    location = args[0] if args else "/dev/shm/gst-mmap"
    max_frames = int(args[1]) if len(args) > 1 else 0

    reader = mmapring.Reader(location, stop_on_eos=True, zero_copy=not copy)
    caps, waiting, n, status = None, None, 0, 0
    try:
        while max_frames == 0 or n < max_frames:
            # Short waits, to tell what we are waiting for.
            frame = reader.read(timeout=0.5)
            if frame is None:
                if reader.eos:
                    print("end of stream (the writer sent EOS)")
                    break
                if reader.waiting_reason != waiting:
                    waiting = reader.waiting_reason
                    if waiting:
                        print("waiting for a writer:", waiting, flush=True)
                continue
            waiting = None
            with frame:
                if frame.caps != caps:
                    caps = frame.caps
                    print("caps", caps)
                # A tuple of planes for planar formats: the mean of them all.
                planes = frame.array if isinstance(frame.array, tuple) \
                    else (frame.array,)
                mean = sum(float(p.sum()) for p in planes) / \
                    sum(p.size for p in planes)
                offset = "" if frame.offset == mmapring.TIME_NONE \
                    else f" offset {frame.offset}"
                pts = "none" if frame.pts is None else f"{frame.pts / 1e9:.3f}"
                discont = " DISCONT" if frame.discont else ""
                print(f"#{n}{offset} pts {pts} s mean {mean:.1f}{discont}"
                      f"{'' if frame.leased else ' (copied)'}", flush=True)
            # Past the block the slot is the writer's again.
            n += 1
    except mmapring.MmapFormatError as e:
        print(f"error: {e}", file=sys.stderr)
        status = 1
    except KeyboardInterrupt:
        pass
    print(f"{n} frames; {reader.frames_read} read ({reader.frames_leased} in "
          f"place), {reader.frames_skipped} skipped")
    reader.close()
    return status


if __name__ == "__main__":
    sys.exit(main())

"""python3 -m mmapring LOCATION [-n N] [-t TIMEOUT] [-e] [--metas]: one
line per frame published in a gst-mmap file, a summary on stderr at the
end.  With --metas each frame's line is preceded by a line per event that
came before it ("  event {...}") and followed by a line per meta it
carries ("  meta {...}"), as JSON, bytes as a hex string."""

import argparse
import json
import sys

from . import MmapFormatError, Reader, _caps_string, _media_type, \
    install_sigbus_guard


def _summary(frame):
    if _media_type(frame.caps.encode()) == "video/x-raw":
        s = "%s %sx%s" % (frame.format, frame.width, frame.height)
        rate = _caps_string(frame.caps.encode(), "framerate")
        if rate is not None:
            s += " @%s" % rate
        return s
    return _media_type(frame.caps.encode()) or frame.caps


def _json(value):
    return json.dumps(value, sort_keys=True,
                      default=lambda b: b.hex() if isinstance(b, bytes)
                      else str(b))


def _print_records(kind, records):
    for r in records:
        print("  %s %s" % (kind, _json(r)), flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(
        prog="python3 -m mmapring",
        description="Print one line per frame published in a gst-mmap file.")
    ap.add_argument("location", help="the file, e.g. /dev/shm/cam")
    ap.add_argument("-n", "--num-frames", type=int, default=None,
                    help="stop after this many frames")
    ap.add_argument("-t", "--timeout", type=float, default=None,
                    help="give up when no frame comes for this many seconds")
    ap.add_argument("-e", "--exit-on-eos", action="store_true",
                    help="stop at end of stream")
    ap.add_argument("--metas", action="store_true",
                    help="also print each frame's events and metas")
    args = ap.parse_args(argv)

    # A file truncated under us costs frames, not the process.
    install_sigbus_guard()
    # stop_on_eos so that read() returns at EOS and the line gets printed.
    reader = Reader(args.location, stop_on_eos=True)
    status, frames = 0, 0
    try:
        while args.num_frames is None or frames < args.num_frames:
            frame = reader.read(args.timeout)
            if frame is None:
                if reader.eos:
                    if args.metas:
                        _print_records("event", reader.pending_events)
                        reader.pending_events.clear()
                    print("EOS", flush=True)
                    if args.exit_on_eos:
                        break
                    continue
                print("no frame for %gs, giving up" % args.timeout,
                      file=sys.stderr)
                status = 1
                break
            frames += 1
            if args.metas:
                _print_records("event", frame.events)
            pts = "none" if frame.pts is None else "%.6f" % (frame.pts / 1e9)
            print("seq=%d %s pts=%s latency=%.3fms skipped=%d"
                  % (frame.seq, _summary(frame), pts, frame.latency * 1e3,
                     frame.skipped), flush=True)
            if args.metas:
                _print_records("meta", frame.metas)
    except MmapFormatError as e:
        print("error: %s" % e, file=sys.stderr)
        status = 1
    except KeyboardInterrupt:
        pass
    finally:
        reader.close()
        print("%d frames read, %d skipped"
              % (reader.frames_read, reader.frames_skipped), file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())

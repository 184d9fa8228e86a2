#!/usr/bin/python3
"""mmapsrc's front end of the conformance suite (run.py).

Reads locations from stdin, one a line.  For each it runs

    mmapsrc location=LOCATION timeout=10 ! fakesink signal-handoffs=true

until EOS, an error, or the writer leaving, and prints the JSON lines
conf-read.c prints: a frame per buffer (GST_BUFFER_OFFSET and the hash of
the buffer's bytes), "waiting" at the first mmapsrc-waiting message,
"writer-gone" at an mmapsrc-waiting message after mmapsrc-writer.  An
error message gives its text and, as the status, the library's status
name, which mmapsrc puts first in its part of the debug string.
"""

import json
import re
import sys
import threading
import time
import zlib

import gi
gi.require_version("Gst", "1.0")
from gi.repository import Gst  # noqa: E402

GIVE_UP = 30.0
_out = threading.Lock()


def say(**kw):
    with _out:
        print(json.dumps(kw), flush=True)


def on_handoff(sink, buf, pad):
    data = buf.extract_dup(0, buf.get_size())
    say(frame=buf.offset, hash="%08x/%d" % (zlib.crc32(data) & 0xffffffff,
                                            len(data)))


def skipped(src):
    ok, n = src.get_property("stats").get_uint64("frames-skipped")
    return n if ok else None


def follow(path):
    pipe = Gst.parse_launch(
        "mmapsrc name=src timeout=10 ! fakesink name=sink sync=false "
        "signal-handoffs=true")
    src = pipe.get_by_name("src")
    src.set_property("location", path)
    pipe.get_by_name("sink").connect("handoff", on_handoff)
    bus = pipe.get_bus()
    pipe.set_state(Gst.State.PLAYING)
    seen_writer = said_waiting = False
    deadline = time.monotonic() + GIVE_UP
    try:
        while True:
            msg = bus.timed_pop_filtered(
                100 * Gst.MSECOND, Gst.MessageType.EOS |
                Gst.MessageType.ERROR | Gst.MessageType.ELEMENT)
            if msg is None:
                if time.monotonic() > deadline:
                    say(end="timeout")
                    return
                continue
            if msg.type == Gst.MessageType.EOS:
                say(end="eos", skipped=skipped(src))
                return
            if msg.type == Gst.MessageType.ERROR:
                err, debug = msg.parse_error()
                # GStreamer's debug string is "FILE(LINE): FUNCTION ():
                # OBJECT:\n" then mmapsrc's; for the library's errors
                # "STATUS (errno text)", for its own something else.
                m = re.match(r"([a-z][a-z -]*) \(.*\)$",
                             (debug or "").rsplit("\n", 1)[-1])
                say(end="error", status=m.group(1) if m else None,
                    message=err.message, debug=debug)
                return
            s = msg.get_structure()
            if s is None:
                continue
            if s.get_name() == "mmapsrc-writer":
                seen_writer = True
            elif s.get_name() == "mmapsrc-waiting" and seen_writer:
                say(end="writer-gone", skipped=skipped(src),
                    reason=s.get_string("reason"))
                return
            elif s.get_name() == "mmapsrc-waiting" and not said_waiting:
                said_waiting = True
                say(waiting=s.get_string("reason"))
    finally:
        pipe.set_state(Gst.State.NULL)


def main():
    Gst.init(None)
    for line in sys.stdin:
        path = line.strip()
        if path:
            follow(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

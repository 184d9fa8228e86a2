"""The conformance table: every file generate.py makes, and the verdict
every front end (mmapsrc, the C API, the Python module) must give it.

A verdict is what a reader that was waiting before the file appeared
(FORMAT.md section 9) must do once the file is put at its location, with
a live writer holding the file's lock:

- Accept(frames): output exactly these frames (their numbers, as carried
  in GstBuffer.offset, which the generator sets to the frame's seq; the
  payload of each is hashed by generate.py from what it wrote), then EOS,
  having counted `skipped` frames as lost;
- Accept(frames, end=GONE): output these frames, then keep waiting (no
  EOS is due); the runner then ends the writer (drops its lock), and the
  reader must leave the file saying its writer died;
- Refuse(status, reason, frames): output these frames (none for a bad
  header), then refuse the file with the library's MmapRingStatus name
  (mmapring_status_name) and a message holding the location and `reason`.

The table says what docs/FORMAT.md says.  Where a front end disagrees,
the front end is wrong, and its test fails until it is fixed; the
verdict carries a `note` saying which part of FORMAT.md decides.

Files are described, not spelled out: a Stream (caps, slots, frames) that
mmapring.Writer writes, then patches of named fields of the layout
(mmapring.layout gives every offset).  Values may be functions of the
file (a Fields view of the header) so that no number depends on a
geometry chosen elsewhere.
"""

import collections

# Rules of FORMAT.md section 6, in its order: the numbered checks of a
# file ("header-N"), then the checks of every frame's descriptor copy
# ("frame-N", the bullets).  run.py --check-rules reads section 6 and
# fails unless these are exactly its rules, and every rule has a file.
RULES = collections.OrderedDict([
    ("header-1", "a regular file"),
    ("header-2", "at least 8 bytes and the magic"),
    ("header-3", "version 2"),
    ("header-4", "at least 4096 bytes"),
    ("header-5", "file_size within the actual size"),
    ("header-6", "fixed sizes and offsets, reader_count, slot_count 2..64, "
                 "descriptors inside file_size"),
    ("header-7", "caps_length < 1 MiB, caps inside the file after the "
                 "descriptors"),
    ("header-8", "the sticky area after the caps, inside the file"),
    ("header-9", "slot_data_offset page aligned, after the areas, inside "
                 "the file"),
    ("header-10", "slot_stride bounded, the slots inside the file"),
    ("header-11", "slot_capacity <= slot_stride"),
    ("header-12", "the meta area after the payload, aligned, in its slot"),
    ("header-13", "meta_capacity and sticky_capacity below 2^32"),
    ("header-14", "lease_limit < slot_count"),
    ("header-15", "1 <= lock_base <= 2^63 - 65"),
    ("header-16", "the caps: no NUL before caps_length, a NUL at it"),
    ("header-17", "state <= 3"),
    ("frame-1", "the slot_log index: dropped or < slot_count"),
    ("frame-2", "size <= slot_capacity"),
    ("frame-3", "n_planes <= 4"),
    ("frame-4", "planes start inside the payload, 0 < stride <= size"),
    ("frame-5", "meta_size <= meta_capacity, records well framed"),
    ("frame-6", "frame_flags: NO_BUFFER only"),
    ("frame-7", "raw video: the format's planes, rows inside the payload"),
])

# Formats whose Frame.array the Python module shapes (its docstring): the
# pixel rows without padding.  Anything else it gives as the payload.
PYTHON_ARRAY_FORMATS = frozenset(
    "RGB BGR RGBx BGRx xRGB xBGR RGBA BGRA ARGB ABGR ARGB64 AYUV64 "
    "RGBA64_LE RGBA64_BE ARGB64_LE ARGB64_BE BGRA64_LE BGRA64_BE ABGR64_LE "
    "ABGR64_BE GRAY8 GRAY16_LE GRAY16_BE YUY2 UYVY YVYU I420 YV12 Y42B "
    "Y444 NV12 NV21".split())

EOS = "eos"
GONE = "writer-gone"
ERROR = "error"

NOT_OURS = "not a gst-mmap file"
TRUNCATED = "truncated"
VERSION = "unknown version"
INVALID = "invalid"

DELTA = 0x2000          # GST_BUFFER_FLAG_DELTA_UNIT (layout.BUFFER_FLAG_*)
SLOT_NONE = 0xFFFFFFFF  # slot_log: the writer dropped the frame


def video(fmt, w, h):
    return ("video/x-raw, format=(string)%s, width=(int)%d, height=(int)%d, "
            "framerate=(fraction)30/1" % (fmt, w, h))


class Stream:
    """What mmapring.Writer writes: frames 1..`frames` (after `prelude`
    frames in a first file of caps `prelude_caps`, so that base_seq is
    `prelude`) into `slots` slots.

    planes: "default" (raw video in GStreamer's layout, from the Writer),
    a list of (offset, stride) (raw video in that layout, with slot_size
    bytes per frame), or "none" (the payload without a plane layout).
    sizes: payload bytes of each frame of non-video caps (seq -> bytes).
    flags: GstBufferFlags of some frames (seq -> flags).
    """

    def __init__(self, caps, slots=4, frames=4, planes="default",
                 slot_size=None, sizes=None, flags=None, prelude=0,
                 prelude_caps=None):
        self.caps = caps
        self.slots = slots
        self.frames = frames
        self.planes = planes
        self.slot_size = slot_size
        self.sizes = sizes
        self.flags = flags or {}
        self.prelude = prelude
        self.prelude_caps = prelude_caps


# --- patches: what the generator changes in the Writer's file ---

def header(field, value, index=None):
    """Sets a field of MmapFileHeader (value: a number, or a function of
    the file's Fields)."""
    return ("header", field, value, index)


def desc(seq, field, value, index=None):
    """Sets a field of the descriptor of the slot that holds frame seq
    (a function's Fields has that descriptor as f.d)."""
    return ("desc", seq, field, value, index)


def slot_log(seq, value):
    return ("header", "slot_log", value, lambda f: seq % f.SLOT_LOG)


def caps_byte(at, value):
    """Sets the byte at caps_offset + at(fields)."""
    return ("caps_byte", at, value)


def meta_area(capacity):
    """Gives every slot a meta area of `capacity` bytes right after the
    payload, as mmapring writers lay it out (FORMAT.md section 4)."""
    return ("meta_area", capacity)


def records(seq, recs, tail=b""):
    """Puts records in the meta area of frame seq's slot and sets its
    meta_size: `recs` are (type, body) or (type, body, declared size),
    framed as FORMAT.md section 16 says (zeros up to a multiple of 8
    between them), then the bytes `tail`."""
    return ("records", seq, recs, tail)


def keep_bytes(n):
    """Cuts the file to its first n(fields) bytes."""
    return ("keep_bytes", n)


def sticky_4gib():
    """Moves the slots past a 4 GiB sticky area (a sparse file)."""
    return ("sticky_4gib",)


# --- verdicts ---

class Accept:
    def __init__(self, frames, skipped=0, end=EOS, reason=None, note=None):
        self.frames = list(frames)
        self.skipped = skipped
        self.end = end
        # GONE: what the reader says when it leaves the file.
        self.reason = reason or ("died without stopping" if end == GONE
                                 else None)
        self.note = note


class Refuse:
    def __init__(self, status, reason, frames=(), note=None):
        self.status = status
        self.reason = reason
        self.frames = list(frames)
        self.skipped = None
        self.end = ERROR
        self.note = note


class Case:
    def __init__(self, name, category, stream, expect, rule=None,
                 patches=(), kind="file", what=""):
        self.name = name
        self.category = category
        self.stream = stream
        self.expect = expect
        self.rule = rule
        self.patches = list(patches)
        self.kind = kind        # "file", or "fifo" (the stream unused)
        self.what = what


def _cases():
    out = []

    def add(*a, **kw):
        out.append(Case(*a, **kw))

    # ---------------------------------------------------------- valid
    # Raw video in GStreamer's default layout (rows padded to 4 bytes):
    # every front end outputs the very bytes of the slot (Python: the
    # pixel rows, padding dropped, by design).
    add("valid-gray8-32x16", "valid", Stream(video("GRAY8", 32, 16)),
        Accept([1, 2, 3, 4]))
    add("valid-gray8-33x7-2slots", "valid",
        Stream(video("GRAY8", 33, 7), slots=2, frames=2), Accept([1, 2]),
        what="2 slots (lease_limit 0), rows padded 33 -> 36")
    add("valid-rgb-33x9", "valid", Stream(video("RGB", 33, 9), slots=8,
                                          frames=5),
        Accept([1, 2, 3, 4, 5]), what="odd width: rows 99 -> 100 bytes")
    add("valid-i420-321x241", "valid", Stream(video("I420", 321, 241)),
        Accept([1, 2, 3, 4]), what="FORMAT.md section 13's example")
    add("valid-nv12-161x121", "valid", Stream(video("NV12", 161, 121),
                                              frames=3),
        Accept([1, 2, 3]))
    add("valid-yuy2-31x9", "valid", Stream(video("YUY2", 31, 9), slots=8,
                                           frames=6),
        Accept(range(1, 7)), what="odd width: the last pair keeps its chroma")
    add("valid-rgba64le-17x9", "valid", Stream(video("RGBA64_LE", 17, 9),
                                               frames=3),
        Accept([1, 2, 3]))
    add("valid-jpeg", "valid",
        Stream("image/jpeg, width=(int)64, height=(int)48, "
               "framerate=(fraction)30/1", slots=8, frames=5,
               sizes=lambda s: 700 + 97 * s, slot_size=4096),
        Accept([1, 2, 3, 4, 5]), what="non-video: one buffer per slot, "
        "n_planes 0, sizes vary")
    add("valid-gray8-8x8-64slots", "valid",
        Stream(video("GRAY8", 8, 8), slots=64, frames=64),
        Accept(range(1, 65)), what="64 slots, all full")
    add("valid-lapped", "valid",
        Stream(video("GRAY8", 16, 8), slots=4, frames=10),
        Accept([10], skipped=9,
               note="FORMAT.md 9, falling behind: write_seq - next >= "
               "slot_count, so the reader skips to the newest frame "
               "(even the one that waited), counting 1..9"),
        what="10 frames in 4 slots: only 7..10 are there")
    add("valid-base-seq-3", "valid",
        Stream(video("GRAY8", 16, 8), frames=3, prelude=3,
               prelude_caps=video("GRAY8", 8, 8)),
        Accept([4, 5, 6]), what="the writer's second file (caps changed "
        "after frame 3): base_seq 3")
    add("valid-h264-keyframes", "valid",
        Stream("video/x-h264, stream-format=(string)byte-stream, "
               "alignment=(string)au, width=(int)64, height=(int)48",
               slots=8, frames=5, sizes=lambda s: 300 + 50 * s,
               slot_size=4096, flags={2: DELTA, 3: DELTA, 5: DELTA}),
        Accept([1, 2, 3, 4, 5]), what="a keyframe first, then delta units")
    add("valid-h264-deltas-first", "valid",
        Stream("video/x-h264, stream-format=(string)byte-stream, "
               "alignment=(string)au, width=(int)64, height=(int)48",
               slots=8, frames=4, sizes=lambda s: 300 + 50 * s,
               slot_size=4096, flags={1: DELTA, 2: DELTA, 4: DELTA}),
        Accept([3, 4], skipped=2,
               note="FORMAT.md 9, delta units: no delta unit before a "
               "keyframe after joining (libmmapring's choice of the SHOULD)"),
        what="the stream starts with delta units")
    # I420 320x240 has no row padding in GStreamer's layout, so the
    # conversion mmapsrc makes is byte-exact.
    add("valid-i420-320x240-own-layout", "valid",
        Stream(video("I420", 320, 240), frames=3,
               planes=[(0, 384), (384 * 240, 192),
                       (384 * 240 + 192 * 120, 192)],
               slot_size=384 * 240 + 2 * 192 * 120),
        Accept([1, 2, 3]), what="strides 384/192/192: C gets the slot, "
        "mmapsrc converts to GStreamer's layout (by design)")
    add("valid-v210-48x4", "valid",
        Stream(video("v210", 48, 4), frames=3, planes=[(0, 128)]),
        Accept([1, 2, 3]), what="a format libmmapring does not interpret, "
        "in GStreamer's layout")
    add("valid-v210-48x4-no-planes", "valid",
        Stream(video("v210", 48, 4), frames=3, planes="none"),
        Accept([1, 2, 3],
               note="FORMAT.md 13: for formats outside its table a reader "
               "can always take the flat payload; 6: n_planes 0 passes"),
        what="the same, with n_planes 0 (what mmapring.Writer writes for "
        "it)")
    add("valid-meta-records", "valid", Stream(video("GRAY8", 16, 16)),
        Accept([1, 2, 3, 4],
               note="FORMAT.md 16: readers skip records of types they do "
               "not know"),
        patches=[meta_area(64),
                 records(2, [(0x7fff0001, b"hello"), (0x7fff0002, b"")])],
        what="a meta area; frame 2 has two records of unknown types")
    add("valid-no-buffer-frame", "valid", Stream(video("GRAY8", 16, 16)),
        Accept([1, 2, 4], note="FORMAT.md 4.3: NO_BUFFER, no buffer to "
               "output (and nothing lost)"),
        patches=[desc(3, "frame_flags", 1)],
        what="frame 3 carries records only (NO_BUFFER)")

    # -------------------------------------------------------- damaged
    # One file per rule of FORMAT.md section 6 (and some rules twice):
    # a valid GRAY8 file with one field broken.
    base = Stream(video("GRAY8", 16, 16), frames=2)

    def damaged(name, rule, patches, status, reason, what="", kind="file"):
        add("damaged-" + name, "damaged", base, Refuse(status, reason),
            rule=rule, patches=patches, kind=kind, what=what)

    damaged("fifo", "header-1", [], NOT_OURS, "not a regular file",
            kind="fifo")
    damaged("bad-magic", "header-2", [header("magic", b"GSTMMAX\0")],
            NOT_OURS, "bad magic")
    damaged("5-bytes", "header-2", [keep_bytes(lambda f: 5)], NOT_OURS,
            "shorter than its magic",
            what="the first 5 bytes of a file of ours: not ours, not "
            "truncated")
    damaged("version-1", "header-3", [header("version", 1)], VERSION,
            "version 1")
    damaged("version-3", "header-3", [header("version", 3)], VERSION,
            "version 3")
    damaged("10-bytes", "header-3", [keep_bytes(lambda f: 10)], TRUNCATED,
            "shorter than the 4096-byte header",
            what="the magic and half of version: truncated")
    damaged("truncated-2000", "header-4", [keep_bytes(lambda f: 2000)],
            TRUNCATED, "shorter than the 4096-byte header")
    damaged("file-size-beyond", "header-5",
            [keep_bytes(lambda f: f.file_size - f.PAGE_SIZE)], TRUNCATED,
            "its header says", what="the last page cut off")
    damaged("header-size", "header-6", [header("header_size", 8192)],
            INVALID, "header_size is not 4096")
    damaged("slot-desc-size", "header-6", [header("slot_desc_size", 128)],
            INVALID, "slot_desc_size is not 256")
    damaged("reader-entry-size", "header-6",
            [header("reader_entry_size", 32)], INVALID,
            "reader_entry_size is not 64")
    damaged("reader-table-offset", "header-6",
            [header("reader_table_offset", 0)], INVALID,
            "reader_table_offset is not 4096")
    damaged("slot-desc-offset", "header-6",
            [header("slot_desc_offset", 4096)], INVALID,
            "slot_desc_offset is not 8192")
    damaged("reader-count-65", "header-6", [header("reader_count", 65)],
            INVALID, "reader_count is larger than 64")
    damaged("slot-count-1", "header-6", [header("slot_count", 1)], INVALID,
            "slot_count is outside 2..64")
    damaged("slot-count-65", "header-6", [header("slot_count", 65)],
            INVALID, "slot_count is outside 2..64")
    damaged("file-size-below-descriptors", "header-6",
            [header("file_size", lambda f: f.SLOT_DESC_OFFSET + 100)],
            INVALID, "file_size is smaller than its header and descriptors")
    damaged("caps-length-1mib", "header-7",
            [header("caps_length", lambda f: f.CAPS_MAX)], INVALID,
            "caps_length is 1 MiB or more")
    damaged("caps-outside-file", "header-7",
            [header("caps_offset", lambda f: f.file_size - 4)], INVALID,
            "the caps lie outside the file")
    damaged("caps-over-descriptors", "header-7",
            [header("caps_offset", lambda f: f.SLOT_DESC_OFFSET)], INVALID,
            "over the descriptors")
    damaged("sticky-over-caps", "header-8",
            [header("sticky_capacity", 64),
             header("sticky_offset", lambda f: f.caps_offset)], INVALID,
            "the sticky area lies outside the file or over the caps")
    damaged("sticky-outside-file", "header-8",
            [header("sticky_capacity", 64),
             header("sticky_offset", lambda f: f.file_size - 8)], INVALID,
            "the sticky area lies outside the file")
    damaged("slot-data-unaligned", "header-9",
            [header("slot_data_offset", lambda f: f.slot_data_offset + 8)],
            INVALID, "slot_data_offset is not a multiple of 4096")
    damaged("slot-data-over-caps", "header-9",
            [header("slot_data_offset", lambda f: f.SLOT_DESC_OFFSET)],
            INVALID, "the slots start outside the file or over the areas")
    damaged("slots-beyond-file", "header-10",
            [header("slot_stride", lambda f: f.slot_stride + f.PAGE_SIZE)],
            INVALID, "the slots lie outside the file")
    damaged("slot-stride-overflow", "header-10",
            [header("slot_stride", 1 << 63)], INVALID,
            "the slots lie outside the file",
            what="slot_count * slot_stride would wrap around")
    damaged("capacity-over-stride", "header-11",
            [header("slot_capacity", lambda f: f.slot_stride + 1)], INVALID,
            "slot_capacity is larger than slot_stride")
    damaged("meta-over-payload", "header-12",
            [header("meta_capacity", 64), header("meta_offset", 0)],
            INVALID, "the meta area lies outside its slot or over the payload")
    damaged("meta-unaligned", "header-12",
            [meta_area(64),
             header("meta_offset", lambda f: f.meta_offset + 4)], INVALID,
            "the meta area lies outside its slot or over the payload")
    damaged("meta-past-slot", "header-12",
            [meta_area(64),
             header("meta_capacity", lambda f: f.slot_stride)], INVALID,
            "the meta area lies outside its slot or over the payload")
    damaged("sticky-4gib", "header-13", [sticky_4gib()], INVALID,
            "a record area is 4 GiB or larger",
            what="a sparse file whose 2^32-byte sticky area fits in it")
    damaged("lease-limit", "header-14",
            [header("lease_limit", lambda f: f.slot_count)], INVALID,
            "lease_limit is not smaller than slot_count")
    damaged("lock-base-0", "header-15", [header("lock_base", 0)], INVALID,
            "lock_base is out of range")
    damaged("lock-base-high", "header-15",
            [header("lock_base", (1 << 63) - 64)], INVALID,
            "lock_base is out of range")
    damaged("caps-no-nul", "header-16",
            [caps_byte(lambda f: f.caps_length, ord("x"))], INVALID,
            "the caps string is not")
    damaged("caps-inner-nul", "header-16",
            [caps_byte(lambda f: 5, 0)], INVALID, "the caps string is not")
    damaged("state-7", "header-17", [header("state", 7)], INVALID,
            "unknown state 7")

    # ------------------------------------------------- hostile frames
    # Frames 1 and 2 are fine and must come out; frame 3's descriptor
    # (copied consistently: the lock is even) fails a check of section 6,
    # which makes the file invalid.
    i420 = Stream(video("I420", 33, 17), slots=8, frames=4)

    def hostile(name, rule, patches, reason, stream=i420):
        add("hostile-" + name, "hostile", stream,
            Refuse(INVALID, reason, frames=[1, 2]), rule=rule,
            patches=patches)

    hostile("slot-log-200", "frame-1", [slot_log(3, 200)],
            "slot_log names slot 200")
    hostile("size-over-capacity", "frame-2",
            [desc(3, "size", lambda f: f.slot_capacity + 1)],
            "is larger than slot_capacity")
    hostile("n-planes-5", "frame-3", [desc(3, "n_planes", 5)],
            "n_planes 5 is larger than 4")
    hostile("negative-stride", "frame-4",
            [desc(3, "plane_stride", -36, index=0)],
            "its stride is not positive")
    hostile("plane-outside-payload", "frame-4",
            [desc(3, "plane_offset", lambda f: f.d.size + 1, index=1)],
            "is outside the")
    hostile("meta-size-over-capacity", "frame-5",
            [desc(3, "meta_size", 16)], "meta_size 16 is larger than "
            "meta_capacity 0")
    hostile("record-past-area", "frame-5",
            [meta_area(64), records(3, [(1, b"12345678", 100)])],
            "record of type 1 runs 92 bytes past the end")
    hostile("record-header-cut", "frame-5",
            [meta_area(64), records(3, [(1, b"")], tail=b"\x01\0\0\0")],
            "a record header at byte 8 runs past")
    hostile("frame-flags", "frame-6", [desc(3, "frame_flags", 2)],
            "unknown frame_flags 0x2")
    hostile("rows-past-payload", "frame-7",
            [desc(3, "plane_offset", lambda f: f.d.size - 20, index=2)],
            "does not hold 9 rows of 17 bytes")
    hostile("planes-of-another-format", "frame-7",
            [desc(3, "n_planes", 1)], "1 planes for I420, which has 3")
    hostile("stride-below-row", "frame-7",
            [desc(3, "plane_stride", 32, index=0)],
            "does not hold 17 rows of 33 bytes")

    # ----------------------------------------------------- mid-update
    gray = Stream(video("GRAY8", 16, 8))
    add("mid-odd-lock", "mid-update", gray,
        Accept([1, 3, 4], skipped=1, note="FORMAT.md 8: no consistent copy: "
               "the frame is lost (being rewritten)"),
        patches=[desc(2, "lock", lambda f: f.d.lock + 1)],
        what="frame 2's slot is being rewritten (odd lock)")
    add("mid-dropped", "mid-update", gray,
        Accept([1, 3, 4], skipped=1, note="FORMAT.md 7: a dropped frame "
               "takes its number, every reader counts it"),
        patches=[slot_log(2, SLOT_NONE)], what="the writer dropped frame 2")
    add("mid-dropped-last", "mid-update", gray,
        Accept([1, 2, 3], skipped=1,
               note="FORMAT.md 5, 8 and 18: a dropped frame is lost at once "
               "(skipped += 1, next += 1), so EOS is due after frame 3"),
        patches=[slot_log(4, SLOT_NONE)],
        what="the writer dropped frame 4, its last, then EOS")
    add("mid-wild-write-seq", "mid-update",
        Stream(video("GRAY8", 16, 8), slots=8, frames=3),
        Accept([1, 2, 3], end=GONE, skipped=0,
               note="FORMAT.md 9, a wild write_seq: frame 4 was never "
               "published; do not move, count nothing, and wait (no EOS "
               "is due: frames 4 and 5 were neither read nor skipped)"),
        patches=[header("write_seq", 5)],
        what="write_seq 5, frames 1..3 present: output them, wait")
    add("mid-wild-write-seq-far", "mid-update",
        Stream(video("GRAY8", 16, 8), slots=8, frames=3),
        Accept([3], end=GONE, skipped=2,
               note="FORMAT.md 9: behind by more than the ring, skip to the "
               "newest frame a slot holds (3), never to write_seq"),
        patches=[header("write_seq", 1000)],
        what="write_seq 1000, frames 1..3 present")
    return out


CASES = _cases()
BY_NAME = {c.name: c for c in CASES}
assert len(BY_NAME) == len(CASES), "two cases with one name"

#!/usr/bin/python3
"""Writes the conformance files of cases.py into a directory, and
expected.json: the verdict of each, with the hashes of the frames every
front end must output.

    generate.py OUTDIR [--stamp FILE]

Valid files come from mmapring.Writer (so they are what the library
writes); broken ones are valid files with fields patched, every offset
taken from mmapring.layout.  Each file is a snapshot of a live writer's
file after its EOS: state RUNNING, eos 1, so that a reader that gets it
while the runner holds its write lock reads it to the end and stops.

The payload of frame s of a case is a function of (case, s) alone.  The
bytes a front end must output are built from it here, with GStreamer's
GstVideoInfo as the authority on the default layout (not the module
under test), in three forms:

- payload: the slot's bytes as the writer stored them (the C API);
- default: the frame in GStreamer's default layout of the caps (mmapsrc,
  which converts other layouts; the same as payload for most files);
- arrays:  the bytes of the Python module's Frame.array, the pixel rows
  without padding for the formats it shapes, else the payload.

A hash is "CRC32/size".  The generator checks that the Writer stored
exactly the payload it was given, in GStreamer's layout.
"""

import argparse
import json
import os
import shutil
import struct
import sys
import tempfile
import zlib

# GStreamer is only asked for video layouts: no plugins, no registry of
# the user's.
os.environ["GST_PLUGIN_SYSTEM_PATH_1_0"] = ""
os.environ["GST_PLUGIN_PATH_1_0"] = ""
os.environ.setdefault("GST_REGISTRY_1_0", os.path.join(
    tempfile.gettempdir(), "gst-mmap-conformance-registry-%d.bin" %
    os.getuid()))

import gi  # noqa: E402
gi.require_version("Gst", "1.0")
gi.require_version("GstVideo", "1.0")
from gi.repository import Gst, GstVideo  # noqa: E402
import numpy as np  # noqa: E402

import mmapring  # noqa: E402
from mmapring import layout  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cases as table  # noqa: E402

HDR, DESC = "MmapFileHeader", "MmapSlotDesc"
_CODES = {"char": "c", "uint8_t": "B", "int32_t": "i", "uint32_t": "I",
          "uint64_t": "Q"}


def crc(data):
    data = bytes(data)
    return "%08x/%d" % (zlib.crc32(data) & 0xffffffff, len(data))


# ---------------------------------------------------------------- fields

def _field(struct_name, name):
    """(offset, struct code of one item, items) of a field of the layout."""
    for n, f in layout.ffi.typeof(struct_name).fields:
        if n == name:
            t = f.type
            if t.kind == "array":
                return layout.offset(struct_name, name), \
                    _CODES[t.item.cname], t.length
            return layout.offset(struct_name, name), _CODES[t.cname], 1
    raise KeyError("%s has no field %s" % (struct_name, name))


class Image:
    """A file's bytes, read and written by field name."""

    def __init__(self, data):
        self.b = bytearray(data)

    def _at(self, struct_name, base, name, index):
        off, code, n = _field(struct_name, name)
        if code == "c":                 # char[N]: the whole field
            return base + off, "%ds" % n
        if index is None and n != 1:
            raise ValueError("%s.%s needs an index" % (struct_name, name))
        size = struct.calcsize(code)
        return base + off + (index or 0) * size, "<" + code

    def get(self, struct_name, name, base=0, index=None):
        at, fmt = self._at(struct_name, base, name, index)
        return struct.unpack_from(fmt, self.b, at)[0]

    def set(self, struct_name, name, value, base=0, index=None):
        at, fmt = self._at(struct_name, base, name, index)
        struct.pack_into(fmt, self.b, at, value)

    def hdr(self, name, index=None):
        return self.get(HDR, name, 0, index)

    def desc_base(self, idx):
        return self.hdr("slot_desc_offset") + idx * layout.SLOT_DESC_SIZE

    def slot_of(self, seq):
        return self.hdr("slot_log", seq % layout.SLOT_LOG)

    def slot_base(self, idx):
        return self.hdr("slot_data_offset") + idx * self.hdr("slot_stride")


class Desc:
    def __init__(self, img, base):
        self._img, self._base = img, base

    def __getattr__(self, name):
        return self._img.get(DESC, name, self._base)


class Fields:
    """What a patch's value function sees: header fields and layout
    constants by name, and f.d, the descriptor being patched."""

    def __init__(self, img, d=None):
        self._img, self.d = img, d

    def __getattr__(self, name):
        try:
            return self._img.hdr(name)
        except KeyError:
            return getattr(layout, name)


# ---------------------------------------------------------------- layouts

class Video:
    """GStreamer's view of raw video caps: default offsets and strides,
    and the rows and pixel bytes per row of each plane."""

    def __init__(self, caps):
        ok, info = GstVideo.VideoInfo.from_caps(Gst.Caps.from_string(caps))
        if not ok:
            raise ValueError("not raw video caps: " + caps)
        fi = info.finfo
        self.format = GstVideo.VideoFormat.to_string(fi.format)
        self.size = info.size
        self.planes = []
        for p in range(fi.n_planes):
            comps = [c for c in range(fi.n_components) if fi.plane[c] == p]
            rows = max(-(-info.height >> fi.h_sub[c]) for c in comps)
            stride = info.stride[p]
            if all(fi.pixel_stride[c] for c in comps):
                row_bytes = max(-(-info.width >> fi.w_sub[c]) *
                                fi.pixel_stride[c] for c in comps)
            else:
                row_bytes = stride      # packed in groups (v210): all data
            self.planes.append((info.offset[p], stride, rows, row_bytes))


def lay_out(planes, where, size):
    """`planes` (rows x row_bytes arrays) at (offset, stride) each, in a
    zeroed buffer of `size` bytes."""
    out = np.zeros(size, np.uint8)
    for a, (off, stride) in zip(planes, where):
        rows, row_bytes = a.shape
        for r in range(rows):
            out[off + r * stride:off + r * stride + row_bytes] = a[r]
    return out.tobytes()


def _rng(case, seq, salt=0):
    return np.random.default_rng([zlib.crc32(case.name.encode()), seq, salt])


class Frames:
    """The frames of a case's stream: content, and the three forms of
    bytes front ends output."""

    def __init__(self, case):
        self.case = case
        st = case.stream
        self.video = Video(st.caps) if st.caps.startswith("video/x-raw") \
            else None

    def planes(self, seq):
        g = _rng(self.case, seq)
        return [g.integers(0, 256, (rows, row_bytes), np.uint8)
                for _, _, rows, row_bytes in self.video.planes]

    def flat(self, seq):
        st = self.case.stream
        if self.video is not None:
            return b"".join(a.tobytes() for a in self.planes(seq))
        n = st.sizes(seq)
        body = _rng(self.case, seq).integers(0, 256, n - 4, np.uint8)
        head = b"\xff\xd8" if st.caps.startswith("image/jpeg") else b"\0\0"
        tail = b"\xff\xd9" if st.caps.startswith("image/jpeg") else b"\0\1"
        return head + body.tobytes() + tail

    def default(self, seq):
        """The frame in GStreamer's default layout."""
        v = self.video
        if v is None:
            return self.flat(seq)
        return lay_out(self.planes(seq), [(o, s) for o, s, _, _ in v.planes],
                       v.size)

    def payload(self, seq):
        """What the writer stores."""
        st = self.case.stream
        if self.video is None or st.planes in ("default", "none"):
            return self.default(seq)
        return lay_out(self.planes(seq), st.planes,
                       st.slot_size or self.video.size)

    def arrays(self, seq):
        if self.video is not None and \
                self.video.format in table.PYTHON_ARRAY_FORMATS:
            return self.flat(seq)
        return self.payload(seq)

    def write(self, w, seq):
        """Publishes frame seq with mmapring.Writer."""
        st = self.case.stream
        flags = st.flags.get(seq, 0)
        if self.video is None or st.planes == "none":
            data, planes = self.payload(seq), None
        elif st.planes == "default":
            if self.video.format in table.PYTHON_ARRAY_FORMATS:
                data, planes = self.flat(seq), None   # rows, no padding
            else:
                data = self.payload(seq)
                planes = [(o, s) for o, s, _, _ in self.video.planes]
        else:
            data, planes = self.payload(seq), st.planes
        got = w.write(data, offset=seq, flags=flags, planes=planes)
        if got != seq:
            raise AssertionError("%s: the Writer numbered frame %d %d" %
                                 (self.case.name, seq, got))


# ---------------------------------------------------------------- files

def writer_file(case, tmp):
    """The bytes of the Writer's file after its last frame and EOS, the
    writer still running."""
    st = case.stream
    path = os.path.join(tmp, "w")
    fr = Frames(case)
    first_caps = st.prelude_caps if st.prelude else st.caps
    w = mmapring.Writer(path, first_caps, slot_count=st.slots,
                        slot_size=st.slot_size)
    try:
        for seq in range(1, st.prelude + 1):
            w.write(bytes(Video(first_caps).size), offset=seq)
        if st.prelude:
            w.set_caps(st.caps)
        for seq in range(st.prelude + 1, st.prelude + st.frames + 1):
            fr.write(w, seq)
        w.eos()
        with open(path, "rb") as f:
            data = f.read()
    finally:
        w.close(remove=True)
    return Image(data)


def check_stored(case, img):
    """Every frame still in the ring is in its slot as it should be (the
    Writer stored the payload given, in GStreamer's layout), and every
    frame of the verdict is there."""
    fr = Frames(case)
    st = case.stream
    held = set()
    for seq in range(st.prelude + 1, st.prelude + st.frames + 1):
        idx = img.slot_of(seq)
        base = img.desc_base(idx)
        d = Desc(img, base)
        if d.seq != seq:
            continue            # lapped
        held.add(seq)
        at = img.slot_base(idx)
        if d.offset != seq or bytes(img.b[at:at + d.size]) != \
                fr.payload(seq):
            raise AssertionError("%s: frame %d is not stored as given "
                                 "(slot %d, %d bytes)" %
                                 (case.name, seq, idx, d.size))
        v = fr.video
        if v is not None and st.planes == "default":
            want = [(o, s) for o, s, _, _ in v.planes]
            have = [(img.get(DESC, "plane_offset", base, p),
                     img.get(DESC, "plane_stride", base, p))
                    for p in range(d.n_planes)]
            if have != want:
                raise AssertionError("%s: frame %d has planes %s, "
                                     "GStreamer's layout is %s" %
                                     (case.name, seq, have, want))
    missing = set(case.expect.frames) - held
    if missing:
        raise AssertionError("%s: frames %s of the verdict are not in the "
                             "file" % (case.name, sorted(missing)))


def encode_records(recs):
    """Records (type, body[, declared size]) as a meta or sticky area
    holds them: MmapRecordHeader, the body, zeros up to the next multiple
    of 8 except after the last."""
    out = bytearray()
    rh = layout.size("MmapRecordHeader")
    for i, r in enumerate(recs):
        type_, body = r[0], r[1]
        head = Image(bytes(rh))
        head.set("MmapRecordHeader", "type", type_)
        head.set("MmapRecordHeader", "size", r[2] if len(r) > 2
                 else len(body))
        out += head.b + body
        if i + 1 < len(recs):
            out += bytes(-len(out) % 8)
    return bytes(out)


def _value(v, img, d=None):
    return v(Fields(img, d)) if callable(v) else v


def apply(case, img):
    """The patches of a case; returns (image, sparse size or None)."""
    size = None
    for p in case.patches:
        op = p[0]
        if op == "header":
            _, name, value, index = p
            index = _value(index, img)
            img.set(HDR, name, _value(value, img), 0, index)
        elif op == "desc":
            _, seq, name, value, index = p
            base = img.desc_base(img.slot_of(seq))
            img.set(DESC, name, _value(value, img, Desc(img, base)), base,
                    index)
        elif op == "caps_byte":
            _, at, value = p
            img.b[img.hdr("caps_offset") + _value(at, img)] = value
        elif op == "meta_area":
            cap = p[1]
            off = -(-img.hdr("slot_capacity") // 8) * 8
            if off + cap > img.hdr("slot_stride"):
                raise AssertionError("%s: no room for a meta area" %
                                     case.name)
            img.set(HDR, "meta_offset", off)
            img.set(HDR, "meta_capacity", cap)
        elif op == "records":
            _, seq, recs, tail = p
            data = encode_records(recs) + tail
            idx = img.slot_of(seq)
            at = img.slot_base(idx) + img.hdr("meta_offset")
            if len(data) > img.hdr("meta_capacity"):
                raise AssertionError("%s: records larger than the area" %
                                     case.name)
            img.b[at:at + len(data)] = data
            img.set(DESC, "meta_size", len(data), img.desc_base(idx))
        elif op == "keep_bytes":
            img.b = img.b[:_value(p[1], img)]
        elif op == "sticky_4gib":
            size = _sticky_4gib(img)
        else:
            raise ValueError("%s: unknown patch %r" % (case.name, p))
    return img, size


def _sticky_4gib(img):
    """A sticky area of 2^32 bytes after the caps, the slots after it:
    every rule before 13 holds.  Returns the (sparse) file's size."""
    page = layout.PAGE_SIZE
    caps_end = img.hdr("caps_offset") + img.hdr("caps_length") + 1
    sticky = -(-caps_end // 8) * 8
    cap = 1 << 32
    data = -(-(sticky + cap) // page) * page
    old = img.hdr("slot_data_offset")
    slots = img.b[old:old + img.hdr("slot_count") * img.hdr("slot_stride")]
    img.set(HDR, "sticky_offset", sticky)
    img.set(HDR, "sticky_capacity", cap)
    img.set(HDR, "slot_data_offset", data)
    img.set(HDR, "file_size", data + len(slots))
    img.b = img.b[:old]
    img.tail = (data, bytes(slots))
    return data + len(slots)


def write_file(case, path, img, size):
    if case.kind == "fifo":
        os.mkfifo(path, 0o600)
        return
    with open(path, "wb") as f:
        f.write(img.b)
        if size is not None:
            # Sparse: the hole is never written.
            at, data = img.tail
            f.seek(at)
            f.write(data)
            f.truncate(size)


def expected(case):
    """The verdict as the runner reads it."""
    e = case.expect
    fr = Frames(case)
    out = {
        "name": case.name, "category": case.category, "rule": case.rule,
        "what": case.what, "note": e.note, "end": e.end,
        "skipped": e.skipped, "kind": case.kind,
        "frames": [{"offset": s, "payload": crc(fr.payload(s)),
                    "default": crc(fr.default(s)),
                    "arrays": crc(fr.arrays(s))} for s in e.frames],
    }
    if e.end == table.ERROR:
        out["status"] = e.status
    out["reason"] = e.reason
    return out


def generate(outdir):
    Gst.init(None)
    tmp_out = outdir + ".tmp"
    shutil.rmtree(tmp_out, ignore_errors=True)
    os.makedirs(tmp_out)
    verdicts = []
    with tempfile.TemporaryDirectory(prefix="gst-mmap-conf-gen-") as tmp:
        for case in table.CASES:
            img = writer_file(case, tmp)
            check_stored(case, img)
            img, size = apply(case, img)
            write_file(case, os.path.join(tmp_out, case.name), img, size)
            verdicts.append(expected(case))
    with open(os.path.join(tmp_out, "expected.json"), "w") as f:
        json.dump(verdicts, f, indent=1)
    shutil.rmtree(outdir, ignore_errors=True)
    os.rename(tmp_out, outdir)
    return verdicts


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("outdir")
    ap.add_argument("--stamp", help="a file to write when done (meson)")
    a = ap.parse_args()
    verdicts = generate(os.path.abspath(a.outdir))
    counts = {}
    for v in verdicts:
        counts[v["category"]] = counts.get(v["category"], 0) + 1
    print("%d files in %s: %s" % (len(verdicts), a.outdir, ", ".join(
        "%d %s" % (n, c) for c, n in counts.items())))
    if a.stamp:
        with open(a.stamp, "w") as f:
            f.write("%d\n" % len(verdicts))
    return 0


if __name__ == "__main__":
    sys.exit(main())

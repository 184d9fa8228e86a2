"""The layout of a gst-mmap file (lib/mmapring-format.h), for code that
reads or patches files by hand: tests that make broken files, tools.

    from mmapring import layout
    layout.offset("MmapFileHeader", "write_seq")    # 272
    layout.size("MmapSlotDesc")                     # 256
    layout.HEADER_SIZE, layout.FORMAT_VERSION, layout.STATE_RUNNING
    layout.FORMAT_MAGIC                             # b"GSTMMAP\\0"

Every MMAP_* constant of the header is here without its prefix.  The
numbers come from the header itself, through cffi: its structs (without
the preprocessor lines and _Static_asserts) are the cdef, and the offsets
its _Static_asserts pin are checked against cffi's layout at import.
Nothing here needs the library.
"""

import cffi

from . import _cdef

ffi = cffi.FFI()
ffi.cdef(_cdef.FORMAT)
# Constants are read through a library object; any will do (ABI mode
# never looks them up in it).
_consts = ffi.dlopen(None)

STRUCTS = ("MmapFileHeader", "MmapReaderEntry", "MmapSlotDesc",
           "MmapRecordHeader")


def offset(struct, field):
    """Byte offset of `field` in `struct`, e.g. ("MmapSlotDesc", "seq");
    an array element is offset + i * (field_size / length)."""
    return ffi.offsetof(struct, field)


def size(struct):
    """sizeof(struct): 4096 for MmapFileHeader, 256 for MmapSlotDesc..."""
    return ffi.sizeof(struct)


def field_size(struct, field):
    """Bytes of one field: 8 for a uint64_t, 256 for uint32_t[64]."""
    for name, f in ffi.typeof(struct).fields:
        if name == field:
            return ffi.sizeof(f.type)
    raise KeyError("%s has no field %s" % (struct, field))


def _export():
    g = globals()
    for name in dir(_consts):
        if name.startswith("MMAP_"):
            g[name[len("MMAP_"):]] = getattr(_consts, name)
    for name, value in _cdef.FORMAT_STRINGS.items():
        # The C string literals, with their NUL (the magic is 8 bytes).
        g[name[len("MMAP_"):]] = value.encode() + b"\0"


def _check():
    for struct, field, value in _cdef.OFFSET_ASSERTS:
        if ffi.offsetof(struct, field) != value:
            raise ImportError("mmapring.layout: cffi puts %s.%s at %d, the "
                              "header says %d" % (struct, field,
                                                  ffi.offsetof(struct, field),
                                                  value))
    for struct, value in _cdef.SIZE_ASSERTS:
        if ffi.sizeof(struct) != value:
            raise ImportError("mmapring.layout: cffi makes %s %d bytes, the "
                              "header says %d" % (struct, ffi.sizeof(struct),
                                                  value))


_export()
_check()

"""The cffi handle on libmmapring (ABI mode): `ffi` and `lib`.

The declarations are the library's own (generated into _cdef.py from
lib/mmapring.h); the library is looked for, in this order:

1. $MMAPRING_LIBRARY, a path (to test another build, say);
2. this build's library, when the module is imported from a build tree
   (_buildtree.py, which meson writes there and never installs);
3. libmmapring.so.0 as the dynamic linker finds it (LD_LIBRARY_PATH, the
   system's library directories): the installed case;
4. the path meson installed it to, when that directory is not one the
   dynamic linker searches (a prefix of one's own, no ldconfig yet).
"""

import os

import cffi

from . import _cdef

SONAME = "libmmapring.so.0"

ffi = cffi.FFI()
ffi.cdef(_cdef.API)


def _candidates():
    env = os.environ.get("MMAPRING_LIBRARY")
    if env:
        # Asked for by name: no quiet fallback to another library.
        return [env]
    out = []
    try:
        from . import _buildtree
    except ImportError:
        pass
    else:
        out.append(_buildtree.LIBRARY)
    out += [SONAME, _cdef.LIBRARY]
    return out


def _load():
    errors = []
    for name in _candidates():
        try:
            return ffi.dlopen(name), name
        except OSError as e:
            errors.append("%s: %s" % (name, e))
    raise ImportError("mmapring: cannot load the library libmmapring:\n  " +
                      "\n  ".join(errors))


lib, LIBRARY = _load()

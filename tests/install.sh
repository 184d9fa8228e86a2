#!/usr/bin/env bash
# `meson install` as a distribution would run it: prefix /usr, into a
# staging directory (DESTDIR), then everything used from there: the plugin
# by GStreamer (gst-inspect-1.0 --exists, a pipeline through mmap://), the
# C library through its pkg-config file (an example built against the
# installed header), the Python module by Debian's python3, and
# gst-mmap-info with its man page.  Nothing is installed on the machine.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
build="build-install"
stage="$(mktemp -d)"
loc="/dev/shm/gst-mmap-install-$$"
trap 'rm -rf "$stage" "$loc" "/dev/shm/.gst-mmap-install-$$.lock"' EXIT
fail() { echo "install: $*"; echo "install: 0 passed, 1 failed"; exit 1; }

if [ ! -f "$build/build.ninja" ]; then
  meson setup "$build" --prefix=/usr -Dtests=disabled -Dbenchmarks=disabled >/dev/null
fi
meson compile -C "$build" >/dev/null
DESTDIR="$stage" meson install -C "$build" --no-rebuild >/dev/null

multiarch="$(gcc -print-multiarch)"
libdir="$stage/usr/lib/$multiarch"
for f in "$libdir/gstreamer-1.0/libgstmmap.so" "$libdir/libmmapring.so.0" \
    "$libdir/pkgconfig/mmapring.pc" "$stage/usr/include/mmapring/mmapring.h" \
    "$stage/usr/include/mmapring/mmapring-format.h" \
    "$stage/usr/lib/python3/dist-packages/mmapring/__init__.py" \
    "$stage/usr/lib/python3/dist-packages/mmapring/_cdef.py" \
    "$stage/usr/bin/gst-mmap-info" "$stage/usr/share/man/man1/gst-mmap-info.1" \
    "$stage/usr/share/doc/gst-mmap/README.md"; do
  [ -e "$f" ] || fail "missing after install: ${f#"$stage"}"
done
echo "installed where Debian looks: /usr/lib/$multiarch/gstreamer-1.0, /usr/lib/python3/dist-packages"

# As if installed: the staged directories stand in for the system's.
export LD_LIBRARY_PATH="$libdir"
export GST_PLUGIN_PATH="$libdir/gstreamer-1.0"
export GST_REGISTRY_1_0="$stage/registry.bin"
export PYTHONPATH="$stage/usr/lib/python3/dist-packages"
unset MMAPRING_LIBRARY
gst-inspect-1.0 --exists mmapsink || fail "gst-inspect-1.0 --exists mmapsink"
gst-inspect-1.0 --exists mmapsrc || fail "gst-inspect-1.0 --exists mmapsrc"

# A program of one's own against the installed library.
PKG_CONFIG_PATH="$libdir/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$stage" pkg-config --exists mmapring \
  || fail "pkg-config does not find mmapring"
# shellcheck disable=SC2046  # pkg-config prints several arguments
gcc -o "$stage/read" examples/c/mmapring-read.c \
  $(PKG_CONFIG_PATH="$libdir/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$stage" pkg-config --cflags --libs mmapring) \
  || fail "examples/c/mmapring-read.c does not build against the installed header"

"$stage/read" -n 20 -t 10000 "$loc" >"$stage/read.out" 2>&1 &
reader=$!
sleep 0.5
gst-launch-1.0 -q videotestsrc num-buffers=20 ! \
  video/x-raw,format=GRAY8,width=64,height=48,framerate=30/1 ! \
  mmapsink location="$loc" || fail "the installed mmapsink does not run"
wait "$reader" || fail "the C reader failed: $(cat "$stage/read.out")"
[ "$(grep -c '^seq=' "$stage/read.out")" = 20 ] || fail "the C reader got $(grep -c '^seq=' "$stage/read.out") of 20 frames"

# Python, from the installed tree, and mmapsrc through a URI.
/usr/bin/python3 - "$loc" <<'PY' || fail "the installed Python module"
import subprocess, sys, mmapring
loc = sys.argv[1]
assert mmapring.__file__.startswith(sys.path[0]) or "dist-packages" in mmapring.__file__, mmapring.__file__
reader = subprocess.Popen(["gst-launch-1.0", "-q", "playbin", "uri=mmap://" + loc,
                           "video-sink=fakesink", "audio-sink=fakesink"])
import time, numpy as np
time.sleep(0.5)
with mmapring.Writer(loc, "video/x-raw,format=GRAY8,width=64,height=48,framerate=30/1") as w:
    for n in range(30):
        w.write(np.full((48, 64, 1), n, np.uint8))
        time.sleep(1 / 30)
    w.eos()
assert reader.wait(20) == 0, "playbin on mmap:// did not end at the writer's EOS"
print("python: Writer -> playbin uri=mmap://: ok")
PY

"$stage/usr/bin/gst-mmap-info" -d /dev/shm >/dev/null || fail "gst-mmap-info"
MANPATH="$stage/usr/share/man" man -w gst-mmap-info >/dev/null 2>&1 || \
  [ -s "$stage/usr/share/man/man1/gst-mmap-info.1" ] || fail "man page"
echo "install: 1 passed, 0 failed"

#!/usr/bin/env bash
# Writer: camera (or a test pattern when there is no camera) into the shared
# file.  Readers started before or after it pick the video up, caps included.
#
# Usage: pipelines/camera-to-file.sh [LOCATION]   (default /dev/shm/gst-mmap)
# Stop with Ctrl-C: -e sends EOS first, so readers see a clean end of stream
# and mmapsink removes the file.
#
# GST_PLUGIN_PATH defaults to the build tree (build/plugin) when it exists.
set -euo pipefail
LOCATION="${1:-/dev/shm/gst-mmap}"
BUILD_PLUGIN="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/build/plugin"
if [ -z "${GST_PLUGIN_PATH:-}" ] && [ -d "$BUILD_PLUGIN" ]; then
  export GST_PLUGIN_PATH="$BUILD_PLUGIN"
fi

if [ -e /dev/video0 ]; then
  # video/x-raw: ask the camera for raw frames (many also offer MJPEG, which
  # mmapsink would carry as it is, but then readers need jpegdec).
  set -x
  exec gst-launch-1.0 -e \
    v4l2src device=/dev/video0 ! video/x-raw \
    ! mmapsink location="$LOCATION"
else
  # No camera: a live test pattern with the running time written on it.
  # Caps are given because mmapsink accepts anything and videotestsrc would
  # otherwise pick its first (64-bit) format.
  set -x
  exec gst-launch-1.0 -e \
    videotestsrc is-live=true pattern=smpte \
    ! video/x-raw,format=I420,width=640,height=480,framerate=30/1 \
    ! timeoverlay ! mmapsink location="$LOCATION"
fi

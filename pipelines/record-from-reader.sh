#!/usr/bin/env bash
# Reader that records what the writer sends, without touching the writer's
# pipeline: H.264 in MP4 when x264enc is there (gstreamer1.0-plugins-ugly),
# else Motion-JPEG in Matroska (plugins-good).
#
# Usage: pipelines/record-from-reader.sh [LOCATION] [OUTPUT]
#   LOCATION  default /dev/shm/gst-mmap
#   OUTPUT    default recording.mp4 or recording.mkv in the current folder
# Stop with Ctrl-C: -e sends EOS so the muxer finalizes the file.  The
# recording also ends by itself when the writer stops (its EOS comes through).
#
# GST_PLUGIN_PATH defaults to the build tree (build/plugin) when it exists.
set -euo pipefail
LOCATION="${1:-/dev/shm/gst-mmap}"
BUILD_PLUGIN="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/build/plugin"
if [ -z "${GST_PLUGIN_PATH:-}" ] && [ -d "$BUILD_PLUGIN" ]; then
  export GST_PLUGIN_PATH="$BUILD_PLUGIN"
fi

if gst-inspect-1.0 --exists x264enc; then
  OUTPUT="${2:-recording.mp4}"
  set -x
  exec gst-launch-1.0 -e \
    mmapsrc location="$LOCATION" ! videoconvert \
    ! x264enc tune=zerolatency ! mp4mux ! filesink location="$OUTPUT"
else
  OUTPUT="${2:-recording.mkv}"
  echo "x264enc not found (gstreamer1.0-plugins-ugly): recording Motion-JPEG in Matroska" >&2
  set -x
  exec gst-launch-1.0 -e \
    mmapsrc location="$LOCATION" ! videoconvert \
    ! jpegenc ! matroskamux ! filesink location="$OUTPUT"
fi

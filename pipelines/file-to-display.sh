#!/usr/bin/env bash
# Reader: show what a writer puts into the shared file.  No caps to repeat:
# mmapsrc takes them from the file.  It waits for a writer if there is none
# yet, follows caps changes and writer restarts, and ends on the writer's EOS.
#
# Usage: pipelines/file-to-display.sh [LOCATION]  (default /dev/shm/gst-mmap)
# Needs a display ($DISPLAY or $WAYLAND_DISPLAY); stop with Ctrl-C.
#
# GST_PLUGIN_PATH defaults to the build tree (build/plugin) when it exists.
set -euo pipefail
LOCATION="${1:-/dev/shm/gst-mmap}"
BUILD_PLUGIN="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/build/plugin"
if [ -z "${GST_PLUGIN_PATH:-}" ] && [ -d "$BUILD_PLUGIN" ]; then
  export GST_PLUGIN_PATH="$BUILD_PLUGIN"
fi

set -x
exec gst-launch-1.0 -e \
  mmapsrc location="$LOCATION" ! videoconvert ! autovideosink

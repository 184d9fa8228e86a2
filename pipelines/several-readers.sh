#!/usr/bin/env bash
# Three independent reader processes on one shared file at the same time.
# Each gets every frame; a slow reader skips frames (DISCONT) instead of
# holding the writer up.
#
# Usage: pipelines/several-readers.sh [LOCATION]  (default /dev/shm/gst-mmap)
# Reader 1 shows the video when there is a display, else it counts frames
# like readers 2 and 3 (fpsdisplaysink into fakesink, printed by -v).
# Stop with Ctrl-C: it is passed on to the three readers.
#
# GST_PLUGIN_PATH defaults to the build tree (build/plugin) when it exists.
set -euo pipefail
LOCATION="${1:-/dev/shm/gst-mmap}"
BUILD_PLUGIN="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/build/plugin"
if [ -z "${GST_PLUGIN_PATH:-}" ] && [ -d "$BUILD_PLUGIN" ]; then
  export GST_PLUGIN_PATH="$BUILD_PLUGIN"
fi

counting_reader() {
  exec setsid gst-launch-1.0 -e -v mmapsrc location="$LOCATION" \
    ! fpsdisplaysink video-sink=fakesink text-overlay=false \
      fps-update-interval=1000
}
display_reader() {
  exec setsid gst-launch-1.0 -e mmapsrc location="$LOCATION" \
    ! videoconvert ! autovideosink
}

# Prefix each reader's output with its name.  The prefixer ignores SIGINT so
# that Ctrl-C stops the readers (cleanly, with EOS) but not their output.
prefix() { trap '' INT; exec sed -u "s/^/$1 /"; }

# The readers run in sessions of their own (setsid), so a Ctrl-C reaches
# only this script, which passes exactly one SIGINT on to each reader (a
# second one during gst-launch-1.0 -e's shutdown would cut it short).
pids=()
# shellcheck disable=SC2317  # called by the trap
stop() {
  trap - INT TERM HUP
  kill -INT "${pids[@]}" 2>/dev/null || true
}
trap stop INT TERM HUP

if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
  display_reader </dev/null > >(prefix "[reader 1]") 2>&1 &
else
  counting_reader </dev/null > >(prefix "[reader 1]") 2>&1 &
fi
pids+=($!)
counting_reader </dev/null > >(prefix "[reader 2]") 2>&1 &
pids+=($!)
counting_reader </dev/null > >(prefix "[reader 3]") 2>&1 &
pids+=($!)

rc=0
for pid in "${pids[@]}"; do
  # wait returns early when a trapped signal arrives: wait again.
  while kill -0 "$pid" 2>/dev/null; do wait "$pid" || true; done
  wait "$pid" || rc=$?
done
exit "$rc"

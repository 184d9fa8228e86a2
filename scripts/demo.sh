#!/usr/bin/env bash
# gst-mmap demo: one writer process and one reader process sharing video
# through a memory-mapped file.
#
#   writer:  pipelines/camera-to-file.sh   (v4l2src if /dev/video0, else a
#            live videotestsrc with a time overlay) ! mmapsink
#   reader:  with a display ($DISPLAY or $WAYLAND_DISPLAY):
#              mmapsrc ! videoconvert ! autovideosink
#            without one:
#              mmapsrc ! fpsdisplaysink video-sink=fakesink (frame counts)
#
# Runs scripts/setup.sh first (installs what is missing, builds ./build).
# With a display and a terminal it runs until Ctrl-C or until the video
# window is closed; otherwise for DEMO_SECONDS.  It then stops the writer
# with SIGINT (gst-launch-1.0 -e: EOS), lets the reader end on the writer's
# EOS, and makes sure neither process is left.
#
# Environment:
#   DEMO_LOCATION  shared file (default /dev/shm/gst-mmap-demo)
#   DEMO_SECONDS   how long to run (default 5; with a display and a terminal:
#                  until Ctrl-C)
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"

LOCATION="${DEMO_LOCATION:-/dev/shm/gst-mmap-demo}"

say() { printf '\n==> %s\n' "$*"; }
die() { printf '\ndemo.sh: %s\n' "$*" >&2; exit 1; }

# Prefix every line of a process's output with a tag.  SIGINT is ignored so
# that a Ctrl-C in the terminal does not kill the prefixer before the
# gst-launch-1.0 it reads from has printed its last lines.
prefix() { trap '' INT; exec sed -u "s/^/$1 /"; }

say "setup: checking packages and building (scripts/setup.sh)"
./scripts/setup.sh

export GST_PLUGIN_PATH="$REPO_ROOT/build/plugin${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
for element in mmapsink mmapsrc; do
  gst-inspect-1.0 "$element" >/dev/null 2>&1 \
    || die "GStreamer cannot find $element in $REPO_ROOT/build/plugin (did the build produce libgstmmap.so?)"
done

has_display=0
if [ -n "${DISPLAY:-}" ] || [ -n "${WAYLAND_DISPLAY:-}" ]; then
  has_display=1
fi
run_seconds="${DEMO_SECONDS:-}"
if [ -z "$run_seconds" ] && { [ "$has_display" -eq 0 ] || [ ! -t 0 ]; }; then
  run_seconds=5
fi

writer_pid=""
reader_pid=""
interrupted=0

# A Ctrl-C kills a running `sleep` too; under set -e that must not end the
# script before it has stopped the pipelines.
nap() { sleep "$1" || true; }

# stop_process PID NAME: SIGINT (EOS through gst-launch-1.0 -e), then
# SIGTERM, then SIGKILL if it does not go away.
wait_gone() {
  local pid="$1" tenths=$(($2 * 10)) i
  for ((i = 0; i < tenths; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    nap 0.1
  done
  ! kill -0 "$pid" 2>/dev/null
}
stop_process() {
  local pid="$1" name="$2"
  kill -0 "$pid" 2>/dev/null || return 0
  kill -INT "$pid" 2>/dev/null || true
  wait_gone "$pid" 10 && return 0
  echo "demo.sh: $name did not stop on SIGINT within 10 s, sending SIGTERM" >&2
  kill -TERM "$pid" 2>/dev/null || true
  wait_gone "$pid" 3 && return 0
  echo "demo.sh: $name still there, sending SIGKILL" >&2
  kill -KILL "$pid" 2>/dev/null || true
  wait_gone "$pid" 3 || true
}

# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
  local pid
  for pid in "$reader_pid" "$writer_pid"; do
    [ -n "$pid" ] && stop_process "$pid" "process $pid"
  done
  return 0
}
trap cleanup EXIT
trap 'interrupted=1' INT TERM HUP

if [ -e "$LOCATION" ]; then
  echo "demo.sh: $LOCATION exists already (left over, or another writer is using it)"
fi

# setsid: the two pipelines get their own sessions, so a Ctrl-C in the
# terminal reaches only this script, which then stops them in order.
if [ -e /dev/video0 ]; then
  say "starting the writer: camera /dev/video0 -> mmapsink location=$LOCATION"
else
  say "starting the writer: no camera (/dev/video0), so a live test pattern with a clock -> mmapsink location=$LOCATION"
fi
setsid pipelines/camera-to-file.sh "$LOCATION" </dev/null > >(prefix "[writer]") 2>&1 &
writer_pid=$!

for ((i = 0; i < 100; i++)); do
  [ -e "$LOCATION" ] && break
  kill -0 "$writer_pid" 2>/dev/null || break
  [ "$interrupted" -eq 1 ] && break
  nap 0.1
done
if ! kill -0 "$writer_pid" 2>/dev/null; then
  wait "$writer_pid" && rc=0 || rc=$?
  die "the writer ended early (exit code $rc); its output is above"
fi
[ -e "$LOCATION" ] || [ "$interrupted" -eq 1 ] \
  || die "the writer runs but $LOCATION did not appear within 10 s"

if [ "$has_display" -eq 1 ]; then
  say "starting the reader: mmapsrc location=$LOCATION ! videoconvert ! autovideosink (no caps given: they come from the file)"
  setsid pipelines/file-to-display.sh "$LOCATION" </dev/null > >(prefix "[reader]") 2>&1 &
  reader_pid=$!
else
  say "no display (\$DISPLAY and \$WAYLAND_DISPLAY are not set), so the reader does not show the video:"
  echo "    it counts the frames it gets instead: gst-launch-1.0 -v mmapsrc location=$LOCATION"
  echo "    ! fpsdisplaysink video-sink=fakesink.  Look below for the caps it took from the"
  echo "    file (caps = video/x-raw, ...) and for 'last-message = rendered: N, dropped: N,"
  echo "    current: FPS' once a second.  (To see the picture: run this under a desktop, or"
  echo "    xvfb-run -a $0 with a virtual one.)"
  setsid gst-launch-1.0 -e -v mmapsrc location="$LOCATION" \
    ! fpsdisplaysink video-sink=fakesink text-overlay=false fps-update-interval=1000 \
    </dev/null > >(prefix "[reader]") 2>&1 &
  reader_pid=$!
fi

if [ -n "$run_seconds" ]; then
  say "running for $run_seconds s"
else
  say "running until you press Ctrl-C or close the video window"
fi
start=$SECONDS
while [ "$interrupted" -eq 0 ]; do
  kill -0 "$writer_pid" 2>/dev/null || break
  kill -0 "$reader_pid" 2>/dev/null || break
  if [ -n "$run_seconds" ] && [ $((SECONDS - start)) -ge "$run_seconds" ]; then
    break
  fi
  nap 0.2
done

status=0
reader_rc=""
if ! kill -0 "$reader_pid" 2>/dev/null; then
  wait "$reader_pid" && reader_rc=0 || reader_rc=$?
  echo "demo.sh: the reader ended (exit code $reader_rc)"
  [ "$reader_rc" -eq 0 ] || status=1
fi
if ! kill -0 "$writer_pid" 2>/dev/null; then
  wait "$writer_pid" && rc=0 || rc=$?
  echo "demo.sh: the writer ended by itself (exit code $rc)" >&2
  status=1
fi

say "stopping the writer with SIGINT: gst-launch-1.0 -e sends EOS, mmapsink marks EOS in the file and removes it"
stop_process "$writer_pid" writer
wait "$writer_pid" && writer_rc=0 || writer_rc=$?
echo "demo.sh: writer exit code $writer_rc"
[ "$writer_rc" -eq 0 ] || status=1

if [ -z "$reader_rc" ]; then
  say "waiting for the reader to end on the writer's EOS (eos-on-writer-eos=true)"
  if wait_gone "$reader_pid" 5; then
    wait "$reader_pid" && reader_rc=0 || reader_rc=$?
    echo "demo.sh: the reader ended on the writer's EOS, exit code $reader_rc"
  else
    echo "demo.sh: the reader did not end within 5 s of the writer's EOS; stopping it with SIGINT" >&2
    stop_process "$reader_pid" reader
    wait "$reader_pid" && reader_rc=0 || reader_rc=$?
    echo "demo.sh: reader exit code $reader_rc"
    status=1
  fi
  [ "$reader_rc" -eq 0 ] || status=1
fi

if [ -e "$LOCATION" ]; then
  echo "demo.sh: $LOCATION is still there after the writer stopped; removing it" >&2
  rm -f "$LOCATION"
  status=1
else
  echo "demo.sh: $LOCATION was removed by the writer"
fi

for pid in "$writer_pid" "$reader_pid"; do
  if kill -0 "$pid" 2>/dev/null; then
    echo "demo.sh: process $pid is still running" >&2
    status=1
  fi
done
nap 0.2   # let the last prefixed lines through before the summary

if [ "$status" -eq 0 ]; then
  say "demo finished cleanly: both processes ended, nothing left running"
else
  say "demo finished with problems (see the messages above)"
fi
exit "$status"

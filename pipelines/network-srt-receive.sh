#!/usr/bin/env bash
# Receiver: H.264 in MPEG-TS over SRT from network-srt-send.sh on another
# machine, shown in a window (or, without a display, frames counted with
# fpsdisplaysink into fakesink and printed by -v).  It connects to the
# sender, and connects again when the sender is not there yet or restarts.
#
# Usage: pipelines/network-srt-receive.sh [HOST] [PORT]
#   HOST  the sender's address, default 127.0.0.1
#   PORT  the sender's SRT (UDP) port, default 7001
# LATENCY (ms, default 125, as srtsrc's) how long SRT may spend resending;
# the larger of the two sides' values is used.  PASSPHRASE: the sender's,
# when it has one.  Decoder: avdec_h264 (gstreamer1.0-libav) when
# installed, else openh264dec (plugins-bad).
# Stop with Ctrl-C.
set -euo pipefail
HOST="${1:-127.0.0.1}"
PORT="${2:-7001}"
LATENCY="${LATENCY:-125}"

SECRET=()
if [ -n "${PASSPHRASE:-}" ]; then
  SECRET=(passphrase="$PASSPHRASE" pbkeylen=32)
fi
if gst-inspect-1.0 --exists avdec_h264; then
  DECODER=(avdec_h264)
else
  DECODER=(openh264dec)
fi
if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
  SINK=(autovideosink)
  VERBOSE=()
else
  SINK=(fpsdisplaysink video-sink=fakesink text-overlay=false
    fps-update-interval=1000)
  VERBOSE=(-v)
fi

# No -e: before the first packet tsdemux has no output yet, so an EOS
# would never reach the sink and Ctrl-C would have to be pressed twice.
# tsdemux latency=100: its default, 700 ms, is meant for streams with
# jittery arrival; SRT already delivers at a steady delay.  The queue
# after tsdemux: without it the sink warns that it cannot meet the
# latency ("please add queues").
set -x
exec gst-launch-1.0 "${VERBOSE[@]}" \
  srtsrc uri="srt://$HOST:$PORT?mode=caller" latency="$LATENCY" \
    "${SECRET[@]}" \
  ! tsdemux latency=100 ! queue ! h264parse ! "${DECODER[@]}" \
  ! videoconvert ! "${SINK[@]}"

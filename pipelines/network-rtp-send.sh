#!/usr/bin/env bash
# Sender: what a writer puts into the shared file, to another machine as
# H.264 in RTP over UDP.  It is one more mmapsrc reader, so the writer and
# its other readers do not notice it.  Pair it with network-rtp-receive.sh.
#
# Usage: pipelines/network-rtp-send.sh [LOCATION] [HOST] [PORT]
#   LOCATION  default /dev/shm/gst-mmap
#   HOST      the receiver's address, default 127.0.0.1
#   PORT      the receiver's UDP port, default 5000
# BITRATE (kbit/s, default 2000) sets the encoder's rate.  Encoder:
# x264enc (gstreamer1.0-plugins-ugly) when installed, else openh264enc
# (plugins-bad).  A key frame every 30 frames (1 s at 30 fps) lets a
# receiver that starts late, or lost a packet, show a picture again soon.
# Plain UDP: nothing is resent; see docs/NETWORK.md for RTP versus SRT.
# Stop with Ctrl-C.  The sender also ends when the writer sends EOS.
#
# GST_PLUGIN_PATH defaults to the build tree (build/plugin) when it exists.
set -euo pipefail
LOCATION="${1:-/dev/shm/gst-mmap}"
HOST="${2:-127.0.0.1}"
PORT="${3:-5000}"
BITRATE="${BITRATE:-2000}"
BUILD_PLUGIN="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/build/plugin"
if [ -z "${GST_PLUGIN_PATH:-}" ] && [ -d "$BUILD_PLUGIN" ]; then
  export GST_PLUGIN_PATH="$BUILD_PLUGIN"
fi

# Low-latency settings: no B-frames, no look-ahead.
if gst-inspect-1.0 --exists x264enc; then
  ENCODER=(x264enc tune=zerolatency speed-preset=veryfast
    bitrate="$BITRATE" key-int-max=30)
else
  ENCODER=(openh264enc rate-control=bitrate bitrate="$((BITRATE * 1000))"
    gop-size=30 complexity=low)
fi

# config-interval=-1: SPS/PPS with every key frame, for late receivers.
set -x
exec gst-launch-1.0 -e \
  mmapsrc location="$LOCATION" ! videoconvert ! video/x-raw,format=I420 \
  ! "${ENCODER[@]}" ! rtph264pay config-interval=-1 pt=96 \
  ! udpsink host="$HOST" port="$PORT"

#!/usr/bin/env bash
# Sender: what a writer puts into the shared file, to other machines as
# H.264 in MPEG-TS over SRT, which resends lost packets within a latency
# budget.  It is one more mmapsrc reader, so the writer and its other
# readers do not notice it.  Receivers (network-srt-receive.sh) connect to
# it: it listens on PORT and sends to every receiver that connects.
#
# Usage: pipelines/network-srt-send.sh [LOCATION] [PORT] [ADDRESS]
#   LOCATION  default /dev/shm/gst-mmap
#   PORT      SRT (UDP) port to listen on, default 7001
#   ADDRESS   local address to listen on, default all
# BITRATE (kbit/s, default 2000) sets the encoder's rate, LATENCY (ms,
# default 125, as srtsink's) how long SRT may spend resending; the larger
# of the two sides' values is used.  PASSPHRASE (10 to 79 characters, the
# same on both sides) encrypts the stream (AES-256); it shows in `ps`.
# Encoder: x264enc (gstreamer1.0-plugins-ugly) when installed, else
# openh264enc (plugins-bad).  While no receiver is connected the encoded
# video is dropped (wait-for-connection=false: waiting would keep Ctrl-C
# from ending the sender cleanly).  See docs/NETWORK.md.
# Stop with Ctrl-C.  The sender also ends when the writer sends EOS.
#
# GST_PLUGIN_PATH defaults to the build tree (build/plugin) when it exists.
set -euo pipefail
LOCATION="${1:-/dev/shm/gst-mmap}"
PORT="${2:-7001}"
ADDRESS="${3:-}"
BITRATE="${BITRATE:-2000}"
LATENCY="${LATENCY:-125}"
BUILD_PLUGIN="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/build/plugin"
if [ -z "${GST_PLUGIN_PATH:-}" ] && [ -d "$BUILD_PLUGIN" ]; then
  export GST_PLUGIN_PATH="$BUILD_PLUGIN"
fi

SECRET=()
if [ -n "${PASSPHRASE:-}" ]; then
  SECRET=(passphrase="$PASSPHRASE" pbkeylen=32)
fi

# Low-latency settings: no B-frames, no look-ahead.
if gst-inspect-1.0 --exists x264enc; then
  ENCODER=(x264enc tune=zerolatency speed-preset=veryfast
    bitrate="$BITRATE" key-int-max=30)
else
  ENCODER=(openh264enc rate-control=bitrate bitrate="$((BITRATE * 1000))"
    gop-size=30 complexity=low)
fi

# h264parse config-interval=-1: SPS/PPS before every key frame, for
# receivers that connect late.  alignment=7: 7 TS packets (1316 bytes) per
# SRT packet.  The mode goes in the URI: GStreamer 1.22 takes the port to
# listen on from the URI only when the URI says listener.
set -x
exec gst-launch-1.0 -e \
  mmapsrc location="$LOCATION" ! videoconvert ! video/x-raw,format=I420 \
  ! "${ENCODER[@]}" ! h264parse config-interval=-1 \
  ! mpegtsmux alignment=7 \
  ! srtsink uri="srt://$ADDRESS:$PORT?mode=listener" latency="$LATENCY" \
    wait-for-connection=false "${SECRET[@]}"

#!/usr/bin/env bash
# Receiver: H.264 in RTP over UDP from network-rtp-send.sh on another
# machine, shown in a window (or, without a display, frames counted with
# fpsdisplaysink into fakesink and printed by -v).
#
# Usage: pipelines/network-rtp-receive.sh [PORT] [ADDRESS]
#   PORT     UDP port to listen on, default 5000
#   ADDRESS  local address to listen on, default 0.0.0.0 (all)
# Decoder: avdec_h264 (gstreamer1.0-libav) when installed, else
# openh264dec (plugins-bad).  rtpjitterbuffer holds packets 100 ms to put
# them back in order; that is most of the added latency on a LAN.
# Stop with Ctrl-C.
set -euo pipefail
PORT="${1:-5000}"
ADDRESS="${2:-0.0.0.0}"

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

# RTP carries no caps: these say what the sender's rtph264pay sends.
CAPS="application/x-rtp,media=video,clock-rate=90000,encoding-name=H264"
set -x
exec gst-launch-1.0 -e "${VERBOSE[@]}" \
  udpsrc address="$ADDRESS" port="$PORT" caps="$CAPS,payload=96" \
  ! rtpjitterbuffer latency=100 ! rtph264depay ! h264parse \
  ! "${DECODER[@]}" ! videoconvert ! "${SINK[@]}"

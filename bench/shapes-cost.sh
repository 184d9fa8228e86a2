#!/bin/bash
# What the pipeline shape before mmapsink costs (issue 9): N unthrottled
# 1280x720 RGB black frames through each shape, a reader that waited for the
# writer; wall time (both processes' start-up included) and the elements'
# stats.  Uses tests/shapes/shapes.py's writer and reader children.
#
#   bench/shapes-cost.sh [N]        (after meson compile -C build)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export GST_PLUGIN_PATH=$ROOT/build/plugin LD_LIBRARY_PATH=$ROOT/build/lib
S=$ROOT/tests/shapes/shapes.py
N=${1:-3000}
CAPS="video/x-raw,format=RGB,width=1280,height=720,framerate=30/1"
L=/dev/shm/gst-mmap-shapes-cost-$$
OUT=$(mktemp)
trap 'rm -f "$L" "$OUT"' EXIT
for shape in "" "queue !" "queue max-size-buffers=100 !" \
  "queue max-size-buffers=6 !" "tee ! queue !" "videorate ! queue !"; do
  rm -f "$L"
  /usr/bin/python3 "$S" reader "$L" >"$OUT" 2>&1 &
  R=$!
  until grep -q READY "$OUT"; do sleep 0.05; done
  sleep 0.5
  t0=$(date +%s.%N)
  st=$(/usr/bin/python3 "$S" writer "$L" "videotestsrc pattern=black num-buffers=$N ! $CAPS ! $shape mmapsink name=sink location=@LOC@ sync=false")
  t1=$(date +%s.%N)
  wait $R
  printf '%-32s %6.2f s  writer %s  reader %s\n' "[${shape:-nothing}]" \
    "$(echo "$t1 - $t0" | bc -l)" \
    "$(echo "$st" | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print(" ".join("%s=%s" % (k, d[k]) for k in ("frames-written","frames-zero-copy","frames-copied","frames-dropped")))')" \
    "$(tail -1 "$OUT")"
done

#!/usr/bin/env bash
# Runs the gst-mmap benchmark: builds the plugin and bench/mmapbench in
# ./build (configuring it, or re-configuring it when it predates bench/),
# then bench/driver.py, which writes bench/results/results.md,
# results.json and latency-cdf.png.
#
# Usage: bench/run.sh [--quick] [driver options...]   (--help for the list)
#
# Environment: BUILD_DIR   build directory (default: build, relative to the
#                          repository)
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"
BUILD_DIR="${BUILD_DIR:-build}"

if [ ! -f "$BUILD_DIR/meson-private/coredata.dat" ]; then
  meson setup "$BUILD_DIR"
elif ! grep -q 'bench/mmapbench' "$BUILD_DIR/build.ninja"; then
  # The root meson.build looks for bench/meson.build when it is
  # configured; a build directory made before bench/ existed needs this.
  meson setup --reconfigure "$BUILD_DIR"
fi
# Only what the benchmark runs, so that a half-written test elsewhere does
# not stop it.
ninja -C "$BUILD_DIR" bench/mmapbench plugin/libgstmmap.so

exec /usr/bin/python3 "$REPO_ROOT/bench/driver.py" --build-dir "$BUILD_DIR" "$@"

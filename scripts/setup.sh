#!/usr/bin/env bash
# Shared setup for gst-mmap: install the Debian 12 packages the project needs
# (only those that are missing), then configure and build into ./build.
#
# Usage: scripts/setup.sh [--no-install] [--no-build]
#
# Idempotent and quick when everything is already there: one dpkg-query,
# then an incremental `meson compile`.  apt-get update is run only when a
# package is missing.  Runs apt-get directly as root, through sudo otherwise.
#
# Environment:
#   BUILD_DIR          build directory (default: build, relative to the repo)
#   MESON_SETUP_ARGS   extra arguments for the first `meson setup`
#                      (e.g. "-Db_sanitize=address"); ignored once configured
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"

BUILD_DIR="${BUILD_DIR:-build}"
do_install=1
do_build=1
for arg in "$@"; do
  case "$arg" in
    --no-install) do_install=0 ;;
    --no-build) do_build=0 ;;
    -h|--help) sed -n '2,15p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "setup.sh: unknown argument: $arg" >&2; exit 2 ;;
  esac
done

PACKAGES=(
  # build
  meson ninja-build pkg-config gcc
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
  # run and test
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav
  gstreamer1.0-x
  xvfb xauth x11-utils
  python3-numpy python3-gi gir1.2-gstreamer-1.0 gir1.2-gst-plugins-base-1.0
  python3-cffi
  # the recipes: OpenCV, an RTSP server, gst-play-1.0
  python3-opencv gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base-apps
  # sanitizers, fuzzing, memory checks, plots
  clang libclang-rt-14-dev valgrind gnuplot-nox
  # formatting check (GNU indent, GStreamer's style)
  indent
)

log() { echo "setup.sh: $*"; }

missing_packages() {
  # dpkg-query prints "name status" for known packages and complains on
  # stderr (exit 1) about unknown ones; anything not "installed" is missing.
  local installed
  installed="$(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${PACKAGES[@]}" 2>/dev/null || true)"
  local p
  for p in "${PACKAGES[@]}"; do
    if ! grep -qx "$p installed" <<<"$installed"; then
      echo "$p"
    fi
  done
}

install_missing() {
  local missing
  mapfile -t missing < <(missing_packages)
  if [ "${#missing[@]}" -eq 0 ]; then
    log "all ${#PACKAGES[@]} packages are installed"
    return 0
  fi
  log "installing missing packages: ${missing[*]}"
  local -a as_root=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
      as_root=(sudo)
    else
      echo "setup.sh: not root and no sudo; install these first: ${missing[*]}" >&2
      exit 1
    fi
  fi
  local -a apt=("${as_root[@]}" env DEBIAN_FRONTEND=noninteractive
    apt-get -y -q -o DPkg::Lock::Timeout=600)
  "${apt[@]}" update </dev/null
  "${apt[@]}" install "${missing[@]}" </dev/null
  mapfile -t missing < <(missing_packages)
  if [ "${#missing[@]}" -ne 0 ]; then
    echo "setup.sh: still missing after apt-get install: ${missing[*]}" >&2
    exit 1
  fi
}

build() {
  if [ ! -f meson.build ]; then
    echo "setup.sh: no meson.build in $REPO_ROOT" >&2
    exit 1
  fi
  if [ -f "$BUILD_DIR/meson-private/coredata.dat" ]; then
    # Already configured: meson compile re-runs the configuration by itself
    # when a meson.build changed.
    log "building in $BUILD_DIR (already configured)"
  else
    log "configuring $BUILD_DIR"
    # shellcheck disable=SC2086  # MESON_SETUP_ARGS is a list of arguments
    meson setup ${MESON_SETUP_ARGS:-} "$BUILD_DIR"
  fi
  meson compile -C "$BUILD_DIR"
}

if [ "$do_install" -eq 1 ]; then install_missing; fi
if [ "$do_build" -eq 1 ]; then build; fi

#!/usr/bin/env bash
# shellcheck disable=SC2317  # step functions are called indirectly
# Build and run the gst-mmap tests.
#
# Usage: scripts/test.sh [ARGS for meson test...]
#   e.g. scripts/test.sh --suite unit -v
#
# Runs scripts/setup.sh (installs what is missing, builds ./build), then each
# step below in order.  Every step runs even if an earlier one failed; the
# exit code is that of the first failing step (0 when all pass), so with
# only the meson step it is meson test's own exit code.
#
# Steps: meson (the suite), sanitize (the suite under ASan+UBSan), fuzz
# (libFuzzer, FUZZ_SECONDS), valgrind (a two-process run under memcheck),
# install (meson install into a staging directory, used from there),
# format (scripts/format.sh --check).
# TEST_STEPS="meson" runs a subset.
#
# Adding a step: write a step_NAME function (it runs in a subshell under
# set -e; a failing command fails the step) and append NAME to STEPS.  Extra command-line arguments go to the meson
# step only.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"

BUILD_DIR="${BUILD_DIR:-build}"
export BUILD_DIR

# Print "NAME: N passed, N failed[, N skipped]" from a meson test log
# (one JSON object per line), for people and for CI logs.
summarize_meson_log() {
  local name="$1" log="$2"
  [ -f "$log" ] || return 0
  /usr/bin/python3 - "$name" "$log" <<'EOF' || true
import json, sys
name, path = sys.argv[1], sys.argv[2]
passed = failed = skipped = 0
with open(path) as f:
    for line in f:
        line = line.strip()
        if not line:
            continue
        result = json.loads(line).get("result")
        if result in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif result == "SKIP":
            skipped += 1
        else:  # FAIL, TIMEOUT, ERROR, UNEXPECTEDPASS, ...
            failed += 1
tail = f", {skipped} skipped" if skipped else ""
print(f"{name}: {passed} passed, {failed} failed{tail}")
EOF
}

# Step: the meson test suite (unit, element and format tests).
step_meson() {
  local log="$BUILD_DIR/meson-logs/testlog.json"
  rm -f "$log"
  local rc=0
  meson test -C "$BUILD_DIR" --print-errorlogs "$@" || rc=$?  # keep going to the summary
  summarize_meson_log meson "$log"
  return "$rc"
}

# Step: the whole suite again, built with AddressSanitizer and
# UndefinedBehaviorSanitizer (gcc, meson's b_sanitize).  gst-launch-1.0
# and python3 are not instrumented, so the ASan runtime is preloaded into
# every process that loads our plugin.  Leak checking stays off: GStreamer
# keeps global state alive until exit.
step_sanitize() {
  local dir=build-asan
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" -Db_sanitize=address,undefined -Db_lundef=false \
      -Dbenchmarks=disabled >/dev/null
  fi
  meson compile -C "$dir" >/dev/null
  local log="$dir/meson-logs/testlog.json"
  rm -f "$log"
  local rc=0
  ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:handle_segv=1 \
  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)" \
    meson test -C "$dir" --print-errorlogs --no-suite display \
    --timeout-multiplier 3 || rc=$?
  summarize_meson_log sanitize "$log"
  return "$rc"
}

# Step: the libFuzzer target on the seed corpus, for a bounded time
# (clang, ASan+UBSan).  New inputs go to a scratch corpus, not the repo.
step_fuzz() {
  local dir=build-fuzz seconds="${FUZZ_SECONDS:-60}"
  if [ ! -f "$dir/build.ninja" ]; then
    CC=clang meson setup "$dir" -Dfuzzing=enabled -Dtests=disabled \
      -Dbenchmarks=disabled -Db_sanitize=address,undefined \
      -Db_lundef=false >/dev/null
  fi
  meson compile -C "$dir" >/dev/null
  local scratch
  scratch="$(mktemp -d)"
  cp tests/fuzz/corpus/* "$scratch/"
  local rc=0
  # -timeout: one input taking this long is a hang, and a failure.
  "$dir/tests/fuzz/fuzz-read" -max_total_time="$seconds" -timeout=10 \
    -rss_limit_mb=2048 \
    -print_final_stats=1 "$scratch" 2>&1 | tail -n 12 || rc=$?
  rm -rf "$scratch"
  [ "$rc" -eq 0 ] && echo "fuzz: 1 passed, 0 failed" || echo "fuzz: 0 passed, 1 failed"
  return "$rc"
}

# Step: one two-process run with both processes under valgrind memcheck:
# any invalid read/write or use of uninitialised memory fails it.
step_valgrind() {
  BUILD_DIR="$BUILD_DIR" ./tests/valgrind-twoproc.sh
}

# Step: `meson install --destdir` with --prefix=/usr, and the plugin, the
# library's pkg-config file, the Python module and gst-mmap-info used
# from the staged tree.
step_install() {
  ./tests/install.sh
}

# Step: the C sources are formatted in GStreamer's style.
step_format() {
  ./scripts/format.sh --check && echo "format: 1 passed, 0 failed"
}

STEPS=(meson sanitize fuzz valgrind install format)
if [ -n "${TEST_STEPS:-}" ]; then
  read -r -a STEPS <<<"$TEST_STEPS"
fi

./scripts/setup.sh

first_rc=0
failed_steps=()
SUMMARY_LOG="$(mktemp)"
for step in "${STEPS[@]}"; do
  echo
  echo "==> test step: $step"
  # A subshell outside any || or && so that set -e holds inside the step.
  set +e
  if [ "$step" = meson ]; then
    (set -e; "step_$step" "$@") 2>&1 | tee -a "$SUMMARY_LOG"
  else
    (set -e; "step_$step") 2>&1 | tee -a "$SUMMARY_LOG"
  fi
  rc=${PIPESTATUS[0]}
  set -e
  if [ "$rc" -ne 0 ]; then
    failed_steps+=("$step")
    [ "$first_rc" -ne 0 ] || first_rc=$rc
  fi
done

echo
if [ "${#failed_steps[@]}" -eq 0 ]; then
  echo "==> all test steps passed: ${STEPS[*]}"
else
  echo "==> failed test steps: ${failed_steps[*]}"
fi
# One closing line with the totals of every step's "NAME: N passed, N
# failed" line; a step that failed without printing one counts as a failure.
/usr/bin/python3 - "$SUMMARY_LOG" "${#failed_steps[@]}" <<'PY'
import re, sys
p = f = sk = 0
seen_failed = 0
for line in open(sys.argv[1], errors="replace"):
    m = re.match(r"^\w+: (\d+) passed, (\d+) failed(?:, (\d+) skipped)?$", line.strip())
    if m:
        p += int(m[1]); f += int(m[2]); sk += int(m[3] or 0)
        seen_failed += int(m[2]) > 0
f += max(0, int(sys.argv[2]) - seen_failed)
print(f"total: {p} passed, {f} failed" + (f", {sk} skipped" if sk else ""))
PY
rm -f "$SUMMARY_LOG"
exit "$first_rc"

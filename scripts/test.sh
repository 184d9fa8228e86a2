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

STEPS=(meson)
# Later: sanitizer builds (ASan/UBSan via a second build dir), fuzzing,
# valgrind runs.  Each as step_NAME plus an entry here.

./scripts/setup.sh

first_rc=0
failed_steps=()
for step in "${STEPS[@]}"; do
  echo
  echo "==> test step: $step"
  # A subshell outside any || or && so that set -e holds inside the step.
  set +e
  if [ "$step" = meson ]; then
    (set -e; "step_$step" "$@")
  else
    (set -e; "step_$step")
  fi
  rc=$?
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
exit "$first_rc"

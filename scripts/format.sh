#!/usr/bin/env bash
# Formats the C sources in GStreamer's style (GNU indent with the options of
# GStreamer's gst-indent: 2-space indent, braces on the if line, 80
# columns).  `scripts/format.sh --check` changes nothing and fails, listing
# the files, when any would change; scripts/test.sh runs it that way.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

OPTS=(--braces-on-if-line --case-brace-indentation0 --case-indentation2
  --braces-after-struct-decl-line --line-length80 --no-tabs --cuddle-else
  --dont-line-up-parentheses --continuation-indentation4 --honour-newlines
  --tab-size8 --indent-level2 --leave-preprocessor-space)

# Our C, not generated or third-party files.  The two public headers of
# lib/ are laid out by hand (GNU indent mangles their declaration blocks).
mapfile -t FILES < <(git ls-files -co --exclude-standard 'lib/*.c' 'lib/mr-private.h' 'plugin/*.c' 'plugin/*.h' 'tests/check/*.c' 'tools/*.c' \
  'tests/fuzz/*.c' 'examples/c/*.c' 'bench/*.c' 'tests/conformance/*.c' 'tests/metas/*.c')

check=0
[ "${1:-}" = --check ] && check=1
bad=()
for f in "${FILES[@]}"; do
  tmp="$(mktemp)"
  # Twice, as gst-indent does: indent is not always stable in one pass.
  indent "${OPTS[@]}" -o "$tmp" "$f" && indent "${OPTS[@]}" "$tmp" -o "$tmp.2"
  if ! cmp -s "$f" "$tmp.2"; then
    if [ "$check" -eq 1 ]; then
      bad+=("$f")
    else
      cp "$tmp.2" "$f"
      echo "formatted $f"
    fi
  fi
  rm -f "$tmp" "$tmp.2"
done
if [ "${#bad[@]}" -gt 0 ]; then
  echo "not formatted (run scripts/format.sh): ${bad[*]}"
  exit 1
fi

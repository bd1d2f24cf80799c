#!/usr/bin/env bash
# Fails (and lists the files) if any C source of the repository differs from
# what clang-format makes of it with the project's .clang-format.  Run by the
# `style` test suite; fix with:
#   git ls-files '*.c' '*.h' | xargs clang-format -i
set -euo pipefail
cd "$(dirname "$0")/.."
command -v clang-format >/dev/null || { echo "clang-format is not installed (scripts/install-deps.sh --test)"; exit 1; }
if [ -d .git ] && command -v git >/dev/null; then
  mapfile -t files < <(git ls-files '*.c' '*.h')
else
  mapfile -t files < <(find src include tests bench -name '*.[ch]' 2>/dev/null)
fi
present=()
for f in "${files[@]}"; do [ -f "$f" ] && present+=("$f"); done
# one clang-format for every file (a process per file took over 30 s on a
# busy two-core machine); the files it complains about are named in its
# "FILE:LINE:COL: error: code should be clang-formatted" lines
bad=()
if ! out=$(clang-format --dry-run --Werror "${present[@]}" 2>&1 >/dev/null); then
  mapfile -t bad < <(sed -n 's/^\([^:]*\):[0-9]*:[0-9]*: error: code should be clang-formatted.*/\1/p' <<<"$out" | sort -u)
  [ ${#bad[@]} -gt 0 ] || { echo "clang-format failed: $out"; exit 1; }
fi
if [ ${#bad[@]} -gt 0 ]; then
  echo "not formatted with .clang-format (${#bad[@]} of ${#files[@]} files):"
  printf '  %s\n' "${bad[@]}"
  exit 1
fi
echo "ok: ${#files[@]} files formatted as .clang-format says"

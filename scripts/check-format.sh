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
bad=()
for f in "${files[@]}"; do
  [ -f "$f" ] || continue
  clang-format --dry-run --Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done
if [ ${#bad[@]} -gt 0 ]; then
  echo "not formatted with .clang-format (${#bad[@]} of ${#files[@]} files):"
  printf '  %s\n' "${bad[@]}"
  exit 1
fi
echo "ok: ${#files[@]} files formatted as .clang-format says"

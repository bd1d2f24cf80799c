#!/usr/bin/env bash
# Fuzzes the model reader (tests/fuzz/fuzz_model.c) for FUZZ_SECONDS seconds
# (default 60, or the first argument) in one process, on a copy of
# tests/fuzz/corpus in a temporary directory, so the committed seeds never
# change.  Sets up build-fuzz (clang, -Dfuzz=true) the first time.
# Exits non-zero on a crash, leak, hang or UB report and prints the path of
# the input that caused it (copy it to tests/fuzz/regressions/).
# FUZZ_ARGS adds libFuzzer flags; FUZZ_KEEP=1 keeps the temporary directory.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-${FUZZ_SECONDS:-60}}

if [ ! -d build-fuzz ]; then
  CC=clang meson setup build-fuzz -Dfuzz=true -Dtests=false --buildtype=debugoptimized
fi
meson compile -C build-fuzz tests/fuzz/fuzz_model

work=$(mktemp -d "${TMPDIR:-/tmp}/rnnserve-fuzz.XXXXXX")
mkdir "$work/corpus" "$work/artifacts"
cp tests/fuzz/corpus/* "$work/corpus/"
echo "fuzz: ${seconds}s in $work"

status=0
# one process (the machine is shared); OpenBLAS single-threaded for the same reason
OPENBLAS_NUM_THREADS=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  ./build-fuzz/tests/fuzz/fuzz_model "$work/corpus" \
  -max_total_time="$seconds" -timeout=10 -max_len=8192 -print_final_stats=1 \
  -dict=tests/fuzz/fuzz_model.dict -artifact_prefix="$work/artifacts/" \
  ${FUZZ_ARGS:-} 2>&1 | tee "$work/fuzz.log" || status=$? # pipefail: the fuzzer's status

found=$(find "$work/artifacts" -type f | sort)
if [ "$status" -ne 0 ] || [ -n "$found" ]; then
  echo "fuzz: FAILED (exit $status); log $work/fuzz.log"
  for f in $found; do echo "fuzz: crash input: $f"; done
  exit 1
fi
echo "fuzz: no crash in ${seconds}s; corpus grew to $(ls "$work/corpus" | wc -l) files"
if [ "${FUZZ_KEEP:-0}" = 1 ]; then echo "fuzz: kept $work"; else rm -rf "$work"; fi

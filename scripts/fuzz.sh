#!/usr/bin/env bash
# Runs a libFuzzer target for a while in one process, on a copy of its seed
# corpus in a temporary directory, so the committed seeds never change:
#   scripts/fuzz.sh [model|request] [SECONDS]      (default: model, 60 s)
#   model    tests/fuzz/fuzz_model.c: the model-file reader and what is
#            computed with an accepted model (seeds tests/fuzz/corpus)
#   request  tests/fuzz/fuzz_request.c: what a client sends, through every
#            route's parsing and validation, the engine and the reply
#            (seeds tests/fuzz/corpus_request)
# FUZZ_RUNS=N stops after N executions instead of a time.  Sets up
# build-fuzz (clang, -Dfuzz=true) the first time.  Exits non-zero on a
# crash, leak, hang or UB report and prints the path of the input that
# caused it (copy it to the target's regressions folder).  FUZZ_ARGS adds
# libFuzzer flags; FUZZ_KEEP=1 keeps the temporary directory.
set -euo pipefail
cd "$(dirname "$0")/.."

target=model
case "${1:-}" in
  model | request) target=$1; shift ;;
esac
seconds=${1:-${FUZZ_SECONDS:-60}}
case $target in
  model) corpus=tests/fuzz/corpus max_len=8192 ;;
  request) corpus=tests/fuzz/corpus_request max_len=4096 ;;
esac

if [ ! -d build-fuzz ]; then
  CC=clang meson setup build-fuzz -Dfuzz=true -Dtests=false --buildtype=debugoptimized
fi
meson compile -C build-fuzz "tests/fuzz/fuzz_$target"

work=$(mktemp -d "${TMPDIR:-/tmp}/rnnserve-fuzz.XXXXXX")
mkdir "$work/corpus" "$work/artifacts"
cp "$corpus"/* "$work/corpus/"
limit=(-max_total_time="$seconds")
[ -n "${FUZZ_RUNS:-}" ] && limit=(-runs="$FUZZ_RUNS")
echo "fuzz $target: ${limit[*]} in $work"

status=0
# one process (the machine is shared); OpenBLAS single-threaded for the same reason
OPENBLAS_NUM_THREADS=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  "./build-fuzz/tests/fuzz/fuzz_$target" "$work/corpus" \
  "${limit[@]}" -timeout=10 -max_len="$max_len" -print_final_stats=1 \
  -dict="tests/fuzz/fuzz_$target.dict" -artifact_prefix="$work/artifacts/" \
  ${FUZZ_ARGS:-} 2>&1 | tee "$work/fuzz.log" || status=$? # pipefail: the fuzzer's status

found=$(find "$work/artifacts" -type f | sort)
if [ "$status" -ne 0 ] || [ -n "$found" ]; then
  echo "fuzz $target: FAILED (exit $status); log $work/fuzz.log"
  for f in $found; do echo "fuzz: crash input: $f"; done
  exit 1
fi
echo "fuzz $target: no finding (${limit[*]}); corpus grew to $(ls "$work/corpus" | wc -l) files"
if [ "${FUZZ_KEEP:-0}" = 1 ]; then echo "fuzz: kept $work"; else rm -rf "$work"; fi

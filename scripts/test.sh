#!/usr/bin/env bash
# Installs what is missing, builds with warnings as errors, and runs every
# test suite twice: in a release build, and in a clang build with
# AddressSanitizer and UndefinedBehaviorSanitizer; then the daemon's http
# and grad suites once more under ThreadSanitizer; then the deployment files' checks
# (scripts/validate-deploy.sh), 30 s of scripts/soak.sh, the container image's end-to-end test
# (scripts/container-test.sh, podman) and scripts/newcomer-test.sh
# (scripts/serve.sh run in a clean Debian 12 container, which must install,
# build and serve with nothing but what it installs itself; about a minute);
# set RNNSERVE_SKIP_CONTAINER=1 to leave the two podman checks out on a
# machine without root.  A `build` that scripts/serve.sh configured (tests
# off) is switched to tests on and warnings as errors.  Exits non-zero if
# anything fails; the last line is "tests: N passed, N failed", every check
# of the three scripts counted as one test.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh --test

run_suites() { # build-dir, label, [meson test arguments]
  local dir=$1 label=$2 status=0
  shift 2
  meson test -C "$dir" --print-errorlogs --num-processes 2 "$@" || status=$?
  python3 - "$dir" "$label" <<'PY'
import json, sys
ok = fail = 0
with open(f"{sys.argv[1]}/meson-logs/testlog.json") as f:
    for line in f:
        r = json.loads(line)
        if r["result"] in ("OK", "EXPECTEDFAIL", "SKIP"):
            ok += 1
        else:
            fail += 1
print(f"{sys.argv[2]}: {ok} passed, {fail} failed")
with open("build-summary.txt", "a") as out:
    out.write(f"{ok} {fail}\n")
PY
  return $status
}

rm -f build-summary.txt
status=0

# release build, warnings are errors; a `build` that scripts/serve.sh set up
# first (tests off, warnings allowed) is switched to tests on and -Werror
# (coredata.dat: meson's record of a configured build directory)
if [ -f build/meson-private/coredata.dat ]; then
  meson configure build -Dtests=true -Dwerror=true
else
  meson setup build -Dwerror=true --buildtype=release
fi
meson compile -C build
run_suites build release || status=1

# sanitizer build
if [ ! -d build-asan ]; then
  CC=clang meson setup build-asan -Dwerror=true --buildtype=debugoptimized \
    -Db_sanitize=address,undefined -Db_lundef=false
fi
meson compile -C build-asan
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  run_suites build-asan "address+undefined sanitizers" || status=1

# thread sanitizer on the daemon's concurrency (the http suite) and on
# rnntrain's two-thread bidirectional layers (the grad suite)
if [ ! -d build-tsan ]; then
  CC=clang meson setup build-tsan -Dwerror=true --buildtype=debugoptimized \
    -Db_sanitize=thread -Db_lundef=false
fi
meson compile -C build-tsan
TSAN_OPTIONS=halt_on_error=1 run_suites build-tsan "thread sanitizer (http, grad)" --suite http --suite grad || status=1

# deployment manifests and unit (offline checks), then the container image
script_counts() { # label, script: counts its PASS/FAIL lines
  local label=$1 log status=0
  shift
  log=$(mktemp)
  "$@" 2>&1 | tee "$log" || status=$?
  local ok fail
  ok=$(grep -c '^PASS' "$log" || true)
  fail=$(grep -c '^FAIL' "$log" || true)
  [ "$status" -ne 0 ] && [ "$fail" -eq 0 ] && fail=1 # died before its checks
  rm -f "$log"
  echo "$label: $ok passed, $fail failed"
  echo "$ok $fail" >>build-summary.txt
  return "$status"
}
script_counts "deployment files" ./scripts/validate-deploy.sh || status=1
# 30 s of the soak test (the release daemon at saturation, streams hung up,
# SIGHUP every 10 s, RSS flat); scripts/soak.sh runs 10 minutes by default
script_counts "soak (30 s)" ./scripts/soak.sh 30 || status=1
if [ "${RNNSERVE_SKIP_CONTAINER:-0}" = 1 ]; then
  echo "container image: skipped (RNNSERVE_SKIP_CONTAINER=1)"
  echo "newcomer serve path: skipped (RNNSERVE_SKIP_CONTAINER=1)"
else
  script_counts "container image" ./scripts/container-test.sh || status=1
  script_counts "newcomer serve path" ./scripts/newcomer-test.sh || status=1
fi

read -r ok fail < <(awk '{o+=$1; f+=$2} END {print o, f}' build-summary.txt)
rm -f build-summary.txt
echo "tests: $ok passed, $fail failed"
exit $status

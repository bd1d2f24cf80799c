#!/usr/bin/env bash
# Runs the README's first command as a newcomer would: the repository's
# tracked files (as they are in the working tree; no build directory) go into
# a clean Debian 12 container (debian:bookworm-slim: no compiler, no -dev
# package, no git, no ca-certificates) where `./scripts/serve.sh --port P
# --host 127.0.0.1` runs as root and must install all it needs itself with
# apt-get from Debian's mirror, build and serve.  Catches a serve path that
# needs what only the tests install (serve.sh once stopped at `meson setup`
# for libcurl, a test-only dependency), and a file the build needs that git
# does not track (a clone would lack it).  Checks from the host: /readyz 200,
# /classify answers with the shipped model, /v1/models lists the shipped
# models, no test package was installed, and a second serve.sh in the same
# container (SIGTERM, start again) is ready in seconds.  Prints PASS/FAIL
# lines, how long the newcomer's path took (apt-get, build, start), and a
# closing line `newcomer: N passed, N failed`; exits non-zero on any failure.
#
#   ./scripts/newcomer-test.sh          # needs root (podman, apt-get)
#
# About a minute here (2 cores): 35-55 s of it the newcomer's path, apt-get
# 30-45 s of that.
# Prepares podman with scripts/container-engine.sh (idempotent: seconds once
# done, about three minutes the first time).  The container uses the host
# network: the daemon listens on a free port of the host's loopback.
# NEWCOMER_TIMEOUT (seconds, default 900) bounds the wait for /readyz;
# NEWCOMER_IMAGE (default debian:bookworm-slim) is the clean machine.  The
# container is removed on exit.  When apt-get fails for the network or the
# mirror, a `note:` line says it is the environment, not the project.
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE=${NEWCOMER_IMAGE:-debian:bookworm-slim}
READY_TIMEOUT=${NEWCOMER_TIMEOUT:-900} # seconds for apt-get, build and start
RESTART_TIMEOUT=60                     # seconds for the second serve.sh
STOP_TIMEOUT=15                        # podman stop -t; the daemon drains within 10 s

t_all=$SECONDS
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "PASS $*"; }
bad() { fail=$((fail + 1)); echo "FAIL $*"; }
check() { # check NAME COMMAND...: PASS when the command succeeds
  local name=$1
  shift
  if "$@"; then ok "$name"; else bad "$name"; fi
}

# --- tools -----------------------------------------------------------------
./scripts/container-engine.sh
need=()
command -v curl >/dev/null || need+=(curl)
command -v python3 >/dev/null || need+=(python3)
command -v git >/dev/null || need+=(git)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# --- clean-up ----------------------------------------------------------------
container="rnnserve-newcomer-$$"
tmp=$(mktemp -d /tmp/rnnserve-newcomer.XXXXXX)
cleanup() {
  podman rm -f -t 0 "$container" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT

# --- helpers -----------------------------------------------------------------
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
# http METHOD PORT PATH [BODY]: prints the status code, the body to $tmp/body
http() {
  local args=(-s -o "$tmp/body" -w '%{http_code}' --max-time 10 -X "$1")
  [ $# -ge 4 ] && args+=(-H 'Content-Type: application/json' --data-binary "$4")
  curl "${args[@]}" "http://127.0.0.1:$2$3" || echo 000
}
# json EXPR: evaluates a Python expression on the last body as `j`
json() {
  python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' \
    "$tmp/body" "$1" 2>/dev/null
}
running() { [ "$(podman inspect -f '{{.State.Running}}' "$container" 2>/dev/null)" = true ]; }
logs() { podman logs "$container" >"$tmp/log" 2>&1 || true; }
# why: the container's output says whether apt-get failed for the machine's
# network or mirror (not the project's fault) or for the project
why() {
  logs
  local env_re='Temporary failure resolving|Could not resolve|Failed to fetch|Unable to fetch|Could not connect|Connection failed|Connection timed out|Hash Sum mismatch|is not valid yet|No space left'
  if grep -Eq "$env_re" "$tmp/log"; then
    echo "note: apt-get inside the container could not use Debian's mirror; this is the" \
      "environment (network, mirror, disk), not the project:"
    grep -E "$env_re" "$tmp/log" | head -5 | sed 's/^/  /'
  fi
  # meson's "File X does not exist." for a file that is here but not in git
  local f
  while IFS= read -r f; do
    [ -e "$f" ] && echo "note: $f is in the working tree but not tracked by git (git add it):" \
      "a clone would not have it"
  done < <(sed -n 's/.*ERROR: File \(.*\) does not exist\..*/\1/p' "$tmp/log")
  true
  echo "-- last lines of the container's output:"
  tail -25 "$tmp/log" | sed 's/^/  /'
}
# phases: notes, in seconds since $t_start, when apt-get is done (meson has
# made build/) and when the compile is (both programs linked), from the
# container's file system ($mnt; its output is no clock: meson and ninja
# write to a pipe in blocks)
phases() {
  [ -n "$mnt" ] || return 0
  if [ -z "$t_installed" ] && [ -d "$mnt/src/build" ]; then t_installed=$((SECONDS - t_start)); fi
  if [ -z "$t_built" ] && [ -x "$mnt/src/build/src/serve/rnnserve" ] &&
    [ -x "$mnt/src/build/src/train/rnntrain" ]; then t_built=$((SECONDS - t_start)); fi
}
# wait_ready PORT TIMEOUT: polls /readyz until 200, the container exits or
# time-out
wait_ready() {
  local deadline=$((SECONDS + $2))
  while [ $SECONDS -lt $deadline ]; do
    [ "$(http GET "$1" /readyz)" = 200 ] && return 0
    running || return 1
    phases
    sleep 0.5
  done
  return 1
}

# --- the repository as a newcomer gets it --------------------------------------
# tracked files only, as they are in the working tree (a tracked file deleted
# in the working tree is left out, as a commit would); no build directory
echo "== the repository's tracked files into a clean $IMAGE container"
mkdir "$tmp/src"
git ls-files -z | while IFS= read -r -d '' f; do
  if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\0' "$f"; fi
done | tar --null -T - -cf - | tar -C "$tmp/src" -xf -
nfiles=$(find "$tmp/src" -type f | wc -l)
port=$(free_port)
podman create --name "$container" --network host --workdir /src "$IMAGE" \
  ./scripts/serve.sh --port "$port" --host 127.0.0.1 >/dev/null
podman cp "$tmp/src" "$container:/src"
check "$nfiles tracked files copied, no build directory" \
  test -z "$(find "$tmp/src" -maxdepth 1 -name 'build*')"

# --- serve.sh, the first time ---------------------------------------------------
echo "== ./scripts/serve.sh --port $port --host 127.0.0.1 (apt-get, build, serve)"
t_installed=""
t_built=""
t_start=$SECONDS
podman start "$container" >/dev/null
mnt=$(podman mount "$container" 2>/dev/null || true)
if wait_ready "$port" "$READY_TIMEOUT"; then
  path_s=$((SECONDS - t_start))
  ok "/readyz 200 on a fresh Debian 12 after ${path_s} s (deadline ${READY_TIMEOUT} s)"
else
  path_s=$((SECONDS - t_start))
  if running; then
    bad "/readyz 200 within ${READY_TIMEOUT} s (none after ${path_s} s)"
  else
    code=$(podman inspect -f '{{.State.ExitCode}}' "$container" 2>/dev/null || echo "?")
    bad "/readyz 200: serve.sh exited with status $code after ${path_s} s"
  fi
  why
  echo "newcomer path: failed after ${path_s} s; whole run: $((SECONDS - t_all)) s"
  echo "newcomer: $pass passed, $fail failed"
  exit 1
fi
logs
phases
if [ -n "$t_installed" ] && [ -n "$t_built" ]; then
  echo "info: apt-get (install-deps.sh) ${t_installed} s, meson setup and compile" \
    "$((t_built - t_installed)) s, start until ready $((path_s - t_built)) s"
fi
steps=$(grep -o '^\[[0-9]*/[0-9]*\]' "$tmp/log" | tail -1 || true)
echo "info: the compile: ${steps:-no} ninja steps"

code=$(http POST "$port" /classify '{"name":"Nakamura"}')
top=$(json 'j["predictions"][0]["label"]' || true)
check "POST /classify Nakamura: 200, top label Japanese (got $code, $top)" \
  test "$code $top" = "200 Japanese"
code=$(http GET "$port" /v1/models)
n=$(json 'len(j["models"])' || true)
shipped=$(ls models/*.safetensors | wc -l)
check "GET /v1/models lists the $shipped shipped models (got $code, $n)" test "$code $n" = "200 $shipped"
check "the serve log names installed packages (install-deps.sh did the installing)" \
  grep -q '^installing: ' "$tmp/log"
# shellcheck disable=SC2016 # expanded by the container's shell
test_pkgs=$(podman exec "$container" sh -c 'for p in libcurl4-openssl-dev clang clang-format curl; do
    dpkg-query -W -f="\${Status}" "$p" 2>/dev/null | grep -q "install ok installed" && echo "$p"; done; true' | xargs)
check "no test package installed (${test_pkgs:-none of libcurl4-openssl-dev clang clang-format curl})" \
  test -z "$test_pkgs"
check "build/src/train/rnntrain built too" podman exec "$container" test -x build/src/train/rnntrain

# --- serve.sh again: stop, start the same container ----------------------------
echo "== SIGTERM, then ./scripts/serve.sh again in the same container"
podman stop -t "$STOP_TIMEOUT" "$container" >/dev/null
code=$(podman inspect -f '{{.State.ExitCode}}' "$container")
check "SIGTERM: rnnserve (exec'd by serve.sh) exits 0 (got $code)" test "$code" = 0
t0=$SECONDS
podman start "$container" >/dev/null
mnt="" # no phases to note
if wait_ready "$port" "$RESTART_TIMEOUT"; then
  ok "second serve.sh: /readyz 200 after $((SECONDS - t0)) s (nothing to install or build)"
else
  bad "second serve.sh: /readyz 200 within ${RESTART_TIMEOUT} s"
  why
fi

# --- summary -----------------------------------------------------------------
echo "== summary"
echo "newcomer path (fresh container to /readyz 200): ${path_s} s; whole run: $((SECONDS - t_all)) s"
echo "newcomer: $pass passed, $fail failed"
[ "$fail" -eq 0 ]

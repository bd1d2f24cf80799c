#!/usr/bin/env bash
# Builds the container image from the Dockerfile with podman and checks it end
# to end: readiness and liveness, /classify and /generate answers, the
# HEALTHCHECK probe, a non-root user, no compiler in the image, rnntrain in the
# image, a mounted models folder on a read-only root (and SIGHUP reloading
# it), and a SIGTERM stop that drains and exits 0 in time.  Prints PASS/FAIL
# lines, the build and test times, the image size, and a closing line
# `container: N passed, N failed`; exits non-zero on any failure.
#
#   ./scripts/container-test.sh          # needs root (podman, apt-get)
#
# Prepares podman with scripts/container-engine.sh (idempotent: seconds once
# done, about three minutes the first time).  Containers use the host network: the daemon listens
# on a free port of the host's loopback.  IMAGE (default rnnserve:test) names
# the image built.  Every container it starts is removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

IMAGE=${IMAGE:-rnnserve:test}
READY_TIMEOUT=60 # seconds for /readyz after start
STOP_TIMEOUT=15  # podman stop -t: SIGKILL after this; the image drains within 8 s

t_all=$SECONDS
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "PASS $*"; }
bad() { fail=$((fail + 1)); echo "FAIL $*"; }
quiet() { "$@" >/dev/null; } # a command's output hidden, not check's PASS line
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
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# --- clean-up ----------------------------------------------------------------
run_id="rnnserve-test-$$"
containers=()
tmp=$(mktemp -d /tmp/rnnserve-container-test.XXXXXX)
cleanup() {
  for c in "${containers[@]+"${containers[@]}"}"; do podman rm -f -t 0 "$c" >/dev/null 2>&1 || true; done
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
# podman without systemd (as here) logs an error for each container that has a
# HEALTHCHECK, when it would schedule the probe; only those lines are dropped.
pm() { podman "$@" 2> >(grep -v 'unable to get systemd connection' >&2); }
running() { [ "$(podman inspect -f '{{.State.Running}}' "$1" 2>/dev/null)" = true ]; }
# start NAME PORT [podman run options...]: starts the image detached
start() {
  local name=$1 port=$2
  shift 2
  containers+=("$name")
  # --health-interval=disable: podman would schedule the HEALTHCHECK with
  # systemd timers, which this machine does not run; it is run by hand below.
  pm run -d --name "$name" --network host --health-interval=disable \
    -e RNNSERVE_PORT="$port" -e RNNSERVE_THREADS=2 "$@" "$IMAGE" >/dev/null
}
# wait_ready NAME PORT: polls /readyz until 200, the container dies or time-out
wait_ready() {
  local deadline=$((SECONDS + READY_TIMEOUT))
  while [ $SECONDS -lt $deadline ]; do
    [ "$(http GET "$2" /readyz)" = 200 ] && return 0
    running "$1" || return 1
    sleep 0.2
  done
  return 1
}

# --- build -------------------------------------------------------------------
echo "== podman build -t $IMAGE"
t0=$SECONDS
# --format docker keeps HEALTHCHECK (the OCI image format has no field for it)
if podman build --format docker -t "$IMAGE" . >"$tmp/build.log" 2>&1; then
  build_s=$((SECONDS - t0))
  ok "image builds (${build_s} s)"
else
  tail -40 "$tmp/build.log"
  bad "image builds"
  echo "container: $pass passed, $fail failed"
  exit 1
fi

# --- the image itself ----------------------------------------------------------
user=$(podman inspect -f '{{.Config.User}}' "$IMAGE")
check "image user is 10001:10001 (got $user)" test "$user" = 10001:10001
check "image has a HEALTHCHECK" \
  grep -q rnnserve-healthcheck <<<"$(podman image inspect -f '{{.HealthCheck.Test}}' "$IMAGE")"
check "image exposes 8080/tcp" \
  grep -q 8080/tcp <<<"$(podman inspect -f '{{range $p, $_ := .Config.ExposedPorts}}{{$p}} {{end}}' "$IMAGE")"
check "no compiler, curl or wget in the image" \
  quiet podman run --rm --no-healthcheck --network host --entrypoint /bin/sh "$IMAGE" \
  -c '! command -v gcc && ! command -v cc && ! command -v curl && ! command -v wget'
check "rnntrain runs in the image" \
  quiet podman run --rm --no-healthcheck --network host --entrypoint rnntrain "$IMAGE" \
  info --model /opt/rnnserve/models/names-classifier.safetensors

# --- the daemon with the shipped models ----------------------------------------
echo "== serving the shipped models"
port=$(free_port)
c1="$run_id-main"
t0=$SECONDS
start "$c1" "$port"
if wait_ready "$c1" "$port"; then
  ok "/readyz 200 within ${READY_TIMEOUT} s (after $((SECONDS - t0)) s, port $port)"
else
  bad "/readyz 200 within ${READY_TIMEOUT} s"
  podman logs "$c1" 2>&1 | tail -20
fi
check "/healthz 200" test "$(http GET "$port" /healthz)" = 200
check "HEALTHCHECK probe passes (podman healthcheck run)" podman healthcheck run "$c1"

code=$(http POST "$port" /classify '{"name":"Nakamura"}')
top=$(json 'j["predictions"][0]["label"]' || true)
check "POST /classify Nakamura: 200, top label Japanese (got $code, $top)" \
  test "$code $top" = "200 Japanese"

code=$(http POST "$port" /generate '{"category":"Japanese","n":2,"seed":7}')
name=$(json 'j["samples"][0]["text"]' || true)
check "POST /generate: 200 with a name (got $code, \"$name\")" test "$code" = 200 -a -n "$name"

code=$(http GET "$port" /v1/models)
n=$(json 'len(j["models"])' || true)
shipped=$(ls models/*.safetensors | wc -l)
check "GET /v1/models lists the $shipped shipped models (got $code, $n)" test "$code $n" = "200 $shipped"

uid=$(podman exec "$c1" id -u 2>/dev/null || echo "?")
check "daemon runs as a non-root user (uid $uid)" test "$uid" != 0 -a "$uid" != "?"
check "the image has sleep (deploy/k8s's preStop hook)" podman exec "$c1" sleep 0
rss_kb=$(podman exec "$c1" sh -c 'grep VmRSS /proc/1/status' | awk '{print $2}')
echo "info: daemon RSS after a few requests: $((rss_kb / 1024)) MiB"
# A SIGHUP reload loads the new set beside the old one: its peak (VmHWM) must
# stay under deploy/k8s's memory limit, or the pod would be OOM-killed on
# its first reload.
limit=$(awk '/limits:/ {l = 1} l && /memory:/ {print $2; exit}' deploy/k8s/deployment.yaml)
limit_kb=$(python3 -c 'import sys; v = sys.argv[1]; print(int(float(v[:-2]) * {"Ki": 1, "Mi": 1024, "Gi": 1 << 20}[v[-2:]]))' "$limit")
reloads() { curl -s "http://127.0.0.1:$port/metrics" | awk '/^rnnserve_reloads_total/ {print $2}'; }
before=$(reloads)
podman kill --signal HUP "$c1" >/dev/null
for _ in $(seq 150); do [ "$(reloads)" != "$before" ] && break; sleep 0.2; done
hwm_kb=$(podman exec "$c1" sh -c 'grep VmHWM /proc/1/status' | awk '{print $2}')
check "a SIGHUP reload of the shipped models: reloaded ($before -> $(reloads)), peak RSS $((hwm_kb / 1024)) MiB under deploy/k8s's limit $limit" \
  test "$(reloads)" != "$before" -a "$hwm_kb" -lt "$limit_kb"

t0=$(date +%s.%N)
pm stop -t "$STOP_TIMEOUT" "$c1" >/dev/null
stop_s=$(python3 -c "import sys,time; print(f'{time.time()-float(sys.argv[1]):.1f}')" "$t0")
exit_code=$(podman inspect -f '{{.State.ExitCode}}' "$c1")
check "podman stop (SIGTERM): exit code 0 in ${stop_s} s < ${STOP_TIMEOUT} s (got $exit_code)" \
  python3 -c "import sys; sys.exit(not ($exit_code == 0 and $stop_s < $STOP_TIMEOUT))"
check "the log shows the drain (events draining, stopped)" \
  bash -c "podman logs '$c1' 2>&1 | grep -q '\"event\":\"draining\"' && podman logs '$c1' 2>&1 | grep -q '\"event\":\"stopped\"'"

# --- a mounted models folder, read-only root, SIGHUP --------------------------
echo "== a mounted models folder, read-only root, no capabilities"
mkdir -p "$tmp/models"
cp models/names-classifier.safetensors "$tmp/models/"
chmod 755 "$tmp/models" && chmod 644 "$tmp/models"/*
port=$(free_port)
c2="$run_id-mount"
# :Z is not needed (no SELinux here) and would relabel the folder elsewhere
# as deploy/k8s runs it: read-only root, no capabilities, no new privileges
start "$c2" "$port" --read-only --cap-drop=ALL --security-opt=no-new-privileges \
  -v "$tmp/models:/opt/rnnserve/models:ro"
if wait_ready "$c2" "$port"; then
  ok "mounted folder, read-only root, no capabilities: /readyz 200"
else
  bad "mounted folder, read-only root, no capabilities: /readyz 200"
  podman logs "$c2" 2>&1 | tail -20
fi
http GET "$port" /v1/models >/dev/null
names=$(json '" ".join(m["name"] for m in j["models"])' || true)
check "/v1/models lists only the mounted model (got \"$names\")" test "$names" = names-classifier
code=$(http POST "$port" /generate '{"n":1}')
check "/generate without a generator mounted is an error, not 200 (got $code)" test "$code" != 200

cp models/us-names-generator.safetensors "$tmp/models/"
chmod 644 "$tmp/models"/*
podman kill --signal HUP "$c2" >/dev/null
names=""
for _ in $(seq 50); do
  http GET "$port" /v1/models >/dev/null
  names=$(json '" ".join(m["name"] for m in j["models"])' || true)
  [ "$names" = "names-classifier us-names-generator" ] && break
  sleep 0.2
done
check "SIGHUP reloads the folder (got \"$names\")" \
  test "$names" = "names-classifier us-names-generator"
pm stop -t "$STOP_TIMEOUT" "$c2" >/dev/null
exit_code=$(podman inspect -f '{{.State.ExitCode}}' "$c2")
check "second container stops with exit code 0 (got $exit_code)" test "$exit_code" = 0

# --- summary -----------------------------------------------------------------
echo "== summary"
podman images --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -F "${IMAGE%%:*}" | sed 's/^/image: /' || true
echo "build: ${build_s} s; whole run: $((SECONDS - t_all)) s"
echo "container: $pass passed, $fail failed"
[ "$fail" -eq 0 ]

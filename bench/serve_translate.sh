#!/usr/bin/env bash
# serve_translate.sh — requests per second and latency of POST /translate:
# rnnserve against a Flask + PyTorch server (bench/flask_server.py) on the
# same translator file, one connection, in one run on one machine.
#
#   bench/serve_translate.sh                   # models/eng-fra.safetensors, on an idle machine
#   MODEL=path/to/translator.safetensors SENTENCE='...' bench/serve_translate.sh
#
# Both servers load a copy of MODEL (alone in a folder) and get the same
# request, a 6-word English sentence with beam search of width 4:
#   {"model":…,"text":"I want to go home now.","beam_size":4}
# (n_best 1, max_length 50, length_penalty 1.0: both servers' defaults).
# Before timing, both must answer it with the same tokens (a warning, not a
# stop, if they differ: the beam can part on a near tie in float rounding;
# then the two servers do not do the same work and the figures say so).
# Then, per server, wrk -t1 -c1 (one connection, each request sent when the
# previous answer is in) for WARMUP s, then for DURATION s with the
# latencies recorded (bench/wrk_post.lua); the table has requests/s, mean,
# p50 and p99 latency and errors for each, and the ratio of requests/s
# rnnserve/flask.  The servers run one after the other's measurement, never
# loaded together.
#
#   rnnserve  build/src/serve/rnnserve --threads 2 --log-level warn (a
#             translation runs on the HTTP thread that reads the request)
#   flask     gunicorn -w 1 -k sync, torch.set_num_threads(1),
#             OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1, /usr/bin/python3
#
# A model with a shortlist (include/rnnserve/shortlist.h) is searched over
# it by both servers unless SHORTLIST=false, which adds "shortlist": false
# to the request (both then search the whole target vocabulary).
#
# Environment: MODEL, SENTENCE, BEAM (4), SHORTLIST (unset: the servers'
# default, true), DURATION (10), WARMUP (2), KEEP=1 (keep the work
# directory: server logs, wrk outputs).
#
# Needs python3-torch, python3-flask and gunicorn under /usr/bin/python3,
# wrk and curl (apt-get install), and a build of rnnserve in build/.  The
# load average is printed before and after: measure on an idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."

MODEL=${MODEL:-models/eng-fra.safetensors}
SENTENCE=${SENTENCE:-"I want to go home now."}
BEAM=${BEAM:-4}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
PYTHON=/usr/bin/python3
RNNSERVE=build/src/serve/rnnserve
die() { echo "serve_translate.sh: $*" >&2; exit 2; }
[ -f "$MODEL" ] || die "no model $MODEL"
[ -x "$RNNSERVE" ] || die "build rnnserve first (meson compile -C build)"
"$PYTHON" -c 'import torch, flask, gunicorn' 2>/dev/null ||
    die "needs python3-torch, python3-flask, gunicorn under $PYTHON (apt-get install)"
command -v wrk >/dev/null || die "needs wrk (apt-get install wrk)"
command -v curl >/dev/null || die "needs curl (apt-get install curl)"
case $DURATION in '' | *[!0-9]* | 0) die "DURATION must be a positive number of seconds" ;; esac
case $WARMUP in '' | *[!0-9]*) die "WARMUP must be a whole number of seconds" ;; esac
case $BEAM in '' | *[!0-9]* | 0) die "BEAM must be 1 to 16" ;; esac
case ${SHORTLIST:-} in '' | true | false) ;; *) die "SHORTLIST must be true or false" ;; esac

WORK=$(mktemp -d "${TMPDIR:-/tmp}/serve_translate.XXXXXX")
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [ "${KEEP:-0}" = 1 ]; then echo "work directory kept: $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
mkdir "$WORK/models"
cp "$MODEL" "$WORK/models/"
NAME=$(basename "$MODEL" .safetensors)
BODY=$("$PYTHON" -c 'import json, sys
body = {"model": sys.argv[1], "text": sys.argv[2], "beam_size": int(sys.argv[3])}
if sys.argv[4]:
    body["shortlist"] = sys.argv[4] == "true"
print(json.dumps(body))' "$NAME" "$SENTENCE" "$BEAM" "${SHORTLIST:-}")
SHORTLIST_DESC=$("$PYTHON" -c 'import json, struct, sys
f = open(sys.argv[1], "rb"); n = struct.unpack("<Q", f.read(8))[0]; h = json.loads(f.read(n))
m = h.get("__metadata__", {}); x = h.get("shortlist.lexical")
print("common %s, %d per source word" % (m["shortlist_common"], x["shape"][1]) if x else "none")' "$MODEL")
free_port() { "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
RS_PORT=$(free_port)
FL_PORT=$(free_port)
commit=$(git rev-parse --short HEAD 2>/dev/null || echo ?)
if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then commit="$commit (with uncommitted changes)"; fi
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

"$RNNSERVE" --models "$WORK/models" --host 127.0.0.1 --port "$RS_PORT" --threads 2 --log-level warn \
    2> "$WORK/rnnserve.log" &
PIDS+=($!)
FLASK_MODELS="$WORK/models" OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 \
    "$PYTHON" -m gunicorn -w 1 -k sync -b "127.0.0.1:$FL_PORT" --chdir bench flask_server:app \
    2> "$WORK/flask.log" &
PIDS+=($!)
for url in "http://127.0.0.1:$RS_PORT/readyz" "http://127.0.0.1:$FL_PORT/readyz"; do
    for _ in $(seq 240); do curl -sf -o /dev/null "$url" && break; sleep 0.25; done
    curl -sf -o /dev/null "$url" || { echo "serve_translate.sh: $url not ready" >&2; tail "$WORK"/*.log >&2; exit 1; }
done

# the same answer from both (tokens; log_prob to float rounding)
"$PYTHON" - "http://127.0.0.1:$RS_PORT" "http://127.0.0.1:$FL_PORT" "$BODY" > "$WORK/check.txt" <<'PY' || { cat "$WORK/check.txt" >&2; exit 1; }
import json, sys, urllib.error, urllib.request

rs, fl, body = sys.argv[1:]

def post(url):
    req = urllib.request.Request(url + "/translate", data=body.encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as e:
        sys.exit("%s/translate: HTTP %d: %s" % (url, e.code, e.read()[:300]))

a, b = post(rs)["translations"][0], post(fl)["translations"][0]
print("rnnserve: %s  (log_prob %.6f, %d tokens)" % (json.dumps(a["tokens"], ensure_ascii=False), a["log_prob"], len(a["tokens"])))
print("flask:    %s  (log_prob %.6f, %d tokens)" % (json.dumps(b["tokens"], ensure_ascii=False), b["log_prob"], len(b["tokens"])))
if a["tokens"] != b["tokens"]:
    print("WARNING: the two servers translate the sentence differently; they do not do the same work")
elif abs(a["log_prob"] - b["log_prob"]) > 1e-3 * max(1.0, abs(a["log_prob"])):
    print("WARNING: same tokens but log_prob differs beyond float rounding")
else:
    print("same tokens from both servers, log_prob within float rounding")
PY

# run_wrk SERVER URL: RESULT fields of a DURATION s run after WARMUP s
run_wrk() {
    local server=$1 url=$2 out=$WORK/wrk-$1.txt
    if [ "$WARMUP" -gt 0 ]; then
        WRK_BODY=$BODY wrk -t1 -c1 -d"${WARMUP}s" --timeout 10s -s bench/wrk_post.lua "$url/translate" \
            > "$out.warmup" 2>&1 || { cat "$out.warmup" >&2; die "wrk warm-up against $server failed"; }
    fi
    WRK_BODY=$BODY wrk -t1 -c1 -d"${DURATION}s" --timeout 10s --latency -s bench/wrk_post.lua "$url/translate" \
        > "$out" 2>&1 || { cat "$out" >&2; die "wrk against $server failed"; }
    grep -m1 '^RESULT ' "$out" || { cat "$out" >&2; die "no RESULT line from wrk against $server"; }
}
echo "measuring: rnnserve, then flask, ${WARMUP}s + ${DURATION}s each ..." >&2
RS=$(run_wrk rnnserve "http://127.0.0.1:$RS_PORT")
FL=$(run_wrk flask "http://127.0.0.1:$FL_PORT")
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<" $1"; }
row() { # SERVER RESULT-LINE
    local n d p50 p99 mean errs
    n=$(field "$2" requests); d=$(field "$2" duration_us)
    p50=$(field "$2" p50_us); p99=$(field "$2" p99_us); mean=$(field "$2" mean_us)
    errs=$(($(field "$2" connect) + $(field "$2" read) + $(field "$2" write) + $(field "$2" status) + $(field "$2" timeout)))
    awk -v s="$1" -v n="$n" -v d="$d" -v mean="$mean" -v p50="$p50" -v p99="$p99" -v e="$errs" \
        'BEGIN { printf "%-9s %9d %10.1f %9.3f %9.3f %9.3f %7d\n", s, n, n / (d / 1e6), mean / 1e3, p50 / 1e3, p99 / 1e3, e }'
}
rate() { awk -v n="$(field "$1" requests)" -v d="$(field "$1" duration_us)" 'BEGIN { printf "%.6f", n / (d / 1e6) }'; }

echo "# POST /translate at 1 connection: rnnserve vs Flask+PyTorch (wrk)"
echo "date:      $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "commit:    $commit"
echo "cpu:       $(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo), nproc $(nproc)"
echo "load avg:  $LOAD_START at the start, $LOAD_END at the end (1/5/15 min)"
echo "model:     $MODEL ($(stat -c %s "$MODEL") bytes)"
echo "request:   $BODY"
echo "shortlist: in the model: $SHORTLIST_DESC"
echo "wrk:       -t1 -c1, ${DURATION}s after ${WARMUP}s warm-up, --timeout 10s, over loopback on the same machine"
echo "servers:   rnnserve --threads 2; flask: gunicorn -w 1 -k sync, torch $("$PYTHON" -c 'import torch; print(torch.__version__)') with 1 thread"
sed 's/^/check:     /' "$WORK/check.txt"
echo
printf '%-9s %9s %10s %9s %9s %9s %7s\n' server requests req_per_s mean_ms p50_ms p99_ms errors
row rnnserve "$RS"
row flask "$FL"
echo
awk -v r="$(rate "$RS")" -v f="$(rate "$FL")" 'BEGIN { printf "rnnserve/flask (requests/s): %.2fx\n", (f > 0 ? r / f : 0) }'

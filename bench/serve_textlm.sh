#!/usr/bin/env bash
# serve_textlm.sh — characters per second of a long continuation from a
# textlm: rnnserve against a Flask + PyTorch server (bench/flask_server.py)
# on the same model file, one connection, in one run on one machine.
#
#   bench/serve_textlm.sh                      # models/shakespeare.safetensors
#   MODEL=path/to/textlm.safetensors bench/serve_textlm.sh
#
# Each server gets WARMUP requests, then REQUESTS requests one after the
# other on one connection: {"model":…,"prompt":"ROMEO:","max_tokens":300,
# "temperature":0.8,"seed":i}.  Characters per second = tokens made / wall
# time (a char model makes one character a token).  Printed per server with
# the p50 request time, then the ratio rnnserve/Flask and the issue's target
# (>= 10x).  Before timing, both servers must answer the same greedy
# continuation (temperature 0) of the prompt, so they run the same model.
#
# Needs what bench/serve_vs_flask.sh needs (python3-torch, python3-flask,
# gunicorn under /usr/bin/python3; a release build in build/).  On an idle
# machine: the load average is printed before and after.
set -euo pipefail
cd "$(dirname "$0")/.."

MODEL=${MODEL:-models/shakespeare.safetensors}
REQUESTS=${REQUESTS:-20}
WARMUP=${WARMUP:-2}
TOKENS=${TOKENS:-300}
PYTHON=/usr/bin/python3
RNNSERVE=build/src/serve/rnnserve
[ -f "$MODEL" ] || { echo "serve_textlm.sh: no model $MODEL" >&2; exit 2; }
[ -x "$RNNSERVE" ] || { echo "serve_textlm.sh: build rnnserve first (meson compile -C build)" >&2; exit 2; }
"$PYTHON" -c 'import torch, flask, gunicorn' 2>/dev/null ||
    { echo "serve_textlm.sh: needs python3-torch, python3-flask, gunicorn (apt-get install)" >&2; exit 2; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/serve_textlm.XXXXXX")
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
mkdir "$WORK/models"
cp "$MODEL" "$WORK/models/"
NAME=$(basename "$MODEL" .safetensors)
free_port() { "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
RS_PORT=$(free_port)
FL_PORT=$(free_port)
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg); model $MODEL ($(stat -c %s "$MODEL") bytes); commit $(git rev-parse --short HEAD 2>/dev/null || echo ?)"

"$RNNSERVE" --models "$WORK/models" --host 127.0.0.1 --port "$RS_PORT" --threads 2 --log-level warn \
    2> "$WORK/rnnserve.log" &
PIDS+=($!)
FLASK_MODELS="$WORK/models" OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 \
    "$PYTHON" -m gunicorn -w 1 -k sync -b "127.0.0.1:$FL_PORT" --chdir bench flask_server:app \
    2> "$WORK/flask.log" &
PIDS+=($!)
for url in "http://127.0.0.1:$RS_PORT/readyz" "http://127.0.0.1:$FL_PORT/readyz"; do
    for _ in $(seq 240); do curl -sf -o /dev/null "$url" && break; sleep 0.25; done
    curl -sf -o /dev/null "$url" || { echo "serve_textlm.sh: $url not ready" >&2; tail "$WORK"/*.log >&2; exit 1; }
done

"$PYTHON" - "$RS_PORT" "$FL_PORT" "$NAME" "$REQUESTS" "$WARMUP" "$TOKENS" <<'PY'
import http.client, json, statistics, sys, time

rs_port, fl_port, name, n, warmup, tokens = sys.argv[1:]
n, warmup, tokens = int(n), int(warmup), int(tokens)

def post(conn, body):
    conn.request("POST", "/generate", json.dumps(body), {"Content-Type": "application/json"})
    r = conn.getresponse()
    data = r.read()
    if r.status != 200:
        sys.exit("HTTP %d: %s" % (r.status, data[:300]))
    return json.loads(data)

greedy = {}
for label, port in (("rnnserve", rs_port), ("flask", fl_port)):
    c = http.client.HTTPConnection("127.0.0.1", int(port), timeout=600)
    greedy[label] = post(c, {"model": name, "prompt": "ROMEO:", "max_tokens": 60,
                             "temperature": 0})["samples"][0]["text"]
    c.close()
if greedy["rnnserve"] != greedy["flask"]:
    sys.exit("greedy continuations differ:\n rnnserve %r\n flask    %r" % (greedy["rnnserve"], greedy["flask"]))
print("same greedy continuation of 'ROMEO:' from both: %r" % greedy["rnnserve"][:60])

rates = {}
for label, port in (("rnnserve", rs_port), ("flask", fl_port)):
    c = http.client.HTTPConnection("127.0.0.1", int(port), timeout=600)
    for i in range(warmup):
        post(c, {"model": name, "prompt": "ROMEO:", "max_tokens": tokens, "temperature": 0.8, "seed": 1000 + i})
    made, times = 0, []
    t0 = time.perf_counter()
    for i in range(n):
        t = time.perf_counter()
        r = post(c, {"model": name, "prompt": "ROMEO:", "max_tokens": tokens, "temperature": 0.8, "seed": i})
        times.append(time.perf_counter() - t)
        made += sum(s["tokens"] for s in r["samples"])
    wall = time.perf_counter() - t0
    rates[label] = made / wall
    print("%-9s %d requests of %d tokens at 1 connection: %9.0f chars/s, p50 %.1f ms a request"
          % (label, n, tokens, rates[label], 1000 * statistics.median(times)))
    c.close()
ratio = rates["rnnserve"] / rates["flask"]
print("rnnserve/flask: %.1fx   (target >= 10x: %s)" % (ratio, "met" if ratio >= 10 else "NOT met"))
PY
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

#!/usr/bin/env bash
# Soak test of the daemon: SECONDS (default 600, or the first argument) at
# saturation on the shipped models, wrk sending a mix of every route over
# 32 keep-alive connections (scripts/soak/mix.lua) while a client streams
# /generate, half the streams read to the end and half hung up after the
# first token (scripts/soak/streams.py), and a SIGHUP reloads the models
# every 10 s.  Passes when no request failed, every reload succeeded, the
# hung-up streams were cancelled, the daemon stopped cleanly on SIGTERM, and
# the resident memory is flat after warm-up: the median RSS of the last
# fifth of the run is at most 4 MiB + 5% above that of the fifth after the
# first (the first fifth is warm-up: allocator arenas, page cache of the
# models).  Prints PASS/FAIL lines, RSS at start and end, and throughput.
# Uses ./build (set up and compiled when missing); needs wrk and python3
# (scripts/install-deps.sh --test).  scripts/test.sh runs 30 s of it.
set -uo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-${SOAK_SECONDS:-600}}
[ -d build ] || meson setup build >/dev/null
meson compile -C build src/serve/rnnserve >/dev/null || { echo "FAIL soak: build"; exit 1; }
command -v wrk >/dev/null || { echo "FAIL soak: wrk is not installed (scripts/install-deps.sh --test)"; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/rnnserve-soak.XXXXXX")
daemon=
cleanup() {
  [ -n "$daemon" ] && kill -9 "$daemon" 2>/dev/null
  jobs -p | xargs -r kill 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
mkdir "$work/models"
cp models/*.safetensors "$work/models/"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
./build/src/serve/rnnserve --models "$work/models" --host 127.0.0.1 --port "$port" --log-level warn \
  2> "$work/daemon.log" &
daemon=$!
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -sf "http://127.0.0.1:$port/readyz" >/dev/null || { echo "FAIL soak: the daemon is not ready"; cat "$work/daemon.log"; exit 1; }

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$daemon/status" 2>/dev/null; }
metric() { # name with labels as printed: the value, 0 if absent
  curl -sf "http://127.0.0.1:$port/metrics" | awk -v n="$1" '$1 == n {v = $2} END {print v + 0}'
}
cancelled_before=$(metric rnnserve_engine_cancelled_total)

echo "soak: ${seconds}s on port $port, models $(ls "$work/models" | tr '\n' ' ')"
wrk -t1 -c32 -d"${seconds}s" --timeout 5s -s scripts/soak/mix.lua "http://127.0.0.1:$port" \
  > "$work/wrk.log" 2>&1 &
wrk_pid=$!
python3 scripts/soak/streams.py "$port" "$seconds" > "$work/streams.log" 2>&1 &
streams_pid=$!

# one RSS sample a second; a SIGHUP every 10 s
reloads=0
start=$(date +%s)
next_hup=$((start + 10))
: > "$work/rss"
while kill -0 "$wrk_pid" 2>/dev/null; do
  sleep 1
  now=$(date +%s)
  echo "$((now - start)) $(rss_kib)" >> "$work/rss"
  if [ "$now" -ge "$next_hup" ] && [ "$now" -lt $((start + seconds)) ]; then
    kill -HUP "$daemon" && reloads=$((reloads + 1))
    next_hup=$((next_hup + 10))
  fi
done
wait "$wrk_pid"
wait "$streams_pid"

fail=0
check() { # description, condition (a command)
  local what=$1
  shift
  if "$@"; then echo "PASS soak: $what"; else echo "FAIL soak: $what"; fail=1; fi
}
result=$(grep '^RESULT' "$work/wrk.log")
val() { echo "$result" | tr ' ' '\n' | awk -F= -v k="$1" '$1 == k {print $2}'; }
echo "soak: wrk $result"
grep -v '^RESULT' "$work/wrk.log" | sed -n '/Requests\/sec/p'
cat "$work/streams.log"
check "wrk answered (${seconds}s)" test -n "$result"
check "every wrk request answered 2xx: $(val requests) requests, $(val status) not 2xx" test "$(val status)" = 0
check "no socket error or time-out: connect $(val connect), read $(val read), write $(val write), timeout $(val timeout)" \
  test "$(val connect)$(val read)$(val write)$(val timeout)" = 0000
streams=$(grep '^STREAMS' "$work/streams.log")
check "streams: $streams" bash -c "[[ '$streams' =~ complete=[1-9][0-9]*\ cancelled=[1-9][0-9]*\ errors=0$ ]]"
cancelled=$(( $(metric rnnserve_engine_cancelled_total) - cancelled_before ))
check "the daemon counted cancelled streams (rnnserve_engine_cancelled_total +$cancelled)" test "$cancelled" -gt 0
ok_reloads=$(metric rnnserve_reloads_total)
failed_reloads=$(metric rnnserve_reload_failures_total)
check "$reloads SIGHUPs: $ok_reloads reloads, $failed_reloads failed" \
  test "$reloads" -gt 0 -a "$ok_reloads" -ge "$reloads" -a "$failed_reloads" = 0

# RSS: medians of the second fifth and the last fifth of the samples
n=$(wc -l < "$work/rss")
median() { sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
rss_start=$(awk -v a=$((n / 5)) -v b=$((2 * n / 5)) 'NR > a && NR <= b {print $2}' "$work/rss" | median)
rss_end=$(awk -v c=$((n - n / 5)) 'NR > c {print $2}' "$work/rss" | median)
echo "soak: RSS after warm-up ${rss_start} KiB, at the end ${rss_end} KiB (first sample $(head -1 "$work/rss" | cut -d' ' -f2) KiB, peak $(sort -k2 -n "$work/rss" | tail -1 | cut -d' ' -f2) KiB)"
check "RSS flat after warm-up: ${rss_start} -> ${rss_end} KiB (allowed +4 MiB +5%)" \
  test "$rss_end" -le $((rss_start + 4096 + rss_start / 20))

kill -TERM "$daemon"
wait "$daemon"
code=$?
daemon=
check "SIGTERM: the daemon exited 0 (got $code)" test "$code" = 0
# the daemon logs a warning for each stream whose client hung up
echo "soak: daemon log: $(grep -c 'application error generating response' "$work/daemon.log") streams closed by their client; other lines:"
grep -v 'application error generating response' "$work/daemon.log" | head -5
exit $fail

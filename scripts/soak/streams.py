#!/usr/bin/env python3
"""streams.py — the streaming part of scripts/soak.sh: until SECONDS have
passed, alternately reads a streamed /generate to its final event (checking
every event) and opens one, reads its first event and hangs up (the daemon
must cancel the sequence).  Prints one line:
    STREAMS complete=N cancelled=N errors=N
and each error on its own line before it.  usage: streams.py PORT SECONDS"""
import http.client
import json
import sys
import time

port, seconds = int(sys.argv[1]), float(sys.argv[2])
BODY = json.dumps({"model": "names-generator", "n": 4, "max_length": 40,
                   "stream": True, "category": "Russian"})
deadline = time.monotonic() + seconds
complete = cancelled = errors = 0


def error(what):
    global errors
    errors += 1
    print("stream error:", what, flush=True)


def open_stream():
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("POST", "/generate", BODY, {"Content-Type": "application/json"})
    resp = conn.getresponse()
    if resp.status != 200 or resp.getheader("Content-Type", "") != "text/event-stream":
        error("status %d %s" % (resp.status, resp.read()[:200]))
        conn.close()
        return None, None
    return conn, resp


def events(resp):
    for line in resp:
        line = line.strip()
        if line.startswith(b"data: "):
            yield json.loads(line[6:])


i = 0
while time.monotonic() < deadline:
    i += 1
    try:
        conn, resp = open_stream()
        if conn is None:
            continue
        if i % 2:
            last = None
            for ev in events(resp):
                if "error" in ev:
                    error(ev)
                last = ev
            if not last or not last.get("done") or last.get("samples") != 4:
                error("no final event: %r" % (last,))
            else:
                complete += 1
        else:
            first = next(events(resp), None)
            # a token, or the end of a first sample that drew <eos> at once
            if first is None or ("text" not in first and "finish_reason" not in first):
                error("first event: %r" % (first,))
            conn.sock.close()  # hang up in the middle of the stream
            cancelled += 1
        conn.close()
    except (OSError, http.client.HTTPException, ValueError) as e:
        error(repr(e))
        time.sleep(0.05)
print("STREAMS complete=%d cancelled=%d errors=%d" % (complete, cancelled, errors), flush=True)

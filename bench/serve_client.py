#!/usr/bin/python3
"""
serve_client.py — the checks bench/serve_vs_flask.sh makes before loading a
server, and the output lengths it reports.  Standard library only.

  serve_client.py check URL PATH BODY KIND
      POST BODY to URL+PATH; exit 1 unless the answer is 200 with the shape
      of KIND (classify: model + predictions[0].label/probability; generate:
      model + samples[0].text/finished; noop: any JSON object).  Prints a
      one-line summary.
  serve_client.py same-label URL_A URL_B MODEL NAME...
      /classify each NAME on both servers with the same model; exit 1 if
      the top labels differ.  Prints both top labels and probabilities.
  serve_client.py same-greedy URL_A URL_B MODEL CATEGORY PREFIX...
      /generate with temperature 0 (greedy) from each PREFIX on both
      servers (CATEGORY "-" for none); exit 3 if a text differs.
  serve_client.py lengths URL BODY N
      POST BODY to URL/generate N times, one after the other; prints
      "MEAN_CHARS FINISHED_SHARE" of samples[0] (characters of "text",
      prefix included; share that ended with <eos> before max_length).
  serve_client.py ttft URL BODY N
      POST BODY (a /generate request with "stream": true) N times, one
      after the other on one keep-alive connection, and measures the time
      from the request's first byte sent to the first `data:` event
      received and to the end of the stream.  Prints "P50_MS P99_MS
      TOTAL_P50_MS" of the time to the first event and the p50 of the whole.
  serve_client.py metrics URL
      Prints the engine's batch counters of URL/metrics as
      "STEPS STEP_ROWS BATCHES BATCH_ROWS" (rnnserve_engine_batch_rows
      count and sum, kind step and classify); 0s for a server without them.
"""

import http.client
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request


def post(url, body):
    req = urllib.request.Request(url, data=body.encode("utf-8"),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read().decode("utf-8")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")


def post_json(url, body):
    status, text = post(url, body)
    if status != 200:
        sys.exit("%s: HTTP %d: %s" % (url, status, text[:300]))
    try:
        return json.loads(text)
    except ValueError:
        sys.exit("%s: not JSON: %s" % (url, text[:300]))


def check(url, path, body, kind):
    j = post_json(url + path, body)
    try:
        if kind == "classify":
            p = j["predictions"][0]
            assert isinstance(j["model"], str) and isinstance(p["label"], str)
            print("%s -> %s %s %.4f" % (path, j["model"], p["label"], float(p["probability"])))
        elif kind == "generate":
            s = j["samples"][0]
            assert isinstance(j["model"], str) and isinstance(s["text"], str)
            assert isinstance(s["finished"], bool)
            print("%s -> %s %r" % (path, j["model"], s["text"]))
        else:
            assert isinstance(j, dict)
            print("%s -> %s" % (path, json.dumps(j)[:80]))
    except (KeyError, IndexError, TypeError, AssertionError, ValueError):
        sys.exit("%s%s: unexpected answer to %s: %s" % (url, path, body, json.dumps(j)[:300]))


def same_label(url_a, url_b, model, names):
    bad = 0
    for name in names:
        body = json.dumps({"model": model, "name": name})
        a = post_json(url_a + "/classify", body)["predictions"][0]
        b = post_json(url_b + "/classify", body)["predictions"][0]
        ok = a["label"] == b["label"]
        bad += not ok
        print("  %-12s rnnserve %-10s %.4f   flask %-10s %.4f   %s"
              % (name, a["label"], a["probability"], b["label"], b["probability"],
                 "same" if ok else "DIFFERENT"))
    sys.exit(1 if bad else 0)


def same_greedy(url_a, url_b, model, category, prefixes):
    bad = 0
    for prefix in prefixes:
        req = {"model": model, "prefix": prefix, "temperature": 0, "max_length": 20}
        if category != "-":
            req["category"] = category
        body = json.dumps(req)
        a = post_json(url_a + "/generate", body)["samples"][0]["text"]
        b = post_json(url_b + "/generate", body)["samples"][0]["text"]
        bad += a != b
        print("  prefix %-6r rnnserve %-20r flask %-20r %s"
              % (prefix, a, b, "same" if a == b else "DIFFERENT"))
    sys.exit(3 if bad else 0)


def lengths(url, body, n):
    chars = finished = 0
    for _ in range(n):
        s = post_json(url + "/generate", body)["samples"][0]
        chars += len(s["text"])
        finished += bool(s["finished"])
    print("%.2f %.2f" % (chars / n, finished / n))


def percentile(values, q):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(q * (len(v) - 1))))]


def ttft(url, body, n):
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    conn.connect()
    firsts, totals = [], []
    for _ in range(n):
        t0 = time.perf_counter()
        conn.request("POST", "/generate", body=body.encode("utf-8"),
                     headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        if r.status != 200 or not r.getheader("Content-Type", "").startswith("text/event-stream"):
            sys.exit("%s: HTTP %d, %s: %s" % (url, r.status, r.getheader("Content-Type"),
                                              r.read()[:300]))
        first = None
        seen = b""
        while True:
            chunk = r.read1(65536)
            if not chunk:
                break
            seen += chunk
            if first is None and b"data: " in seen:
                first = time.perf_counter()
        totals.append(time.perf_counter() - t0)
        if first is None or b'"done":true' not in seen:
            sys.exit("%s: a stream without events or without its done event: %r"
                     % (url, seen[-300:]))
        firsts.append(first - t0)
    print("%.3f %.3f %.3f" % (percentile(firsts, 0.5) * 1e3, percentile(firsts, 0.99) * 1e3,
                              percentile(totals, 0.5) * 1e3))


def metrics(url):
    try:
        with urllib.request.urlopen(url + "/metrics", timeout=10) as r:
            text = r.read().decode("utf-8")
    except (urllib.error.URLError, OSError):
        text = ""
    v = {}
    for line in text.splitlines():
        for kind in ("step", "classify"):
            for what in ("count", "sum"):
                key = 'rnnserve_engine_batch_rows_%s{kind="%s"}' % (what, kind)
                if line.startswith(key + " "):
                    v[(kind, what)] = int(float(line.split()[1]))
    print("%d %d %d %d" % (v.get(("step", "count"), 0), v.get(("step", "sum"), 0),
                           v.get(("classify", "count"), 0), v.get(("classify", "sum"), 0)))


def main():
    a = sys.argv[1:]
    if len(a) == 4 and a[0] == "ttft":
        ttft(a[1], a[2], int(a[3]))
    elif len(a) == 2 and a[0] == "metrics":
        metrics(a[1])
    elif len(a) == 4 and a[0] == "lengths":
        lengths(a[1], a[2], int(a[3]))
    elif len(a) == 5 and a[0] == "check":
        check(*a[1:])
    elif len(a) >= 5 and a[0] == "same-label":
        same_label(a[1], a[2], a[3], a[4:])
    elif len(a) >= 6 and a[0] == "same-greedy":
        same_greedy(a[1], a[2], a[3], a[4], a[5:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()

-- wrk_post.lua — wrk script for bench/serve_vs_flask.sh: every request is
-- POST with the JSON body of $WRK_BODY, and at the end one machine-readable
-- line (latencies in microseconds, as wrk records them):
--   RESULT requests=N duration_us=N p50_us=N p99_us=N mean_us=N max_us=N
--          connect=N read=N write=N status=N timeout=N
-- status counts answers that were not 2xx/3xx; timeout, requests wrk gave up
-- on (--timeout), which are left out of the latency figures.
--
--   WRK_BODY='{"name":"Nakamura"}' wrk -t1 -c1 -d10s --latency \
--       -s bench/wrk_post.lua http://127.0.0.1:8080/classify

local body = os.getenv("WRK_BODY")
if body == nil or body == "" then
   error("wrk_post.lua: set WRK_BODY to the JSON body to POST")
end
wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      "RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d mean_us=%.1f max_us=%d " ..
      "connect=%d read=%d write=%d status=%d timeout=%d\n",
      summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
      latency.mean, latency.max, e.connect, e.read, e.write, e.status, e.timeout))
end

-- mix.lua — wrk script for scripts/soak.sh: every connection cycles
-- through the daemon's routes with valid requests on the shipped models
-- (classify one name and a batch, generate with and without a prefix,
-- score, the listing, health, readiness and metrics), so that any answer
-- that is not 2xx is an error of the daemon's.  At the end one line:
--   RESULT requests=N status=N connect=N read=N write=N timeout=N p99_us=N

local mix = {
   {"POST", "/classify", '{"name":"Nakamura"}'},
   {"POST", "/generate", '{"model":"names-generator","category":"Japanese","n":2,"seed":1}'},
   {"POST", "/classify", '{"names":["Dvorak","Rossi","Ivanov","Schmidt"],"top_k":2}'},
   {"POST", "/generate", '{"model":"us-names-generator","prefix":"mar","n":3}'},
   {"POST", "/score", '{"model":"names-generator","text":"Tanaka","category":"Japanese"}'},
   {"GET", "/v1/models", nil},
   {"POST", "/classify", '{"name":"O\'Brien","top_k":3}'},
   {"GET", "/healthz", nil},
   {"POST", "/generate", '{"model":"names-generator","prefix":"Kowal","max_length":20}'},
   {"GET", "/readyz", nil},
   {"GET", "/metrics", nil},
}

local requests = {}
local counter = 0

function init(args)
   for i, m in ipairs(mix) do
      local headers = {}
      if m[3] then headers["Content-Type"] = "application/json" end
      requests[i] = wrk.format(m[1], m[2], headers, m[3])
   end
end

function request()
   counter = counter + 1
   return requests[(counter % #requests) + 1]
end

function done(summary, latency, reqs)
   local e = summary.errors
   io.write(string.format(
      "RESULT requests=%d status=%d connect=%d read=%d write=%d timeout=%d p99_us=%d\n",
      summary.requests, e.status, e.connect, e.read, e.write, e.timeout,
      latency:percentile(99)))
end

-- wrk script: POST AdmissionReview fixtures round-robin and print a JSON summary line.
-- usage: wrk -s bench/admission.lua URL -- fixture.json [fixture.json ...]
-- Each wrk thread has its own Lua state, so every thread loads the bodies in init().

local bodies = {}
local next_body = 1

local function read_file(path)
  local f = assert(io.open(path, "rb"), "cannot open fixture " .. path)
  local data = f:read("*a")
  f:close()
  return data
end

function init(args)
  for _, path in ipairs(args) do
    bodies[#bodies + 1] = read_file(path)
  end
  assert(#bodies > 0, "pass at least one fixture path after --")
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  local body = bodies[next_body]
  next_body = next_body % #bodies + 1
  return wrk.format(nil, nil, nil, body)
end

-- BENCH_PACE_MS=N: each connection waits N ms after an answer before its next request, to see
-- latency below saturation (the API server seldom saturates a webhook). Unset: no wait, and no
-- delay() for wrk to call.
local pace_ms = tonumber(os.getenv("BENCH_PACE_MS") or "")
if pace_ms then
  function delay()
    return pace_ms
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"rps":%.1f,"p50_us":%d,"p90_us":%d,"p95_us":%d,"p99_us":%d,"p999_us":%d,' ..
    '"max_us":%d,' ..
    '"non2xx":%d,"connect_errors":%d,"read_errors":%d,"write_errors":%d,"timeouts":%d}\n',
    summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(90), latency:percentile(95), latency:percentile(99),
    latency:percentile(99.9), latency.max,
    e.status, e.connect, e.read, e.write, e.timeout))
end

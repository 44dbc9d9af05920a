-- wrk script: POST the AdmissionReview in the REVIEW file and count every answer that is not
-- HTTP 200 with exactly the body in the EXPECTED file, so a load run checks each answer.
local function slurp(path)
  local file = assert(io.open(path, "rb"))
  local text = file:read("*a")
  file:close()
  return text
end

wrk.method = "POST"
wrk.body = slurp(os.getenv("REVIEW"))
wrk.headers["Content-Type"] = "application/json"
local expected = slurp(os.getenv("EXPECTED"))

-- Each wrk thread runs this file in its own Lua state: `wrong` is a global there, read back
-- through thread:get in `done`, which runs in yet another state.
wrong = 0
function response(status, headers, body)
  if status ~= 200 or body ~= expected then
    wrong = wrong + 1
  end
end

local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

function done(summary, latency, requests)
  local total_wrong = 0
  for _, thread in ipairs(threads) do
    total_wrong = total_wrong + thread:get("wrong")
  end
  io.write(string.format("requests=%d wrong=%d errors_connect=%d errors_read=%d errors_write=%d errors_timeout=%d p50_us=%d p99_us=%d max_us=%d\n",
    summary.requests, total_wrong, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.timeout, latency:percentile(50),
    latency:percentile(99), latency.max))
end

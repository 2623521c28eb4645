-- wrk script for bench/load.sh: POSTs one AdmissionReview over and over.
--
-- Environment:
--   BENCH_BODY      path of the JSON request body (required)
--   BENCH_DELAY_MS  when set, each connection waits about this many milliseconds before each
--                   request (wrk's delay() hook): an offered load of connections * 1000 / delay
--                   requests per second instead of a closed loop as fast as possible
--   BENCH_JITTER    with BENCH_DELAY_MS: 1 (default) draws each delay uniformly from
--                   [0, 2 * BENCH_DELAY_MS] (whole ms), same mean, so the connections do not stay in
--                   lock-step bursts; 0 waits exactly BENCH_DELAY_MS
--
-- done() prints one machine-readable line that load.sh parses:
--   BENCH requests=N duration_us=N p50_us=N p99_us=N status_errors=N socket_errors=N

local path = os.getenv("BENCH_BODY")
if not path or path == "" then
  error("BENCH_BODY is not set")
end
local file = assert(io.open(path, "rb"))
local body = file:read("*a")
file:close()

wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"

local delay_ms = tonumber(os.getenv("BENCH_DELAY_MS") or "")
local jitter = (os.getenv("BENCH_JITTER") or "1") ~= "0"

if delay_ms then
  math.randomseed(os.time())
  function delay()
    if jitter then
      -- wrk truncates to whole milliseconds: draw an integer in [0, 2 * delay_ms].
      return math.random(0, 2 * delay_ms)
    end
    return delay_ms
  end
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d p50_us=%d p99_us=%d status_errors=%d socket_errors=%d\n",
    summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99),
    errors.status, errors.connect + errors.read + errors.write + errors.timeout))
end

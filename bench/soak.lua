-- wrk script for bench/soak.sh: POSTs a rotation of AdmissionReviews, each made unique.
--
-- Environment:
--   SOAK_BODIES  colon-separated paths of JSON AdmissionReview bodies (required); requests
--                cycle through them in order
--
-- Every request gets its own request.uid and its own metadata.resourceVersion in the object
-- under review (the first "metadata" object of the body), so that no two bodies are equal
-- and the server's decision cache (keyed by the request minus its uid) never answers one:
-- each request is decoded, looked up and validated for real.
--
-- response() checks that each answer is an AdmissionReview (`"response":{"uid":"`...) and
-- counts those that are not.
--
-- done() prints one machine-readable line that soak.sh parses:
--   SOAK requests=N duration_us=N p50_us=N p99_us=N max_us=N status_errors=N
--        socket_errors=N timeouts=N bad_bodies=N

local paths = os.getenv("SOAK_BODIES")
if not paths or paths == "" then
  error("SOAK_BODIES is not set")
end

-- Bodies with @UID@ and @RV@ placeholders.
local templates = {}
for path in string.gmatch(paths, "[^:]+") do
  local file = assert(io.open(path, "rb"))
  local body = file:read("*a")
  file:close()
  local uid_count, rv_count
  body, uid_count = body:gsub('"uid"%s*:%s*"[^"]*"', '"uid": "@UID@"', 1)
  body, rv_count = body:gsub('"metadata"%s*:%s*{', '"metadata": {"resourceVersion": "@RV@", ', 1)
  if uid_count ~= 1 or rv_count ~= 1 then
    error(path .. ": no request.uid or no object metadata to vary")
  end
  templates[#templates + 1] = body
end

local threads = {}
local next_id = 0

function setup(thread)
  thread:set("thread_id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

-- Per-thread state (each wrk thread has its own Lua state).
local counter = 0
bad_bodies = 0

function request()
  counter = counter + 1
  local template = templates[(counter % #templates) + 1]
  local n = string.format("%d%09d", thread_id or 0, counter)
  local body = template:gsub("@UID@", "soak-" .. n, 1)
  body = body:gsub("@RV@", n, 1)
  return wrk.format("POST", nil, { ["Content-Type"] = "application/json" }, body)
end

function response(status, headers, body)
  if status == 200 and not string.find(body, '"response":{"uid":"soak-', 1, true) then
    bad_bodies = bad_bodies + 1
  end
end

function done(summary, latency, requests)
  local bad = 0
  for _, thread in ipairs(threads) do
    bad = bad + (thread:get("bad_bodies") or 0)
  end
  local errors = summary.errors
  io.write(string.format(
    "SOAK requests=%d duration_us=%d p50_us=%d p99_us=%d max_us=%d status_errors=%d socket_errors=%d timeouts=%d bad_bodies=%d\n",
    summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), latency.max,
    errors.status, errors.connect + errors.read + errors.write, errors.timeout, bad))
end

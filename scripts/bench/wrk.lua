-- One benchmark scenario for wrk (scripts/bench.sh). Everything comes from the
-- environment, so one script serves every scenario:
--   BENCH_METHOD   GET (default) or POST
--   BENCH_PATH     path and query
--   BENCH_HEADERS  "Name: value" lines separated by "\n"
--   BENCH_BODY     request body; "{n}" becomes a number unique to the request and
--                  "{k}" the same number modulo BENCH_POOL (default 1000), so that
--                  creates open new conversations and ingest reuses a pool of senders
-- At the end it prints one JSON line, prefixed with "RESULT ", for bench.sh.

local method = os.getenv("BENCH_METHOD") or "GET"
local path = os.getenv("BENCH_PATH") or "/"
local body = os.getenv("BENCH_BODY")
local pool = tonumber(os.getenv("BENCH_POOL") or "1000")
local headers = {}
for line in string.gmatch(os.getenv("BENCH_HEADERS") or "", "[^\n]+") do
  local name, value = string.match(line, "^([^:]+):%s*(.*)$")
  if name then headers[name] = value end
end
if body then headers["Content-Type"] = headers["Content-Type"] or "application/json" end

-- Each wrk thread has its own Lua state: number the threads so that "{n}" is unique
-- across all of them (and across runs, through BENCH_RUN).
local threads = {}
local next_thread = 0
function setup(thread)
  thread:set("thread_id", next_thread)
  next_thread = next_thread + 1
  table.insert(threads, thread)
end

local counter = 0
local run = tonumber(os.getenv("BENCH_RUN") or "0")
function request()
  if not body then
    return wrk.format(method, path, headers, nil)
  end
  counter = counter + 1
  local n = ((run * 16 + thread_id) * 1000000) + counter
  local k = n % pool
  local text = string.gsub(string.gsub(body, "{n}", tostring(n)), "{k}", tostring(k))
  return wrk.format(method, path, headers, text)
end

function done(summary, latency, requests)
  local e = summary.errors
  local seconds = summary.duration / 1e6
  io.write(string.format(
    'RESULT {"requests":%d,"seconds":%.3f,"rps":%.1f,"p50_ms":%.3f,"p99_ms":%.3f,"max_ms":%.3f,' ..
    '"errors":%d,"non_2xx_3xx":%d}\n',
    summary.requests, seconds, summary.requests / seconds,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    e.connect + e.read + e.write + e.timeout + e.status, e.status))
end

-- The soak's mixed load for wrk (scripts/bench.sh --soak): per 10 requests, 4 list pages,
-- 2 searches, 2 message lists, 1 create and 1 inbound message. With SOAK_RATE set,
-- each connection waits between requests so that all of them together send about
-- SOAK_RATE requests per second (a closed loop with think time); without it, as fast
-- as the server answers. Environment: SOAK_TOKEN, SOAK_TENANT, SOAK_SEARCH,
-- SOAK_CONVERSATION, SOAK_CREATE_CHANNEL, SOAK_INBOUND_CHANNEL, SOAK_INBOUND_SECRET, SOAK_NAMES,
-- SOAK_CONNECTIONS, SOAK_RATE, SOAK_RUN. Prints "RESULT {json}" at the end.

local env = os.getenv
local auth = { ["Authorization"] = "Bearer " .. env("SOAK_TOKEN"), ["X-Tenant"] = env("SOAK_TENANT") }
local json_auth = { ["Authorization"] = auth["Authorization"], ["X-Tenant"] = auth["X-Tenant"], ["Content-Type"] = "application/json" }
local inbound = { ["X-Channel-Secret"] = env("SOAK_INBOUND_SECRET"), ["Content-Type"] = "application/json" }
local search = env("SOAK_SEARCH")
local conversation = env("SOAK_CONVERSATION")
local create_channel = env("SOAK_CREATE_CHANNEL")
local inbound_path = "/api/v1/channels/" .. env("SOAK_INBOUND_CHANNEL") .. "/inbound"
local rate = tonumber(env("SOAK_RATE") or "0")
local connections = tonumber(env("SOAK_CONNECTIONS") or "32")
local run = tonumber(env("SOAK_RUN") or "0")

-- Names of the new customers, drawn as the seeder draws them (SOAK_NAMES, a file of
-- "first<TAB>last" lines from `switchboard-bench names`): the conversations the load
-- adds look like the ones already there, so a search's matches stay as dense among
-- the newest rows as in the rest of the list.
local names = {}
for line in io.lines(env("SOAK_NAMES")) do
  local first, last = string.match(line, "^([^\t]*)\t?(.*)$")
  table.insert(names, { first, last })
end

local function name_fields(i)
  local name = names[(i % #names) + 1]
  local out = ""
  if name[1] ~= "" then out = out .. ',"first_name":"' .. name[1] .. '"' end
  if name[2] ~= "" then out = out .. ',"last_name":"' .. name[2] .. '"' end
  return out
end

local next_thread = 0
function setup(thread)
  thread:set("thread_id", next_thread)
  next_thread = next_thread + 1
end

local counter = 0
function request()
  counter = counter + 1
  local n = ((run * 16 + thread_id) * 1000000) + counter
  local slot = counter % 10
  if slot < 4 then
    return wrk.format("GET", "/api/v1/conversations?page=" .. (1 + counter % 5), auth)
  elseif slot < 6 then
    return wrk.format("GET", "/api/v1/conversations?search=" .. search, auth)
  elseif slot < 8 then
    return wrk.format("GET", "/api/v1/conversations/" .. conversation .. "/messages", auth)
  elseif slot == 8 then
    return wrk.format("POST", "/api/v1/conversations", json_auth,
      '{"channel_id":' .. create_channel .. ',"address":"+90 533 ' .. n .. '"' .. name_fields(n) .. '}')
  else
    return wrk.format("POST", inbound_path, inbound,
      '{"address":"+90 544 100 ' .. (n % 1000) .. '"' .. name_fields(n % 1000) .. ',"message":"Merhaba, yarın için randevu var mı?","external_id":"soak-' .. n .. '"}')
  end
end

function delay()
  if rate <= 0 then return 0 end
  return math.floor(connections * 1000 / rate)
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

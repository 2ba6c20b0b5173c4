-- wrk script for bench/run: Kannel's smsbox sendsms (GET /cgi-bin/sendsms), exactly
-- BENCH_MESSAGES requests, then stop, so that Kannel accepts as many messages as omnigated does.
-- The budget works as in post_email.lua: once every request is issued, the spare connections ask
-- for an unknown path (smsbox answers 404 and stores nothing) until the last reply arrives; the
-- thread then stops and creates BENCH_DONE_FILE, and the caller sends wrk SIGINT. Run it with
-- -t1: the budget is per thread.
local budget = tonumber(os.getenv("BENCH_MESSAGES") or "20000")
local user = os.getenv("KANNEL_USER") or "bench"
local give_up_seconds = 30
local issued = 0
local last_issued_at = 0
accepted = 0
refused = 0
local threads = {}

function setup(thread)
  table.insert(threads, thread)
  -- The first thread's request() is called once before the run only to count pipelined
  -- requests; that request is never sent and must not use up the budget.
  thread:set("probe_pending", #threads == 1)
end

local function finish()
  local path = os.getenv("BENCH_DONE_FILE")
  if path then
    local file = io.open(path, "w")
    if file then file:close() end
  end
  wrk.thread:stop()
end

local function sendsms(n)
  return string.format(
    "/cgi-bin/sendsms?username=%s&password=%s&from=Shop&to=%%2B7900%07d" ..
    "&text=Your+order+A-%d+is+on+its+way.+Track+it+at+https%%3A%%2F%%2Fshop.example%%2Ft%%2FA-%d",
    user, user, n, n, n)
end

function request()
  if probe_pending then
    probe_pending = false
    return wrk.format("GET", "/")
  end
  if issued >= budget then
    if os.time() - last_issued_at > give_up_seconds then finish() end
    -- smsbox answers an unknown path with an error page and stores nothing.
    return wrk.format("GET", "/bench-idle")
  end
  issued = issued + 1
  last_issued_at = os.time()
  return wrk.format("GET", sendsms(issued))
end

function response(status, headers, body)
  if body:find("Accepted for delivery", 1, true) or body:find("Queued for later", 1, true) then
    accepted = accepted + 1
  elseif status == 404 then
    -- an idle filler reply
  else
    refused = refused + 1
    if refused <= 5 then print("unexpected reply " .. status .. ": " .. body) end
  end
  if accepted + refused >= budget then finish() end
end

function done(summary, latency, requests)
  local a, r = 0, 0
  for _, thread in ipairs(threads) do
    a = a + thread:get("accepted")
    r = r + thread:get("refused")
  end
  io.write(string.format("posts accepted %d refused %d\n", a, r))
end

-- wrk script for bench/smtp: POST /v1/messages with an email (subject, text and html), exactly
-- BENCH_MESSAGES accepted-or-refused posts, then stop.
-- wrk has no request budget, only a duration, so the budget is kept here: once every post has
-- been issued, the remaining connections only ask GET /healthz (which stores nothing) until the
-- last post's reply arrives, and then the thread stops itself. Run it with -t1: the budget is
-- per thread. wrk's main thread still sleeps for the whole -d duration after that, so the
-- script creates the file named by BENCH_DONE_FILE and the caller sends wrk SIGINT, which ends
-- the run and prints the summary.
local budget = tonumber(os.getenv("BENCH_MESSAGES") or "20000")
local run = os.getenv("BENCH_RUN_ID") or tostring(os.time())
-- A post whose connection broke is never answered; give up on it after this long.
local give_up_seconds = 30
local issued = 0
local last_issued_at = 0
accepted = 0
refused = 0
local threads = {}

function setup(thread)
  table.insert(threads, thread)
  -- wrk calls the first thread's request() once before the run, only to count pipelined
  -- requests; that request is never sent, so it must not use up one of the budget's posts.
  thread:set("probe_pending", #threads == 1)
end

function init(args)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. (os.getenv("OMNIGATE_TOKEN") or "bench-token")
end

local function finish()
  local path = os.getenv("BENCH_DONE_FILE")
  if path then
    local file = io.open(path, "w")
    if file then file:close() end
  end
  wrk.thread:stop()
end

function request()
  if probe_pending then
    probe_pending = false
    return wrk.format("POST", "/v1/messages", nil, "{}")
  end
  if issued >= budget then
    if os.time() - last_issued_at > give_up_seconds then finish() end
    return wrk.format("GET", "/healthz", {}, nil)
  end
  issued = issued + 1
  last_issued_at = os.time()
  local body = string.format(
    '{"customer_id":"c-%d","to":{"email":"user%d@example.com"},' ..
    '"content":{"email":{"subject":"Order A-%d shipped",' ..
    '"text":"Your order A-%d is on its way. Track it at https://shop.example/t/A-%d",' ..
    '"html":"<p>Your order <b>A-%d</b> is on its way.</p>' ..
    '<p><a href=\\"https://shop.example/t/A-%d\\">Track it</a></p>"}},' ..
    '"channels":["email"],"metadata":{"order":"A-%d"}}',
    issued, issued, issued, issued, issued, issued, issued, issued)
  wrk.headers["Idempotency-Key"] = string.format("smtpbench-%s-%d", run, issued)
  return wrk.format("POST", "/v1/messages", nil, body)
end

function response(status, headers, body)
  if status == 202 then
    accepted = accepted + 1
  elseif status == 200 and body:find('"ok"', 1, true) then
    -- a /healthz filler reply
  else
    refused = refused + 1
    if refused <= 5 then print("unexpected status " .. status .. ": " .. body) end
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
  if a + r < budget then
    io.write(string.format("unanswered posts: %d (see the socket errors above)\n",
                           budget - a - r))
  end
end

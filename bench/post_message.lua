-- wrk script: POST /v1/messages with a small email message, one new idempotency key per request.
local counter = 0
local thread_id = 0
local threads = {}

function setup(thread)
  thread:set("thread_id", #threads)
  table.insert(threads, thread)
end

function init(args)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. (os.getenv("OMNIGATE_TOKEN") or "bench-token")
end

function request()
  counter = counter + 1
  local body = string.format(
    '{"customer_id":"c-%d","to":{"email":"user%d@example.com"},' ..
    '"content":{"email":{"subject":"Order shipped","text":"Your order A-%d is on its way."}},' ..
    '"metadata":{"order":"A-%d"}}', counter % 100000, counter % 100000, counter, counter)
  wrk.headers["Idempotency-Key"] = string.format("bench-%d-%d-%d", os.time(), thread_id, counter)
  return wrk.format(nil, "/v1/messages", nil, body)
end

function response(status, headers, body)
  if status ~= 202 then
    print("unexpected status " .. status .. ": " .. body)
  end
end

-- wrk script: POST /v1/messages for a random one of OMNIGATE_CUSTOMERS stored customers (ids
-- c-1 .. c-N), scheduled far ahead so that only admission is measured: customer lookup, policy
-- decision (caps, dedupe, quiet hours, plan) and the durable commit of message and counters.
local counter = 0
local customers = tonumber(os.getenv("OMNIGATE_CUSTOMERS") or "1000")

function init(args)
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 100000)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. (os.getenv("OMNIGATE_TOKEN") or "bench-token")
end

function request()
  counter = counter + 1
  local body = string.format(
    '{"customer_id":"c-%d","category":"marketing","channels":["email"],' ..
    '"send_at":"2099-01-01T00:00:00Z",' ..
    '"content":{"email":{"subject":"Weekly picks","text":"Offer %d"}}}',
    math.random(customers), counter)
  return wrk.format(nil, "/v1/messages", nil, body)
end

function response(status, headers, body)
  if status ~= 202 then
    print("unexpected status " .. status .. ": " .. body)
  end
end

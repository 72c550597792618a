-- wrk script: POST /api/v1/refund-applications, each request for the next terminal of its
-- thread (PREFIX-000000 …; the third argument, BENCH by default), with its own
-- Idempotency-Key; counts answers by status.
local threads = {}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  token = args[1]
  stride = tonumber(args[2])
  prefix = args[3] or "BENCH"
  n = 0
  created = 0
  other = 0
end

request = function()
  local sn = string.format("%s-%06d", prefix, id + n * stride)
  n = n + 1
  local body = string.format(
    '{"terminal_sn":"%s","phone":"13800000001","id_card_no":"310115198506151236",' ..
    '"bank_card_no":"6222021234567890128","reason":"stop_using","note":"","attachment_ids":[]}', sn)
  return wrk.format("POST", "/api/v1/refund-applications", {
    ["content-type"] = "application/json",
    ["authorization"] = "Bearer " .. token,
    ["idempotency-key"] = string.format("bench-%d-%d", id, n),
  }, body)
end

response = function(status, headers, body)
  if status == 201 then created = created + 1 else other = other + 1 end
end

done = function(summary, latency, requests)
  local c, o = 0, 0
  for _, t in ipairs(threads) do
    c = c + t:get("created")
    o = o + t:get("other")
  end
  io.write(string.format("created %d other %d\n", c, o))
end

-- wrk script: POST /v1/jobs with a noop job until this thread has had
-- JOBS_PER_THREAD answers; counts every answer that is not 202.
wrk.method = "POST"
wrk.body = '{"type":"noop","payload":{"order":42}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("JOBS_API_KEY")

local quota = tonumber(os.getenv("JOBS_PER_THREAD"))
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

answered = 0
unexpected = 0

function response(status)
  answered = answered + 1
  if status ~= 202 then unexpected = unexpected + 1 end
  if answered >= quota then wrk.thread:stop() end
end

function done(summary)
  local total = 0
  for _, thread in ipairs(threads) do
    total = total + thread:get("unexpected")
  end
  io.write(string.format("non-202 responses: %d\n", total))
end

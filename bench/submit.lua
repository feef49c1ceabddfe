-- wrk script: POST /v1/jobs with a small noop job, authenticated by JOBS_API_KEY.
wrk.method = "POST"
wrk.body = '{"type":"noop","payload":{"order":42,"note":"benchmark"}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("JOBS_API_KEY")

-- Any status other than 202 is counted, so a fast error cannot pass for throughput.
local unexpected = 0
function response(status)
  if status ~= 202 then unexpected = unexpected + 1 end
end

function done(summary)
  io.write(string.format("non-202 responses: %d\n", unexpected))
end

-- latency.lua -- when the p99 of request latency over the last 10 s
-- crosses 200 ms, sample every thread at 1 kHz for 5 s and keep the
-- profile; then stay quiet for the rest of the incident (cooldown).
--
-- The host reports each request's duration in milliseconds as the metric
-- "request_ms": embprof_observe(ep, "request_ms", ms), an embprof_span
-- named "request_ms" (C), or `with embprof.span("request_ms"):` (Python).
--
--   embprof-run --policy samples/policies/latency.lua --set output.dir=/tmp app.py

local METRIC = "request_ms"
local THRESHOLD_MS = 200 -- p99 above this is an incident
local WINDOW_S = 10      -- ... measured over the last 10 s
local MIN_COUNT = 20     -- a p99 of three requests means nothing
local RATE_HZ = 1000
local SAMPLE_S = 5
local COOLDOWN_S = 300   -- one profile per incident
local KEEP = 20          -- incident profiles kept in output.dir

local w = embprof.window(METRIC, WINDOW_S)

local function write_profile()
  embprof.stop("sampler") -- already stopped by duration=; harmless
  local file, err = embprof.export{
    format = "collapsed",
    path = "latency-%t-%n.folded",
    keep = KEEP,
  }
  if file then
    embprof.log("incident profile written to " .. file)
  else
    embprof.log("incident profile not written: " .. err)
  end
end

-- Evaluated every 500 ms: the sampler starts at most 0.5 s (plus one
-- engine period) after the window's p99 crosses the threshold.
embprof.every(500, function()
  if w:count() < MIN_COUNT or w:p99() <= THRESHOLD_MS then
    return
  end
  if embprof.active("sampler") then
    return -- someone is profiling already
  end
  local ok = embprof.start{
    probe = "sampler", rate = RATE_HZ, duration = SAMPLE_S,
    cooldown = COOLDOWN_S, key = "latency-incident",
  }
  if not ok then
    return -- within the cooldown: this incident has its profile
  end
  embprof.reset() -- the profile holds this incident's samples only
  embprof.log(string.format(
    "p99 %.0f ms > %d ms over %d s (%d requests): sampling at %d Hz for %d s",
    w:p99(), THRESHOLD_MS, WINDOW_S, w:count(), RATE_HZ, SAMPLE_S))
  embprof.after(SAMPLE_S * 1000 + 100, write_profile, "latency-export")
end, "latency-check")

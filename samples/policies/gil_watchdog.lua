-- gil_watchdog.lua -- when threads spend more than 30 % of their time
-- waiting for the GIL, write the GIL report (who waits, where, behind
-- whom, and the diagnosis), then sample the GIL holder for 10 s and keep
-- that profile too: it shows what runs while the others wait.
--
-- It starts the GIL probe itself (embprof.stats().gil_wait_share, 0..1,
-- exists while that probe runs).
--
--   embprof-run --policy samples/policies/gil_watchdog.lua app.py

local SHARE = 0.30       -- GIL wait share that counts as contention
local SUSTAINED = 3      -- ... in this many checks in a row (1 s apart)
local SAMPLE_S = 10
local COOLDOWN_S = 600

if not embprof.active("gil") then
  local ok, why = embprof.start{probe = "gil"}
  if not ok then
    embprof.log("gil_watchdog: cannot start the GIL probe: " .. tostring(why))
  end
end

local above = 0
local warned = false
local reported_at = nil  -- embprof.now() of the last report

embprof.every(1000, function()
  local share = embprof.stats().gil_wait_share
  if share == nil then
    if not warned and not embprof.active("gil") then
      embprof.log("gil_watchdog: the GIL probe is not running; idle")
      warned = true
    end
    return
  end
  if share <= SHARE then
    above = 0
    return
  end
  above = above + 1
  if above < SUSTAINED or
     (reported_at and embprof.now() - reported_at < COOLDOWN_S) then
    return -- not yet, or this incident has its report
  end
  -- The report first: it covers the contention so far.
  local ok = embprof.export{format = "gil", path = "gil-%t-%n.txt",
                            keep = 10, cooldown = COOLDOWN_S,
                            key = "gil-report"}
  if not ok then
    return
  end
  reported_at = embprof.now()
  embprof.log(string.format("GIL wait share %.0f %% for %d s: GIL report "
                            .. "written; sampling the GIL holder for %d s",
                            share * 100, above, SAMPLE_S))
  if embprof.active("sampler") then
    return -- somebody samples already: leave their profile alone
  end
  if embprof.start{probe = "sampler", rate = 200, gil_only = true,
                   duration = SAMPLE_S} then
    embprof.after(SAMPLE_S * 1000 + 100, function()
      embprof.stop("sampler")
      embprof.export{format = "collapsed", path = "gil-holder-%t-%n.folded",
                     keep = 10}
    end, "gil-export")
  end
end, "gil-check")

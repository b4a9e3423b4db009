-- gil_watchdog.lua -- when threads spend more than 30 % of their time
-- waiting for the GIL, sample for 10 s with the GIL holder only and keep
-- the profile: it shows who holds the GIL while the others wait.
--
-- NEEDS THE GIL PROBE: embprof.stats().gil_wait_share (0..1) exists only
-- while the GIL probe runs (a separate issue). Without it this policy
-- logs once that it has nothing to watch and stays idle.
--
--   embprof-run --policy samples/policies/gil_watchdog.lua app.py

local SHARE = 0.30       -- GIL wait share that counts as contention
local SUSTAINED = 3      -- ... in this many checks in a row (1 s apart)
local SAMPLE_S = 10
local COOLDOWN_S = 600

local above = 0
local warned = false

embprof.every(1000, function()
  local share = embprof.stats().gil_wait_share
  if share == nil then
    if not warned then
      embprof.log("gil_watchdog: no GIL wait share (the GIL probe is not "
                  .. "running); idle")
      warned = true
    end
    return
  end
  if share <= SHARE then
    above = 0
    return
  end
  above = above + 1
  if above < SUSTAINED or embprof.active("sampler") then
    return
  end
  local ok = embprof.start{
    probe = "sampler", rate = 200, gil_only = true, duration = SAMPLE_S,
    cooldown = COOLDOWN_S, key = "gil-contention",
  }
  if ok then
    embprof.reset()
    embprof.log(string.format("GIL wait share %.0f %% for %d s: sampling "
                              .. "the GIL holder for %d s",
                              share * 100, above, SAMPLE_S))
    embprof.after(SAMPLE_S * 1000 + 100, function()
      embprof.stop("sampler")
      embprof.export{format = "collapsed", path = "gil-%t-%n.folded",
                     keep = 10}
    end, "gil-export")
  end
end, "gil-check")

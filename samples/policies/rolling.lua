-- rolling.lua -- continuous profiling: a profile every 10 minutes, the
-- last 6 files kept (one hour), older ones deleted by embprof.export's
-- keep= (the sandbox has no os.remove: export deletes only files its own
-- path template could have written, regular files, under output.dir).
--
--   embprof-run --policy samples/policies/rolling.lua \
--       --set output.dir=/var/tmp/profiles app.py

local MINUTES = 10
local KEEP = 6
local RATE_HZ = 19 -- low and prime: cheap, and never in step with a timer

local function begin()
  if embprof.active("sampler") then
    return -- someone else's session: its samples go into our files too
  end
  local ok, err = embprof.start{probe = "sampler", rate = RATE_HZ}
  if not ok then
    embprof.log("rolling: cannot start the sampler: " .. err)
  end
end

begin()

embprof.every(MINUTES * 60 * 1000, function()
  local file, err = embprof.export{
    format = "collapsed",
    path = "rolling-%t-%n.folded",
    keep = KEEP,
  }
  if file then
    embprof.log("rolling profile " .. file)
  else
    embprof.log("rolling profile not written: " .. err)
  end
  embprof.reset() -- each file covers its own 10 minutes
  begin()
end, "rolling")

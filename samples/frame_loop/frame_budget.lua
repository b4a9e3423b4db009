-- frame_budget.lua -- an embprof policy for the frame_loop sample: profile
-- the frames that blow the 60 Hz budget of 16.7 ms.
--
--   frame_loop --policy frame_budget.lua -o out
--
-- The host reports each frame's time with embprof_observe(ep, "frame_ms",
-- ms). When a frame is over budget and no profile is being taken, this
-- policy samples every thread at 1 kHz for PROFILE_MS, then writes the
-- profile under output.dir as slow-frames-N.folded and slow-frames-N.txt.
-- A cooldown keeps one incident from writing a profile after another.
-- When the host already runs the sampler, the policy writes the running
-- profile under the same names instead of starting it.

local BUDGET_MS = 16.7
local PROFILE_MS = 1000
local COOLDOWN_MS = 5000
local TICK_MS = 100

local slow_frames = 0
local profiling_left = 0 -- ms of sampling left; > 0 while profiling
local cooldown_left = 0  -- ms before the next profile may start

embprof.on("frame_ms", function(ms)
    if ms <= BUDGET_MS then
        return
    end
    slow_frames = slow_frames + 1
    if profiling_left > 0 or cooldown_left > 0 then
        return
    end
    if embprof.active("sampler") then
        -- The host samples all the time already: keep what it has now.
        embprof.log(string.format("slow frame (%.1f ms): writing the running profile", ms))
        embprof.export{format = "collapsed", path = "slow-frames-%n.folded"}
        embprof.export{format = "top", path = "slow-frames-%n.txt"}
        cooldown_left = COOLDOWN_MS
        return
    end
    embprof.log(string.format(
        "frame took %.1f ms (budget %.1f ms): sampling at 1 kHz for %d ms",
        ms, BUDGET_MS, PROFILE_MS))
    embprof.start{probe = "sampler", rate = 1000}
    profiling_left = PROFILE_MS
end)

embprof.every(TICK_MS, function()
    if cooldown_left > 0 then
        cooldown_left = cooldown_left - TICK_MS
    end
    if profiling_left <= 0 then
        return
    end
    profiling_left = profiling_left - TICK_MS
    if profiling_left <= 0 then
        embprof.stop("sampler")
        embprof.export{format = "collapsed", path = "slow-frames-%n.folded"}
        embprof.export{format = "top", path = "slow-frames-%n.txt"}
        cooldown_left = COOLDOWN_MS
    end
end)

-- Once a second: the p99 frame time, so the log shows the trend.
embprof.every(1000, function()
    local w = embprof.window("frame_ms", 1)
    embprof.log(string.format("frame_ms p99 over 1 s: %.1f ms; %d slow frames so far",
        w:p99(), slow_frames))
end)

-- latency.lua -- an embprof policy for the threaded_server sample: when a
-- request is slow, profile the server for a moment and keep the profile.
--
--   threaded_server --no-sampler --set policy.file=latency.lua --load 400
--
-- The server reports every request's time with embprof_observe(ep,
-- "request_ms", ms) (and per route as "request_ms.cpu", ...). When one
-- takes more than THRESHOLD_MS and no profile is being taken, this policy
-- samples every thread at 1 kHz for PROFILE_MS, then writes
-- slow-requests-N.folded and slow-requests-N.txt under output.dir. A
-- cooldown keeps one incident from writing profile after profile.
-- When the host already runs the sampler, the policy writes the running
-- profile under the same names instead of starting it.

local THRESHOLD_MS = 50
local PROFILE_MS = 500
local COOLDOWN_MS = 3000
local TICK_MS = 100

local slow = 0
local profiling_left = 0 -- ms of sampling left; > 0 while profiling
local cooldown_left = 0  -- ms before the next profile may start

embprof.on("request_ms", function(ms)
    if ms <= THRESHOLD_MS then
        return
    end
    slow = slow + 1
    if profiling_left > 0 or cooldown_left > 0 then
        return
    end
    if embprof.active("sampler") then
        -- The host samples all the time already: keep what it has now.
        embprof.log(string.format("slow request (%.1f ms): writing the running profile", ms))
        embprof.export{format = "collapsed", path = "slow-requests-%n.folded"}
        embprof.export{format = "top", path = "slow-requests-%n.txt"}
        cooldown_left = COOLDOWN_MS
        return
    end
    embprof.log(string.format(
        "request took %.1f ms (threshold %d ms): sampling at 1 kHz for %d ms",
        ms, THRESHOLD_MS, PROFILE_MS))
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
        embprof.export{format = "collapsed", path = "slow-requests-%n.folded"}
        embprof.export{format = "top", path = "slow-requests-%n.txt"}
        cooldown_left = COOLDOWN_MS
    end
end)

-- Once a second: the p99 request time, so the log shows the trend.
embprof.every(1000, function()
    local w = embprof.window("request_ms", 1)
    embprof.log(string.format("request_ms p99 over 1 s: %.1f ms; %d slow so far",
        w:p99(), slow))
end)

/*
 * sampler_probe.c -- the sampler's row of the probe table: maps settings
 * to ep_sampler_opts and the store's lifetime rules to the controller.
 */
#include "../log.h"
#include "../runtime.h"
#include "probe.h"

static int
sp_init(struct embprof *ep)
{
    return ep_sampler_init(&ep->sampler, &ep->store);
}

static void
sp_destroy(struct embprof *ep)
{
    ep_sampler_destroy(&ep->sampler);
}

static void
sampler_opts(const struct embprof_config *c, ep_sampler_opts *o)
{
    o->rate = (int)ep_cfg_int(c, EP_OPT_SAMPLER_RATE);
    o->mode = (int)ep_cfg_int(c, EP_OPT_SAMPLER_MODE);
    o->idle = ep_cfg_bool(c, EP_OPT_SAMPLER_IDLE);
    o->gil_only = ep_cfg_bool(c, EP_OPT_SAMPLER_GIL_ONLY);
    o->duration = ep_cfg_double(c, EP_OPT_SAMPLER_DURATION);
    o->max_depth = (int)ep_cfg_int(c, EP_OPT_SAMPLER_MAX_DEPTH);
    o->memread = (int)ep_cfg_int(c, EP_OPT_SAMPLER_MEMREAD);
}

static int
sp_start(struct embprof *ep, const struct embprof_config *cfg)
{
    ep_sampler_opts o;
    int rc;

    sampler_opts(cfg, &o);
    if (ep->store.nstacks > 0 &&
        (o.mode != ep->last_mode || o.rate != ep->last_rate)) {
        /* Samples of another mode or rate do not add up: start afresh. */
        pthread_mutex_lock(&ep->store.lock);
        ep_store_reset(&ep->store);
        pthread_mutex_unlock(&ep->store.lock);
        ep_sampler_reset_counters(&ep->sampler);
    }
    rc = ep_sampler_start(&ep->sampler, &o);
    if (rc == EMBPROF_OK) {
        ep->last_mode = o.mode;
        ep->last_rate = o.rate;
        if (ep->refresh_names != NULL) {
            ep->refresh_names(ep);
        }
        ep_log(EP_LOG_INFO, "sampler started: %s mode, %d Hz, memread %s",
               o.mode == EP_SAMPLER_CPU ? "cpu" : "wall", o.rate,
               ep->sampler.memread_name);
    }
    return rc;
}

static int
sp_stop(struct embprof *ep)
{
    if (ep->refresh_names != NULL) {
        ep->refresh_names(ep);
    }
    return ep_sampler_stop(&ep->sampler);
}

static bool
sp_running(struct embprof *ep)
{
    return ep_sampler_running(&ep->sampler);
}

static bool
sp_needs_stop(struct embprof *ep)
{
    return ep->sampler.joinable; /* also one that ended by its duration */
}

static void
sp_reset(struct embprof *ep)
{
    pthread_mutex_lock(&ep->store.lock);
    ep_store_reset(&ep->store);
    pthread_mutex_unlock(&ep->store.lock);
    ep_sampler_reset_counters(&ep->sampler);
}

static void
sp_describe(struct embprof *ep, FILE *out)
{
    fprintf(out, "\"rate\":%d,\"mode\":\"%s\"", ep->last_rate,
            ep->last_mode == EP_SAMPLER_CPU ? "cpu" : "wall");
}

static void
sp_after_fork(struct embprof *ep)
{
    pthread_mutex_init(&ep->store.lock, NULL);
    ep_sampler_after_fork(&ep->sampler);
}

const ep_probe ep_probe_sampler = {
    .name = "sampler",
    .doc = "statistical stack sampler of every Python thread (no GIL)",
    .init = sp_init,
    .destroy = sp_destroy,
    .start = sp_start,
    .stop = sp_stop,
    .running = sp_running,
    .needs_stop = sp_needs_stop,
    .reset = sp_reset,
    .describe = sp_describe,
    .after_fork = sp_after_fork,
};

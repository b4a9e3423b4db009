/*
 * gil_probe.c -- the GIL probe's row of the probe table: maps gil.*
 * settings to ep_gil_start and the controller's lifecycle to gil.c.
 */
#include "../log.h"
#include "../runtime.h"
#include "gil.h"
#include "probe.h"

static void
gp_want_names(void *arg)
{
    struct embprof *ep = arg;

    if (ep->refresh_names != NULL) {
        ep->refresh_names(ep);
    }
}

static double
gp_wait_share(struct embprof *ep)
{
    return ep->gil != NULL ? ep_gil_wait_share(ep->gil) : -1;
}

static int
gp_init(struct embprof *ep)
{
    int rc = ep_gil_init(&ep->gil);

    if (rc == EMBPROF_OK) {
        ep->gil->want_names = gp_want_names;
        ep->gil->want_names_arg = ep;
        ep->sampler.gil = ep->gil;
        /* Set once: it answers -1 while the probe does not run. */
        ep->gil_wait_share = gp_wait_share;
    }
    return rc;
}

static void
gp_destroy(struct embprof *ep)
{
    ep_gil_destroy(ep->gil);
    ep->gil = NULL;
}

static int
gp_start(struct embprof *ep, const struct embprof_config *cfg)
{
    int rate = (int)ep_cfg_int(cfg, EP_OPT_GIL_HOLD_RATE);
    int rc = ep_gil_start(ep->gil, rate, ep_cfg_bool(cfg, EP_OPT_GIL_STACKS));

    if (rc == EMBPROF_OK) {
        if (ep->refresh_names != NULL) {
            ep->refresh_names(ep);
        }
        ep_log(
            EP_LOG_INFO,
            "gil probe started: pthread_cond_timedwait interposed in %s "
            "(%zu slot%s), holder sampled at %d Hz",
            ep->gil->hook.object[0] ? ep->gil->hook.object : "the executable",
            ep->gil->hook.nslots, ep->gil->hook.nslots == 1 ? "" : "s", rate);
    }
    return rc;
}

static int
gp_stop(struct embprof *ep)
{
    if (ep->refresh_names != NULL) {
        ep->refresh_names(ep);
    }
    return ep_gil_stop(ep->gil);
}

static bool
gp_running(struct embprof *ep)
{
    return ep_gil_running(ep->gil);
}

static void
gp_reset(struct embprof *ep)
{
    ep_gil_reset(ep->gil);
}

static void
gp_describe(struct embprof *ep, FILE *out)
{
    fprintf(out, "\"hold_rate\":%d,\"stacks\":%s", ep->gil->hold_rate,
            ep->gil->stacks ? "true" : "false");
}

static void
gp_after_fork(struct embprof *ep)
{
    ep_gil_after_fork(ep->gil);
}

const ep_probe ep_probe_gil = {
    .name = "gil",
    .doc = "exact GIL waits per thread and site, hold share, switches "
           "(interposes take_gil's condition wait)",
    .init = gp_init,
    .destroy = gp_destroy,
    .start = gp_start,
    .stop = gp_stop,
    .running = gp_running,
    .reset = gp_reset,
    .describe = gp_describe,
    .after_fork = gp_after_fork,
};

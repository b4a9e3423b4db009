/*
 * probe.c -- the probe table.
 */
#include "probe.h"

#include <pthread.h>
#include <string.h>

const ep_probe *const ep_probe_table[] = {
    &ep_probe_sampler,
    &ep_probe_tracer,
    &ep_probe_gil,
};
const size_t ep_probe_count =
    sizeof(ep_probe_table) / sizeof(ep_probe_table[0]);

const ep_probe *
ep_probe_find(const char *name)
{
    for (size_t i = 0; name != NULL && i < ep_probe_count; i++) {
        if (strcmp(ep_probe_table[i]->name, name) == 0) {
            return ep_probe_table[i];
        }
    }
    return NULL;
}

static char names[256];
static pthread_once_t names_once = PTHREAD_ONCE_INIT;

static void
names_build(void)
{
    size_t o = 0;

    for (size_t i = 0; i < ep_probe_count; i++) {
        size_t n = strlen(ep_probe_table[i]->name);

        if (o + n + 2 > sizeof(names)) {
            break;
        }
        if (o > 0) {
            names[o++] = '|';
        }
        memcpy(names + o, ep_probe_table[i]->name, n);
        o += n;
    }
    names[o] = '\0';
}

const char *
ep_probe_names(void)
{
    pthread_once(&names_once, names_build);
    return names;
}

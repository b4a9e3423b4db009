/*
 * export.c -- the exporter table, path resolution and atomic writes.
 */
#include "export.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../error.h"
#include "../probes/sampler.h"

const ep_exporter ep_exporters[] = {
    {"collapsed", ".folded|.collapsed", ep_export_collapsed, EP_EXPORT_SAMPLES,
     "folded stacks, one 'thread;frame;... count' line per stack "
     "(flamegraph.pl, inferno, speedscope)"},
    {"speedscope", ".speedscope.json|.json", ep_export_speedscope,
     EP_EXPORT_SAMPLES, "speedscope JSON, one sampled profile per thread"},
    {"top", ".txt", ep_export_top, EP_EXPORT_SAMPLES,
     "text: functions by own time, like py-spy top"},
    {"dump", ".dump", ep_export_dump, EP_EXPORT_WALK,
     "text: every thread's stack now, like py-spy dump"},
    {"pstats", ".prof|.pstats", ep_export_pstats, EP_EXPORT_PROBE,
     "tracer: cProfile's marshal file for pstats.Stats and snakeviz"},
    {"stats", ".stats.txt", ep_export_stats, EP_EXPORT_PROBE,
     "tracer: text like pstats print_stats, with a CPU-bound/waiting "
     "column"},
    {"lines", ".lines.txt", ep_export_lines, EP_EXPORT_PROBE,
     "tracer: per-line hits and time like kernprof -lv (tracer.lines)"},
    {"chrome", ".trace.json", ep_export_chrome, EP_EXPORT_PROBE,
     "tracer: Chrome trace events for Perfetto and chrome://tracing "
     "(tracer.timeline)"},
    {"gil", "", ep_export_gil, EP_EXPORT_PROBE,
     "text: the GIL probe's report (waits per thread and site, holders, "
     "diagnosis)"},
    {"gil-json", "", ep_export_gil_json, EP_EXPORT_PROBE,
     "JSON: the GIL probe's report, for tools"},
};
const size_t ep_exporters_count =
    sizeof(ep_exporters) / sizeof(ep_exporters[0]);

const ep_exporter *
ep_export_find(const char *name)
{
    for (size_t i = 0; name != NULL && i < ep_exporters_count; i++) {
        if (strcmp(ep_exporters[i].name, name) == 0) {
            return &ep_exporters[i];
        }
    }
    return NULL;
}

static bool
ends_with(const char *s, const char *suffix, size_t n)
{
    size_t len = strlen(s);

    return len > n && strncmp(s + len - n, suffix, n) == 0;
}

const ep_exporter *
ep_export_for_path(const char *path)
{
    const ep_exporter *best = NULL;
    size_t best_len = 0;

    for (size_t i = 0; path != NULL && i < ep_exporters_count; i++) {
        const char *p = ep_exporters[i].extensions;

        while (p != NULL && *p != '\0') {
            const char *bar = strchr(p, '|');
            size_t n = bar ? (size_t)(bar - p) : strlen(p);

            if (n > best_len && ends_with(path, p, n)) {
                best = &ep_exporters[i];
                best_len = n;
            }
            p = bar ? bar + 1 : NULL;
        }
    }
    return best;
}

static char names[512];
static pthread_once_t names_once = PTHREAD_ONCE_INIT;

static void
names_build(void)
{
    size_t o = 0;

    for (size_t i = 0; i < ep_exporters_count; i++) {
        size_t n = strlen(ep_exporters[i].name);

        if (o + n + 2 > sizeof(names)) {
            break;
        }
        if (o > 0) {
            names[o++] = '|';
        }
        memcpy(names + o, ep_exporters[i].name, n);
        o += n;
    }
    names[o] = '\0';
}

const char *
ep_export_names(void)
{
    pthread_once(&names_once, names_build);
    return names;
}

int
ep_export_path(const char *dir, const char *path, char *out, size_t size)
{
    int n;

    if (path == NULL || path[0] == '\0') {
        return ep_error(EMBPROF_EINVAL, "export: no path given");
    }
    if (path[0] == '/' || dir == NULL || dir[0] == '\0') {
        n = snprintf(out, size, "%s", path);
    } else {
        n = snprintf(out, size, "%s/%s", dir, path);
    }
    if (n < 0 || (size_t)n >= size) {
        return ep_error(EMBPROF_EINVAL, "export: path too long: %.60s...",
                        path);
    }
    return EMBPROF_OK;
}

int
ep_export_write_file(const char *path, const void *data, size_t len)
{
    static _Atomic unsigned counter;
    char tmp[4200], dir[4096];
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    const char *p = data;
    struct stat st;
    int fd, n, err;

    if (base[0] == '\0') {
        return ep_error(EMBPROF_EINVAL, "export: %s names a directory", path);
    }
    snprintf(dir, sizeof(dir), "%.*s",
             slash ? (int)(slash - path + (slash == path)) : 1,
             slash ? path : ".");
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        return ep_error(EMBPROF_EIO,
                        "export: cannot write %s: directory "
                        "%s does not exist",
                        path, dir);
    }
    n = snprintf(tmp, sizeof(tmp), "%.*s.%s.tmp.%d.%u",
                 slash ? (int)(slash - path + 1) : 0, path, base,
                 (int)getpid(), atomic_fetch_add(&counter, 1));
    if (n < 0 || (size_t)n >= sizeof(tmp)) {
        return ep_error(EMBPROF_EINVAL, "export: path too long");
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        return ep_error(EMBPROF_EIO, "export: cannot write %s: %s", path,
                        strerror(errno));
    }
    while (len > 0) {
        ssize_t w = write(fd, p, len);

        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            err = w < 0 ? errno : EIO;
            goto fail;
        }
        p += w;
        len -= (size_t)w;
    }
    if (fsync(fd) != 0) {
        err = errno;
        goto fail;
    }
    if (close(fd) != 0) {
        err = errno;
        fd = -1;
        goto fail;
    }
    fd = -1;
    if (rename(tmp, path) != 0) {
        err = errno;
        goto fail;
    }
    return EMBPROF_OK;

fail:
    if (fd >= 0) {
        close(fd);
    }
    unlink(tmp);
    return ep_error(EMBPROF_EIO, "export: cannot write %s: %s", path,
                    strerror(err));
}

void
ep_json_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"':
            fputs("\\\"", out);
            break;
        case '\\':
            fputs("\\\\", out);
            break;
        case '\n':
            fputs("\\n", out);
            break;
        case '\r':
            fputs("\\r", out);
            break;
        case '\t':
            fputs("\\t", out);
            break;
        default:
            if (*p < 0x20) {
                fprintf(out, "\\u%04x", *p);
            } else {
                fputc(*p, out);
            }
        }
    }
    fputc('"', out);
}

uint64_t
ep_export_weight(const ep_export_info *info, const ep_stack *st)
{
    return info->mode == EP_SAMPLER_CPU ? st->w.cpu_ns : st->w.wall_ns;
}

void
ep_export_thread_label(const ep_thread *t, char *buf, size_t size)
{
    if (t->tid != 0) {
        snprintf(buf, size, "%s (tid %d)", t->name, (int)t->tid);
    } else {
        snprintf(buf, size, "%s (ident %llu)", t->name,
                 (unsigned long long)t->ident);
    }
}

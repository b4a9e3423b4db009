/*
 * embprof-run -- a python-like host linked with embprof, for profiling any
 * script the way an embedding host would be profiled:
 *
 *   embprof-run [options] [--] script.py [args]
 *   embprof-run [options] -m module [args]
 *
 * Everything after the script or module name belongs to the program. With
 * no profiling option every probe is off (the benchmark baseline).
 */
#include <Python.h>

#include <embprof.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *prog = "embprof-run";

static void
usage(FILE *out)
{
    fprintf(out,
            "usage: %s [options] [--] script.py [args...]\n"
            "       %s [options] -m module [args...]\n"
            "       %s [options] -c command [args...]\n"
            "\n"
            "Runs a Python program in a host linked with embprof. Everything "
            "after the\nscript or module name is the program's. With no "
            "profiling option, every\nprobe is off.\n"
            "\n"
            "options:\n"
            "  -o, --output FILE     sample and write FILE at exit; the "
            "format comes from\n"
            "                        the extension (.folded, "
            ".speedscope.json, .txt;\n"
            "                        with -t: .prof, .stats.txt, "
            ".lines.txt, .trace.json)\n"
            "  -f, --format FMT      collapsed|speedscope|top|pstats|stats|"
            "lines|chrome\n"
            "                        (instead of the extension)\n"
            "  -t, --trace           trace every call instead of sampling "
            "(tracer.enabled);\n"
            "                        -o out.prof writes cProfile's pstats "
            "file\n"
            "      --trace-clock CLK wall|cpu (tracer.clock; implies -t)\n"
            "      --lines SPEC      time the lines of module:function or "
            "a file glob\n"
            "                        (tracer.lines; implies -t)\n"
            "  -r, --rate HZ         samples per second (sampler.rate)\n"
            "      --mode MODE       wall|cpu (sampler.mode)\n"
            "      --idle            wall mode: keep idle threads too "
            "(sampler.idle)\n"
            "      --gil             keep only samples holding the GIL "
            "(sampler.gil_only)\n"
            "      --gil-report FILE run the GIL probe and write its report "
            "to FILE at exit;\n"
            "                        FILE.json is gil-json, .txt (any "
            "other) the text\n"
            "                        report (gil.enabled, gil.output)\n"
            "  -d, --duration SEC    stop sampling after SEC seconds "
            "(sampler.duration)\n"
            "  -s, --socket PATH     open the control socket at PATH for "
            "embprofctl\n"
            "                        (control.socket)\n"
            "  -p, --policy FILE     run the Lua policy FILE on the control "
            "thread\n"
            "                        (policy.file; docs/POLICIES.md)\n"
            "      --set KEY=VALUE   set any option below\n"
            "  -V, --version         print versions and exit\n"
            "  -h, --help            print this help and exit\n"
            "\n"
            "settings (--set KEY=VALUE, or the environment variable "
            "shown):\n",
            prog, prog, prog);
    fputs(embprof_options_help(), out);
    fprintf(out, "\nexit status: the program's; 2 on a usage error.\n");
}

static int
fail_usage(const char *what)
{
    fprintf(stderr, "%s: %s\nTry '%s --help'.\n", prog, what, prog);
    return 2;
}

static int
set(embprof_config *cfg, const char *key, const char *value)
{
    if (embprof_config_set(cfg, key, value) != EMBPROF_OK) {
        return fail_usage(embprof_last_error());
    }
    return 0;
}

/* Matches "-x VALUE", "--long VALUE" and "--long=VALUE". */
static const char *
value_of(int argc, char **argv, int *i, const char *s, const char *l,
         int *missing)
{
    const char *a = argv[*i];
    size_t ll = l ? strlen(l) : 0;

    *missing = 0;
    if ((s && strcmp(a, s) == 0) || (l && strcmp(a, l) == 0)) {
        if (*i + 1 >= argc) {
            *missing = 1;
            return NULL;
        }
        return argv[++*i];
    }
    if (l && strncmp(a, l, ll) == 0 && a[ll] == '=') {
        return a + ll + 1;
    }
    return NULL;
}

int
main(int argc, char **argv)
{
    embprof_config *cfg = embprof_config_new();
    const char *output = NULL;
    int profiling = 0, tracing = 0, sampling = 0, i, rc, status;
    char **pyargv;
    int pyargc = 0;
    PyConfig pc;
    PyStatus st;
    embprof *ep;
    embprof_stats stats;

    if (cfg == NULL) {
        fprintf(stderr, "%s: %s\n", prog, embprof_last_error());
        return 1;
    }
    if (embprof_config_from_env(cfg) != EMBPROF_OK) {
        return fail_usage(embprof_last_error());
    }
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        int missing = 0, r = 0;

        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (strcmp(a, "-m") == 0 || strcmp(a, "-c") == 0 || a[0] != '-' ||
            strcmp(a, "-") == 0) {
            break;
        }
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(a, "-V") == 0 || strcmp(a, "--version") == 0) {
            printf("embprof-run %s\n", embprof_version());
            return 0;
        }
        if (strcmp(a, "--idle") == 0) {
            r = set(cfg, "sampler.idle", "true");
            profiling = sampling = 1;
        } else if (strcmp(a, "--gil") == 0) {
            r = set(cfg, "sampler.gil_only", "true");
            profiling = sampling = 1;
        } else if (strcmp(a, "-t") == 0 || strcmp(a, "--trace") == 0) {
            profiling = tracing = 1;
        } else if ((v = value_of(argc, argv, &i, NULL, "--trace-clock",
                                 &missing))) {
            r = set(cfg, "tracer.clock", v);
            profiling = tracing = 1;
        } else if (!missing &&
                   (v = value_of(argc, argv, &i, NULL, "--lines", &missing))) {
            r = set(cfg, "tracer.lines", v);
            profiling = tracing = 1;
        } else if (!missing && (v = value_of(argc, argv, &i, NULL,
                                             "--gil-report", &missing))) {
            r = set(cfg, "gil.output", v);
            if (r == 0) {
                r = set(cfg, "gil.enabled", "true");
            }
        } else if (!missing && (v = value_of(argc, argv, &i, "-o", "--output",
                                             &missing))) {
            output = v;
            r = set(cfg, "output.file", v);
        } else if (!missing && (v = value_of(argc, argv, &i, "-f", "--format",
                                             &missing))) {
            r = set(cfg, "output.format", v);
        } else if (!missing &&
                   (v = value_of(argc, argv, &i, "-r", "--rate", &missing))) {
            r = set(cfg, "sampler.rate", v);
            profiling = sampling = 1;
        } else if (!missing &&
                   (v = value_of(argc, argv, &i, NULL, "--mode", &missing))) {
            r = set(cfg, "sampler.mode", v);
            profiling = sampling = 1;
        } else if (!missing && (v = value_of(argc, argv, &i, "-d",
                                             "--duration", &missing))) {
            r = set(cfg, "sampler.duration", v);
            profiling = sampling = 1;
        } else if (!missing && (v = value_of(argc, argv, &i, "-s", "--socket",
                                             &missing))) {
            r = set(cfg, "control.socket", v);
        } else if (!missing && (v = value_of(argc, argv, &i, "-p", "--policy",
                                             &missing))) {
            r = set(cfg, "policy.file", v);
        } else if (!missing &&
                   (v = value_of(argc, argv, &i, NULL, "--set", &missing))) {
            const char *eq = strchr(v, '=');
            char key[128];

            if (eq == NULL || eq == v || (size_t)(eq - v) >= sizeof(key)) {
                return fail_usage("--set takes KEY=VALUE");
            }
            memcpy(key, v, (size_t)(eq - v));
            key[eq - v] = '\0';
            r = set(cfg, key, eq + 1);
        } else if (missing) {
            char msg[128];

            snprintf(msg, sizeof(msg), "option %s needs a value", a);
            return fail_usage(msg);
        } else {
            char msg[160];

            snprintf(msg, sizeof(msg), "unknown option %s", a);
            return fail_usage(msg);
        }
        if (r != 0) {
            return r;
        }
    }
    if (i >= argc) {
        return fail_usage("no script, -m module or -c command given");
    }
    if (strcmp(argv[i], "-m") == 0 && i + 1 >= argc) {
        return fail_usage("-m needs a module name");
    }
    if (strcmp(argv[i], "-c") == 0 && i + 1 >= argc) {
        return fail_usage("-c needs a command");
    }
    if (profiling && output == NULL) {
        char have[8] = "";

        embprof_config_get(cfg, "output.file", have, sizeof(have));
        if (have[0] == '\0') {
            return fail_usage("profiling options need -o/--output FILE");
        }
    }
    if ((output != NULL && !tracing) || sampling) {
        if ((rc = set(cfg, "sampler.enabled", "true")) != 0) {
            return rc;
        }
    }
    if (tracing && (rc = set(cfg, "tracer.enabled", "true")) != 0) {
        return rc;
    }
    if (embprof_config_validate(cfg) != EMBPROF_OK) {
        return fail_usage(embprof_last_error());
    }

    /* Python parses the rest exactly as `python` would. */
    pyargv = calloc((size_t)(argc - i) + 3, sizeof(*pyargv));
    if (pyargv == NULL) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return 1;
    }
    pyargv[pyargc++] = argv[0];
    if (strcmp(argv[i], "-m") != 0 && strcmp(argv[i], "-c") != 0) {
        pyargv[pyargc++] = "--";
    }
    for (; i < argc; i++) {
        pyargv[pyargc++] = argv[i];
    }
    PyConfig_InitPythonConfig(&pc);
    st = PyConfig_SetBytesArgv(&pc, pyargc, pyargv);
    if (PyStatus_Exception(st)) {
        PyConfig_Clear(&pc);
        fprintf(stderr, "%s: %s\n", prog,
                st.err_msg ? st.err_msg : "bad arguments");
        return 2;
    }
    rc = embprof_init(cfg, &pc, &ep);
    PyConfig_Clear(&pc);
    embprof_config_free(cfg);
    if (rc != EMBPROF_OK) {
        fprintf(stderr, "%s: %s\n", prog, embprof_last_error());
        free(pyargv);
        return 1;
    }
    status = Py_RunMain(); /* runs the program, then Py_FinalizeEx */
    embprof_get_stats(ep, &stats);
    rc = embprof_finalize(ep);
    if (rc != EMBPROF_OK) {
        fprintf(stderr, "%s: %s\n", prog, embprof_last_error());
    } else if (output != NULL && tracing && !sampling) {
        fprintf(stderr, "%s: profile written to %s (tracer)\n", prog, output);
    } else if (output != NULL) {
        fprintf(stderr,
                "%s: profile written to %s (%llu samples; sampler used "
                "%.3f%% of one CPU, %llu walk errors, %llu truncated)\n",
                prog, output, (unsigned long long)stats.samples,
                stats.wall_ns ? 100.0 * (double)stats.sampler_cpu_ns /
                                    (double)stats.wall_ns
                              : 0.0,
                (unsigned long long)stats.walk_errors,
                (unsigned long long)stats.truncated);
    }
    free(pyargv);
    return status;
}

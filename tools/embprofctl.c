/*
 * embprofctl -- talk to a running host's embprof control socket.
 *
 *   embprofctl [-s SOCKET] [--json] COMMAND [ARG ...]
 *   embprofctl top [-n ITERATIONS] [-r ROWS] [-i SECONDS] [--once]
 *   embprofctl export FORMAT [-o FILE] [path=NAME]
 *
 * The socket comes from -s or EMBPROF_CONTROL_SOCKET; -t HOST:PORT with
 * -k TOKEN_FILE reaches a TCP listener instead. Output is for a person
 * unless --json (raw reply lines). Exit status: 0 ok, 1 the host replied
 * ok:false, 2 usage, 3 the socket could not be reached.
 */
#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "embprof.h"

static const char *prog = "embprofctl";
static int json_out;
static volatile sig_atomic_t interrupted;

static void
usage(FILE *out)
{
    fprintf(out,
            "usage: %s [-s SOCKET | -t HOST:PORT -k TOKEN_FILE] [--json] "
            "COMMAND [ARG ...]\n"
            "\n"
            "Talks to a host's embprof control socket (-s, or "
            "EMBPROF_CONTROL_SOCKET).\n"
            "\n"
            "commands (the host's 'help' lists them all):\n"
            "  status                     probes, samples, embprof's own "
            "CPU time\n"
            "  start PROBE [key=value..]  e.g. start sampler rate=997 "
            "mode=cpu\n"
            "  stop PROBE                 stop a probe; its data stays\n"
            "  reset                      drop collected samples\n"
            "  dump                       every thread's stack now\n"
            "  top [-n N] [-r ROWS] [-i SEC] [--once]\n"
            "                             hottest functions, redrawn every "
            "SEC (1) seconds\n"
            "                             like py-spy top: N times (0: until "
            "q or Ctrl-C),\n"
            "                             ROWS functions (20); once when "
            "not on a terminal\n"
            "  export FORMAT [-o FILE] [path=NAME]\n"
            "                             write a profile (collapsed, "
            "speedscope, top, dump)\n"
            "                             under the host's output.dir; -o "
            "copies it to FILE\n"
            "  config get [KEY] | config set KEY VALUE\n"
            "  policy load FILE | reload | list | disable NAME\n"
            "                             the host's Lua policy (a failed "
            "load keeps the\n"
            "                             old one; docs/POLICIES.md)\n"
            "  subscribe                  print events until interrupted\n"
            "  help                       the host's command list\n"
            "\n"
            "options:\n"
            "  -s, --socket PATH   the Unix socket\n"
            "  -t, --tcp HOST:PORT a TCP listener (control.listen)\n"
            "  -k, --token FILE    token file for -t\n"
            "  --json              print raw JSON replies\n"
            "  -V, --version       print the version\n"
            "  -h, --help          this help\n"
            "\n"
            "exit status: 0 ok; 1 the host answered ok:false; 2 usage; 3 "
            "the socket could not be reached\n",
            prog);
}

/* --- connection -------------------------------------------------------- */

/* A connection and the bytes read past the last reply line. */
typedef struct conn {
    int fd;
    char *buf;
    size_t len, cap;
} conn;

/* The longest reply line we take (the host's control.max_output caps
 * what it sends at 256 MiB). */
#define CTL_MAX_REPLY ((size_t)256 << 20)

static int
connect_unix(conn *c, const char *path)
{
    struct sockaddr_un sa;

    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sa.sun_path)) {
        fprintf(stderr, "%s: socket path too long: %s\n", prog, path);
        return 3;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        int err = errno;

        fprintf(stderr, "%s: cannot reach %s: %s%s\n", prog, path,
                strerror(err),
                err == ENOENT ? " (no such socket: is the host running with "
                                "control.socket?)"
                : err == ECONNREFUSED ? " (nobody listens: the host is gone)"
                : err == EACCES ? " (permission denied: run as the host's "
                                  "user)"
                                : "");
        return 3;
    }
    return 0;
}

static int
connect_tcp(conn *c, const char *spec)
{
    struct sockaddr_in sa;
    char host[64], *end;
    const char *colon = strrchr(spec, ':');
    long port;

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    if (colon == NULL || (size_t)(colon - spec) >= sizeof(host)) {
        fprintf(stderr, "%s: -t takes HOST:PORT\n", prog);
        return 2;
    }
    snprintf(host, sizeof(host), "%.*s", (int)(colon - spec), spec);
    port = strtol(colon + 1, &end, 10);
    if (end == colon + 1 || *end != '\0' || port < 1 || port > 65535) {
        fprintf(stderr, "%s: -t: bad port in %s\n", prog, spec);
        return 2;
    }
    sa.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        fprintf(stderr, "%s: -t: %s is not an IPv4 address\n", prog, host);
        return 2;
    }
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        fprintf(stderr, "%s: cannot reach %s: %s\n", prog, spec,
                strerror(errno));
        return 3;
    }
    return 0;
}

/* Sends one request line. */
static int
send_line(conn *c, const char *line)
{
    size_t n = strlen(line), off = 0;

    while (off < n) {
        ssize_t w = send(c->fd, line + off, n - off, MSG_NOSIGNAL);

        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            fprintf(stderr, "%s: the host closed the connection\n", prog);
            return 3;
        }
        off += (size_t)w;
    }
    return 0;
}

/* Reads one reply line (without '\n') into a malloc'd string. timeout_ms
 * < 0 waits forever. NULL on EOF, error or timeout. */
static char *
read_line(conn *c, int timeout_ms)
{
    for (;;) {
        char *nl = c->len ? memchr(c->buf, '\n', c->len) : NULL;
        struct pollfd p = {c->fd, POLLIN, 0};
        ssize_t r;

        if (nl != NULL) {
            size_t n = (size_t)(nl - c->buf);
            char *line = malloc(n + 1);

            if (line == NULL) {
                return NULL;
            }
            memcpy(line, c->buf, n);
            line[n] = '\0';
            memmove(c->buf, nl + 1, c->len - n - 1);
            c->len -= n + 1;
            return line;
        }
        if (interrupted) {
            return NULL;
        }
        if (c->len == c->cap) {
            size_t cap = c->cap ? 2 * c->cap : 65536;
            char *b = cap <= CTL_MAX_REPLY ? realloc(c->buf, cap) : NULL;

            if (b == NULL) {
                fprintf(stderr, "%s: reply too long\n", prog);
                return NULL;
            }
            c->buf = b;
            c->cap = cap;
        }
        if (poll(&p, 1, timeout_ms) <= 0) {
            return NULL;
        }
        r = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
        if (r <= 0) {
            return NULL;
        }
        c->len += (size_t)r;
    }
}

/* Quotes a word for the request line if it needs it. */
static void
append_word(char *line, size_t size, const char *w)
{
    size_t o = strlen(line);
    bool plain = w[0] != '\0' && strpbrk(w, " \t\"'\\") == NULL;

    if (o > 0 && o < size - 1) {
        line[o++] = ' ';
    }
    if (plain) {
        snprintf(line + o, size - o, "%s", w);
        return;
    }
    if (o < size - 1) {
        line[o++] = '"';
    }
    for (; *w != '\0' && o < size - 3; w++) {
        if (*w == '"' || *w == '\\') {
            line[o++] = '\\';
        }
        line[o++] = *w;
    }
    line[o++] = '"';
    line[o] = '\0';
}

/* --- printing ---------------------------------------------------------- */

static void
print_value(const char *key, json_t *v, int indent)
{
    const char *k;
    json_t *item;
    size_t i;

    if (json_is_object(v)) {
        if (key != NULL) {
            printf("%*s%s:\n", indent, "", key);
        }
        json_object_foreach(v, k, item)
        {
            if (key == NULL && strcmp(k, "ok") == 0) {
                continue;
            }
            print_value(k, item, key ? indent + 2 : indent);
        }
    } else if (json_is_array(v)) {
        printf("%*s%s:\n", indent, "", key ? key : "");
        json_array_foreach(v, i, item)
        {
            print_value("-", item, indent + 2);
        }
    } else {
        char *s =
            json_is_string(v)
                ? NULL
                : json_dumps(v, JSON_ENCODE_ANY | JSON_REAL_PRECISION(6));

        printf("%*s%s: %s\n", indent, "", key ? key : "",
               s ? s : json_string_value(v));
        free(s);
    }
}

static void
print_top(json_t *r, int rows)
{
    json_t *fns = json_object_get(r, "functions"), *f;
    size_t i;

    printf("embprof top: %s mode, %lld Hz, %lld samples, sampler %s\n\n"
           "  %%Own  %%Total   OwnTime TotalTime  Function (filename:line)\n",
           json_string_value(json_object_get(r, "mode")),
           (long long)json_integer_value(json_object_get(r, "rate")),
           (long long)json_integer_value(json_object_get(r, "samples")),
           json_is_true(json_object_get(r, "active")) ? "running" : "stopped");
    json_array_foreach(fns, i, f)
    {
        if ((int)i >= rows) {
            break;
        }
        printf("%6.2f%% %6.2f%% %8.2fs %8.2fs  %s (%s:%lld)\n",
               json_number_value(json_object_get(f, "own_pct")),
               json_number_value(json_object_get(f, "total_pct")),
               json_number_value(json_object_get(f, "own_ns")) / 1e9,
               json_number_value(json_object_get(f, "total_ns")) / 1e9,
               json_string_value(json_object_get(f, "function")),
               json_string_value(json_object_get(f, "file")),
               (long long)json_integer_value(json_object_get(f, "line")));
    }
    if (json_array_size(fns) == 0) {
        printf("  (no samples yet: embprofctl start sampler)\n");
    }
}

static void
print_dump(json_t *r)
{
    json_t *threads = json_object_get(r, "threads"), *t, *fr;
    size_t i, j;

    printf("Process %lld\n",
           (long long)json_integer_value(json_object_get(r, "pid")));
    json_array_foreach(threads, i, t)
    {
        printf("\nThread %lld (%s)%s%s\n",
               (long long)json_integer_value(json_object_get(t, "tid")),
               json_string_value(json_object_get(t, "name")),
               json_is_true(json_object_get(t, "holds_gil")) ? " [holds GIL]"
                                                             : "",
               strcmp(json_string_value(json_object_get(t, "kind")), "host") ==
                       0
                   ? " [host]"
                   : "");
        json_array_foreach(json_object_get(t, "frames"), j, fr)
        {
            printf("    %s (%s:%lld)\n",
                   json_string_value(json_object_get(fr, "name")),
                   json_string_value(json_object_get(fr, "file")),
                   (long long)json_integer_value(json_object_get(fr, "line")));
        }
    }
}

/* Prints a reply; returns the exit status it implies. */
static int
show(const char *line, const char *command, int rows)
{
    json_error_t err;
    json_t *r;
    int ok;

    if (json_out) {
        printf("%s\n", line);
        fflush(stdout);
        r = json_loads(line, 0, &err);
        ok = r != NULL && json_is_true(json_object_get(r, "ok"));
        json_decref(r);
        return ok ? 0 : 1;
    }
    r = json_loads(line, 0, &err);
    if (r == NULL) {
        fprintf(stderr, "%s: unreadable reply: %.200s\n", prog, line);
        return 1;
    }
    if (json_object_get(r, "event") != NULL) {
        print_value(NULL, r, 0);
        printf("\n");
        ok = 1;
    } else if (!json_is_true(json_object_get(r, "ok"))) {
        fprintf(stderr, "%s: %s (%s)\n", prog,
                json_string_value(json_object_get(r, "error")),
                json_string_value(json_object_get(r, "code")));
        ok = 0;
    } else {
        ok = 1;
        if (strcmp(command, "top") == 0) {
            print_top(r, rows);
        } else if (strcmp(command, "dump") == 0) {
            print_dump(r);
        } else if (strcmp(command, "gil") == 0 &&
                   json_is_string(json_object_get(r, "text"))) {
            fputs(json_string_value(json_object_get(r, "text")), stdout);
        } else if (json_object_size(r) == 1) {
            printf("ok\n");
        } else if (strcmp(command, "help") == 0) {
            json_t *c;
            size_t i;

            json_array_foreach(json_object_get(r, "commands"), i, c)
            {
                printf("  %-42s %s\n",
                       json_string_value(json_object_get(c, "usage")),
                       json_string_value(json_object_get(c, "doc")));
            }
        } else {
            print_value(NULL, r, 0);
        }
    }
    fflush(stdout);
    json_decref(r);
    return ok ? 0 : 1;
}

/* --- commands ---------------------------------------------------------- */

static int
request(conn *c, const char *line, const char *command, int rows,
        char **reply_out)
{
    char *reply;
    int rc = send_line(c, line);

    if (rc != 0) {
        return rc;
    }
    reply = read_line(c, 30000);
    if (reply == NULL) {
        fprintf(stderr, "%s: no reply from the host\n", prog);
        return 3;
    }
    rc = show(reply, command, rows);
    if (reply_out != NULL) {
        *reply_out = reply;
    } else {
        free(reply);
    }
    return rc;
}

static void
on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

/* `top`: on a terminal, clears and redraws every interval seconds until
 * q, Ctrl-C or `iterations` redraws (0: no limit); elsewhere prints once. */
static int
cmd_top(conn *c, int rows, double interval, int iterations)
{
    char line[64];
    struct termios old, raw;
    int tty = isatty(STDOUT_FILENO) && !json_out && iterations != 1;
    int keys =
        tty && isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
    int rc = 0;

    snprintf(line, sizeof(line), "top n=%d\n", rows);
    if (!tty) {
        return request(c, line, "top", rows, NULL);
    }
    if (keys) {
        raw = old;
        raw.c_lflag &= (tcflag_t) ~(ICANON | ECHO);
        raw.c_cc[VMIN] = 0;
        raw.c_cc[VTIME] = 0;
        tcsetattr(STDIN_FILENO, TCSANOW, &raw);
    }
    printf("\033[?25l"); /* hide the cursor while redrawing */
    for (int n = 0; !interrupted && (iterations == 0 || n < iterations); n++) {
        struct pollfd p = {STDIN_FILENO, POLLIN, 0};
        char ch;

        printf("\033[H\033[2J");
        rc = request(c, line, "top", rows, NULL);
        printf("\n(every %gs; q or Ctrl-C quits)\n", interval);
        fflush(stdout);
        if (rc != 0 || (iterations != 0 && n + 1 == iterations)) {
            break;
        }
        if (poll(&p, keys ? 1 : 0, (int)(interval * 1000)) > 0 &&
            read(STDIN_FILENO, &ch, 1) == 1 && (ch == 'q' || ch == 'Q')) {
            break;
        }
    }
    printf("\033[?25h");
    fflush(stdout);
    if (interrupted) {
        rc = 0; /* Ctrl-C is how one leaves top */
    }
    if (keys) {
        tcsetattr(STDIN_FILENO, TCSANOW, &old);
    }
    return rc;
}

/* Copies src to dst through a temporary file beside dst, fsync and a
 * rename: dst is either the old file or the whole new one. */
static int
copy_file(const char *src, const char *dst)
{
    char tmp[4200], buf[65536];
    int in = open(src, O_RDONLY | O_CLOEXEC), out, n;
    ssize_t r = 0;

    if (in < 0) {
        fprintf(stderr, "%s: cannot read %s: %s\n", prog, src,
                strerror(errno));
        return 1;
    }
    n = snprintf(tmp, sizeof(tmp), "%s.tmp.%d", dst, (int)getpid());
    if (n < 0 || (size_t)n >= sizeof(tmp)) {
        fprintf(stderr, "%s: path too long: %s\n", prog, dst);
        close(in);
        return 1;
    }
    out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0) {
        fprintf(stderr, "%s: cannot write %s: %s\n", prog, dst,
                strerror(errno));
        close(in);
        return 1;
    }
    while ((r = read(in, buf, sizeof(buf))) > 0) {
        size_t off = 0;

        while (off < (size_t)r) {
            ssize_t w = write(out, buf + off, (size_t)r - off);

            if (w < 0 && errno == EINTR) {
                continue;
            }
            if (w <= 0) {
                r = -1;
                break;
            }
            off += (size_t)w;
        }
        if (r < 0) {
            break;
        }
    }
    close(in);
    if (r < 0 || fsync(out) != 0 || close(out) != 0 || rename(tmp, dst) != 0) {
        fprintf(stderr, "%s: cannot write %s: %s\n", prog, dst,
                strerror(errno));
        unlink(tmp);
        return 1;
    }
    return 0;
}

/* Parses an integer option value in [lo, hi]; -1 if it is not one. */
static long
int_arg(const char *opt, const char *text, long lo, long hi)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < lo || v > hi) {
        fprintf(stderr, "%s: %s takes a number %ld..%ld, not \"%s\"\n", prog,
                opt, lo, hi, text);
        return -1;
    }
    return v;
}

/* Appends a string to the request line; 2 (usage) if it does not fit. */
static int
append(char *line, size_t size, const char *s)
{
    size_t o = strlen(line), n = strlen(s);

    if (o + n >= size) {
        fprintf(stderr, "%s: request too long\n", prog);
        return 2;
    }
    memcpy(line + o, s, n + 1);
    return 0;
}

/* Reads the token file's first line and authenticates; 0 or an exit
 * status. */
static int
authenticate(conn *c, const char *token_file)
{
    char auth[400] = "auth", tok[256] = "", *start;
    FILE *f = token_file ? fopen(token_file, "re") : NULL;
    char *reply;
    size_t n;

    if (f == NULL || fgets(tok, sizeof(tok), f) == NULL) {
        fprintf(stderr, "%s: -t needs -k TOKEN_FILE (readable): %s\n", prog,
                token_file ? strerror(errno) : "none given");
        if (f != NULL) {
            fclose(f);
        }
        return 2;
    }
    fclose(f);
    /* The first line, surrounding blanks ignored (as the host reads it). */
    start = tok + strspn(tok, " \t");
    n = strcspn(start, "\r\n");
    while (n > 0 && (start[n - 1] == ' ' || start[n - 1] == '\t')) {
        n--;
    }
    start[n] = '\0';
    append_word(auth, sizeof(auth) - 2, start);
    if (append(auth, sizeof(auth), "\n") != 0 || send_line(c, auth) != 0) {
        return 3;
    }
    reply = read_line(c, 10000);
    if (reply == NULL || strstr(reply, "\"ok\":true") == NULL) {
        fprintf(stderr, "%s: authentication failed%s%s\n", prog,
                reply ? ": " : "", reply ? reply : "");
        free(reply);
        return 1;
    }
    free(reply);
    return 0;
}

int
main(int argc, char **argv)
{
    const char *sock = getenv("EMBPROF_CONTROL_SOCKET");
    const char *tcp = NULL, *token_file = NULL, *out_file = NULL;
    const char *command;
    char line[8192] = "", *reply = NULL;
    int i, rc, rows = 20, iterations = 0;
    double interval = 1.0;
    struct sigaction sa;
    conn *c;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal; /* no SA_RESTART: poll() returns EINTR */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    for (i = 1; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];

        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "-V") == 0 || strcmp(a, "--version") == 0) {
            printf("embprofctl %s\n", EMBPROF_VERSION_STRING);
            return 0;
        } else if (strcmp(a, "--json") == 0) {
            json_out = 1;
        } else if ((strcmp(a, "-s") == 0 || strcmp(a, "--socket") == 0) &&
                   i + 1 < argc) {
            sock = argv[++i];
        } else if ((strcmp(a, "-t") == 0 || strcmp(a, "--tcp") == 0) &&
                   i + 1 < argc) {
            tcp = argv[++i];
        } else if ((strcmp(a, "-k") == 0 || strcmp(a, "--token") == 0) &&
                   i + 1 < argc) {
            token_file = argv[++i];
        } else {
            fprintf(stderr, "%s: unknown option %s\nTry '%s --help'.\n", prog,
                    a, prog);
            return 2;
        }
    }
    if (i >= argc) {
        fprintf(stderr, "%s: no command given\nTry '%s --help'.\n", prog,
                prog);
        return 2;
    }
    command = argv[i];
    if (tcp == NULL && (sock == NULL || sock[0] == '\0')) {
        fprintf(stderr,
                "%s: no socket: give -s PATH or set "
                "EMBPROF_CONTROL_SOCKET\n",
                prog);
        return 2;
    }
    /* Command-specific flags; the rest is sent as it is. */
    for (int j = i; j < argc; j++) {
        bool top = strcmp(command, "top") == 0;
        const char *w = argv[j];
        long v;

        if (strcmp(w, "--json") == 0) {
            json_out = 1;
        } else if (top && strcmp(w, "-n") == 0 && j + 1 < argc) {
            if ((v = int_arg("-n", argv[++j], 0, 1000000)) < 0) {
                return 2;
            }
            iterations = (int)v;
        } else if (top && (strcmp(w, "-r") == 0 || strcmp(w, "--rows") == 0) &&
                   j + 1 < argc) {
            if ((v = int_arg("-r", argv[++j], 1, 10000)) < 0) {
                return 2;
            }
            rows = (int)v;
        } else if (top && strncmp(w, "n=", 2) == 0) {
            if ((v = int_arg("n=", w + 2, 1, 10000)) < 0) {
                return 2;
            }
            rows = (int)v;
        } else if (top && strcmp(w, "-i") == 0 && j + 1 < argc) {
            char *end;

            interval = strtod(argv[++j], &end);
            if (*end != '\0' || !(interval >= 0.1 && interval <= 3600)) {
                fprintf(stderr, "%s: -i takes seconds, 0.1..3600\n", prog);
                return 2;
            }
        } else if (top && strcmp(w, "--once") == 0) {
            iterations = 1;
        } else if (strcmp(command, "export") == 0 && strcmp(w, "-o") == 0 &&
                   j + 1 < argc) {
            out_file = argv[++j];
        } else if (!top || j == i) {
            append_word(line, sizeof(line) - 2, w);
        } else {
            fprintf(stderr, "%s: top: unknown argument %s\n", prog, w);
            return 2;
        }
    }
    if (append(line, sizeof(line), "\n") != 0) {
        return 2;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return 1;
    }
    c->fd = -1;
    rc = tcp ? connect_tcp(c, tcp) : connect_unix(c, sock);
    if (rc == 0 && tcp != NULL) {
        rc = authenticate(c, token_file);
    }
    if (rc != 0) {
        if (c->fd >= 0) {
            close(c->fd);
        }
        free(c);
        return rc;
    }
    if (strcmp(command, "top") == 0) {
        rc = cmd_top(c, rows, interval, iterations);
    } else if (strcmp(command, "subscribe") == 0) {
        rc = request(c, line, "subscribe", rows, NULL);
        while (rc == 0 && !interrupted) {
            char *ev = read_line(c, -1);

            if (ev == NULL) {
                break;
            }
            show(ev, "event", rows);
            free(ev);
        }
    } else {
        rc = request(c, line, command, rows,
                     strcmp(command, "export") == 0 ? &reply : NULL);
        if (rc == 0 && out_file != NULL && reply != NULL) {
            json_error_t err;
            json_t *r = json_loads(reply, 0, &err);
            const char *file = json_string_value(json_object_get(r, "file"));

            rc = file ? copy_file(file, out_file) : 1;
            if (rc == 0 && !json_out) {
                printf("copied to %s\n", out_file);
            }
            json_decref(r);
        }
        free(reply);
    }
    close(c->fd);
    free(c->buf);
    free(c);
    return rc;
}

// frame_loop -- an embprof sample in C++17: a 60 Hz frame loop that calls
// Python's update(dt) every frame (game.py), with a Python background
// thread competing for the GIL. Each frame's time goes to embprof as the
// observation "frame_ms"; frame_budget.lua profiles the frames over
// 16.7 ms. It is also the proof that embprof.h is usable from C++:
// this file builds with -std=c++17 -Wall -Wextra -pedantic -Werror.
//
//   frame_loop -o out                           # sampler on, 5 s
//   frame_loop --policy frame_budget.lua -o out # profile slow frames only
//
// See README.md next to this file; `frame_loop --help` lists the options.
#include <Python.h>

#include <embprof.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>
#include <utility>
#include <vector>

namespace
{

const char *const prog = "frame_loop";
constexpr double budget_ms = 1000.0 / 60.0; // 16.7 ms

// Exit statuses (also in --help and README.md).
enum Exit : int {
    exit_ok = 0,      // every frame ran
    exit_runtime = 1, // embprof, Python or an export failed
    exit_usage = 2,   // bad command line or setting
};

struct Options {
    std::string outdir = "frame_loop-out";
    std::string game;       // game.py; empty: next to the executable
    std::string policy;     // policy.file; empty: none
    int frames = 300;       // 5 s at 60 Hz
    int spike_every = 30;   // every 30th frame is slow
    double spike_ms = 25.0; // ... by this much
    bool sampler = true;    // start the sampler at init
    std::vector<std::pair<std::string, std::string>> settings; // --set
};

// A strong reference to a Python object, released by the destructor. The
// GIL must be held whenever one is created, reset or destroyed.
class PyRef
{
  public:
    explicit PyRef(PyObject *o = nullptr) noexcept : obj_(o)
    {
    }
    PyRef(const PyRef &) = delete;
    PyRef &operator=(const PyRef &) = delete;
    PyRef(PyRef &&other) noexcept : obj_(std::exchange(other.obj_, nullptr))
    {
    }
    PyRef &
    operator=(PyRef &&other) noexcept
    {
        std::swap(obj_, other.obj_);
        return *this;
    }
    ~PyRef()
    {
        Py_XDECREF(obj_);
    }
    PyObject *
    get() const noexcept
    {
        return obj_;
    }
    explicit operator bool() const noexcept
    {
        return obj_ != nullptr;
    }

  private:
    PyObject *obj_;
};

// Holds the GIL for a scope through embprof_gil_ensure, so the GIL probe
// can name the call site.
class GilScope
{
  public:
    GilScope(embprof *ep, const char *site) noexcept
        : ep_(ep), state_(embprof_gil_ensure(ep, site))
    {
    }
    GilScope(const GilScope &) = delete;
    GilScope &operator=(const GilScope &) = delete;
    ~GilScope()
    {
        embprof_gil_release(ep_, state_);
    }

  private:
    embprof *ep_;
    PyGILState_STATE state_;
};

void
usage(std::FILE *out)
{
    std::fprintf(
        out,
        "usage: %s [options]\n"
        "\n"
        "A 60 Hz frame loop in C++ that calls Python's update(dt) each "
        "frame (game.py)\nwhile a Python background thread streams assets. "
        "Each frame's time is\nreported to embprof as \"frame_ms\"; every "
        "--spike-every frames one takes\n--spike-ms longer. At the end the "
        "profiles are written to the output folder.\n"
        "\n"
        "options:\n"
        "  -o, --output DIR      write profiles into DIR, created if "
        "missing\n"
        "                        (default: frame_loop-out)\n"
        "  -n, --frames N        frames to run (default 300: 5 s)\n"
        "      --spike-every K   every K-th frame is slow (default 30; 0: "
        "none)\n"
        "      --spike-ms MS     how long a slow frame's extra work takes "
        "(default 25)\n"
        "      --policy FILE     run the Lua policy FILE (policy.file), e.g. "
        "frame_budget.lua;\n"
        "                        the policy starts the sampler, the host "
        "does not\n"
        "      --no-sampler      do not start the sampler\n"
        "  -r, --rate HZ         sampler rate (sampler.rate)\n"
        "      --game FILE       the Python game module (default: game.py "
        "next to the\n"
        "                        executable)\n"
        "      --set KEY=VALUE   any embprof setting (`embprof-run --help` "
        "lists them)\n"
        "  -h, --help            print this help and exit\n"
        "\n"
        "outputs in DIR: profile.folded, profile.speedscope.json, top.txt "
        "(when the\nsampler ran); slow-frames-N.folded/.txt (written by "
        "frame_budget.lua).\n"
        "\n"
        "exit status: 0 ok; 1 embprof, Python or an export failed; 2 usage "
        "error.\n",
        prog);
}

int
fail_usage(const std::string &what)
{
    std::fprintf(stderr, "%s: %s\nTry '%s --help'.\n", prog, what.c_str(),
                 prog);
    return exit_usage;
}

bool
parse_number(const char *s, double lo, double hi, double &out)
{
    char *end = nullptr;

    errno = 0;
    double v = std::strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !(v >= lo && v <= hi)) {
        return false;
    }
    out = v;
    return true;
}

// Parses argv into o. Returns -1 to go on, or an exit status.
int
parse_args(int argc, char **argv, Options &o)
{
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i], v;
        bool has_value = false;
        auto opt = [&](const char *shrt, const char *lng) {
            std::string l = lng;
            if ((shrt != nullptr && a == shrt) || a == l) {
                if (i + 1 >= argc) {
                    throw std::string("option ") + a + " needs a value";
                }
                v = argv[++i];
                return has_value = true;
            }
            if (a.compare(0, l.size() + 1, l + "=") == 0) {
                v = a.substr(l.size() + 1);
                return has_value = true;
            }
            return false;
        };
        double num = 0;

        try {
            if (a == "-h" || a == "--help") {
                usage(stdout);
                return exit_ok;
            } else if (a == "--no-sampler") {
                o.sampler = false;
            } else if (opt("-o", "--output")) {
                o.outdir = v;
            } else if (opt("-n", "--frames")) {
                if (!parse_number(v.c_str(), 1, 1e7, num)) {
                    return fail_usage("--frames takes 1..10000000, not '" + v +
                                      "'");
                }
                o.frames = static_cast<int>(num);
            } else if (opt(nullptr, "--spike-every")) {
                if (!parse_number(v.c_str(), 0, 1e6, num)) {
                    return fail_usage("--spike-every takes 0..1000000, not '" +
                                      v + "'");
                }
                o.spike_every = static_cast<int>(num);
            } else if (opt(nullptr, "--spike-ms")) {
                if (!parse_number(v.c_str(), 0, 10000, o.spike_ms)) {
                    return fail_usage("--spike-ms takes 0..10000, not '" + v +
                                      "'");
                }
            } else if (opt(nullptr, "--policy")) {
                o.policy = v;
            } else if (opt(nullptr, "--game")) {
                o.game = v;
            } else if (opt("-r", "--rate")) {
                o.settings.emplace_back("sampler.rate", v);
            } else if (opt(nullptr, "--set")) {
                auto eq = v.find('=');
                if (eq == std::string::npos || eq == 0) {
                    return fail_usage("--set takes KEY=VALUE, not '" + v +
                                      "'");
                }
                o.settings.emplace_back(v.substr(0, eq), v.substr(eq + 1));
            } else {
                return fail_usage("unknown option '" + a + "'");
            }
        } catch (const std::string &msg) {
            return fail_usage(msg);
        }
    }
    return -1;
}

bool
make_dirs(const std::string &path)
{
    for (std::size_t at = 1; at <= path.size(); at++) {
        if (at == path.size() || path[at] == '/') {
            std::string part = path.substr(0, at);
            if (mkdir(part.c_str(), 0777) != 0 && errno != EEXIST) {
                return false;
            }
        }
    }
    return true;
}

std::string
next_to_executable(const char *name)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0) {
        exe[n] = '\0';
        std::string dir(exe);
        std::string path = dir.substr(0, dir.rfind('/') + 1) + name;
        if (access(path.c_str(), R_OK) == 0) {
            return path;
        }
    }
#ifdef FL_SOURCE_DIR
    std::string src = std::string(FL_SOURCE_DIR) + "/" + name;
    if (access(src.c_str(), R_OK) == 0) {
        return src;
    }
#endif
    return std::string();
}

// The game module's functions; built and destroyed with the GIL held.
struct Game {
    PyRef module, update, stop;
};

// Imports the game module from its file. The caller holds the GIL.
bool
load_game(const std::string &path, const Options &o, Game &g)
{
    std::string dir = ".", name = path;
    auto slash = path.rfind('/');
    if (slash != std::string::npos) {
        dir = path.substr(0, slash);
        name = path.substr(slash + 1);
    }
    if (name.size() < 4 || name.compare(name.size() - 3, 3, ".py") != 0) {
        std::fprintf(stderr, "%s: %s: not a .py file\n", prog, path.c_str());
        return false;
    }
    name.resize(name.size() - 3);
    PyObject *syspath = PySys_GetObject("path"); // borrowed
    PyRef d(PyUnicode_DecodeFSDefault(dir.c_str()));
    if (syspath == nullptr || !d || PyList_Insert(syspath, 0, d.get()) != 0) {
        PyErr_Print();
        return false;
    }
    g.module = PyRef(PyImport_ImportModule(name.c_str()));
    if (g.module) {
        g.update = PyRef(PyObject_GetAttrString(g.module.get(), "update"));
        g.stop = PyRef(PyObject_GetAttrString(g.module.get(), "stop"));
    }
    if (g.update && g.stop) {
        PyRef r(PyObject_CallMethod(g.module.get(), "configure", "id",
                                    o.spike_every, o.spike_ms));
        PyRef s(r ? PyObject_CallMethod(g.module.get(), "start", nullptr)
                  : nullptr);
        if (s) {
            return true;
        }
    }
    std::fprintf(stderr, "%s: cannot set up the game module %s:\n", prog,
                 path.c_str());
    PyErr_Print();
    return false;
}

struct FrameStats {
    std::vector<double> ms;
    int over_budget = 0;
    int errors = 0;
};

double
now_ms()
{
    using namespace std::chrono;
    return duration<double, std::milli>(steady_clock::now().time_since_epoch())
        .count();
}

// The frame loop. Runs without the GIL; each update takes it for the
// call only, so the background thread runs between frames.
void
run_frames(embprof *ep, const Options &o, Game &g, FrameStats &st)
{
    using clock = std::chrono::steady_clock;
    const auto period = std::chrono::duration_cast<clock::duration>(
        std::chrono::duration<double, std::milli>(budget_ms));
    auto next = clock::now();
    double last = now_ms();

    for (int frame = 0; frame < o.frames; frame++) {
        double start = now_ms(), dt = (start - last) / 1000.0;
        last = start;
        {
            GilScope gil(ep, "frame_loop.cpp:update");
            PyRef r(PyObject_CallFunction(g.update.get(), "d", dt));
            if (!r) {
                if (st.errors++ == 0) {
                    std::fprintf(stderr, "%s: update() raised (shown once):\n",
                                 prog);
                    PyErr_Print();
                } else {
                    PyErr_Clear();
                }
            }
        }
        double ms = now_ms() - start;
        embprof_observe(ep, "frame_ms", ms);
        st.ms.push_back(ms);
        st.over_budget += ms > budget_ms;
        next += period;
        auto now = clock::now();
        if (next > now) {
            std::this_thread::sleep_until(next);
        } else {
            next = now; // late: start the next frame now, do not catch up
        }
    }
}

void
report(const FrameStats &st)
{
    std::vector<double> v = st.ms;
    if (v.empty()) {
        return;
    }
    std::sort(v.begin(), v.end());
    auto at = [&](double q) {
        return v[static_cast<std::size_t>(q *
                                          static_cast<double>(v.size() - 1))];
    };
    std::printf("%s: %zu frames; frame time p50 %.1f ms, p99 %.1f ms, max "
                "%.1f ms; %d over the %.1f ms budget; %d update errors\n",
                prog, v.size(), at(0.5), at(0.99), v.back(), st.over_budget,
                budget_ms, st.errors);
}

// Writes the sampler's profile, if it collected any. Returns false if a
// write failed.
bool
write_outputs(embprof *ep, const std::string &dir)
{
    static const char *const files[][2] = {
        {"collapsed", "profile.folded"},
        {"speedscope", "profile.speedscope.json"},
        {"top", "top.txt"},
    };
    bool ok = true;

    if (embprof_active(ep, "sampler") == 1) {
        embprof_stop(ep, "sampler");
    }
    std::printf("%s: outputs in %s:\n", prog, dir.c_str());
    for (const auto &f : files) {
        int rc = embprof_export(ep, f[0], f[1]);
        if (rc == EMBPROF_OK) {
            std::printf("  %s/%s\n", dir.c_str(), f[1]);
        } else if (rc != EMBPROF_ENODATA) {
            std::fprintf(stderr, "%s: export %s: %s\n", prog, f[1],
                         embprof_last_error());
            ok = false;
        }
    }
    return ok;
}

} // namespace

int
main(int argc, char **argv)
{
    Options o;
    int rc = parse_args(argc, argv, o);
    if (rc >= 0) {
        return rc;
    }
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
    std::string game = o.game.empty() ? next_to_executable("game.py") : o.game;
    if (game.empty()) {
        return fail_usage("game.py not found next to the executable; give "
                          "--game FILE");
    }
    char real[PATH_MAX];
    if (!make_dirs(o.outdir) || realpath(o.outdir.c_str(), real) == nullptr) {
        std::fprintf(stderr, "%s: cannot create output directory %s: %s\n",
                     prog, o.outdir.c_str(), std::strerror(errno));
        return exit_runtime;
    }
    const std::string dir = real;

    // The config: environment first, then the command line.
    embprof_config *cfg = embprof_config_new();
    if (cfg == nullptr || embprof_config_from_env(cfg) != EMBPROF_OK) {
        return fail_usage(embprof_last_error());
    }
    auto set = [&](const std::string &key, const std::string &value) {
        if (embprof_config_set(cfg, key.c_str(), value.c_str()) ==
            EMBPROF_OK) {
            return true;
        }
        std::string why = embprof_last_error();
        if (key == "policy.file") {
            why += " (this embprof build may have no policy engine)";
        }
        fail_usage(why);
        return false;
    };
    bool ok = set("output.dir", dir);
    for (const auto &kv : o.settings) {
        ok = ok && set(kv.first, kv.second);
    }
    if (ok && !o.policy.empty()) {
        ok = set("policy.file", o.policy);
    }
    if (ok && o.sampler && o.policy.empty()) {
        ok = set("sampler.enabled", "true");
    }
    if (ok && embprof_config_validate(cfg) != EMBPROF_OK) {
        ok = false;
        fail_usage(embprof_last_error());
    }
    if (!ok) {
        embprof_config_free(cfg);
        return exit_usage;
    }

    embprof *ep = nullptr;
    if (embprof_init(cfg, nullptr, &ep) != EMBPROF_OK) {
        std::fprintf(stderr, "%s: %s\n", prog, embprof_last_error());
        embprof_config_free(cfg);
        return exit_runtime;
    }
    embprof_config_free(cfg);
    embprof_thread_name("main-loop");

    int status = exit_ok;
    FrameStats st;
    {
        Game g; // destroyed below, while this thread holds the GIL
        if (!load_game(game, o, g)) {
            status = exit_runtime;
        } else {
            std::printf("%s: %d frames at 60 Hz, every %d-th %.0f ms "
                        "slower%s\n",
                        prog, o.frames, o.spike_every, o.spike_ms,
                        o.policy.empty() ? "" : "; policy runs the sampler");
            PyThreadState *save = PyEval_SaveThread();
            run_frames(ep, o, g, st);
            PyEval_RestoreThread(save);
            report(st);
            // Export while the background thread still runs, so that its
            // Python name ("asset-streamer") is in the profile.
            if (!write_outputs(ep, dir)) {
                status = exit_runtime;
            }
            PyRef chunks(PyObject_CallNoArgs(g.stop.get()));
            if (chunks) {
                std::printf("%s: the background thread decompressed %ld "
                            "asset chunks\n",
                            prog, PyLong_AsLong(chunks.get()));
            } else {
                PyErr_Print();
            }
        }
    }
    if (embprof_finalize(ep) != EMBPROF_OK) {
        std::fprintf(stderr, "%s: %s\n", prog, embprof_last_error());
        status = exit_runtime;
    }
    return status;
}

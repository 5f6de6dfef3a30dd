// cmd_ablate.cpp — `reco ablate`: train and score the paper's ablation grid (ablation_grid.h) and
// write DIR/ablations.md, DIR/ablations.csv and plots.
//
//   reco ablate --out DIR [--seeds 3] [--steps N] [--k 10] [--batch 256] [--lr 1e-3] [--no-plots]
//       no --data: the built-in synthetic benchmark (docs/synthetic.md), one generated benchmark per
//       seed in DIR/data-seed<S>/ (train, memory, test = eval.safetensors, val.safetensors);
//       [--caption-noise R] [--memory-noise S] [--concepts-per-group N] [--train-per-concept N]
//       [--memory-per-concept N] change it. --jobs J (default 2) runs J seeds at once (threads).
//   reco ablate --data EMB --memory MEM --eval EMB [--val EMB] [--model DIR] --out DIR ...
//       your embedding files (classes of --eval/--val = their distinct captions, as `reco eval
//       zeroshot`); seeds vary the training seed and the memory subsets. --eval must not be the memory.
//
// Every finished cell is written to DIR/cells/<seed>_<cell>.json (atomically) with a key naming what
// was run; running the command again skips every cell whose file holds the same key, so an
// interrupted ablate resumes where it stopped and a finished one only rewrites the report. Progress
// with an ETA over the whole grid goes to stderr. The base cell of the first seed also writes its
// training curve (train_metrics.h, validation evaluated every tenth of the run) to
// DIR/training_seed<S>.jsonl. Plots: tools/plot_ablations.py, run with $RECO_PYTHON (default
// python3) when it can import matplotlib; otherwise the command to draw them is printed.
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>

#include <omp.h>

#include "ablation_cell.h"
#include "ablation_grid.h"
#include "cli.h"
#include "dist/sharded_memory.h"
#include "common.h"
#include "memory.h"
#include "neighbour_cache.h"
#include "synthetic.h"
#include "train_metrics.h"
#include "trainer.h"

namespace reco {

static void make_dir(const std::string& d) {
    if (mkdir(d.c_str(), 0755) != 0 && errno != EEXIST) fail("%s: cannot create directory: %s", d.c_str(), strerror(errno));
}

static std::string file_identity(const std::string& p) {
    struct stat s;
    if (stat(p.c_str(), &s) != 0) fail("%s: cannot stat", p.c_str());
    return strformat("%s:%lld:%lld", absolute_path(p).c_str(), (long long)s.st_size, (long long)s.st_mtime);
}

static std::string shell_quote(const std::string& s) {
    std::string q = "'";
    for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
}

// tools/plot_ablations.py beside the binary's folder, or under the current folder; $RECO_PLOT_SCRIPT wins.
static std::string plot_script() {
    if (const char* e = getenv("RECO_PLOT_SCRIPT")) return e;
    char buf[PATH_MAX];
    const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n > 0) {
        std::string exe(buf, n);
        const std::string cand = exe.substr(0, exe.rfind('/')) + "/tools/plot_ablations.py";
        if (file_exists(cand)) return cand;
    }
    return "tools/plot_ablations.py";
}

static void draw_plots(const std::string& dir) {
    const char* env = getenv("RECO_PYTHON");
    const std::string py = env && *env ? env : "python3", script = plot_script();
    const std::string how = "pip install -r tools/requirements-plot.txt, then: " + py + " " + script + " " + dir +
                            "  (or set RECO_PYTHON to a python that has matplotlib)";
    if (!file_exists(script)) {
        fprintf(stderr, "plots: %s not found; %s\n", script.c_str(), how.c_str());
        return;
    }
    if (system((shell_quote(py) + " -c 'import matplotlib' >/dev/null 2>&1").c_str()) != 0) {
        fprintf(stderr, "plots: %s cannot import matplotlib; to draw them: %s\n", py.c_str(), how.c_str());
        return;
    }
    const int rc = system((shell_quote(py) + " " + shell_quote(script) + " " + shell_quote(dir)).c_str());
    if (rc != 0) fprintf(stderr, "plots: %s failed (status %d); the tables are written\n", script.c_str(), rc);
}

// The files of one seed: the synthetic benchmark generated for it, or the user's.
struct SeedFiles {
    std::string data, memory, test, val, identity;
};

static SeedFiles synthetic_files(const SyntheticConfig& base, int seed, const std::string& out) {
    SyntheticConfig cfg = base;
    cfg.seed = (uint64_t)seed;
    const std::string dir = strformat("%s/data-seed%d", out.c_str(), seed);
    const std::string stamp = strformat("synthetic d=%d groups=%d cpg=%d heldout=%d val=%d train=%d memory=%d eval=%d "
                                        "coarse=%.17g fine=%.17g align=%.17g noise=%.17g memory_noise=%.17g "
                                        "caption_noise=%.17g seed=%d\n",
                                        cfg.d, cfg.groups, cfg.concepts_per_group, cfg.heldout_per_group,
                                        cfg.val_per_group, cfg.train_per_concept, cfg.memory_per_concept,
                                        cfg.eval_per_concept, cfg.coarse, cfg.fine, cfg.align, cfg.noise,
                                        cfg.memory_noise, cfg.caption_noise, seed);
    SeedFiles f{dir + "/train.safetensors", dir + "/memory.safetensors", dir + "/eval.safetensors",
                dir + "/val.safetensors", stamp};
    const std::string stamp_path = dir + "/benchmark.txt";
    if (!(file_exists(stamp_path) && read_file(stamp_path) == stamp && file_exists(f.data) && file_exists(f.memory) &&
          file_exists(f.test) && file_exists(f.val))) {
        make_dir(dir);
        write_synthetic(make_synthetic(cfg), dir);
        write_file_atomic(stamp_path, stamp.data(), stamp.size());  // last: the files above are complete
    }
    return f;
}

static int run_ablate(Args& a, int, char**) {
    if (!a.positional().empty()) fail("reco ablate takes no positional arguments (got '%s')", a.positional()[0].c_str());
    if (!a.has("out")) fail("reco ablate needs --out DIR (results, cached cells and plots go there)");
    const std::string out = a.get("out");
    const bool synthetic = !a.has("data");
    if (synthetic) {
        for (const char* opt : {"memory", "eval", "val", "model"})
            if (a.has(opt)) fail("--%s needs --data (without --data, reco ablate runs the synthetic benchmark)", opt);
    } else {
        for (const char* opt : {"memory", "eval"})
            if (!a.has(opt)) fail("reco ablate --data EMB needs --memory MEM and --eval EMB (missing --%s)", opt);
        for (const char* opt : {"caption-noise", "memory-noise", "concepts-per-group", "train-per-concept",
                                "memory-per-concept"})
            if (a.has(opt)) fail("--%s applies to the synthetic benchmark (no --data)", opt);
    }
    const int seeds = a.get_int("seeds", 3), k = a.get_int("k", 10);
    if (!synthetic && a.has("jobs") && a.get_int("jobs", 1) != 1)
        fail("--jobs applies to the synthetic benchmark (your files are shared by every seed: one at a time)");
    const int jobs = synthetic ? std::max(1, std::min(a.get_int("jobs", 2), seeds)) : 1;
    if (seeds < 1) fail("--seeds must be at least 1");
    if (k < 1) fail("--k must be at least 1 (the grid adds k = 0 itself)");
    make_dir(out);
    make_dir(out + "/cells");
    if (synthetic && !getenv("OMP_NUM_THREADS")) omp_set_num_threads(1);  // d = 64: threads do not pay (run_synthetic)

    SyntheticConfig scfg = synthetic_benchmark_config();
    if (a.has("caption-noise")) scfg.caption_noise = a.get_double("caption-noise", scfg.caption_noise);
    if (a.has("memory-noise")) scfg.memory_noise = a.get_double("memory-noise", scfg.memory_noise);
    scfg.concepts_per_group = a.get_int("concepts-per-group", scfg.concepts_per_group);
    scfg.train_per_concept = a.get_int("train-per-concept", scfg.train_per_concept);
    scfg.memory_per_concept = a.get_int("memory-per-concept", scfg.memory_per_concept);

    AblationReport report;
    report.title = synthetic ? "the built-in synthetic benchmark (docs/synthetic.md)" : "data " + a.get("data");
    std::vector<GridCell> grid0 = ablation_grid(k, 1);
    const long long total = (long long)seeds * grid0.size();
    long long done = 0, ran = 0;
    double ran_seconds = 0;
    const auto t0 = std::chrono::steady_clock::now();
    std::mutex lock;  // guards the counters above and stderr when seeds run in parallel
    auto run_seed = [&](int seed) {
        SeedFiles f;
        if (synthetic) {
            f = synthetic_files(scfg, seed, out);
        } else {
            f = {a.get("data"), a.get("memory"), a.get("eval"), a.get("val", ""), ""};
            f.identity = file_identity(f.data) + " " + file_identity(f.memory) + " " + file_identity(f.test) +
                         (f.val.empty() ? "" : " " + file_identity(f.val));
        }
        EmbeddingFile data(f.data), test(f.test);
        ShardedMemory mem(f.memory);  // a file or a directory of shards (SPEC §9)
        check_compatible("data " + data.path(), data.d(), data.model(), "memory " + mem.path(), mem.d(), mem.model());
        check_compatible("eval " + test.path(), test.d(), test.model(), "memory " + mem.path(), mem.d(), mem.model());
        if (same_file(f.test, f.memory))
            fail("--eval %s is the memory: ablate needs an evaluation set apart from the memory", f.test.c_str());
        std::unique_ptr<EmbeddingFile> val;
        if (!f.val.empty()) {
            val.reset(new EmbeddingFile(f.val));
            check_compatible("val " + val->path(), val->d(), val->model(), "memory " + mem.path(), mem.d(),
                             mem.model());
        }
        const EvalSet test_set = load_eval_set(test);
        std::unique_ptr<EvalSet> val_set(val ? new EvalSet(load_eval_set(*val)) : nullptr);

        TrainSettings base;
        base.batch = std::min(a.get_int("batch", 256), data.n());
        base.total_steps = a.get_i64("steps", synthetic ? kSyntheticSteps : 10 * (data.n() / base.batch));
        if (base.total_steps < 1) fail("--steps must be at least 1");
        base.warmup = base.total_steps / 20;
        base.lr = a.get_double("lr", base.lr);
        base.heads = a.get_int("heads", 8);
        base.seed = (uint64_t)seed;
        const float logit_scale =
            synthetic ? kDefaultLogitScale : clip_logit_scale(a.get("model", data.model()));

        std::map<std::string, CellResult> results;
        for (const GridCell& cell : ablation_grid(k, (uint64_t)seed)) {
            TrainSettings s = base;
            s.set_mode(cell.mode);
            const std::string key =
                strformat("%s | %s | steps %lld batch %d lr %.17g heads %d seed %d | %s", cell.id.c_str(),
                          cell.mode.describe().c_str(), (long long)s.total_steps, s.batch, s.lr, s.heads, seed,
                          f.identity.c_str());
            const std::string path = cell_path(out, seed, cell.id);
            CellResult r;
            if (!read_cell(path, key, r)) {
                const auto c0 = std::chrono::steady_clock::now();
                {
                    std::lock_guard<std::mutex> g(lock);
                    const double eta = ran > 0 ? ran_seconds / ran * (double)(total - done) / jobs : 0;
                    fprintf(stderr, "ablate: cell %lld/%lld  seed %d  %-28s %s\n", done + 1, total, seed,
                            cell.id.c_str(), ran > 0 ? strformat("ETA %.0fs", eta).c_str() : "");
                }
                TrainLoopOptions o;
                o.progress = false;
                o.log = nullptr;
                std::unique_ptr<MetricsWriter> metrics;
                std::unique_ptr<ModeMemory> curve_mem;  // outlives the training loop that uses it
                if (cell.id == "base" && seed == 1) {
                    metrics.reset(new MetricsWriter(strformat("%s/training_seed%d.jsonl", out.c_str(), seed)));
                    curve_mem.reset(new ModeMemory(mem, cell.mode));
                    const ModeMemory& mm = *curve_mem;
                    const EvalSet& curve = val_set ? *val_set : test_set;  // validation when there is one
                    const std::string curve_name = val_set ? "val" : "test";
                    const int64_t every = std::max<int64_t>(1, s.total_steps / 10);
                    o.on_step = [&mm, &metrics, &curve, &s, every, curve_name](Trainer& tr, int64_t n, float loss, double secs) {
                        metrics->step(n, loss, tr.lr_at(n - 1), tr.model.logit_scale(), secs > 0 ? n / secs : 0,
                                      s.batch, secs);
                        if (n % every == 0 || n == s.total_steps)
                            metrics->eval(n, curve_name, zeroshot_eval(tr.model, mm, curve.img, curve.label,
                                                                       curve.cls, curve.C));
                    };
                }
                FusionModel model = train_fusion(data, mem, s, logit_scale, o);
                if (metrics) metrics->flush();
                r.key = key;
                CellScores t = score_cell(model, mem, cell.mode, test_set);
                r.test = {true, t.reco, t.mean, t.query_mean};
                if (val_set) {
                    CellScores v = score_cell(model, mem, cell.mode, *val_set);
                    r.val = {true, v.reco, v.mean, v.query_mean};
                }
                r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - c0).count();
                write_cell(path, r);
                std::lock_guard<std::mutex> g(lock);
                ran++;
                ran_seconds += r.seconds;
            }
            results[cell.id] = r;
            std::lock_guard<std::mutex> g(lock);
            done++;
        }
        return results;
    };
    // Seeds in parallel (synthetic only: each seed has its own files, so no two threads write the
    // same neighbour cache); each thread runs its OpenMP regions on one thread.
    std::vector<std::map<std::string, CellResult>> per_seed(seeds);
    if (jobs == 1) {
        for (int seed = 1; seed <= seeds; seed++) per_seed[seed - 1] = run_seed(seed);
    } else {
        std::atomic<int> next{1};
        std::exception_ptr error;
        std::vector<std::thread> threads;
        const bool one_thread = !getenv("OMP_NUM_THREADS");
        for (int j = 0; j < jobs; j++)
            threads.emplace_back([&] {
                if (one_thread) omp_set_num_threads(1);
                for (int seed; (seed = next++) <= seeds;) {
                    try {
                        per_seed[seed - 1] = run_seed(seed);
                    } catch (...) {
                        std::lock_guard<std::mutex> g(lock);
                        if (!error) error = std::current_exception();
                        next = seeds + 1;  // stop the other workers after their current seed
                    }
                }
            });
        for (std::thread& t : threads) t.join();
        if (error) std::rethrow_exception(error);
    }
    for (int seed = 1; seed <= seeds; seed++) {
        report.seeds.push_back(seed);
        report.results.push_back(per_seed[seed - 1]);
    }
    report.grid = grid0;
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const std::string md = write_ablation_report(out, report);
    printf("%s", md.c_str());
    printf("ablate: %lld cells (%lld run now, %lld cached) in %.0fs; wrote %s/ablations.md and %s/ablations.csv\n",
           total, ran, total - ran, secs, out.c_str(), out.c_str());
    fflush(stdout);
    if (!a.has("no-plots")) draw_plots(out);
    return 0;
}

REGISTER_COMMAND(ablate,
                 "ablate --out DIR [--seeds 3] [--jobs 2] [--steps N] [--k 10] [--batch 256] [--lr 1e-3] [--heads 8] [--no-plots]\n"
                 "                  [--data EMB --memory MEM --eval EMB [--val EMB] [--model DIR]]\n"
                 "                  no --data: the synthetic benchmark [--caption-noise R] [--memory-noise S]\n"
                 "                  [--concepts-per-group N] [--train-per-concept N] [--memory-per-concept N]\n"
                 "                  trains and scores the paper's ablation grid; finished cells are cached in DIR",
                 run_ablate,
                 {"out", "seeds", "jobs", "steps", "k", "batch", "lr", "heads", "data", "memory", "eval", "val", "model",
                  "caption-noise", "memory-noise", "concepts-per-group", "train-per-concept", "memory-per-concept"},
                 {"no-plots"});

}  // namespace reco

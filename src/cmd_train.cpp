// cmd_train.cpp — `reco train`: train the two fusion modules (SPEC §4, §6), or, with no --data, the
// built-in synthetic benchmark (synthetic.h, docs/synthetic.md).
//
//   reco train --data EMB --memory MEM [--k 10] [--batch 256] [--steps N | --epochs E] [--lr 1e-3]
//              [--wd 0.05] [--warmup N] [--schedule cosine|constant] [--no-shuffle] [--seed S]
//              [--heads 8] [--init CKPT] [--resume CKPT] [--out CKPT] [--log-every N] [--save-every N]
//              [--stop-after N] [--model DIR] [--loss nce|sigmoid]
//
// Defaults and choices (the paper is silent where not cited):
//   - length: 10 epochs (paper) unless --steps or --epochs; the last partial batch of an epoch is
//     dropped (every step sees exactly --batch items).
//   - warm-up: 5% of the steps for the cosine schedule unless --warmup.
//   - --loss: nce (default; the paper's three-term InfoNCE, nce_loss.h) or sigmoid (SigLIP's
//     pairwise sigmoid loss in each of the three terms, sigmoid_loss.h; SPEC §8). It is stored in the
//     checkpoint: --resume continues with it (a different --loss is an error), and a sigmoid
//     checkpoint carries the learnable logit_bias with its AdamW moments. The CUDA backend has the
//     nce loss only: with a GPU, --loss sigmoid trains on the CPU (a one-line note says so).
//   - logit_scale (nce): from --model DIR/model.safetensors, else from the data's `model` when that
//     is a directory holding model.safetensors, else ln(1/0.07). sigmoid: logit_scale = ln 10,
//     logit_bias = −10 (the SigLIP paper's initialisation, SPEC §8).
//   - --init CKPT copies the fusion weights; its logit_scale (and logit_bias) too when CKPT was
//     trained with the same --loss, else the scalars start from the --loss's initialisation above.
//   - the model is initialised from --seed (default 0); the same seed orders the batches.
//   - --out defaults to fusion.safetensors (to the --resume checkpoint itself when resuming); the
//     checkpoint always carries the AdamW moments, so every checkpoint can be resumed. Before any
//     work, --out is checked (its folder exists and takes files) and locked (OUT.lock, out_lock.h):
//     a second run with the same --out fails at once instead of interleaving saves.
//   - the checkpoint stores the data and memory as absolute paths, so --resume works from any folder.
//   - stdout: "step <n> loss <value>" every --log-every steps (default 10; 0 = none), the loss of
//     that step's batch before its update; stderr: the neighbour search, a progress line, notes.
//   - --resume CKPT continues the run stored in CKPT bit for bit: data, memory, k, batch, heads,
//     seed and shuffling come from the checkpoint (giving a different value is an error); --steps /
//     --epochs, --lr, --wd, --warmup, --schedule may be given to change the rest of the run.
//   - ablation switches (retrieval_mode.h, paper §4): --search uni|cross, --fuse cross|uni, --k 0 (the
//     no-retrieval control), --memory-fraction F with --memory-seed S (a seeded subset of the memory).
//     Stored in the checkpoint; `reco eval` and `reco classify` use them and refuse other ones.
//   - --metrics FILE.jsonl: step, loss, lr, logit_scale, throughput every --metrics-every steps, and
//     zero-shot results of --eval EMB (classes = its captions) every --eval-every steps (default a
//     tenth of the run); the synthetic benchmark evaluates its validation split (train_metrics.h).
//   - --stop-after N stops after N steps of this invocation (the schedule still runs to --steps),
//     e.g. to split a long run over several jobs; Ctrl-C (SIGINT) also stops after the current
//     step and saves a resumable checkpoint.
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

#include <omp.h>

#include "ablation_cell.h"
#include "checkpoint.h"
#include "cli.h"
#include "device.h"
#include "dist/comm.h"
#include "dist/comm_collectives.h"
#include "dist/local_device.h"
#if RECO_CUDA && RECO_NCCL
#include "nccl_comm.h"
#endif
#include "common.h"
#include "memory.h"
#include "neighbour_cache.h"
#include "out_lock.h"
#include "progress.h"
#include "reco_eval.h"
#include "sigmoid_loss.h"
#include "synthetic.h"
#include "train_metrics.h"
#include "train_job.h"
#include "trainer.h"

namespace reco {

static volatile std::sig_atomic_t g_interrupt = 0;
static void on_sigint(int) { g_interrupt = 1; }

// The data or memory file of a resumed run: the one given on the command line, else the one the
// checkpoint names. Checkpoints store absolute paths; older ones stored the paths as typed, which
// only resolve from the folder that run was started in, so say so when such a path is not found.
static std::string resumed_input(const Args& a, const char* opt, const std::string& stored, const Checkpoint* ck) {
    if (a.has(opt) || !ck) return a.get(opt, stored);
    if (!stored.empty() && !file_exists(stored)) {
        if (stored[0] != '/')
            fail("%s: the checkpoint's %s file '%s' is a relative path (written by an older reco) and is not found "
                 "from the current folder; run from the folder that training started in, or give --%s FILE",
                 ck->path.c_str(), opt, stored.c_str(), opt);
        fail("%s: the checkpoint's %s file '%s' does not exist; give --%s FILE", ck->path.c_str(), opt,
             stored.c_str(), opt);
    }
    return stored;
}

TrainOutcome train_job(Args& a, const TrainJob& job) {
    const bool resume = a.has("resume");
    if (resume && a.has("init")) fail("give --resume (continue a run) or --init (start from weights), not both");
    if (a.has("steps") && a.has("epochs")) fail("give --steps or --epochs, not both");

    // ---- the output: checked, and locked against other runs, before any work or reading. When
    // resuming, --out defaults to the checkpoint itself, so it is locked before it is read.
    const std::string out =
        a.get("out", resume ? a.get("resume") : (job.synthetic ? "" : std::string("fusion.safetensors")));
    // With R ranks (mpirun, SPEC §9) rank 0 alone checks, locks and writes --out; every rank learns
    // whether that worked.
    std::unique_ptr<OutputLock> lock;
    dist::collectively("checking --out", [&] {
        if (!out.empty() && dist::is_root()) {
            check_output_path(out, "--out");
            lock.reset(new OutputLock(out, "reco train"));
        }
    });

    // ---- settings: from the checkpoint when resuming, else from the options
    std::unique_ptr<Checkpoint> ck;
    TrainSettings s;
    if (resume) {
        ck.reset(new Checkpoint(load_checkpoint(a.get("resume"))));
        if (!ck->has_optimizer)
            fail("%s: holds no optimiser state (saved for inference); use --init to start a new run from its weights",
                 ck->path.c_str());
        s = ck->settings;
        auto same_int = [&](const char* opt, long long stored) {
            if (a.has(opt) && a.get_i64(opt, 0) != stored)
                fail("--%s %s differs from the checkpoint's %s=%lld; a resumed run keeps its settings", opt,
                     a.get(opt).c_str(), opt, stored);
        };
        same_int("k", s.k);
        same_int("batch", s.batch);
        same_int("heads", s.heads);
        if (a.has("seed") && std::strtoull(a.get("seed").c_str(), nullptr, 10) != s.seed)
            fail("--seed %s differs from the checkpoint's seed=%llu; a resumed run keeps its settings",
                 a.get("seed").c_str(), (unsigned long long)s.seed);
        if (a.has("no-shuffle") && s.shuffle)
            fail("--no-shuffle: the checkpoint's run shuffles; a resumed run keeps its settings");
        if ((a.has("search") && parse_search_mode(a.get("search")) != s.search) ||
            (a.has("fuse") && parse_fuse_mode(a.get("fuse")) != s.fuse) ||
            (a.has("memory-fraction") && a.get_double("memory-fraction", 1) != s.memory_fraction) ||
            (a.has("memory-seed") && (uint64_t)a.get_i64("memory-seed", 0) != s.memory_seed))
            fail("--search/--fuse/--memory-fraction/--memory-seed differ from the checkpoint's (%s); a resumed run "
                 "keeps its settings",
                 s.mode().describe().c_str());
        if (a.has("loss") && a.get("loss") != s.loss) {
            (void)parse_loss(a.get("loss"));  // an unknown name says so first
            fail("--loss %s differs from the checkpoint's loss=%s; a resumed run keeps its loss", a.get("loss").c_str(),
                 s.loss.c_str());
        }
    } else {
        s.set_mode(mode_from_args(a, 10));  // --k --search --fuse --memory-fraction --memory-seed
        s.batch = a.get_int("batch", 256);
        s.heads = a.get_int("heads", 8);
        const long long seed = a.get_i64("seed", 0);
        if (seed < 0) fail("--seed must be non-negative");
        s.seed = (uint64_t)seed;
        s.shuffle = !a.has("no-shuffle");
        s.loss = a.get("loss", "nce");
    }
    const LossKind loss = s.loss_kind();  // validates the name
    if (a.has("lr")) s.lr = a.get_double("lr", s.lr);
    if (a.has("wd")) s.weight_decay = a.get_double("wd", s.weight_decay);
    if (a.has("schedule")) s.schedule = a.get("schedule");
    (void)s.lr_schedule();  // validates the name
    if (!(s.lr > 0)) fail("--lr must be positive");
    if (s.weight_decay < 0) fail("--wd must be non-negative");
    s.mode().validate();
    if (s.batch < 1) fail("--batch must be at least 1");
    if (s.heads < 1) fail("--heads must be at least 1");

    std::string data_path = job.data.empty() ? resumed_input(a, "data", s.data, ck.get()) : job.data;
    std::string mem_path = job.memory.empty() ? resumed_input(a, "memory", s.memory, ck.get()) : job.memory;
    if (data_path.empty()) fail("--data EMB is required (or no --data at all for the synthetic benchmark)");
    if (mem_path.empty()) fail("--memory MEM is required");

    // the checkpoint would replace the data or memory file at the first save
    for (const std::string* in : {&data_path, &mem_path})
        if (!out.empty() && file_exists(out) && file_exists(*in) && same_file(out, *in))
            fail("--out %s: is the %s file; give the checkpoint another name", out.c_str(),
                 in == &data_path ? "--data" : "--memory");
    EmbeddingFile data(data_path);
    ShardedMemory mem(mem_path);  // a file or a directory of shards (SPEC §9)
    check_compatible("data " + data.path(), data.d(), data.model(), "memory " + mem.path(), mem.d(), mem.model());
    if (ck) {
        check_compatible("checkpoint " + ck->path, ck->model.dims.d, s.model, "data " + data.path(), data.d(),
                         data.model());
        if (s.data_n != 0 && s.data_n != data.n())
            fail("%s: has %d items but the checkpoint's run was over %lld (%s); resume needs the same data",
                 data.path().c_str(), data.n(), (long long)s.data_n, s.data.c_str());
    }
    s.data = absolute_path(data_path);  // so that --resume works from any folder
    s.memory = absolute_path(mem_path);
    s.model = data.model();
    s.data_n = data.n();
    if (s.batch > data.n())
        fail("%s: batch %d is larger than the data (%d items); use --batch %d or less", data.path().c_str(), s.batch,
             data.n(), data.n());
    const int64_t spe = data.n() / s.batch;

    // ---- length and warm-up
    if (a.has("steps")) s.total_steps = a.get_i64("steps", 0);
    else if (a.has("epochs")) s.total_steps = a.get_i64("epochs", 0) * spe;
    else if (!resume) s.total_steps = job.default_steps > 0 ? job.default_steps : 10 * spe;
    if (s.total_steps < 1) fail("--steps / --epochs must give at least one step");
    if (a.has("warmup")) s.warmup = a.get_i64("warmup", 0);
    else if (!resume) s.warmup = s.schedule == "cosine" ? s.total_steps / 20 : 0;
    if (s.warmup < 0) fail("--warmup must be non-negative");
    const int64_t start = ck ? ck->step : 0;
    if (start >= s.total_steps)
        fail("%s: is already at step %lld of %lld; give a larger --steps to train further", ck->path.c_str(),
             (long long)start, (long long)s.total_steps);

    // ---- neighbours (exact, once, cached beside the data)
    // (under mpirun: rank 0 reads or writes the cache, the search is split over the ranks)
    NeighbourIndex nb = load_or_compute_neighbours(data, mem, s.mode(), dist::is_root() ? stderr : nullptr);

    // ---- model and optimiser
    FusionModel model;
    AdamWConfig cfg;
    cfg.weight_decay = s.weight_decay;
    AdamW opt;
    if (ck) {
        model = ck->model;
        opt = ck->opt;
        opt.cfg.weight_decay = s.weight_decay;
        dist::root_eprintf("resuming %s at step %lld of %lld\n", ck->path.c_str(), (long long)start,
                (long long)s.total_steps);
    } else if (a.has("init")) {
        Checkpoint init = load_checkpoint(a.get("init"));
        if (init.model.dims.d != data.d())
            fail("%s: fusion width d=%d does not match the data's embedding width d=%d", init.path.c_str(),
                 init.model.dims.d, data.d());
        check_compatible("checkpoint " + init.path, init.model.dims.d, init.settings.model, "data " + data.path(),
                         data.d(), data.model());
        if (a.has("heads") && init.model.dims.heads != s.heads)
            fail("--heads %d differs from %s's heads=%d", s.heads, init.path.c_str(), init.model.dims.heads);
        s.heads = init.model.dims.heads;
        if (init.settings.loss == s.loss) {
            model = init.model;  // weights and logit_scale (logit_bias): a fresh optimiser and step 0
            dist::root_eprintf("initialised the fusion weights and logit_scale%s from %s\n",
                    loss == LossKind::sigmoid ? " and logit_bias" : "", init.path.c_str());
        } else {
            // trained with the other loss: its scalars do not apply; the modules' weights do
            FusionDims dims = init.model.dims;
            dims.logit_bias = loss == LossKind::sigmoid;
            const float ls = loss == LossKind::sigmoid ? kSigmoidInitLogitScale
                                                       : (a.has("model") ? clip_logit_scale(a.get("model"))
                                                                         : clip_logit_scale(data.model()));
            model.init(dims, ls, s.seed, kSigmoidInitLogitBias);
            const size_t modules = 2 * dims.module_numel();
            std::copy(init.model.params.begin(), init.model.params.begin() + modules, model.params.begin());
            dist::root_eprintf(
                    "initialised the fusion weights from %s (trained with the %s loss); logit_scale %.6g%s for the %s "
                    "loss\n",
                    init.path.c_str(), init.settings.loss.c_str(), model.logit_scale(),
                    loss == LossKind::sigmoid ? ", logit_bias -10" : "", s.loss.c_str());
        }
        opt = AdamW(model.table, model.params.size(), cfg);
    } else {
        FusionDims dims;
        dims.d = data.d();
        dims.heads = s.heads;
        dims.logit_bias = loss == LossKind::sigmoid;
        dims.validate();
        if (loss == LossKind::sigmoid) {
            model.init(dims, kSigmoidInitLogitScale, s.seed, kSigmoidInitLogitBias);
            dist::root_eprintf("sigmoid loss: logit_scale initialised to ln 10, logit_bias to -10 (SigLIP)\n");
        } else {
            std::string source;
            const float ls =
                a.has("model") ? clip_logit_scale(a.get("model"), &source) : clip_logit_scale(data.model(), &source);
            model.init(dims, ls, s.seed);
            dist::root_eprintf("logit_scale initialised to %.6g (%s)\n", ls, source.c_str());
        }
        opt = AdamW(model.table, model.params.size(), cfg);
    }

    dist::root_eprintf("training %lld steps (%lld per epoch, batch %d, %s, lr %g %s, warm-up %lld, %s loss)\n",
            (long long)s.total_steps, (long long)spe, s.batch, s.mode().describe().c_str(), s.lr, s.schedule.c_str(),
            (long long)s.warmup, s.loss.c_str());
#if RECO_CUDA && RECO_NCCL
    std::unique_ptr<NcclComm> nccl;  // GPU ranks' collectives; outlives the trainer that uses it
#endif
    Trainer trainer(data, mem, nb, s, std::move(model), std::move(opt), start);
    // Data-parallel over the ranks of an MPI launch: each rank runs its slice of every batch
    // (dist/data_parallel.h); one process is the plain trainer. With a GPU on EVERY rank and NCCL built
    // in, each rank trains on its device (local rank → device) and the collectives run over NCCL.
    CommCollectives ranks;
    const bool parallel = dist::size() > 1;
    const bool want_gpu = resolve_device(a.get("device", "auto")) == Device::CUDA && loss == LossKind::nce;
    if (parallel) {
        const int32_t mine = want_gpu && RECO_NCCL ? 1 : 0;  // all ranks on GPUs, or none
        const std::vector<int32_t> all = dist::allgatherv(&mine, 1);
        const bool on_gpu = std::count(all.begin(), all.end(), 1) == dist::size();
#if RECO_CUDA && RECO_NCCL
        if (on_gpu) {
            std::string id = dist::is_root() ? nccl_unique_id() : std::string();
            dist::broadcast(id, 0);
            const int dev = bind_local_device();
            nccl.reset(new NcclComm(dist::rank(), dist::size(), id, dev < 0 ? 0 : dev));
            trainer.use_cuda();
            trainer.use_data_parallel(&ranks, nccl.get());
        }
#endif
        if (!on_gpu) trainer.use_data_parallel(&ranks);
        dist::root_eprintf("data-parallel over %d ranks (%s%s): each runs %d or %d rows of every batch of %d\n",
                           dist::size(), dist::backend_name().c_str(), on_gpu ? ", NCCL, one GPU per rank" : "",
                           s.batch / dist::size(), (s.batch + dist::size() - 1) / dist::size(), s.batch);
        if (want_gpu && !on_gpu)
            dist::root_eprintf("note: %s; the ranks train on their CPUs\n",
                               RECO_NCCL ? "not every rank has a CUDA device"
                                         : "this build has no NCCL (tools/get_nccl.sh, then make)");
    } else if (resolve_device(a.get("device", "auto")) == Device::CUDA) {
        if (s.k == 0) {
            dist::root_eprintf("note: the k = 0 control (no neighbours) trains on the CPU\n");
        } else if (loss == LossKind::sigmoid) {
            dist::root_eprintf("note: the sigmoid loss has no CUDA kernels yet; training on the CPU\n");
        } else {
            trainer.use_cuda();
            dist::root_eprintf("training on the GPU (%s)\n", cuda_device_name().c_str());
        }
    }
    TrainLoopOptions o;
    // ---- --metrics FILE.jsonl (train_metrics.h), with zero-shot evaluation of --eval EMB
    std::unique_ptr<MetricsWriter> metrics;
    std::unique_ptr<EmbeddingFile> eval_file;
    std::unique_ptr<EvalSet> eval_set;
    std::unique_ptr<ModeMemory> eval_mem;
    const int64_t metrics_every = a.get_i64("metrics-every", 10);
    if (metrics_every < 1) fail("--metrics-every must be at least 1");
    const std::string eval_path = a.get("eval", a.has("metrics") ? job.default_eval : std::string());
    if (a.has("metrics")) metrics.reset(new MetricsWriter(a.get("metrics")));
    if (!eval_path.empty()) {
        eval_file.reset(new EmbeddingFile(eval_path));
        check_compatible("eval " + eval_file->path(), eval_file->d(), eval_file->model(), "data " + data.path(),
                         data.d(), data.model());
        eval_set.reset(new EvalSet(load_eval_set(*eval_file)));
        eval_mem.reset(new ModeMemory(mem, s.mode()));
    }
    const int64_t eval_every = a.get_i64("eval-every", std::max<int64_t>(1, s.total_steps / 10));
    if (eval_every < 1) fail("--eval-every must be at least 1");
    if (metrics || eval_set) {
        const int64_t end_step = s.total_steps;
        o.on_step = [&, end_step](Trainer& tr, int64_t n, float loss, double secs) {
            const bool last = n == end_step;
            const bool want_step = metrics && (n % metrics_every == 0 || last);
            const bool want_eval = eval_set && (n % eval_every == 0 || last);
            if (!want_step && !want_eval) return;
            tr.sync_from_device();  // the GPU holds the weights (no-op on the CPU)
            if (want_step)
                metrics->step(n, loss, tr.lr_at(n - 1), tr.model.logit_scale(), secs > 0 ? (n - start) / secs : 0,
                              s.batch, secs);
            if (want_eval) {
                ZeroShotResult z = zeroshot_eval(tr.model, *eval_mem, eval_set->img, eval_set->label, eval_set->cls,
                                                 eval_set->C);
                if (metrics) metrics->eval(n, eval_file->path(), z);
                fprintf(stderr, "%seval step %lld on %s: frozen %.1f%%, RECO image %.1f%% text %.1f%% both %.1f%%\n",
                        stderr_is_tty() ? "\n" : "", (long long)n, eval_file->path().c_str(), z.frozen, z.image,
                        z.text, z.both);
            }
        };
    }
    o.log_every = a.get_i64("log-every", job.synthetic ? 0 : 10);
    o.save_every = a.get_i64("save-every", 0);
    o.stop_after = a.get_i64("stop-after", 0);
    if (o.log_every < 0 || o.save_every < 0 || o.stop_after < 0)
        fail("--log-every, --save-every and --stop-after must be non-negative");
    o.out = dist::is_root() ? out : "";  // rank 0 writes the checkpoints, prints the steps and the progress
    if (!dist::is_root()) {
        o.log_every = 0;
        o.progress = false;
    }
    // Ctrl-C would stop the ranks at different steps: under mpirun SIGINT keeps its default (the ranks
    // end with the launcher), and the last --save-every checkpoint is the one to --resume from.
    o.interrupt = parallel ? nullptr : &g_interrupt;
    g_interrupt = 0;
    auto previous = parallel ? std::signal(SIGINT, SIG_DFL) : std::signal(SIGINT, on_sigint);
    TrainLoopResult r;
    try {
        r = train_loop(trainer, o);
    } catch (...) {
        std::signal(SIGINT, previous);
        throw;
    }
    std::signal(SIGINT, previous);
    if (metrics) {
        metrics->flush();
        fprintf(stderr, "wrote %s\n", metrics->path().c_str());
    }
    if (!out.empty())
        dist::root_eprintf("wrote %s (step %lld of %lld, %.1fs)%s\n", out.c_str(), (long long)trainer.steps_done(),
                (long long)s.total_steps, r.seconds,
                trainer.steps_done() < s.total_steps ? "; continue with --resume" : "");
    TrainOutcome res;
    res.model = std::move(trainer.model);
    res.k = s.k;
    res.mode = s.mode();
    res.settings = trainer.settings;
    res.step = trainer.steps_done();
    res.interrupted = r.interrupted;
    return res;
}

static int run_train(Args& a, int, char**) {
    if (!a.positional().empty()) fail("reco train takes no positional arguments (got '%s')", a.positional()[0].c_str());
    if (!a.has("data") && !a.has("resume")) return run_synthetic_benchmark(a);
    for (const char* opt : {"synthetic-out", "caption-noise", "memory-noise", "concepts-per-group", "train-per-concept",
                            "memory-per-concept"})
        if (a.has(opt)) fail("--%s applies to the synthetic benchmark (no --data)", opt);
    TrainOutcome t = train_job(a, TrainJob());
    return t.interrupted ? 130 : 0;
}

REGISTER_COMMAND(train,
                 "train --data EMB --memory MEM [--k 10] [--batch 256] [--steps N | --epochs E] [--lr 1e-3]\n"
                 "                  [--wd 0.05] [--warmup N] [--schedule cosine|constant] [--no-shuffle] [--seed S]\n"
                 "                  [--heads 8] [--model DIR] [--init CKPT] [--resume CKPT] [--out CKPT]\n"
                 "                  [--log-every N] [--save-every N] [--stop-after N] [--loss nce|sigmoid]\n"
                 "                  [--metrics FILE.jsonl [--metrics-every 10]] [--eval EMB [--eval-every N]]\n"
                 "                  [--search uni|cross] [--fuse cross|uni] [--memory-fraction F] [--memory-seed S]\n"
                 "                  (ablation switches, stored in the checkpoint; --k 0 = the no-retrieval control)\n"
                 "                  with no --data: trains on the built-in synthetic benchmark [--synthetic-out DIR]\n"
                 "                  [--caption-noise R] [--memory-noise S] [--concepts-per-group N]\n"
                 "                  [--train-per-concept N] [--memory-per-concept N]",
                 run_train,
                 {"data", "memory", "model", "k", "batch", "steps", "epochs", "lr", "wd", "warmup", "schedule", "seed",
                  "heads", "init", "resume", "out", "log-every", "save-every", "stop-after", "synthetic-out", "loss", "caption-noise", "memory-noise", "metrics", "metrics-every", "eval", "eval-every",
                  "concepts-per-group", "train-per-concept", "memory-per-concept",
                  "search", "fuse", "memory-fraction", "memory-seed"},
                 {"no-shuffle"});

}  // namespace reco

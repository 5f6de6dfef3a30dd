// cmd_train_synthetic.cpp — `reco train` with no --data: the built-in synthetic benchmark
// (synthetic.h, docs/synthetic.md): build it in a temporary folder (or --synthetic-out DIR), train
// through the same path as real data (train_job.h), then score frozen CLIP, trained RECO, the
// parameter-free baselines and the no-retrieval control on the held-out test concepts.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <dirent.h>
#include <omp.h>
#include <unistd.h>

#include "ablation_cell.h"
#include "baselines.h"
#include "common.h"
#include "dist/comm.h"
#include "reco_eval.h"
#include "synthetic.h"
#include "train_job.h"

namespace reco {

// ------------------------------------------------------------------------------------ synthetic
// Remove the files of a flat temporary directory, then the directory.
static void remove_flat_dir(const std::string& dir) {
    if (DIR* d = opendir(dir.c_str())) {
        while (dirent* e = readdir(d))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) unlink((dir + "/" + e->d_name).c_str());
        closedir(d);
    }
    if (rmdir(dir.c_str()) != 0) fprintf(stderr, "note: could not remove %s\n", dir.c_str());
}

int run_synthetic_benchmark(Args& a) {
    if (dist::size() > 1)
        fail("the built-in synthetic benchmark runs as one process; under mpirun give --data EMB --memory MEM");
    for (const char* opt : {"memory", "resume", "init"})
        if (a.has(opt)) fail("--%s needs --data (without --data, reco train runs the synthetic benchmark)", opt);
    const auto t0 = std::chrono::steady_clock::now();
    // The benchmark's d=64 model is too small for threads to pay off, and on a busy machine OpenMP's
    // spinning barriers make it many times slower: one thread unless OMP_NUM_THREADS says otherwise.
    if (!getenv("OMP_NUM_THREADS")) omp_set_num_threads(1);
    SyntheticConfig cfg = synthetic_benchmark_config();
    if (a.has("seed")) cfg.seed = (uint64_t)a.get_i64("seed", 0);
    if (a.has("caption-noise")) cfg.caption_noise = a.get_double("caption-noise", cfg.caption_noise);
    if (a.has("memory-noise")) cfg.memory_noise = a.get_double("memory-noise", cfg.memory_noise);
    cfg.concepts_per_group = a.get_int("concepts-per-group", cfg.concepts_per_group);
    cfg.train_per_concept = a.get_int("train-per-concept", cfg.train_per_concept);
    cfg.memory_per_concept = a.get_int("memory-per-concept", cfg.memory_per_concept);
    fprintf(stderr,
            "reco train: no --data given, so this trains on the BUILT-IN SYNTHETIC BENCHMARK (docs/synthetic.md):\n"
            "  %d concepts in %d groups, d=%d, fine-grained concepts tight within a modality but weakly aligned\n"
            "  across modalities (cos %.2f); %d concepts held out of training for the test and %d for validation,\n"
            "  all present in a memory with %.0f%% wrong captions and item noise %.2g.\n",
            cfg.groups * cfg.concepts_per_group, cfg.groups, cfg.d, cfg.align, cfg.groups * cfg.heldout_per_group,
            cfg.groups * cfg.val_per_group, 100 * cfg.caption_noise, cfg.memory_noise);
    SyntheticBenchmark b = make_synthetic(cfg);
    std::string dir = a.get("synthetic-out", "");
    const bool temp = dir.empty();
    if (temp) {
        const char* tmp = getenv("TMPDIR");
        std::string templ = std::string(tmp && *tmp ? tmp : "/tmp") + "/reco-synthetic-XXXXXX";
        std::vector<char> buf(templ.begin(), templ.end());
        buf.push_back(0);
        if (!mkdtemp(buf.data())) fail("%s: cannot create a temporary directory: %s", templ.c_str(), strerror(errno));
        dir = buf.data();
    }
    write_synthetic(b, dir);
    fprintf(stderr, "  train %d pairs, memory %d pairs, test %d images, validation %d images%s%s\n", b.train.n,
            b.memory.n, b.eval.n, b.val.n, temp ? "" : ", written to ", temp ? "" : dir.c_str());

    TrainJob job;
    job.data = dir + "/train.safetensors";
    job.memory = dir + "/memory.safetensors";
    job.synthetic = true;
    job.default_steps = kSyntheticSteps;
    job.default_eval = dir + "/val.safetensors";  // --metrics evaluates the VALIDATION concepts
    TrainOutcome t;
    CellScores test;
    ZeroShotResult control;
    double precision = 0;
    try {
        t = train_job(a, job);
        EmbeddingFile eval(dir + "/eval.safetensors"), data(job.data);
        ShardedMemory mem(job.memory);
        EvalSet es = load_eval_set(eval);
        test = score_cell(t.model, mem, t.mode, es);
        precision = synthetic_caption_precision(b, mem, t.mode);
        // the no-retrieval control: the same modules and training, on the query alone (k = 0)
        TrainSettings s0 = t.settings;
        s0.k = 0;
        TrainLoopOptions o;
        o.progress = false;
        o.log = nullptr;
        FusionModel m0 = train_fusion(data, mem, s0, kDefaultLogitScale, o);
        control = score_cell(m0, mem, s0.mode(), es).reco;
    } catch (...) {
        if (temp) remove_flat_dir(dir);
        throw;
    }
    if (temp) remove_flat_dir(dir);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const ZeroShotResult& z = test.reco;
    printf("held-out test concepts: %d classes, %d images; RECO %s, %lld training steps, %.1fs\n", z.classes, z.n,
           t.mode.describe().c_str(), (long long)t.step, secs);
    printf("  memory: %d pairs, %.0f%% wrong captions; of each test image's %d neighbours, %.1f%% carry a caption "
           "of its concept\n",
           b.memory.n, 100 * cfg.caption_noise, t.k, precision);
    printf("  %-36s %8s %8s %8s\n", "top-1 (refine:)", "image", "text", "both");
    auto row = [](const char* name, const ZeroShotResult& r) {
        printf("  %-36s %7.1f%% %7.1f%% %7.1f%%\n", name, r.image, r.text, r.both);
    };
    row("RECO (trained fusion)", z);
    row("retrieved mean (no training)", test.mean);
    row("query + retrieved mean (no training)", test.query_mean);
    row("no retrieval (k=0, trained)", control);
    const double best = std::max(test.mean.both, test.query_mean.both);
    if (z.both < best)
        printf("  note: trained RECO (both) is %.1f points BELOW the best parameter-free baseline (%.1f%%) here\n",
               best - z.both, best);
    printf("zero-shot top-1: frozen %.1f%% -> RECO %.1f%%\n", z.frozen, z.both);
    return 0;
}

}  // namespace reco

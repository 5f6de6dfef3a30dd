// synthetic.cpp — the synthetic benchmark generator (see synthetic.h and docs/synthetic.md).
#include "synthetic.h"

#include <sys/stat.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <random>

#include "common.h"
#include "memory.h"

namespace reco {

namespace {

// Gaussian samples from std::mt19937_64 via Box–Muller on 53-bit uniforms: unlike
// std::normal_distribution, the same numbers with every standard library.
struct Gauss {
    std::mt19937_64 rng;
    bool have = false;
    double spare = 0;
    explicit Gauss(uint64_t seed) : rng(seed) {}
    double uniform() { return ((double)(rng() >> 11) + 0.5) * 0x1.0p-53; }  // (0, 1)
    double next() {
        if (have) {
            have = false;
            return spare;
        }
        const double r = std::sqrt(-2.0 * std::log(uniform())), th = 2.0 * M_PI * uniform();
        spare = r * std::sin(th);
        have = true;
        return r * std::cos(th);
    }
    // z ~ N(0, I/d): norm ≈ 1
    std::vector<double> vec(int d) {
        std::vector<double> z(d);
        for (double& x : z) x = next() / std::sqrt((double)d);
        return z;
    }
    std::vector<double> unit(int d) {
        std::vector<double> z = vec(d);
        normalise(z);
        return z;
    }
    static void normalise(std::vector<double>& z) {
        double s = 0;
        for (double x : z) s += x * x;
        s = std::sqrt(s);
        for (double& x : z) x /= s;
    }
};

}  // namespace

std::string synthetic_model_id(const SyntheticConfig& cfg) {
    return strformat("synthetic:%llu:%d", (unsigned long long)cfg.seed, cfg.d);
}

SyntheticBenchmark make_synthetic(const SyntheticConfig& cfg) {
    if (cfg.d < 2 || cfg.groups < 1 || cfg.concepts_per_group < 2 || cfg.heldout_per_group < 1 ||
        cfg.heldout_per_group >= cfg.concepts_per_group || cfg.train_per_concept < 1 || cfg.memory_per_concept < 1 ||
        cfg.eval_per_concept < 1)
        fail("synthetic benchmark: invalid configuration");
    if (!(cfg.align >= 0 && cfg.align <= 1) || !(cfg.noise >= 0) || !(cfg.coarse >= 0) || !(cfg.fine > 0))
        fail("synthetic benchmark: invalid weights");
    const int d = cfg.d, C = cfg.groups * cfg.concepts_per_group;
    Gauss g(cfg.seed);
    SyntheticBenchmark b;
    b.cfg = cfg;
    b.concepts = C;

    std::vector<std::vector<double>> u(cfg.groups), a(C), bt(C);
    for (auto& x : u) x = g.unit(d);
    const double gamma = cfg.align, rest = std::sqrt(1.0 - gamma * gamma);
    for (int c = 0; c < C; c++) {
        a[c] = g.unit(d);
        std::vector<double> e = g.unit(d);
        bt[c].resize(d);
        for (int j = 0; j < d; j++) bt[c][j] = gamma * a[c][j] + rest * e[j];
        Gauss::normalise(bt[c]);
    }
    auto group_of = [&](int c) { return c / cfg.concepts_per_group; };
    auto sample = [&](int c, const std::vector<double>& fine_dir, float* out) {
        std::vector<double> z = g.vec(d), x(d);
        for (int j = 0; j < d; j++)
            x[j] = cfg.coarse * u[group_of(c)][j] + cfg.fine * fine_dir[j] + cfg.noise * z[j];
        Gauss::normalise(x);
        for (int j = 0; j < d; j++) out[j] = (float)x[j];
    };
    auto name = [&](int c) {
        return strformat("group %d concept %d", group_of(c), c);
    };
    for (int c = 0; c < C; c++)
        if (c % cfg.concepts_per_group >= cfg.concepts_per_group - cfg.heldout_per_group) b.heldout.push_back(c);
    std::vector<bool> is_heldout(C, false);
    for (int c : b.heldout) is_heldout[c] = true;

    auto add_pairs = [&](SyntheticPairs& p, int c, int count) {
        for (int i = 0; i < count; i++) {
            p.image_emb.resize((size_t)(p.n + 1) * d);
            p.text_emb.resize((size_t)(p.n + 1) * d);
            sample(c, a[c], p.image_emb.data() + (size_t)p.n * d);
            sample(c, bt[c], p.text_emb.data() + (size_t)p.n * d);
            p.concept_id.push_back(c);
            p.captions.push_back(name(c));
            p.n++;
        }
    };
    // Items are interleaved across concepts (round-robin) so that file order is not sorted by
    // concept: --no-shuffle batches then still mix concepts.
    auto add_round_robin = [&](SyntheticPairs& p, bool train_only, int per_concept) {
        for (int i = 0; i < per_concept; i++)
            for (int c = 0; c < C; c++)
                if (!train_only || !is_heldout[c]) add_pairs(p, c, 1);
    };
    add_round_robin(b.train, true, cfg.train_per_concept);
    add_round_robin(b.memory, false, cfg.memory_per_concept);
    // class prompts: one text of each held-out concept
    std::vector<std::vector<float>> prompt_f(C);
    for (int c : b.heldout) {
        prompt_f[c].resize(d);
        sample(c, bt[c], prompt_f[c].data());
    }
    for (int i = 0; i < cfg.eval_per_concept; i++)
        for (int c : b.heldout) {
            SyntheticPairs& p = b.eval;
            p.image_emb.resize((size_t)(p.n + 1) * d);
            sample(c, a[c], p.image_emb.data() + (size_t)p.n * d);
            p.text_emb.insert(p.text_emb.end(), prompt_f[c].begin(), prompt_f[c].end());
            p.concept_id.push_back(c);
            p.captions.push_back(name(c));
            p.n++;
        }
    return b;
}

void write_synthetic(const SyntheticBenchmark& b, const std::string& dir) {
    if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) fail("%s: cannot create directory: %s", dir.c_str(), strerror(errno));
    const std::string model = synthetic_model_id(b.cfg);
    const std::map<std::string, std::string> meta = {
        {"synthetic", strformat("groups=%d concepts_per_group=%d heldout_per_group=%d coarse=%g fine=%g align=%g noise=%g",
                                b.cfg.groups, b.cfg.concepts_per_group, b.cfg.heldout_per_group, b.cfg.coarse,
                                b.cfg.fine, b.cfg.align, b.cfg.noise)}};
    auto write = [&](const SyntheticPairs& p, const std::string& name) {
        write_embedding_file(dir + "/" + name, p.image_emb.data(), p.text_emb.data(), p.n, b.cfg.d, p.captions, model,
                             meta);
    };
    write(b.train, "train.safetensors");
    write(b.memory, "memory.safetensors");
    write(b.eval, "eval.safetensors");
}

}  // namespace reco

// synthetic.cpp — the synthetic benchmark generator (see synthetic.h and docs/synthetic.md).
#include "synthetic.h"

#include <sys/stat.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <random>

#include "common.h"
#include "memory.h"
#include "retrieval.h"

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

SyntheticConfig synthetic_benchmark_config() {
    SyntheticConfig c;
    c.concepts_per_group = 100;  // many concepts, few pairs each: a fusion that memorises concepts fails
    c.train_per_concept = 10;
    c.memory_per_concept = 16;
    c.caption_noise = 0.3;       // 30% of the memory's captions name another concept of the group
    c.memory_noise = 1.2;
    return c;
}

const int kSyntheticSteps = 300;

double synthetic_caption_precision(const SyntheticBenchmark& b, const ShardedMemory& mem, const RetrievalMode& mode) {
    if (mode.k == 0 || b.eval.n == 0) return 0;
    if (mem.n() != b.memory.n || (int)b.memory_caption_concept.size() != mem.n())
        fail("%s: not the memory of this synthetic benchmark", mem.path().c_str());
    ModeMemory mm(mem, mode);
    Neighbours nb = retrieve(mm, Modality::image, b.eval.image_emb.data(), b.eval.n);
    long long ok = 0;
    for (int i = 0; i < b.eval.n; i++)
        for (int j = 0; j < mode.k; j++) ok += b.memory_caption_concept[nb.idx[(size_t)i * mode.k + j]] == b.eval.concept_id[i];
    return 100.0 * (double)ok / ((double)b.eval.n * mode.k);
}

std::string synthetic_model_id(const SyntheticConfig& cfg) {
    return strformat("synthetic:%llu:%d", (unsigned long long)cfg.seed, cfg.d);
}

SyntheticBenchmark make_synthetic(const SyntheticConfig& cfg) {
    if (cfg.d < 2 || cfg.groups < 1 || cfg.concepts_per_group < 2 || cfg.heldout_per_group < 1 ||
        cfg.val_per_group < 0 || cfg.heldout_per_group + cfg.val_per_group >= cfg.concepts_per_group ||
        cfg.train_per_concept < 1 || cfg.memory_per_concept < 1 ||
        cfg.eval_per_concept < 1)
        fail("synthetic benchmark: invalid configuration");
    if (!(cfg.align >= 0 && cfg.align <= 1) || !(cfg.noise >= 0) || !(cfg.memory_noise >= 0) || !(cfg.coarse >= 0) ||
        !(cfg.fine > 0) || !(cfg.caption_noise >= 0 && cfg.caption_noise <= 1))
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
    double sigma = cfg.noise;  // the memory's items use cfg.memory_noise (set around add_round_robin)
    auto sample = [&](int c, const std::vector<double>& fine_dir, float* out) {
        std::vector<double> z = g.vec(d), x(d);
        for (int j = 0; j < d; j++)
            x[j] = cfg.coarse * u[group_of(c)][j] + cfg.fine * fine_dir[j] + sigma * z[j];
        Gauss::normalise(x);
        for (int j = 0; j < d; j++) out[j] = (float)x[j];
    };
    auto name = [&](int c) {
        return strformat("group %d concept %d", group_of(c), c);
    };
    // in each group: train concepts, then val_per_group validation, then heldout_per_group test concepts
    for (int c = 0; c < C; c++) {
        const int j = c % cfg.concepts_per_group;
        if (j >= cfg.concepts_per_group - cfg.heldout_per_group) b.heldout.push_back(c);
        else if (j >= cfg.concepts_per_group - cfg.heldout_per_group - cfg.val_per_group) b.val_concepts.push_back(c);
    }
    std::vector<bool> is_heldout(C, false);
    for (int c : b.heldout) is_heldout[c] = true;
    for (int c : b.val_concepts) is_heldout[c] = true;

    // caption noise: the text of a memory pair describes another concept of the same group with
    // probability ρ (drawn from a generator of its own, so ρ = 0 leaves every other sample unchanged)
    std::mt19937_64 flip(cfg.seed ^ 0x63617074696f6eULL);  // "caption"
    auto uniform01 = [&]() { return ((double)(flip() >> 11) + 0.5) * 0x1.0p-53; };
    bool noisy_captions = false;
    auto add_pairs = [&](SyntheticPairs& p, int c, int count) {
        for (int i = 0; i < count; i++) {
            int tc = c;
            if (noisy_captions && cfg.caption_noise > 0 && uniform01() < cfg.caption_noise) {
                const int other = (int)(uniform01() * (cfg.concepts_per_group - 1));  // 0 .. C_g-2
                const int first = group_of(c) * cfg.concepts_per_group, j = c - first;
                tc = first + (other >= j ? other + 1 : other);
            }
            p.image_emb.resize((size_t)(p.n + 1) * d);
            p.text_emb.resize((size_t)(p.n + 1) * d);
            sample(c, a[c], p.image_emb.data() + (size_t)p.n * d);
            sample(tc, bt[tc], p.text_emb.data() + (size_t)p.n * d);
            p.concept_id.push_back(c);
            p.captions.push_back(name(tc));
            if (noisy_captions) b.memory_caption_concept.push_back(tc);
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
    noisy_captions = true;
    sigma = cfg.memory_noise;
    add_round_robin(b.memory, false, cfg.memory_per_concept);
    noisy_captions = false;
    sigma = cfg.noise;
    // An evaluation split of `concepts`: one class prompt (text) per concept, then eval_per_concept images of
    // each, round-robin, each paired with its concept's prompt.
    std::vector<std::vector<float>> prompt_f(C);
    auto add_eval_split = [&](SyntheticPairs& p, const std::vector<int>& concepts) {
        for (int c : concepts) {
            prompt_f[c].resize(d);
            sample(c, bt[c], prompt_f[c].data());
        }
        for (int i = 0; i < cfg.eval_per_concept; i++)
            for (int c : concepts) {
                p.image_emb.resize((size_t)(p.n + 1) * d);
                sample(c, a[c], p.image_emb.data() + (size_t)p.n * d);
                p.text_emb.insert(p.text_emb.end(), prompt_f[c].begin(), prompt_f[c].end());
                p.concept_id.push_back(c);
                p.captions.push_back(name(c));
                p.n++;
            }
    };
    add_eval_split(b.eval, b.heldout);
    // validation: the same construction for the validation concepts (drawn after the test set, so
    // adding it leaves the test set's numbers as they were)
    add_eval_split(b.val, b.val_concepts);
    return b;
}

void write_synthetic(const SyntheticBenchmark& b, const std::string& dir) {
    if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) fail("%s: cannot create directory: %s", dir.c_str(), strerror(errno));
    const std::string model = synthetic_model_id(b.cfg);
    const std::map<std::string, std::string> meta = {
        {"synthetic", strformat("groups=%d concepts_per_group=%d heldout_per_group=%d val_per_group=%d coarse=%g "
                                "fine=%g align=%g noise=%g memory_noise=%g caption_noise=%g",
                                b.cfg.groups, b.cfg.concepts_per_group, b.cfg.heldout_per_group,
                                b.cfg.val_per_group, b.cfg.coarse, b.cfg.fine, b.cfg.align, b.cfg.noise,
                                b.cfg.memory_noise, b.cfg.caption_noise)}};
    auto write = [&](const SyntheticPairs& p, const std::string& name) {
        write_embedding_file(dir + "/" + name, p.image_emb.data(), p.text_emb.data(), p.n, b.cfg.d, p.captions, model,
                             meta);
    };
    write(b.train, "train.safetensors");
    write(b.memory, "memory.safetensors");
    write(b.eval, "eval.safetensors");
    if (b.val.n > 0) write(b.val, "val.safetensors");
}

}  // namespace reco

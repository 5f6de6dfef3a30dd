// test_synthetic.cpp — the built-in synthetic benchmark (synthetic.h, docs/synthetic.md): the
// generator's geometry against its closed forms, the split of concepts, and that RECO trained on
// it beats frozen zero-shot on held-out concepts (a reduced run in-process, and the command).
#include <dirent.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "common.h"
#include "memory.h"
#include "neighbour_cache.h"
#include "reco_eval.h"
#include "synthetic.h"
#include "test_util.h"
#include "trainer.h"

using namespace reco;

namespace {
double dot(const float* a, const float* b, int d) {
    double s = 0;
    for (int i = 0; i < d; i++) s += (double)a[i] * b[i];
    return s;
}
bool contains(const std::string& s, const std::string& sub) { return s.find(sub) != std::string::npos; }

// A temporary folder (flat), removed with its files at the end of the test.
struct TmpDir {
    std::string path;
    explicit TmpDir(const char* tag) {
        std::string t = std::string("/tmp/") + tag + "_XXXXXX";
        std::vector<char> buf(t.begin(), t.end());
        buf.push_back(0);
        REQUIRE(mkdtemp(buf.data()) != nullptr);
        path = buf.data();
    }
    ~TmpDir() {
        if (DIR* h = opendir(path.c_str())) {
            while (dirent* e = readdir(h))
                if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) unlink((path + "/" + e->d_name).c_str());
            closedir(h);
        }
        rmdir(path.c_str());
    }
};

SyntheticConfig small_config() {
    SyntheticConfig c;
    c.groups = 8;
    c.concepts_per_group = 12;
    c.heldout_per_group = 4;
    c.train_per_concept = 32;
    c.memory_per_concept = 24;
    c.eval_per_concept = 12;
    c.val_per_group = 0;  // the clean benchmark of issue 1: no validation concepts, no wrong captions
    c.seed = 5;
    return c;
}
}  // namespace

TEST_CASE("synthetic: deterministic, unit rows, held-out concepts never trained on but in the memory") {
    SyntheticConfig c = small_config();
    SyntheticBenchmark a = make_synthetic(c), b = make_synthetic(c);
    CHECK(a.train.image_emb == b.train.image_emb);
    CHECK(a.memory.text_emb == b.memory.text_emb);
    c.seed = 6;
    CHECK(make_synthetic(c).train.image_emb != a.train.image_emb);

    const int C = 8 * 12, H = 8 * 4, d = 64;
    CHECK(a.concepts == C);
    CHECK(a.heldout.size() == (size_t)H);
    CHECK(a.train.n == (C - H) * 32);
    CHECK(a.memory.n == C * 24);
    CHECK(a.eval.n == H * 12);
    std::set<int> held(a.heldout.begin(), a.heldout.end()), in_train, in_memory, in_eval;
    for (int x : a.train.concept_id) in_train.insert(x);
    for (int x : a.memory.concept_id) in_memory.insert(x);
    for (int x : a.eval.concept_id) in_eval.insert(x);
    for (int h : held) CHECK(in_train.count(h) == 0);
    CHECK(in_train.size() == (size_t)(C - H));
    CHECK(in_memory.size() == (size_t)C);
    CHECK(in_eval == held);
    for (const SyntheticPairs* p : {&a.train, &a.memory, &a.eval})
        for (int i = 0; i < p->n; i++) {
            REQUIRE(dot(&p->image_emb[(size_t)i * d], &p->image_emb[(size_t)i * d], d) == doctest::Approx(1).epsilon(1e-5));
            REQUIRE(dot(&p->text_emb[(size_t)i * d], &p->text_emb[(size_t)i * d], d) == doctest::Approx(1).epsilon(1e-5));
        }
    // the eval file's text rows are the class prompt: identical for every item of a concept
    for (int i = 0; i < a.eval.n; i++)
        for (int j = 0; j < a.eval.n; j++)
            if (a.eval.concept_id[i] == a.eval.concept_id[j])
                REQUIRE(dot(&a.eval.text_emb[(size_t)i * d], &a.eval.text_emb[(size_t)j * d], d) ==
                        doctest::Approx(1).epsilon(1e-6));
}

TEST_CASE("synthetic: validation concepts are neither trained on nor tested; caption noise replaces the stated fraction") {
    SyntheticConfig c = small_config();
    c.val_per_group = 2;
    c.caption_noise = 0.25;
    c.eval_per_concept = 4;
    SyntheticBenchmark a = make_synthetic(c);
    std::set<int> test(a.heldout.begin(), a.heldout.end()), val(a.val_concepts.begin(), a.val_concepts.end()), tr;
    for (int x : a.train.concept_id) tr.insert(x);
    CHECK(val.size() == 8 * 2);
    for (int v : val) {
        CHECK(test.count(v) == 0);
        CHECK(tr.count(v) == 0);
    }
    CHECK(tr.size() == (size_t)(8 * (12 - 4 - 2)));
    CHECK(a.val.n == 8 * 2 * 4);
    for (int x : a.val.concept_id) CHECK(val.count(x) == 1);
    // wrong captions: another concept of the SAME group, about 25% of the memory (binomial, n = 2304)
    REQUIRE(a.memory_caption_concept.size() == (size_t)a.memory.n);
    int wrong = 0;
    for (int i = 0; i < a.memory.n; i++) {
        const int cc = a.memory_caption_concept[i], ic = a.memory.concept_id[i];
        wrong += cc != ic;
        CHECK(cc / 12 == ic / 12);
        CHECK(a.memory.captions[i] == strformat("group %d concept %d", cc / 12, cc));
    }
    const double frac = (double)wrong / a.memory.n;
    CHECK(frac > 0.22);
    CHECK(frac < 0.28);
    // the wrong caption's text is a text of the named concept: closer to that concept's prompt geometry
    // (same-concept text cosine ≈ 0.5) is checked through the closed forms below; here ρ = 0 → none wrong
    c.caption_noise = 0;
    SyntheticBenchmark clean = make_synthetic(c);
    for (int i = 0; i < clean.memory.n; i++) CHECK(clean.memory_caption_concept[i] == clean.memory.concept_id[i]);
    CHECK(clean.eval.image_emb == a.eval.image_emb);  // the caption draws do not move the other samples
}

TEST_CASE("synthetic: the geometry matches its closed forms (tight within a modality, weak across)") {
    // x = normalise(α u_g + β f_c + σ z): for large d the cross terms vanish and
    //   same concept, same modality:   cos → (α² + β²)   / (α² + β² + σ²)
    //   same concept, across:          cos → (α² + β²γ)  / (α² + β² + σ²)
    //   same group, other concept:     cos → α²          / (α² + β² + σ²)
    SyntheticConfig c;
    c.d = 512;  // closer to the large-d limit
    c.groups = 4, c.concepts_per_group = 8, c.heldout_per_group = 2, c.memory_per_concept = 16;
    c.train_per_concept = 1, c.eval_per_concept = 1;
    SyntheticBenchmark b = make_synthetic(c);
    const SyntheticPairs& m = b.memory;
    const int d = c.d;
    double within = 0, across = 0, group = 0;
    long long nw = 0, na = 0, ng = 0;
    for (int i = 0; i < m.n; i++)
        for (int j = 0; j < m.n; j++) {
            const int ci = m.concept_id[i], cj = m.concept_id[j];
            const float* vi = &m.image_emb[(size_t)i * d];
            if (ci == cj) {
                across += dot(vi, &m.text_emb[(size_t)j * d], d), na++;
                if (i != j) within += dot(vi, &m.image_emb[(size_t)j * d], d), nw++;
            } else if (ci / c.concepts_per_group == cj / c.concepts_per_group) {
                group += dot(vi, &m.image_emb[(size_t)j * d], d), ng++;
            }
        }
    const double a2 = c.coarse * c.coarse, b2 = c.fine * c.fine, s2 = c.noise * c.noise, den = a2 + b2 + s2;
    CHECK(within / nw == doctest::Approx((a2 + b2) / den).epsilon(0.05));
    CHECK(across / na == doctest::Approx((a2 + b2 * c.align) / den).epsilon(0.05));
    CHECK(group / ng == doctest::Approx(a2 / den).epsilon(0.08));
}

TEST_CASE("synthetic: a reduced benchmark — RECO trained on train concepts beats frozen on held-out concepts") {
    TmpDir tmp("reco_synth");
    const std::string dir = tmp.path;
    SyntheticBenchmark b = make_synthetic(small_config());
    write_synthetic(b, dir);
    EmbeddingFile data(dir + "/train.safetensors"), mem(dir + "/memory.safetensors"), ev(dir + "/eval.safetensors");
    CHECK(data.model() == synthetic_model_id(small_config()));
    const int k = 10;
    NeighbourIndex nb = load_or_compute_neighbours(data, mem, k, nullptr);
    TrainSettings s;
    s.k = k, s.batch = 256, s.total_steps = 80, s.warmup = 4, s.seed = 1;
    FusionModel m;
    FusionDims dims;
    dims.d = 64, dims.heads = 8;
    m.init(dims, kDefaultLogitScale, 1);
    AdamW opt(m.table, m.params.size());
    Trainer tr(data, mem, nb, s, m, opt, 0);
    TrainLoopOptions o;
    o.progress = false;
    TrainLoopResult r = train_loop(tr, o);
    CHECK(r.losses.back() < r.losses.front());

    CaptionClasses cls = classes_from_captions(ev);
    CHECK(cls.names.size() == b.heldout.size());
    std::vector<float> img((size_t)ev.n() * 64);
    for (int i = 0; i < ev.n(); i++) ev.image_row(i, img.data() + (size_t)i * 64);
    ZeroShotResult z = zeroshot_eval(tr.model, mem, k, img, cls.label, cls.prompt_emb, (int)cls.names.size());
    MESSAGE("reduced synthetic: frozen ", z.frozen, "% image ", z.image, "% text ", z.text, "% both ", z.both, "%");
    CHECK(z.frozen < 60);
    CHECK(z.both > z.frozen + 15);
    CHECK(z.image > z.frozen + 10);
    CHECK(z.text > z.frozen + 10);
    // an untrained fusion module does not do this: the gain comes from training
    FusionModel fresh;
    fresh.init(dims, kDefaultLogitScale, 1);
    ZeroShotResult z0 = zeroshot_eval(fresh, mem, k, img, cls.label, cls.prompt_emb, (int)cls.names.size());
    CHECK(z.both > z0.both + 10);
}

TEST_CASE("synthetic cli: `reco train` without --data says so, trains, and ends with the zero-shot line") {
    TmpDir tmp("reco_synth_cli");
    const std::string dir = tmp.path;
    std::string out;
    REQUIRE(run_cmd("(" + testutil::reco_bin() + "train --steps 60 --synthetic-out " + dir + " --out " + dir + "/f.safetensors 2>" + dir +
                        "/err.txt)",
                    &out) == 0);
    const std::string err = read_file(dir + "/err.txt");
    CHECK(contains(err, "BUILT-IN SYNTHETIC BENCHMARK"));
    // the last line, exactly
    std::string last = out.substr(0, out.size() - 1);
    last = last.substr(last.rfind('\n') + 1);
    double frozen = -1, reco = -1;
    char tail[8] = {0};
    REQUIRE(sscanf(last.c_str(), "zero-shot top-1: frozen %lf%% -> RECO %lf%7s", &frozen, &reco, tail) == 3);
    CHECK(std::string(tail) == "%");
    CHECK(last == strformat("zero-shot top-1: frozen %.1f%% -> RECO %.1f%%", frozen, reco));
    CHECK(out.back() == '\n');
    CHECK(reco > frozen + 10);
    // the written files are ordinary embedding files, and `reco eval zeroshot` on them reproduces the numbers
    for (const char* f : {"train", "memory", "eval"}) {
        EmbeddingFile e(dir + "/" + f + ".safetensors");
        CHECK(e.d() == 64);
        CHECK(e.has_captions());
    }
    std::string ev;
    REQUIRE(run_cmd(testutil::reco_bin() + "eval zeroshot --data " + dir + "/eval.safetensors --memory " + dir +
                        "/memory.safetensors --fusion " + dir + "/f.safetensors",
                    &ev) == 0);
    double f2 = -1, b2 = -1;
    const size_t pf = ev.find("frozen CLIP"), pb = ev.find("RECO refine both");
    REQUIRE(pf != std::string::npos);
    REQUIRE(pb != std::string::npos);
    REQUIRE(sscanf(ev.c_str() + pf, "frozen CLIP %lf", &f2) == 1);
    REQUIRE(sscanf(ev.c_str() + pb, "RECO refine both %lf", &b2) == 1);
    CHECK(std::fabs(f2 - frozen) <= 0.051);
    CHECK(std::fabs(b2 - reco) <= 0.051);
    // retrieval evaluation runs on the same files (memory as data: own pair excluded)
    REQUIRE(run_cmd(testutil::reco_bin() + "eval retrieval --data " + dir + "/eval.safetensors --memory " + dir +
                        "/memory.safetensors --fusion " + dir + "/f.safetensors",
                    &ev) == 0);
    CHECK(contains(ev, "RECO (both)"));
    // --memory without --data is refused, not silently ignored
    CHECK(run_cmd(testutil::reco_bin() + "train --memory " + dir + "/memory.safetensors", &ev) == 1);
    CHECK(contains(ev, "needs --data"));
}

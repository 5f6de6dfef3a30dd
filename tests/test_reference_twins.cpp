// test_reference_twins.cpp — the fast path against the plain reference twins (--impl, impl.h).
//
// Each case runs the same work twice, once with Impl::fast and once with Impl::reference, and
// compares: top-k indices and scores identical (both are the fmaf chain of topk.h), tower embeddings
// within 1e-6 (plain double-accumulated loops vs the blocked GEMM), the training losses of 20 steps on
// the PyTorch fusion fixture within 1e-6 relative (full-sequence layer, plain GEMM, plain AdamW vs the
// query-row path), inference refinement within 1e-6. The reference side is an independent computation
// (different algorithm and summation order), so a broken fast path fails here; each comparison was
// checked once by breaking the fast path on purpose.
#include <cmath>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "adamw.h"
#include "clip_model.h"
#include "fusion.h"
#include "fusion_train.h"
#include "impl.h"
#include "memory.h"
#include "ops.h"
#include "safetensors.h"
#include "siglip/siglip_model.h"
#include "test_util.h"
#include "topk.h"
#include "topk_problem.h"

using namespace reco;

static double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
    REQUIRE(a.size() == b.size());
    double m = 0;
    for (size_t i = 0; i < a.size(); i++) {
        if (!std::isfinite(a[i]) || !std::isfinite(b[i])) return INFINITY;
        m = std::max(m, (double)std::fabs(a[i] - b[i]));
    }
    return m;
}

TEST_CASE("reference twins: top-k — the blocked search returns the brute-force neighbours and scores exactly") {
    for (int d : {64, 33}) {
        testutil::Problem p = testutil::random_problem(37, 3000, d, 7 + d);
        // ties: rows 100..109 repeat row 5, so equal scores must go to the lower index
        for (int r = 100; r < 110; r++)
            std::copy(p.m.begin() + 5 * d, p.m.begin() + 6 * d, p.m.begin() + (size_t)r * d);
        std::vector<int> exclude(p.Q);
        for (int q = 0; q < p.Q; q++) exclude[q] = q % 3 == 0 ? -1 : q * 11;
        for (int k : {1, 10, 200}) {
            for (const int* ex : {(const int*)nullptr, (const int*)exclude.data()}) {
                std::vector<int> idx[2];
                std::vector<float> score[2];
                for (int r = 0; r < 2; r++) {
                    ImplScope scope(r ? Impl::reference : Impl::fast);
                    idx[r].resize((size_t)p.Q * k);
                    score[r].resize((size_t)p.Q * k);
                    topk_search(p.q.data(), p.m.data(), p.Q, p.N, d, k, idx[r].data(), score[r].data(), ex);
                }
                INFO("d " << d << " k " << k << (ex ? " with exclusions" : ""));
                CHECK(idx[0] == idx[1]);
                CHECK(score[0] == score[1]);  // bit for bit
            }
        }
    }
}

// Encode B token rows and nimg random pixel images (seeded) on the fast path and on the reference
// path; the L2-normalised embeddings must agree within 1e-6. encode(pixels, texts out, images out).
template <class Encode>
static void check_twin_embeddings(const std::string& what, int B, int E, int S, int nimg, unsigned seed,
                                  Encode encode) {
    std::vector<float> pixels((size_t)nimg * 3 * S * S);
    std::mt19937 rng(seed);
    std::normal_distribution<float> nd(0, 1);
    for (float& x : pixels) x = nd(rng);
    std::vector<float> t[2], v[2];
    for (int r = 0; r < 2; r++) {
        ImplScope scope(r ? Impl::reference : Impl::fast);
        t[r].resize((size_t)B * E);
        v[r].resize((size_t)nimg * E);
        encode(pixels.data(), t[r].data(), v[r].data());
        l2_normalize_rows(t[r].data(), B, E);
        l2_normalize_rows(v[r].data(), nimg, E);
    }
    const double dt = max_abs_diff(t[0], t[1]), dv = max_abs_diff(v[0], v[1]);
    MESSAGE(what << ": max |fast − reference| texts " << dt << ", images " << dv);
    CHECK(dt <= 1e-6);
    CHECK(dv <= 1e-6);
}

// The towers of the tiny CLIP fixtures (tools/make_clip_fixtures.py) on HF's token ids and a random
// batch of pixels, fast and reference; embeddings L2-normalised as every command prints them.
TEST_CASE("reference twins: tower embeddings — plain-loop matrix products give the same embeddings within 1e-6") {
    for (const char* dir : {"tests/fixtures/tiny_clip_quickgelu_f32", "tests/fixtures/tiny_clip_gelu_f16"}) {
        INFO(std::string(dir));
        ClipModel m = ClipModel::load(dir);
        SafeTensors ref(std::string(dir) + "/reference.safetensors");
        const int B = (int)ref.info("input_ids_openai").shape[0], nimg = 3;
        std::vector<int> ids((size_t)B * 77);
        for (size_t i = 0; i < ids.size(); i++) ids[i] = (int)((const int64_t*)ref.raw("input_ids_openai"))[i];
        check_twin_embeddings(dir, B, m.cfg.projection_dim, m.cfg.image_size, nimg, 5,
                              [&](const float* pixels, float* t, float* v) {
                                  clip_encode_texts(m, ids.data(), B, t);
                                  clip_encode_images(m, pixels, nimg, v);
                              });
    }
}

// The same for the tiny SigLIP fixtures (tools/make_siglip_fixtures.py): their MAP head and text head go
// through matmul_forward, the blocks through matmul_forward_packed.
TEST_CASE("reference twins: SigLIP tower embeddings within 1e-6") {
    for (const char* dir : {"tests/fixtures/tiny_siglip_f32", "tests/fixtures/tiny_siglip_f16"}) {
        INFO(std::string(dir));
        SiglipModel m = SiglipModel::load(dir);
        SafeTensors ref(std::string(dir) + "/reference.safetensors");
        const int B = (int)ref.info("input_ids").shape[0], L = (int)ref.info("input_ids").shape[1], nimg = 2;
        std::vector<int> ids((size_t)B * L);
        for (size_t i = 0; i < ids.size(); i++) ids[i] = (int)((const int64_t*)ref.raw("input_ids"))[i];
        check_twin_embeddings(dir, B, m.cfg.embed_dim, m.cfg.image_size, nimg, 6,
                              [&](const float* pixels, float* t, float* v) {
                                  siglip_encode_texts(m, ids.data(), B, t);
                                  siglip_encode_images(m, pixels, nimg, v);
                              });
    }
}

// 20 AdamW steps on the PyTorch fusion fixture (tools/make_fusion_fixture.py: d 32, 4 heads, k 5,
// batch 8, 40 items, cycled): the reference path runs fusion_forward_ref/backward_ref (every token
// through the layer), gemm_reference and adamw_step_reference.
TEST_CASE("reference twins: training — 20 steps of losses within 1e-6 relative, weights within 1e-6") {
    const std::string dir = "tests/fixtures/fusion/";
    SafeTensors data(dir + "data.safetensors"), init(dir + "init.safetensors");
    const int heads = std::stoi(data.meta("heads")), k = std::stoi(data.meta("k")), B = std::stoi(data.meta("batch"));
    const auto V = data.to_f32("V"), T = data.to_f32("T");
    const auto nbr_txt_for_img = data.to_f32("nbr_txt_for_img"), nbr_img_for_txt = data.to_f32("nbr_img_for_txt");
    std::vector<float> losses[2], weights[2];
    std::vector<ParamEntry> table;
    for (int r = 0; r < 2; r++) {
        ImplScope scope(r ? Impl::reference : Impl::fast);
        FusionModel model;
        model.load(init, heads);
        const int d = model.dims.d, N = (int)(V.size() / d);
        AdamW opt(model.table, model.params.size());
        FusionTrainWorkspace ws;
        for (int s = 0; s < 20; s++) {
            const size_t b0 = (size_t)(s * B) % N;
            losses[r].push_back(fusion_train_step(model, opt, ws, V.data() + b0 * d, T.data() + b0 * d,
                                                  nbr_txt_for_img.data() + b0 * k * d,
                                                  nbr_img_for_txt.data() + b0 * k * d, B, k, 1e-3));
        }
        weights[r] = model.params;
        if (r == 0) table = model.table;
    }
    double worst = 0;
    for (int s = 0; s < 20; s++) {
        const double rel = std::fabs(losses[0][s] - losses[1][s]) / std::fabs(losses[1][s]);
        INFO("step " << s << ": fast " << losses[0][s] << " reference " << losses[1][s]);
        CHECK(rel <= 1e-6);
        worst = std::max(worst, rel);
    }
    // The key bias's true gradient is 0 (softmax ignores a constant shift of the scores), so AdamW's m/√v
    // turns rounding noise into ±lr steps there: it is left out of the weight comparison.
    double dw = 0;
    std::string worst_tensor;
    for (const ParamEntry& e : table) {
        if (e.name.find("k_proj.bias") != std::string::npos) continue;
        for (size_t i = e.offset; i < e.offset + e.numel; i++) {
            const double diff = std::fabs(weights[0][i] - weights[1][i]);
            if (diff > dw) dw = diff, worst_tensor = e.name;
        }
    }
    MESSAGE("20 steps: worst loss difference " << worst << " relative; weights " << dw << " (" << worst_tensor << ")");
    CHECK(dw <= 1e-6);
}

TEST_CASE("reference twins: inference — fusion_refine through the full-sequence layer within 1e-6") {
    SafeTensors data("tests/fixtures/fusion/data.safetensors"), init("tests/fixtures/fusion/init.safetensors");
    FusionModel model;
    model.load(init, std::stoi(data.meta("heads")));
    const int k = std::stoi(data.meta("k")), d = model.dims.d;
    const auto V = data.to_f32("V"), nbr = data.to_f32("nbr_txt_for_img");
    const int n = (int)(V.size() / d);
    std::vector<float> out[2];
    for (int r = 0; r < 2; r++) {
        ImplScope scope(r ? Impl::reference : Impl::fast);
        out[r].resize(V.size());
        fusion_refine(model, Modality::image, V.data(), nbr.data(), n, k, out[r].data());
    }
    const double diff = max_abs_diff(out[0], out[1]);
    MESSAGE("refined image queries: max |fast − reference| " << diff);
    CHECK(diff <= 1e-6);
}

TEST_CASE("reference twins: reco --impl — embed prints the same numbers; bad values and --device cuda are refused") {
    const std::string bin = testutil::reco_bin();
    std::string out;
    const std::string img = " --model tests/fixtures/tiny_clip_quickgelu_f32 --image tests/fixtures/images/rgb_61x90.png";
    CHECK(run_cmd(bin + "embed --impl quick" + img, &out) == 1);
    CHECK(testutil::contains(out, "--impl must be fast or reference (got 'quick')"));
    REQUIRE_SHARED_DATA();  // the tokenizer files of a model directory (the fixture holds the weights only)
    const std::string dir = "/tmp/reco_test_twins_" + std::to_string(getpid());
    const std::string tok = "$(realpath " + testutil::shared_data() + ")/clip/hf_tokenizer/";
    REQUIRE(system(("mkdir -p " + dir + " && ln -sf $PWD/tests/fixtures/tiny_clip_quickgelu_f32/model.safetensors "
                    "$PWD/tests/fixtures/tiny_clip_quickgelu_f32/config.json " + tok + "vocab.json " + tok +
                    "merges.txt " + dir + "/").c_str()) == 0);
    const std::string args = " --model " + dir + " --text 'a photo of a cat' --image tests/fixtures/images/rgb_61x90.png";
    CHECK(run_cmd(bin + "embed --impl reference --device cuda" + args, &out) == 1);
    CHECK(testutil::contains(out, "--impl reference runs on the CPU only"));
    std::string fast, ref;
    REQUIRE(run_cmd(bin + "embed --device cpu" + args, &fast) == 0);
    REQUIRE(run_cmd(bin + "embed --impl reference" + args, &ref) == 0);
    std::istringstream a(fast), b(ref);
    double x, y, worst = 0;
    int n = 0;
    while (a >> x && b >> y) worst = std::max(worst, std::fabs(x - y)), n++;
    MESSAGE("reco embed: " << n << " printed values, max |fast − reference| " << worst);
    CHECK(n >= 2 * 16);
    CHECK(worst <= 1e-6);
    system(("rm -rf " + dir).c_str());
}

// reco train end to end (neighbour search, batches, 20 steps), each run on its own copy of the data so that
// each computes its own neighbours (the cache lives beside the data): the printed losses agree.
TEST_CASE("reference twins: reco train --impl reference prints the fast path's 20 losses (1e-6 relative)") {
    char tmpl[] = "/tmp/reco_twins_XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    const std::string dir = tmpl;
    const int n = 64, d = 16;
    std::mt19937_64 rng(17);
    std::normal_distribution<float> g;
    std::vector<float> img((size_t)n * d), txt((size_t)n * d);
    for (auto& x : img) x = g(rng);
    for (auto& x : txt) x = g(rng);
    std::vector<std::vector<double>> losses(2);
    for (int r = 0; r < 2; r++) {
        const std::string sub = dir + (r ? "/ref" : "/fast"), data = sub + "/d.safetensors";
        REQUIRE(system(("mkdir -p " + sub).c_str()) == 0);
        write_embedding_file(data, img.data(), txt.data(), n, d, std::vector<std::string>(n, "x"), "test-clip");
        std::string out;
        REQUIRE(run_cmd("(" + testutil::reco_bin() + "train --impl " + (r ? "reference" : "fast") + " --data " + data +
                            " --memory " + data + " --k 3 --batch 16 --steps 20 --heads 2 --seed 3 --log-every 1 --out " +
                            sub + "/f.safetensors 2>/dev/null)",
                        &out) == 0);
        std::istringstream in(out);
        for (std::string line; std::getline(in, line);) {
            int step;
            double v;
            if (sscanf(line.c_str(), "step %d loss %lf", &step, &v) == 2) losses[r].push_back(v);
        }
    }
    REQUIRE(losses[0].size() == 20);
    REQUIRE(losses[1].size() == 20);
    double worst = 0;
    for (int s = 0; s < 20; s++) worst = std::max(worst, std::fabs(losses[0][s] - losses[1][s]) / std::fabs(losses[1][s]));
    MESSAGE("reco train, 20 steps: worst printed loss difference " << worst << " relative");
    CHECK(worst <= 1e-6);
    system(("rm -rf " + dir).c_str());
}

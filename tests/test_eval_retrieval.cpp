// test_eval_retrieval.cpp — `reco eval retrieval --pairs` (several captions per image) against brute force:
// recall@1/5/10 recomputed here by fully sorting every query's scores, from embeddings `reco embed` prints
// (the HF-checked path), frozen and refined with a memory and a trained fusion checkpoint; and the recall
// function itself on hand-made embeddings full of exact ties.
#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <random>

#include "checkpoint.h"
#include "common.h"
#include "eval_retrieval.h"
#include "eval_test_util.h"
#include "memory.h"
#include "reco_eval.h"

using namespace reco;
using namespace evaltest;
using testutil::contains;

namespace {

// Brute force: every query's gallery fully sorted by score (descending; a tie goes to the lower index);
// a query is a hit at R when one of its positives is among the first R.
template <class IsPos>
std::vector<double> brute_recall(const std::vector<double>& Q, int nq, const std::vector<double>& G, int ng, int d,
                                 IsPos is_pos) {
    std::vector<double> rec(3, 0.0);
    const int R[3] = {1, 5, 10};
    for (int q = 0; q < nq; q++) {
        std::vector<double> s(ng);
        for (int g = 0; g < ng; g++) {
            double acc = 0;
            for (int e = 0; e < d; e++) acc += Q[(size_t)q * d + e] * G[(size_t)g * d + e];
            s[g] = acc;
        }
        std::vector<int> order(ng);
        std::iota(order.begin(), order.end(), 0);
        std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return s[a] > s[b]; });
        for (int t = 0; t < 3; t++)
            for (int r = 0; r < std::min(R[t], ng); r++)
                if (is_pos(q, order[r])) {
                    rec[t] += 100.0 / nq;
                    break;
                }
    }
    return rec;
}

std::vector<double> to_double(const std::vector<float>& v) { return std::vector<double>(v.begin(), v.end()); }

// The six numbers of a printed row ("  frozen CLIP  12.50%  ...").
std::vector<double> printed_row(const std::string& out, const std::string& label) {
    size_t p = out.find("  " + label + " ");
    REQUIRE_MESSAGE(p != std::string::npos, out);
    std::vector<double> v(6);
    REQUIRE(sscanf(out.c_str() + p + 2 + label.size(), " %lf%% %lf%% %lf%% %lf%% %lf%% %lf%%", &v[0], &v[1], &v[2],
                   &v[3], &v[4], &v[5]) == 6);
    return v;
}

}  // namespace

TEST_CASE("multi-caption recall@1/5/10 equals brute force, ties included") {
    std::mt19937 rng(7);
    for (int trial = 0; trial < 20; trial++) {
        const int d = 1 + trial % 4, n_img = 3 + (int)(rng() % 25);
        std::vector<int> image_of_text;
        for (int i = 0; i < n_img; i++)
            for (int c = 0, nc = 1 + (int)(rng() % 5); c < nc; c++) image_of_text.push_back(i);
        std::shuffle(image_of_text.begin(), image_of_text.end(), rng);  // captions in any order
        for (int i = 0; i < n_img; i++) image_of_text.push_back(i);     // every image keeps one caption
        const int n_txt = (int)image_of_text.size();
        // multiples of 1/4 in a few dimensions: many exact ties, every dot product exact in fp32
        auto make = [&](int n) {
            std::vector<float> v((size_t)n * d);
            for (auto& x : v) x = (float)((int)(rng() % 5) - 2) / 4.0f;
            return v;
        };
        std::vector<float> img = make(n_img), txt = make(n_txt);
        MultiRecall r = multi_caption_recall(img, n_img, txt, n_txt, image_of_text, d);
        auto i2t = brute_recall(to_double(img), n_img, to_double(txt), n_txt, d,
                                [&](int i, int t) { return image_of_text[t] == i; });
        auto t2i = brute_recall(to_double(txt), n_txt, to_double(img), n_img, d,
                                [&](int t, int i) { return image_of_text[t] == i; });
        for (int k = 0; k < 3; k++) {
            CHECK(r.i2t[k] == doctest::Approx(i2t[k]).epsilon(1e-12));
            CHECK(r.t2i[k] == doctest::Approx(t2i[k]).epsilon(1e-12));
        }
    }
    CHECK(contains(testutil::error_of([] { multi_caption_recall({1, 0}, 2, {1}, 1, {0}, 1); }), "image 1 has no caption"));
}

TEST_CASE("eval retrieval --pairs: recall@1/5/10 of frozen and RECO embeddings equal brute force") {
    REQUIRE_SHARED_DATA();
    const std::string dir = tmp_dir() + "/retrieval", model = tiny_clip();
    sh("rm -rf " + dir + " && mkdir -p " + dir + " && ln -s " + shared_abs() + "/images " + dir + "/imgs");
    // 14 images with 2 or 3 captions each, rows interleaved (an image's rows are not together); the memory
    // is 40 others (reco_parts)
    std::vector<std::vector<std::string>> idx;
    for (auto& l : data_lines(read_file(testutil::shared_data() + "/images/index.tsv"))) {
        auto f = split(l, '\t');
        if (f.size() == 10 && f[0] != "path") idx.push_back(f);
    }
    REQUIRE(idx.size() >= 14);
    std::string tsv = "# image\tcaption\n";
    std::vector<std::string> images, captions;
    std::vector<int> image_of_text;
    for (int round = 0; round < 3; round++)
        for (int i = 0; i < 14; i++) {
            if (round == 2 && i % 2) continue;
            const std::string cap = round == 0 ? idx[i][2] : round == 1 ? "a photo of a " + idx[i][1] + "." : idx[i][1];
            tsv += "imgs/" + idx[i][0] + "\t" + cap + "\n";
            captions.push_back(cap);
            image_of_text.push_back(i);
        }
    for (int i = 0; i < 14; i++) images.push_back(dir + "/imgs/" + idx[i][0]);
    write(dir + "/pairs.tsv", tsv);
    const int ni = 14, nt = (int)captions.size(), d = 24;

    // the embeddings, as `reco embed` prints them (%.9g: exact fp32)
    std::string cmd = testutil::reco_bin() + "embed --device cpu --model " + model, out;
    for (auto& p : images) cmd += " --image " + p;
    for (auto& c : captions) cmd += " --text '" + c + "'";
    REQUIRE(run_cmd(cmd + " 2>/dev/null", &out) == 0);
    std::vector<float> all;
    for (auto& l : data_lines(out))
        for (auto& x : split(l, ' ')) all.push_back(std::stof(x));
    REQUIRE(all.size() == (size_t)(ni + nt) * d);
    std::vector<float> img(all.begin(), all.begin() + ni * d), txt(all.begin() + ni * d, all.end());
    auto check_row = [&](const std::vector<float>& I, const std::vector<float>& T, const std::vector<double>& printed) {
        auto i2t = brute_recall(to_double(I), ni, to_double(T), nt, d, [&](int i, int t) { return image_of_text[t] == i; });
        auto t2i = brute_recall(to_double(T), nt, to_double(I), ni, d, [&](int t, int i) { return image_of_text[t] == i; });
        for (int k = 0; k < 3; k++) {
            CHECK(std::fabs(printed[k] - i2t[k]) < 0.0051);
            CHECK(std::fabs(printed[3 + k] - t2i[k]) < 0.0051);
        }
        MESSAGE("i2t " << i2t[0] << " " << i2t[1] << " " << i2t[2] << ", t2i " << t2i[0] << " " << t2i[1] << " " << t2i[2]);
    };

    // frozen
    std::string ev;
    int rc = run_cmd(testutil::reco_bin() + "eval retrieval --device cpu --model " + model + " --pairs " + dir + "/pairs.tsv", &ev);
    REQUIRE_MESSAGE(rc == 0, ev);
    CHECK(contains(ev, "image-text retrieval: 14 images, 35 captions"));
    check_row(img, txt, printed_row(ev, "frozen CLIP"));

    // RECO: a memory of 40 other images and a few training steps on it
    const auto parts = reco_parts("default", "");
    const std::string mem = parts.first, ckpt = parts.second;
    EmbeddingFile memf(mem);
    Checkpoint ck = load_checkpoint(ckpt);
    for (const std::string refine : {"both", "image"}) {
        CAPTURE(refine);
        rc = run_cmd(testutil::reco_bin() + "eval retrieval --device cpu --model " + model + " --pairs " + dir +
                         "/pairs.tsv --memory " + mem + " --fusion " + ckpt + " --k 2 --near-dup off --refine " + refine,
                     &ev);
        REQUIRE_MESSAGE(rc == 0, ev);
        CHECK(contains(ev, "image embeddings: 14 from the cache, 0 embedded"));
        CHECK(contains(ev, "search uni, fuse cross, k 2, refine " + refine));
        std::vector<float> I = img, T = txt;
        reco_refine(ck.model, memf, Modality::image, 2, I, ni);
        if (refine == "both") reco_refine(ck.model, memf, Modality::text, 2, T, nt);
        check_row(img, txt, printed_row(ev, "frozen CLIP"));
        check_row(I, T, printed_row(ev, "RECO (refine " + refine + ")"));
    }

    // a SigLIP model (d = 32): the same layout, brute force on its `reco embed` output
    const int ds = 32;
    cmd = testutil::reco_bin() + "embed --device cpu --model " + tiny_siglip();
    for (auto& p : images) cmd += " --image " + p;
    for (auto& c : captions) cmd += " --text '" + c + "'";
    REQUIRE(run_cmd(cmd + " 2>/dev/null", &out) == 0);
    all.clear();
    for (auto& l : data_lines(out))
        for (auto& x : split(l, ' ')) all.push_back(std::stof(x));
    REQUIRE(all.size() == (size_t)(ni + nt) * ds);
    rc = run_cmd(testutil::reco_bin() + "eval retrieval --device cpu --model " + tiny_siglip() + " --pairs " + dir + "/pairs.tsv", &ev);
    REQUIRE_MESSAGE(rc == 0, ev);
    const std::vector<double> Is(all.begin(), all.begin() + ni * ds), Ts(all.begin() + ni * ds, all.end());
    auto i2t = brute_recall(Is, ni, Ts, nt, ds, [&](int i, int t) { return image_of_text[t] == i; });
    auto t2i = brute_recall(Ts, nt, Is, ni, ds, [&](int t, int i) { return image_of_text[t] == i; });
    auto printed = printed_row(ev, "frozen SigLIP");
    for (int k = 0; k < 3; k++) {
        CHECK(std::fabs(printed[k] - i2t[k]) < 0.0051);
        CHECK(std::fabs(printed[3 + k] - t2i[k]) < 0.0051);
    }
    // a missing image is an error naming it
    write(dir + "/bad.tsv", "imgs/skimage/chelsea.png\ta cat\nimgs/no/such.png\ta ghost\n");
    rc = run_cmd(testutil::reco_bin() + "eval retrieval --device cpu --model " + model + " --pairs " + dir + "/bad.tsv", &ev);
    CHECK(rc == 1);
    CHECK_MESSAGE(contains(ev, dir + "/imgs/no/such.png: cannot open image"), ev);
}
TEST_CASE("eval retrieval --pairs --skip-bad: a missing image is fatal naming it, or left out with its captions") {
    REQUIRE_SHARED_DATA();
    const std::string dir = tmp_dir() + "/retrieval_skipbad", model = tiny_clip();
    sh("rm -rf " + dir + " && mkdir -p " + dir + " && ln -s " + shared_abs() + "/images " + dir + "/imgs");
    std::vector<std::vector<std::string>> idx;
    for (auto& l : data_lines(read_file(testutil::shared_data() + "/images/index.tsv"))) {
        auto f = split(l, '\t');
        if (f.size() == 10 && f[0] != "path") idx.push_back(f);
    }
    REQUIRE(idx.size() >= 8);
    std::string good = "# image\tcaption\n";
    for (int i = 0; i < 8; i++) good += "imgs/" + idx[i][0] + "\t" + idx[i][2] + "\n";
    // the same pairs plus a missing image with two captions, between them
    std::string bad = good + "imgs/no_such_image.png\ta missing image\nimgs/no_such_image.png\tits second caption\n";
    write(dir + "/good.tsv", good);
    write(dir + "/bad.tsv", bad);
    const std::string base = testutil::reco_bin() + "eval retrieval --device cpu --no-cache --model " + model + " --pairs ";
    std::string out, want;
    CHECK(run_cmd(base + dir + "/bad.tsv", &out) == 1);
    CHECK_MESSAGE(testutil::contains(out, "no_such_image.png"), out);
    REQUIRE(run_cmd(base + dir + "/bad.tsv --skip-bad", &out) == 0);
    CHECK(testutil::contains(out, "left out 1 unreadable image and their captions"));
    REQUIRE(run_cmd(base + dir + "/good.tsv", &want) == 0);
    CHECK(out.substr(out.find("i2t R@1")) == want.substr(want.find("i2t R@1")));  // recall of the 8 good pairs
    CHECK(testutil::contains(out, "8 images, 8 captions"));
}

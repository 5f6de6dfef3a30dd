// test_eval_zeroshot.cpp — `reco eval zeroshot --images DIR` against an independent transformers computation
// (tools/make_eval_fixtures.py → tests/fixtures/eval_zeroshot/): an ImageFolder of ../shared/data/images built
// here at test time, tiny CLIP and SigLIP fixture models, CLIP's prompt ensembling. Checked: every image's
// predicted class and cosine (--predictions), top-1/top-5 and per-class accuracy; the embedding cache beside
// the folder (reused, a corrupt one recomputed, an unwritable place only costs the cache; keys equal the
// SHA-256 that ../shared/data/images/index.tsv lists); RECO under the checkpoint's mode (a refinement redone here),
// the k = 0 control, near-duplicate removal. Bad input: tests/test_image_folder.cpp.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>

#include "dist/sharded_memory.h"
#include "checkpoint.h"
#include "common.h"
#include "eval_test_util.h"
#include "eval_zeroshot.h"
#include "memory.h"
#include "reco_eval.h"
#include "retrieval_mode.h"
#include "safetensors.h"

using namespace reco;
using namespace evaltest;
using testutil::contains;

namespace {

const std::string kFx = "tests/fixtures/eval_zeroshot";

// The fixture's ImageFolder, linked from ../shared/data/images, plus three entries that are not images
// (a README in a class folder, a hidden file, a file directly in DIR): returns DIR.
std::string build_folder(const std::string& name) {
    const std::string dir = tmp_dir() + "/" + name;
    sh("rm -rf " + dir + " " + dir + ".img-emb-* && mkdir -p " + dir);
    for (auto& l : data_lines(read_file(kFx + "/layout.tsv"))) {
        auto f = split(l, '\t');
        REQUIRE(f.size() == 3);
        sh("mkdir -p " + dir + "/" + f[0] + " && ln -s " + shared_abs() + "/images/" + f[2] + " " + dir + "/" + f[0] + "/" + f[1]);
    }
    write(dir + "/bird/README.txt", "not an image\n");
    write(dir + "/fruit/.DS_Store", "x");
    write(dir + "/LICENSE.txt", "x");
    return dir;
}

struct Ref {
    double top1 = -1, top5 = -1;
    std::vector<std::vector<std::string>> rows;  // rel path, true, predicted, cosine, top-5
};
Ref read_ref(const std::string& run) {
    Ref r;
    const std::string text = read_file(kFx + "/reference_" + run + ".tsv");
    for (auto& l : split(text, '\n')) {
        if (l.rfind("# top1 ", 0) == 0) r.top1 = std::stod(l.substr(7));
        if (l.rfind("# top5 ", 0) == 0) r.top5 = std::stod(l.substr(7));
    }
    for (auto& l : data_lines(text)) r.rows.push_back(split(l, '\t'));
    REQUIRE(r.top1 >= 0);
    REQUIRE(r.rows.size() == 24);
    return r;
}

// "  frozen CLIP    12.50%   83.33%" → {12.50, 83.33}
std::pair<double, double> table_row(const std::string& out, const std::string& label) {
    size_t p = out.find("  " + label + " ");
    REQUIRE_MESSAGE(p != std::string::npos, out);
    double a = -1, b = -1;
    REQUIRE(sscanf(out.c_str() + p + 2 + label.size(), " %lf%% %lf%%", &a, &b) == 2);
    return {a, b};
}


}  // namespace

TEST_CASE("eval zeroshot --images: predictions, cosines, top-1/top-5 and per-class accuracy equal transformers (CLIP, SigLIP)") {
    REQUIRE_SHARED_DATA();
    const std::string dir = build_folder("zs_parity");
    struct Run {
        std::string name, model, extra, label;
        double png_tol, jpeg_tol;  // |cosine − transformers| of the PNGs (decoded exactly) and of the JPEG
    };
    // The JPEG is decoded by stb_image here and by libjpeg-turbo in PIL (pixels differ by ≤ 2 levels).
    // Reached: PNG 2.8e-7 / 2.2e-7 / 3.5e-7, JPEG 6.6e-5 / 6.9e-5 / 1.8e-4; every prediction agrees (the
    // fixture's smallest top-1 margin is 4.8e-4).
    const Run runs[] = {
        {"clip_templates", tiny_clip(), "--templates " + kFx + "/templates.txt", "frozen CLIP", 5e-7, 1.5e-4},
        {"clip_classes", tiny_clip(), "--classes " + kFx + "/classes.txt", "frozen CLIP", 5e-7, 1.5e-4},
        {"siglip_templates", tiny_siglip(), "--templates " + kFx + "/templates.txt", "frozen SigLIP", 7e-7, 3e-4},
    };
    for (const Run& run : runs) {
        CAPTURE(run.name);
        const Ref ref = read_ref(run.name);
        const std::string pred = tmp_dir() + "/pred_" + run.name + ".tsv";
        const std::string out = run_ok("--images " + dir + " --model " + run.model + " " + run.extra +
                                       " --per-class --no-cache --predictions " + pred);
        CHECK(contains(out, "skipped 3 files or folders that are not an image or a class folder"));
        // every image, in ImageFolder order: true class, predicted class, cosine
        auto rows = data_lines(read_file(pred));
        REQUIRE(rows.size() == ref.rows.size());
        double worst_png = 0, worst_jpeg = 0;
        for (size_t i = 0; i < rows.size(); i++) {
            auto f = split(rows[i], '\t');
            REQUIRE(f.size() == 4);
            CHECK(f[0] == dir + "/" + ref.rows[i][0]);
            CHECK(f[1] == ref.rows[i][1]);
            CHECK(f[2] == ref.rows[i][2]);
            double& worst = contains(f[0], ".jpg") ? worst_jpeg : worst_png;
            worst = std::max(worst, std::fabs(std::stod(f[3]) - std::stod(ref.rows[i][3])));
        }
        MESSAGE(run.name << ": max |cosine - transformers|: PNG " << worst_png << ", JPEG " << worst_jpeg);
        CHECK(worst_png <= run.png_tol);
        CHECK(worst_jpeg <= run.jpeg_tol);
        // top-1 and top-5 as printed (2 decimals), and the closing line
        auto acc = table_row(out, run.label);
        CHECK(std::fabs(acc.first - ref.top1) < 0.006);
        CHECK(std::fabs(acc.second - ref.top5) < 0.006);
        CHECK(contains(out, strformat("top-1: frozen %.2f%%\n", ref.top1)));
        // per-class top-1 from the reference rows
        std::map<std::string, std::pair<int, int>> pc;  // class → (correct, images)
        for (auto& r : ref.rows) pc[r[1]].first += r[1] == r[2], pc[r[1]].second++;
        for (auto& kv : pc) {
            size_t p = out.find("\n  " + kv.first + " ");
            REQUIRE_MESSAGE(p != std::string::npos, kv.first);
            int images = 0;
            double pct = -1;
            REQUIRE(sscanf(out.c_str() + p + 3 + kv.first.size(), " %d %lf%%", &images, &pct) == 2);
            CHECK(images == kv.second.second);
            CHECK(std::fabs(pct - 100.0 * kv.second.first / kv.second.second) < 0.006);
        }
    }
}

namespace {

std::string after(const std::string& out, const std::string& key) {  // the rest of the line after `key`
    size_t p = out.find(key);
    REQUIRE_MESSAGE(p != std::string::npos, out);
    p += key.size();
    return out.substr(p, out.find('\n', p) - p);
}

// sha256 of every image in ../shared/data/images/index.tsv, by path
std::map<std::string, std::string> index_sha256() {
    std::map<std::string, std::string> m;
    for (auto& l : data_lines(read_file(testutil::shared_data() + "/images/index.tsv"))) {
        auto f = split(l, '\t');
        if (f.size() == 10 && f[0] != "path") m[f[0]] = f[9];
    }
    return m;
}

}  // namespace

TEST_CASE("eval zeroshot --images: image embeddings cached beside the folder; stale, corrupt or unwritable caches cost only time") {
    REQUIRE_SHARED_DATA();
    const std::string dir = build_folder("zs_cache"), model = tiny_clip(), pred = tmp_dir() + "/cache_pred.tsv";
    const std::string args = "--images " + dir + " --model " + model + " --predictions " + pred;
    std::string out = run_ok(args);
    CHECK(contains(out, "image embeddings: 0 from the cache, 24 embedded, cached in "));
    const std::string cache = after(out, "cached in ");
    CHECK(cache.rfind(dir + ".img-emb-", 0) == 0);
    const std::string first = read_file(pred);
    {  // the keys are the SHA-256 of the files, as index.tsv lists them (an independent source)
        auto sha = index_sha256();
        std::set<std::string> want, got;
        for (auto& l : data_lines(read_file(kFx + "/layout.tsv"))) want.insert(sha.at(split(l, '\t')[2]));
        SafeTensors st(cache);
        REQUIRE(st.info("sha256").shape == std::vector<int64_t>{24, 32});
        CHECK(st.info("emb").shape == std::vector<int64_t>{24, 24});
        static const char* hex = "0123456789abcdef";
        for (int i = 0; i < 24; i++) {
            std::string h;
            for (int b = 0; b < 32; b++) {
                uint8_t v = st.raw("sha256")[i * 32 + b];
                h += hex[v >> 4], h += hex[v & 15];
            }
            got.insert(h);
        }
        CHECK(got == want);
    }
    // the same run again: nothing embedded, the same predictions
    out = run_ok(args);
    CHECK(contains(out, "image embeddings: 24 from the cache, 0 embedded"));
    CHECK(read_file(pred) == first);
    // another image under a known name: only it is embedded
    sh("ln -sf " + shared_abs() + "/images/tuxpaint/toucan.png " + dir + "/bird/crow.png");
    out = run_ok(args);
    CHECK(contains(out, "image embeddings: 23 from the cache, 1 embedded, cached in"));
    sh("ln -sf " + shared_abs() + "/images/tuxpaint/crow.png " + dir + "/bird/crow.png");
    out = run_ok(args);
    CHECK(contains(out, "image embeddings: 24 from the cache, 0 embedded"));  // the old rows were kept
    CHECK(read_file(pred) == first);
    // one flipped bit in the embeddings: caught by the payload hash, recomputed, rewritten
    std::string bytes = read_file(cache);
    bytes[bytes.size() - 7] ^= 0x01;
    write(cache, bytes);
    out = run_ok(args);
    CHECK(contains(out, "ignored: contents do not match payload_sha256 (corrupt); embedding again"));
    CHECK(contains(out, "0 from the cache, 25 embedded") == false);
    CHECK(contains(out, "0 from the cache, 24 embedded, cached in"));
    CHECK(read_file(pred) == first);
    // a truncated file and another model's cache under this name: ignored too
    write(cache, bytes.substr(0, bytes.size() / 2));
    out = run_ok(args);
    CHECK(contains(out, "embedding again"));
    CHECK(contains(out, "0 from the cache, 24 embedded"));
    out = run_ok("--images " + dir + " --model " + tiny_siglip());
    const std::string siglip_cache = after(out, "cached in ");
    CHECK(siglip_cache != cache);
    sh("cp " + siglip_cache + " " + cache);
    out = run_ok(args);
    CHECK(contains(out, "ignored: made with another model or preprocessing"));
    CHECK(read_file(pred) == first);
    // a place where the cache cannot be written (here: a folder in its way): a note, the same results
    sh("rm -f " + cache + " && mkdir " + cache);
    out = run_ok(args);
    CHECK(contains(out, "image embeddings: not cached ("));
    CHECK(read_file(pred) == first);
    // --no-cache neither reads nor writes
    sh("rmdir " + cache);
    out = run_ok(args + " --no-cache");
    CHECK(!testutil::exists(cache));
    CHECK(!contains(out, "image embeddings:"));
}

namespace {

const std::vector<std::string> kClasses = {"bird", "fruit", "musical instrument", "sea animal", "tool", "vehicle"};

// The frozen embeddings of the fixture folder as `reco embed` prints them (the HF-checked path): images [24, d]
// in ImageFolder order, class embeddings [6, d] by prompt ensembling written out again here, labels.
void frozen_from_embed(const std::string& dir, const Ref& ref, std::vector<float>& img, std::vector<float>& cls,
                       std::vector<int>& label) {
    const std::vector<std::string> templates = read_templates(kFx + "/templates.txt");
    std::string cmd = testutil::reco_bin() + "embed --device cpu --model " + tiny_clip(), out;
    for (auto& r : ref.rows) cmd += " --image " + dir + "/" + r[0];
    for (auto& c : kClasses)
        for (auto& t : templates) cmd += " --text '" + fill_template(t, c) + "'";
    REQUIRE(run_cmd(cmd + " 2>/dev/null", &out) == 0);
    std::vector<float> all;
    for (auto& l : data_lines(out))
        for (auto& x : split(l, ' ')) all.push_back(std::stof(x));
    const int n = 24, C = 6, T = 4, d = 24;
    REQUIRE(all.size() == (size_t)(n + C * T) * d);
    img.assign(all.begin(), all.begin() + n * d);
    cls.assign(C * d, 0.0f);
    for (int c = 0; c < C; c++) {
        double mean[24] = {0}, nn = 0;
        for (int t = 0; t < T; t++)
            for (int e = 0; e < d; e++) mean[e] += all[(size_t)(n + c * T + t) * d + e] / T;
        for (int e = 0; e < d; e++) nn += mean[e] * mean[e];
        for (int e = 0; e < d; e++) cls[c * d + e] = (float)(mean[e] / std::sqrt(nn));
    }
    label.clear();
    for (auto& r : ref.rows) label.push_back((int)(std::find(kClasses.begin(), kClasses.end(), r[1]) - kClasses.begin()));
}

// Brute-force argmax (ties → lower class) of refined embeddings; checks the predictions file; returns top-1 %.
double check_predictions(const std::vector<float>& I, const std::vector<float>& Cl, const std::vector<int>& label,
                         const std::string& pred) {
    const int n = 24, C = 6, d = 24;
    auto rows = data_lines(read_file(pred));
    REQUIRE(rows.size() == (size_t)n);
    int correct = 0;
    for (int i = 0; i < n; i++) {
        int best = 0;
        double bs = -2;
        for (int c = 0; c < C; c++) {
            double s = 0;
            for (int e = 0; e < d; e++) s += (double)I[i * d + e] * Cl[c * d + e];
            if (s > bs) bs = s, best = c;
        }
        correct += best == label[i];
        CHECK(split(rows[i], '\t')[2] == kClasses[best]);
    }
    return 100.0 * correct / n;
}

}  // namespace

TEST_CASE("eval zeroshot --images with --memory/--fusion: RECO as the checkpoint's mode says; another --search/--fuse is refused") {
    REQUIRE_SHARED_DATA();
    const std::string dir = build_folder("zs_reco"), model = tiny_clip(), pred = tmp_dir() + "/reco_pred.tsv";
    const Ref ref = read_ref("clip_templates");
    std::vector<float> img, cls;
    std::vector<int> label;
    frozen_from_embed(dir, ref, img, cls, label);
    const int n = 24, C = 6;
    std::string out;
    for (const std::string train : {"", "--search cross --fuse uni"}) {
        const auto parts = reco_parts(train.empty() ? "default" : "cross_uni", train);
        ShardedMemory memf(parts.first);
        Checkpoint ck = load_checkpoint(parts.second);
        for (const std::string refine : {"both", "image", "text"}) {
            CAPTURE(train);
            CAPTURE(refine);
            out = run_ok("--images " + dir + " --model " + model + " --templates " + kFx + "/templates.txt --memory " +
                         parts.first + " --fusion " + parts.second + " --k 2 --near-dup off --refine " + refine + " --predictions " + pred);
            CHECK(contains(out, train.empty() ? "search uni, fuse cross, k 2, refine " + refine
                                              : "search cross, fuse uni, k 2, refine " + refine));
            // the refinement in the checkpoint's mode, then brute-force argmax (ties → lower class)
            RetrievalMode mode = ck.settings.mode();
            mode.k = 2;
            ModeMemory searched(memf, mode);
            std::vector<float> I = img, Cl = cls;
            if (refine != "text") reco_refine(ck.model, searched, Modality::image, I, n);
            if (refine != "image") reco_refine(ck.model, searched, Modality::text, Cl, C);
            const double top1 = check_predictions(I, Cl, label, pred);
            CHECK(contains(out, strformat("top-1: frozen %.2f%% -> RECO %.2f%%\n", ref.top1, top1)));
        }
        // the checkpoint was trained with one mode: asking for another is refused, naming both
        std::string err;
        const std::string other = train.empty() ? "--search cross" : "--fuse cross";
        int rc = run_cmd(testutil::reco_bin() + "eval zeroshot --device cpu --images " + dir + " --model " + model +
                             " --memory " + parts.first + " --fusion " + parts.second + " " + other,
                         &err);
        CHECK(rc == 1);
        CHECK_MESSAGE(contains(err, train.empty() ? "trained with --search uni --fuse cross; asked for --search cross --fuse cross"
                                                  : "trained with --search cross --fuse uni; asked for --search cross --fuse cross"),
                      err);
        write(dir + ".pairs.tsv", "zs_reco/bird/crow.png\tA crow.\nzs_reco/tool/saw.png\tA saw.\n");
        rc = run_cmd(testutil::reco_bin() + "eval retrieval --device cpu --pairs " + dir + ".pairs.tsv --model " + model +
                         " --memory " + parts.first + " --fusion " + parts.second + " " + other,
                     &err);
        CHECK(rc == 1);
        CHECK_MESSAGE(contains(err, "trained with --search"), err);
    }
}

TEST_CASE("eval zeroshot --images with a k = 0 checkpoint (the no-retrieval control): the fusion layer on the query alone") {
    REQUIRE_SHARED_DATA();
    const std::string dir = build_folder("zs_k0"), model = tiny_clip(), pred = tmp_dir() + "/k0_pred.tsv";
    const Ref ref = read_ref("clip_templates");
    std::vector<float> img, cls;
    std::vector<int> label;
    frozen_from_embed(dir, ref, img, cls, label);
    const auto parts = reco_parts("k0", "--k 0");
    const std::string out = run_ok("--images " + dir + " --model " + model + " --templates " + kFx + "/templates.txt --memory " +
                                   parts.first + " --fusion " + parts.second + " --predictions " + pred);
    CHECK(contains(out, "k 0 (no retrieval"));
    ShardedMemory memf(parts.first);
    Checkpoint ck = load_checkpoint(parts.second);
    ModeMemory none(memf, ck.settings.mode());
    REQUIRE(none.mode().k == 0);
    reco_refine(ck.model, none, Modality::image, img, 24);
    reco_refine(ck.model, none, Modality::text, cls, 6);
    const double top1 = check_predictions(img, cls, label, pred);
    CHECK(contains(out, strformat("top-1: frozen %.2f%% -> RECO %.2f%%\n", ref.top1, top1)));
}

TEST_CASE("eval zeroshot --images with RECO: near-duplicates of the evaluated images are removed from the memory") {
    REQUIRE_SHARED_DATA();
    const std::string dir = build_folder("zs_dedup"), model = tiny_clip(), pred = tmp_dir() + "/dedup_pred.tsv";
    const Ref ref = read_ref("clip_templates");
    std::vector<float> img, cls;
    std::vector<int> label;
    frozen_from_embed(dir, ref, img, cls, label);
    const int n = 24, C = 6, d = 24;
    // a memory that holds some of the evaluated images (index.tsv rows 10..49: the birds, the sea animals)
    const auto parts = reco_parts("overlap", "", 10, 40);
    EmbeddingFile memf(parts.first);
    Checkpoint ck = load_checkpoint(parts.second);
    // the near-duplicates, found here by brute force: memory images with cosine >= 0.999 to an evaluated image
    std::vector<int> keep;
    int removed = 0;
    std::vector<float> row(d);
    for (int r = 0; r < memf.n(); r++) {
        memf.image_row(r, row.data());
        double best = -2;
        for (int i = 0; i < n; i++) {
            double s = 0;
            for (int e = 0; e < d; e++) s += (double)img[i * d + e] * row[e];
            best = std::max(best, s);
        }
        if (best >= 0.999) removed++;
        else keep.push_back(r);
    }
    REQUIRE(removed >= 5);
    // the memory without them, the same fp16 rows
    const std::string filtered = tmp_dir() + "/dedup_memory.safetensors";
    {
        std::vector<uint16_t> im, tx;
        for (int r : keep) {
            im.insert(im.end(), memf.image_emb_f16() + (size_t)r * d, memf.image_emb_f16() + (size_t)(r + 1) * d);
            tx.insert(tx.end(), memf.text_emb_f16() + (size_t)r * d, memf.text_emb_f16() + (size_t)(r + 1) * d);
        }
        SafeTensorsWriter w;
        const int64_t m = (int64_t)keep.size();
        w.add("image_emb", DType::F16, {m, d}, im.data(), im.size() * 2);
        w.add("text_emb", DType::F16, {m, d}, tx.data(), tx.size() * 2);
        w.set_metadata("format", kEmbeddingFormat);
        w.set_metadata("model", memf.model());
        w.set_metadata("d", std::to_string(d));
        w.set_metadata("n", std::to_string(m));
        w.write(filtered);
    }
    EmbeddingFile filt(filtered);
    for (const std::string refine : {"both", "image"}) {
        CAPTURE(refine);
        std::string out = run_ok("--images " + dir + " --model " + model + " --templates " + kFx + "/templates.txt --memory " +
                                 parts.first + " --fusion " + parts.second + " --k 2 --near-dup 0.999 --refine " + refine +
                                 " --predictions " + pred);
        CHECK(contains(out, strformat("near-duplicates: %d memory items removed (image cosine >= 0.999", removed)));
        std::vector<float> I = img, Cl = cls;
        reco_refine(ck.model, filt, Modality::image, 2, I, n);
        if (refine == "both") reco_refine(ck.model, filt, Modality::text, 2, Cl, C);
        const double top1 = check_predictions(I, Cl, label, pred);
        CHECK(contains(out, strformat("top-1: frozen %.2f%% -> RECO %.2f%%\n", ref.top1, top1)));
    }
    // more neighbours than the memory has left: an error that says why
    std::string err;
    int rc = run_cmd(testutil::reco_bin() + "eval zeroshot --device cpu --images " + dir + " --model " + model + " --memory " +
                         parts.first + " --fusion " + parts.second + " --near-dup 0.999 --k " + std::to_string(40 - removed + 1),
                     &err);
    CHECK(rc == 1);
    CHECK_MESSAGE(contains(err, "memory items left after removing"), err);
    rc = run_cmd(testutil::reco_bin() + "eval zeroshot --device cpu --images " + dir + " --model " + model + " --memory " +
                     parts.first + " --fusion " + parts.second + " --near-dup 1.5", &err);
    CHECK(rc == 1);
    CHECK(contains(err, "--near-dup must be a cosine in (0, 1] or 'off'"));
}

TEST_CASE("eval zeroshot --images --skip-bad: an unreadable image is fatal naming it, or left out with a note") {
    REQUIRE_SHARED_DATA();
    const std::string dir = build_folder("zs_skipbad"), clean = build_folder("zs_skipbad_clean");
    write(dir + "/bird/broken.jpg", "this is not a JPEG");
    std::string out;
    const std::string base = testutil::reco_bin() + "eval zeroshot --device cpu --no-cache --model " + tiny_clip() +
                             " --per-class --images ";
    CHECK(run_cmd(base + dir, &out) == 1);
    CHECK_MESSAGE(contains(out, "broken.jpg"), out);
    CHECK_FALSE(contains(out, "top-1: frozen"));
    REQUIRE(run_cmd(base + dir + " --skip-bad", &out) == 0);
    CHECK_MESSAGE(contains(out, "skipping"), out);
    CHECK(contains(out, "left out 1 unreadable image"));
    std::string want;
    REQUIRE(run_cmd(base + clean, &want) == 0);
    // the same evaluation as the folder without the broken file: counts, accuracies, per-class rows
    auto table = [](const std::string& s) { return s.substr(s.find("  method")); };
    CHECK(table(out) == table(want));
    CHECK(contains(out, "zero-shot classification: 24 images"));
}

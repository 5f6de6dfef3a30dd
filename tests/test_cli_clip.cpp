// test_cli_clip.cpp — `reco embed` / `reco classify` / `reco info` end to end against transformers:
// files and strings in, the printed embedding out, compared with the HF reference of the tiny
// fixture models (images: decode + PIL-exact preprocessing + tower; texts: tokenizer + tower).
// Issue 2 asked for text ≤ 2e-4 max abs and images cosine ≥ 0.9998; the engine does far better, and the
// tolerances below are set just above what it reaches (a wrong layer_norm_eps in the vision tower gives
// 1-cos 8.7e-5 on the f16 fixture, a tanh GELU moves its text embeds by 1.6e-4). `reco classify` is checked
// against HF's logits_per_image for its own prompts ("a photo of a {label}.").
#include <algorithm>
#include <cmath>
#include <sstream>
#include <string>
#include <unistd.h>
#include <vector>

#include "common.h"
#include "safetensors.h"
#include "test_util.h"

using namespace reco;
using testutil::contains;

// A model directory as on the Hub: the fixture's weights + the shared tokenizer files.
static std::string model_dir(const std::string& fixture) {
    std::string name = fixture.substr(fixture.rfind('/') + 1);
    std::string d = "/tmp/reco_test_models_" + std::to_string(getpid()) + "_" + name;
    std::string cwd = getenv("PWD") ? getenv("PWD") : ".";
    if (!testutil::exists(d)) {
        std::string cmd = "mkdir -p " + d + " && ln -sf " + cwd + "/" + fixture + "/model.safetensors " + cwd + "/" +
                          fixture + "/config.json " + d + "/ && ln -sf $(realpath " + testutil::shared_data() +
                          ")/clip/hf_tokenizer/vocab.json $(realpath " + testutil::shared_data() +
                          ")/clip/hf_tokenizer/merges.txt " + d + "/";
        REQUIRE(system(cmd.c_str()) == 0);
    }
    return d;
}

static std::vector<std::string> read_lines(const std::string& path) {
    std::string s = read_file(path);
    std::vector<std::string> out;
    size_t pos = 0;
    while (pos < s.size()) {
        size_t nl = s.find('\n', pos);
        out.push_back(s.substr(pos, nl - pos));
        pos = nl == std::string::npos ? s.size() : nl + 1;
    }
    return out;
}

static std::string shell_quote(const std::string& s) {
    std::string q = "'";
    for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
}

static std::vector<std::vector<float>> parse_rows(const std::string& out) {
    std::vector<std::vector<float>> rows;
    std::istringstream in(out);
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream ls(line);
        std::vector<float> r;
        float x;
        while (ls >> x) r.push_back(x);
        if (!r.empty()) rows.push_back(r);  // skip stderr lines (warnings) merged into the output
    }
    return rows;
}

// Per fixture: tolerances just above what the engine reaches (measured on x86-64, -O3 -march=native, printed
// by the tests; reached values in brackets).
struct CliFixture {
    const char* dir;
    double text_abs;      // `reco embed --text`: max abs diff of the printed normalised embedding
    double image_cos;     // `reco embed --image`: min cosine (JPEG decoding differs from PIL by ≤ 3 levels)
    double png_cos;       // the same for the lossless images (PNG): decode and preprocessing are exact
    double logit_abs;     // `reco classify`: printed logit vs HF logits_per_image (printed with 3 decimals:
                          // the rounding, 5e-4, dominates; the engine's own error is ~1e-5)
    double prob_abs;      // printed probability vs softmax of HF logits_per_image (4 decimals: rounding 5e-5)
};
static const CliFixture kCli[] = {
    // texts [1.5e-7]; images 1-cos [1.4e-6], PNG [4e-8]; classify logits [4.9e-4], probabilities [5.0e-5]
    {"tests/fixtures/tiny_clip_quickgelu_f32", 4e-7, 1 - 4e-6, 1 - 2e-7, 6e-4, 6e-5},
    // texts [2.4e-7]; images 1-cos [7.6e-7], PNG [1.5e-8]; classify logits [5.0e-4], probabilities [4.8e-5]
    {"tests/fixtures/tiny_clip_gelu_f16", 5e-7, 1 - 2.5e-6, 1 - 2e-7, 6e-4, 6e-5},
};

static bool is_png(const std::string& p) { return p.size() > 4 && p.substr(p.size() - 4) == ".png"; }

TEST_CASE("reco embed equals transformers: texts (tokenizer + tower) and image files (decode + preprocess + tower)") {
    REQUIRE_SHARED_DATA();
    for (const CliFixture& cf : kCli) {
        const std::string fx = cf.dir;
        std::string dir = model_dir(fx);
        SafeTensors ref(fx + "/reference.safetensors");
        auto texts = read_lines(fx + "/texts.txt");
        auto images = read_lines(fx + "/images.txt");
        // the empty text is refused by the CLI (bad input); the tower test covers its token ids
        std::vector<size_t> text_rows;
        std::string cmd = testutil::reco_bin() + "embed --device cpu --model " + dir;
        for (size_t t = 0; t < texts.size(); t++)
            if (!texts[t].empty()) { cmd += " --text " + shell_quote(texts[t]); text_rows.push_back(t); }
        for (auto& i : images) cmd += " --image " + testutil::shared_data() + "/images/" + i;
        std::string out;
        int rc = run_cmd(cmd, &out);
        REQUIRE_MESSAGE(rc == 0, out);
        auto rows = parse_rows(out);
        REQUIRE(rows.size() == text_rows.size() + images.size());
        const int E = (int)ref.info("text_embeds").shape[1];
        auto te = ref.to_f32("text_embeds"), ie = ref.to_f32("image_embeds");
        double tmax = 0, cmin = 1, cmin_png = 1;
        for (size_t j = 0; j < text_rows.size(); j++) {
            REQUIRE(rows[j].size() == (size_t)E);
            for (int e = 0; e < E; e++) tmax = std::max(tmax, (double)std::fabs(rows[j][e] - te[text_rows[j] * E + e]));
        }
        for (size_t i = 0; i < images.size(); i++) {
            const auto& r = rows[text_rows.size() + i];
            REQUIRE(r.size() == (size_t)E);
            double c = 0, n = 0;
            for (int e = 0; e < E; e++) c += (double)r[e] * ie[i * E + e], n += (double)r[e] * r[e];
            INFO(images[i] << " cosine " << c << ", norm² " << n);
            CHECK(std::fabs(n - 1) <= 1e-5);  // printed normalised
            CHECK(c >= cf.image_cos);
            if (is_png(images[i])) CHECK(c >= cf.png_cos);
            cmin = std::min(cmin, c);
            if (is_png(images[i])) cmin_png = std::min(cmin_png, c);
        }
        MESSAGE(fx << ": texts max abs diff " << tmax << " (tol " << cf.text_abs << "), images max 1-cosine " << 1 - cmin
                   << " (tol " << 1 - cf.image_cos << "), PNG images max 1-cosine " << 1 - cmin_png << " (tol "
                   << 1 - cf.png_cos << ")");
        CHECK(tmax <= cf.text_abs);
    }
}

TEST_CASE("reco classify prints transformers' logits_per_image, its softmax and its ranking") {
    REQUIRE_SHARED_DATA();
    // reference: HF CLIPModel(input_ids of "a photo of a {label}.", pixel_values).logits_per_image
    // = exp(logit_scale)·cos, for every fixture image × the labels below (tools/make_clip_fixtures.py)
    const std::vector<std::string> labels = {"cat", "dog", "diagram", "rocket", "flamingo", "penguin", "horse", "fish"};
    const int L = (int)labels.size();
    for (const CliFixture& cf : kCli) {
        const std::string fx = cf.dir;
        INFO(fx);
        std::string dir = model_dir(fx);
        SafeTensors ref(fx + "/reference.safetensors");
        std::string meta = ref.meta("classify_labels");
        for (int j = 0; j < L; j++) REQUIRE(contains(meta, "\"" + labels[j] + "\""));
        auto all_images = read_lines(fx + "/images.txt");
        const int NI = (int)all_images.size();
        auto hf = ref.to_f32("classify_logits_per_image", {NI, L});
        // the lossless images only: decode + preprocessing are exact there, so the logits are the tower's
        std::vector<int> img;
        std::string labels_arg;
        for (int j = 0; j < L; j++) labels_arg += (j ? "," : "") + labels[j];
        std::string cmd = testutil::reco_bin() + "classify --device cpu --model " + dir + " --labels '" + labels_arg +
                          "' --top " + std::to_string(L);
        for (int i = 0; i < NI; i++)
            if (is_png(all_images[i])) { img.push_back(i); cmd += " " + testutil::shared_data() + "/images/" + all_images[i]; }
        REQUIRE(img.size() >= 3);
        std::string out;
        int rc = run_cmd(cmd, &out);
        REQUIRE_MESSAGE(rc == 0, out);
        // blocks: the image path, the header, then L rows "rank prob logit label"
        std::istringstream in(out);
        std::string l;
        int block = -1, rows_seen = 0;
        double worst_logit = 0, worst_prob = 0;
        std::vector<int> prev_rank;
        std::vector<double> prev_logit;
        while (std::getline(in, l)) {
            if (contains(l, "/images/")) {
                if (block >= 0) CHECK(rows_seen == L);
                block++;
                rows_seen = 0;
                REQUIRE(block < (int)img.size());
                CHECK(contains(l, all_images[img[block]]));
                continue;
            }
            int rank;
            double p, logit;
            char label[64];
            if (sscanf(l.c_str(), " %d %lf %lf %63s", &rank, &p, &logit, label) != 4) continue;
            REQUIRE(block >= 0);
            const int i = img[block];
            int j = (int)(std::find(labels.begin(), labels.end(), std::string(label)) - labels.begin());
            REQUIRE(j < L);
            const float* row = hf.data() + (size_t)i * L;
            double mx = *std::max_element(row, row + L), sum = 0;
            for (int q = 0; q < L; q++) sum += std::exp((double)row[q] - mx);
            const double p_ref = std::exp((double)row[j] - mx) / sum;
            // the rank HF's logits give this label (ties within the tolerance accepted either way)
            int hf_rank_lo = 1, hf_rank_hi = 1;
            for (int q = 0; q < L; q++)
                if (q != j) {
                    if (row[q] > row[j] + cf.logit_abs) hf_rank_lo++, hf_rank_hi++;
                    else if (row[q] >= row[j] - cf.logit_abs) hf_rank_hi++;
                }
            INFO(all_images[i] << " rank " << rank << " " << label << ": prob " << p << " (HF " << p_ref << "), logit "
                               << logit << " (HF " << row[j] << "), HF ranks " << hf_rank_lo << ".." << hf_rank_hi);
            rows_seen++;
            CHECK(rank == rows_seen);
            CHECK(rank >= hf_rank_lo);
            CHECK(rank <= hf_rank_hi);
            CHECK(std::fabs(logit - row[j]) <= cf.logit_abs);
            CHECK(std::fabs(p - p_ref) <= cf.prob_abs);
            worst_logit = std::max(worst_logit, std::fabs(logit - row[j]));
            worst_prob = std::max(worst_prob, std::fabs(p - p_ref));
        }
        CHECK(block == (int)img.size() - 1);
        CHECK(rows_seen == L);
        MESSAGE(fx << ": classify " << img.size() << " PNG images x " << L << " labels: printed logits max abs diff "
                   << worst_logit << " (tol " << cf.logit_abs << "), probabilities " << worst_prob << " (tol "
                   << cf.prob_abs << ")");
    }
}

TEST_CASE("command-line errors: missing model, bad image, unknown option, missing input") {
    std::string out;
    CHECK(run_cmd(testutil::reco_bin() + "embed --model /nonexistent --text hi", &out) == 1);
    CHECK(out.find("model directory '/nonexistent' not found") != std::string::npos);
    CHECK(out.find("weights/download.sh") != std::string::npos);
    CHECK(run_cmd(testutil::reco_bin() + "embed --bogus 1", &out) == 1);
    CHECK(out.find("unknown option --bogus") != std::string::npos);
    CHECK(run_cmd(testutil::reco_bin() + "nosuchcommand", &out) == 2);
    CHECK(run_cmd(testutil::reco_bin() + "info /nonexistent.safetensors", &out) == 1);
    CHECK(out.find("/nonexistent.safetensors: cannot open") != std::string::npos);
    REQUIRE_SHARED_DATA();
    std::string dir = model_dir(kCli[0].dir);
    CHECK(run_cmd(testutil::reco_bin() + "embed --model " + dir + " --image /nonexistent.jpg", &out) == 1);
    CHECK(out.find("/nonexistent.jpg") != std::string::npos);
    CHECK(run_cmd(testutil::reco_bin() + "embed --model " + dir, &out) == 1);
    CHECK(out.find("nothing to embed") != std::string::npos);
    CHECK(run_cmd(testutil::reco_bin() + "embed --model " + dir + " --text ''", &out) == 1);
    CHECK(out.find("empty text") != std::string::npos);
    std::string long_text;
    for (int i = 0; i < 100; i++) long_text += "word ";
    CHECK(run_cmd(testutil::reco_bin() + "embed --model " + dir + " --text '" + long_text + "'", &out) == 0);
    CHECK(out.find("longer than 77 tokens, truncated") != std::string::npos);
    CHECK(run_cmd(testutil::reco_bin() + "info " + dir, &out) == 0);
    CHECK(out.find("parameters: ") != std::string::npos);
    CHECK(out.find("vision_model.pre_layrnorm.weight") != std::string::npos);
}

// test_cli_siglip.cpp — the commands end to end on the tiny SigLIP fixtures (tests/fixtures/tiny_siglip_*),
// against transformers: `reco tokenize` (64 ids per text = HF's input_ids), `reco embed` from strings
// (tokenizer + text tower) and from image files (decode + SiglipImageProcessor + vision tower), `reco
// classify` (sigmoid probabilities = probs_per_image), `reco memory build` + `reco search`, and the errors:
// no or corrupt spiece.model, an unknown model_type, a CLIP memory searched with a SigLIP model, >64 tokens.
#include <climits>
#include <cmath>
#include <cstdlib>
#include <sstream>
#include <string>
#include <unistd.h>
#include <vector>

#include "common.h"
#include "safetensors.h"
#include "test_util.h"

using namespace reco;

static const char* kSiglips[] = {"tests/fixtures/tiny_siglip_f32", "tests/fixtures/tiny_siglip_f16"};

static std::vector<std::string> lines_of(const std::string& s) {
    std::vector<std::string> out;
    size_t pos = 0;
    while (pos < s.size()) {
        size_t nl = s.find('\n', pos);
        if (nl == std::string::npos) nl = s.size();
        out.push_back(s.substr(pos, nl - pos));
        pos = nl + 1;
    }
    return out;
}
static std::string quote(const std::string& s) {  // one shell word
    std::string q = "'";
    for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
}
// The printed embedding lines (numbers only: warnings and notes on stderr are mixed in by run_cmd).
static std::vector<std::vector<double>> number_rows(const std::string& out) {
    std::vector<std::vector<double>> rows;
    for (auto& l : lines_of(out)) {
        if (l.empty() || !(isdigit((unsigned char)l[0]) || l[0] == '-')) continue;
        std::istringstream in(l);
        std::vector<double> r;
        double v;
        while (in >> v) r.push_back(v);
        rows.push_back(r);
    }
    return rows;
}
static std::string tmpdir() {
    std::string d = "/tmp/reco_test_siglip_" + std::to_string(getpid());
    REQUIRE(system(("mkdir -p " + d).c_str()) == 0);
    return d;
}

TEST_CASE("siglip cli: tokenize prints HF's 64 input_ids per text") {
    for (const char* dir : kSiglips) {
        INFO(std::string(dir));
        auto texts = lines_of(read_file(std::string(dir) + "/texts.txt"));
        REQUIRE(texts.size() == 9);
        SafeTensors ref(std::string(dir) + "/reference.safetensors");
        const int64_t* ids = (const int64_t*)ref.raw("input_ids");
        std::string cmd = testutil::reco_bin() + "tokenize --model " + dir;
        for (auto& t : texts) cmd += " " + quote(t);
        std::string out;
        REQUIRE(run_cmd(cmd, &out) == 0);
        CHECK(testutil::contains(out, "longer than 64 tokens, truncated"));  // the last text
        auto rows = number_rows(out);
        REQUIRE(rows.size() == 9);
        for (int i = 0; i < 9; i++) {
            REQUIRE(rows[i].size() == 64);
            for (int k = 0; k < 64; k++) CHECK(rows[i][k] == ids[i * 64 + k]);
        }
    }
}

TEST_CASE("siglip cli: embed from strings equals get_text_features, normalised") {
    for (const char* dir : kSiglips) {
        INFO(std::string(dir));
        auto texts = lines_of(read_file(std::string(dir) + "/texts.txt"));
        SafeTensors ref(std::string(dir) + "/reference.safetensors");
        auto emb = ref.to_f32("text_embeds", {9, 32});
        std::string cmd = testutil::reco_bin() + "embed --device cpu --model " + dir;
        std::vector<int> which;
        for (int i = 0; i < 9; i++)
            if (!texts[i].empty()) {  // the empty text is refused by embed (nothing to embed)
                cmd += " --text " + quote(texts[i]);
                which.push_back(i);
            }
        std::string out;
        REQUIRE(run_cmd(cmd, &out) == 0);
        CHECK(testutil::contains(out, "warning: text longer than 64 tokens, truncated"));
        auto rows = number_rows(out);
        REQUIRE(rows.size() == which.size());
        double worst = 0;
        for (size_t r = 0; r < rows.size(); r++) {
            REQUIRE(rows[r].size() == 32);
            for (int e = 0; e < 32; e++) worst = std::max(worst, std::fabs(rows[r][e] - emb[which[r] * 32 + e]));
        }
        MESSAGE(std::string(dir) << ": reco embed --text vs HF text_embeds, max abs diff " << worst);
        CHECK(worst <= 2e-6);
    }
}

TEST_CASE("siglip cli: embed from image files (decode + preprocessing + tower) vs get_image_features") {
    REQUIRE_SHARED_DATA();
    for (const char* dir : kSiglips) {
        INFO(std::string(dir));
        auto files = lines_of(read_file(std::string(dir) + "/images.txt"));
        REQUIRE(files.size() == 4);
        SafeTensors ref(std::string(dir) + "/reference.safetensors");
        auto emb = ref.to_f32("image_embeds", {4, 32});
        std::string cmd = testutil::reco_bin() + "embed --model " + dir;
        for (auto& f : files) cmd += " --image " + testutil::shared_data() + "/images/" + f;
        std::string out;
        REQUIRE(run_cmd(cmd, &out) == 0);
        auto rows = number_rows(out);
        REQUIRE(rows.size() == 4);
        for (int i = 0; i < 4; i++) {
            double dot = 0, na = 0, nb = 0, dmax = 0;
            for (int e = 0; e < 32; e++) {
                dot += rows[i][e] * emb[i * 32 + e];
                na += rows[i][e] * rows[i][e];
                nb += (double)emb[i * 32 + e] * emb[i * 32 + e];
                dmax = std::max(dmax, std::fabs(rows[i][e] - emb[i * 32 + e]));
            }
            double cos = dot / std::sqrt(na * nb);
            MESSAGE(std::string(dir) << " " << files[i] << ": cosine " << cos << ", max abs diff " << dmax);
            CHECK(cos >= 0.9995);
            if (files[i].find(".jpg") == std::string::npos) CHECK(dmax <= 2e-6);  // PNG: bit-exact pixels
        }
    }
}

TEST_CASE("siglip cli: classify prints the sigmoid probabilities of SiglipModel.forward") {
    REQUIRE_SHARED_DATA();
    for (const char* dir : kSiglips) {
        INFO(std::string(dir));
        auto texts = lines_of(read_file(std::string(dir) + "/texts.txt"));
        auto files = lines_of(read_file(std::string(dir) + "/images.txt"));
        SafeTensors ref(std::string(dir) + "/reference.safetensors");
        auto probs = ref.to_f32("probs_per_image", {4, 9});
        auto logits = ref.to_f32("logits_per_image", {4, 9});
        // labels used verbatim (--template "{}"); not the empty text, nor the one whose leading spaces a
        // labels file strips
        std::vector<int> which = {0, 2, 4, 5, 6, 7, 8};
        std::string d = tmpdir(), labels;
        for (int i : which) labels += texts[i] + "\n";
        write_file_atomic(d + "/labels.txt", labels.data(), labels.size());
        std::string cmd = testutil::reco_bin() + "classify --model " + dir + " --labels-file " + d +
                          "/labels.txt --template '{}' --top 7";
        for (auto& f : files) cmd += " " + testutil::shared_data() + "/images/" + f;
        std::string out;
        REQUIRE(run_cmd(cmd, &out) == 0);
        int image = -1, seen = 0;
        double dp = 0, dl = 0;
        for (auto& l : lines_of(out)) {
            if (l.find(testutil::shared_data()) == 0) { image++; continue; }
            int rank;
            double p, lg;
            int used = 0;
            if (image < 0 || sscanf(l.c_str(), " %d %lf %lf %n", &rank, &p, &lg, &used) != 3 || !used) continue;
            std::string label = l.substr(used);
            int j = -1;
            for (int i : which)
                if (texts[i] == label) j = i;
            REQUIRE(j >= 0);
            seen++;
            if (files[image].find(".jpg") != std::string::npos) continue;  // JPEG: stb vs PIL decode
            dp = std::max(dp, std::fabs(p - probs[image * 9 + j]));
            dl = std::max(dl, std::fabs(lg - logits[image * 9 + j]));
        }
        CHECK(seen == 4 * 7);
        MESSAGE(std::string(dir) << ": classify probs max abs diff " << dp << ", logits " << dl << " (printed to 4 / 3 decimals)");
        CHECK(dp <= 6e-5);
        CHECK(dl <= 6e-4);
    }
}

TEST_CASE("siglip cli: memory build + search work on SigLIP; a CLIP memory is refused with a SigLIP model") {
    REQUIRE_SHARED_DATA();
    char abs[4096];
    REQUIRE(realpath(testutil::shared_data().c_str(), abs) != nullptr);  // the TSV's paths are relative to its folder
    std::string d = tmpdir(), img = std::string(abs) + "/images/";
    std::string tsv = img + "coco/000000039769.png\ttwo cats on a couch\n" + img + "skimage/rocket.jpg\ta rocket\n" +
                      img + "skimage/chelsea.png\ta cat\n";
    write_file_atomic(d + "/pairs.tsv", tsv.data(), tsv.size());
    const std::string sig = "tests/fixtures/tiny_siglip_f32";
    std::string o;
    REQUIRE(run_cmd(testutil::reco_bin() + "memory build --model " + sig + " --pairs " + d + "/pairs.tsv --out " + d +
                        "/sig.mem", &o) == 0);
    REQUIRE(run_cmd(testutil::reco_bin() + "search --model " + sig + " --memory " + d + "/sig.mem --k 3 --text 'a rocket'", &o) == 0);
    CHECK(testutil::contains(o, "a rocket"));
    REQUIRE(run_cmd(testutil::reco_bin() + "info " + d + "/sig.mem", &o) == 0);
    CHECK(testutil::contains(o, "family: siglip"));
    // the same pairs embedded by a CLIP model (with the shared BPE files)
    std::string clip = d + "/clip";
    std::string cwd = getenv("PWD") ? getenv("PWD") : ".";
    REQUIRE(system(("mkdir -p " + clip + " && ln -sf " + cwd + "/tests/fixtures/tiny_clip_quickgelu_f32/model.safetensors " +
                    cwd + "/tests/fixtures/tiny_clip_quickgelu_f32/config.json " + clip + "/ && ln -sf $(realpath " +
                    testutil::shared_data() + ")/clip/hf_tokenizer/vocab.json $(realpath " + testutil::shared_data() +
                    ")/clip/hf_tokenizer/merges.txt " + clip + "/").c_str()) == 0);
    REQUIRE(run_cmd(testutil::reco_bin() + "memory build --model " + clip + " --pairs " + d + "/pairs.tsv --out " + d +
                        "/clip.mem", &o) == 0);
    CHECK(run_cmd(testutil::reco_bin() + "search --model " + sig + " --memory " + d + "/clip.mem --k 2 --text cat", &o) != 0);
    CHECK(testutil::contains(o, d + "/clip.mem"));
    CHECK(testutil::contains(o, sig));
    CHECK(run_cmd(testutil::reco_bin() + "search --model " + clip + " --memory " + d + "/sig.mem --k 2 --text cat", &o) != 0);
    CHECK(testutil::contains(o, "sig.mem"));
    REQUIRE(system(("rm -rf " + d).c_str()) == 0);
}

TEST_CASE("siglip cli: a missing or corrupt spiece.model and an unknown model_type are clear errors") {
    std::string d = tmpdir(), m = d + "/m";
    std::string cwd = getenv("PWD") ? getenv("PWD") : ".";
    REQUIRE(system(("mkdir -p " + m + " && cp " + cwd + "/tests/fixtures/tiny_siglip_f32/*.json " + cwd +
                    "/tests/fixtures/tiny_siglip_f32/model.safetensors " + m + "/").c_str()) == 0);
    std::string o;
    CHECK(run_cmd(testutil::reco_bin() + "embed --model " + m + " --text cat", &o) != 0);
    CHECK(testutil::contains(o, m + "/spiece.model"));
    CHECK(run_cmd(testutil::reco_bin() + "tokenize --model " + m + " cat", &o) != 0);
    CHECK(testutil::contains(o, m + "/spiece.model"));
    std::string junk = "this is not a sentencepiece model";
    write_file_atomic(m + "/spiece.model", junk.data(), junk.size());
    CHECK(run_cmd(testutil::reco_bin() + "embed --model " + m + " --text cat", &o) != 0);
    CHECK(testutil::contains(o, m + "/spiece.model"));
    std::string cfg = read_file(m + "/config.json");
    size_t at = cfg.find("\"model_type\": \"siglip\"");
    REQUIRE(at != std::string::npos);
    cfg.replace(at, 22, "\"model_type\": \"blip2\"");
    write_file_atomic(m + "/config.json", cfg.data(), cfg.size());
    CHECK(run_cmd(testutil::reco_bin() + "embed --model " + m + " --text cat", &o) != 0);
    CHECK(testutil::contains(o, m + "/config.json"));
    CHECK(testutil::contains(o, "'blip2'"));
    REQUIRE(system(("rm -rf " + d).c_str()) == 0);
}

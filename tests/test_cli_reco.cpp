// test_cli_reco.cpp — the README's worked example, end to end through ./reco on real photos
// (../shared/data/images, labelled and captioned) with a tiny HF-layout CLIP:
//   pairs TSV → memory build → search → train → classify --memory --fusion --explain → eval.
// What can fail here: row bookkeeping (line numbers, --skip-bad), uni-modal search returning the
// query image itself first (its own pair is in the memory: score 1 and rank 1), the command wiring.
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <unistd.h>
#include <vector>

#include "common.h"
#include "fusion.h"
#include "memory.h"
#include "safetensors.h"
#include "test_util.h"

using namespace reco;

namespace {

std::string tmp_dir() {
    static std::string d;
    if (d.empty()) {
        char t[] = "/tmp/reco_e2e_XXXXXX";
        d = mkdtemp(t);
    }
    return d;
}

// Model dir = tiny fixture weights + shared tokenizer.
std::string tiny_model() {
    std::string d = tmp_dir() + "/model";
    if (!testutil::exists(d)) {
        std::string cwd = getenv("PWD") ? getenv("PWD") : ".";
        std::string fx = cwd + "/tests/fixtures/tiny_clip_quickgelu_f32";
        std::string cmd = "mkdir -p " + d + " && ln -sf " + fx + "/model.safetensors " + fx + "/config.json " + d +
                          "/ && ln -sf $(realpath " + testutil::shared_data() + ")/clip/hf_tokenizer/vocab.json $(realpath " +
                          testutil::shared_data() + ")/clip/hf_tokenizer/merges.txt " + d + "/";
        REQUIRE(system(cmd.c_str()) == 0);
    }
    return d;
}

// pairs.tsv from the shared index: image path (absolute) TAB caption; returns the number of rows.
int write_pairs(const std::string& path, int max_rows) {
    std::ifstream in(testutil::shared_data() + "/images/index.tsv");
    std::string line, img_root = testutil::shared_data() + "/images/";
    char* rp = realpath(img_root.c_str(), nullptr);
    img_root = std::string(rp) + "/";
    free(rp);
    std::ofstream out(path);
    out << "# image\tcaption\n";
    int n = 0;
    while (std::getline(in, line) && n < max_rows) {
        if (line.empty() || line[0] == '#' || line.rfind("path\t", 0) == 0) continue;
        std::istringstream ls(line);
        std::string p, label, caption;
        std::getline(ls, p, '\t');
        std::getline(ls, label, '\t');
        std::getline(ls, caption, '\t');
        out << img_root << p << "\t" << caption << "\n";
        n++;
    }
    return n;
}

}  // namespace

TEST_CASE("worked example: pairs TSV -> memory build -> search -> train -> classify with RECO -> eval") {
    REQUIRE_SHARED_DATA();
    const std::string dir = tmp_dir(), model = tiny_model(), pairs = dir + "/pairs.tsv", mem = dir + "/memory.safetensors";
    const int n = write_pairs(pairs, 60);
    REQUIRE(n == 60);
    std::string out;

    // 1. memory build (= embed --pairs)
    int rc = run_cmd(testutil::reco_bin() + "memory build --device cpu --model " + model + " --pairs " + pairs + " --out " + mem, &out);
    REQUIRE_MESSAGE(rc == 0, out);
    CHECK(out.find("items/s") != std::string::npos);  // progress on stderr
    {
        EmbeddingFile ef(mem);
        CHECK(ef.n() == n);
        CHECK(ef.d() == 24);
        CHECK(ef.has_captions());
        CHECK(ef.caption(1) == "a facial photo of a tabby cat");
    }

    // 2. search: an image of the memory finds itself first (score ≈ 1), with its caption
    std::string chelsea = testutil::shared_data() + "/images/skimage/chelsea.png";
    rc = run_cmd(testutil::reco_bin() + "search --device cpu --model " + model + " --memory " + mem + " --image " + chelsea + " --k 3", &out);
    REQUIRE_MESSAGE(rc == 0, out);
    {
        int rank = 0, index = -1;
        double score = 0;
        size_t p = out.find("     1  ");
        REQUIRE(p != std::string::npos);
        REQUIRE(sscanf(out.c_str() + p, " %d %d %lf", &rank, &index, &score) == 3);
        CHECK(index == 1);          // chelsea.png is row 1 of the memory
        CHECK(score > 0.9995);      // fp16 memory: 1 up to rounding
    }
    CHECK(out.find("a facial photo of a tabby cat") != std::string::npos);
    rc = run_cmd(testutil::reco_bin() + "search --model " + model + " --memory " + mem + " --text 'a tabby cat' --k 100", &out);
    CHECK(rc == 1);
    CHECK(out.find("larger than the memory") != std::string::npos);

    // 3. train on the memory itself (self-pairs excluded), a few steps
    const std::string ckpt = dir + "/fusion.safetensors";
    rc = run_cmd(testutil::reco_bin() + "train --device cpu --data " + mem + " --memory " + mem + " --k 4 --batch 16 --steps 6 --heads 4 "
                 "--log-every 1 --out " + ckpt, &out);
    REQUIRE_MESSAGE(rc == 0, out);
    CHECK(out.find("step 6 loss ") != std::string::npos);

    // 4. classify with retrieval, explained
    rc = run_cmd(testutil::reco_bin() + "classify " + chelsea + " --device cpu --model " + model + " --labels 'cat,dog,rocket,horse' --memory " +
                     mem + " --fusion " + ckpt + " --k 4 --explain",
                 &out);
    REQUIRE_MESSAGE(rc == 0, out);
    CHECK(out.find("(RECO, refine both, k=4)") != std::string::npos);
    CHECK(out.find("retrieved for the image") != std::string::npos);
    CHECK(out.find("a facial photo of a tabby cat") != std::string::npos);  // itself, first neighbour
    for (const char* refine : {"image", "text", "none"}) {
        rc = run_cmd(testutil::reco_bin() + "classify " + chelsea + " --model " + model + " --labels 'cat,dog' --memory " + mem +
                         " --fusion " + ckpt + " --refine " + refine,
                     &out);
        CHECK_MESSAGE(rc == 0, out);
    }

    // 4b. the checkpoint's retrieval switches (issue 10): another --fuse is refused naming both; a
    // cross-search checkpoint retrieves by the other modality and says so
    rc = run_cmd(testutil::reco_bin() + "classify " + chelsea + " --model " + model + " --labels 'cat,dog' --memory " + mem +
                     " --fusion " + ckpt + " --fuse uni",
                 &out);
    CHECK(rc == 1);
    CHECK(out.find("trained with --search uni --fuse cross; asked for --search uni --fuse uni") != std::string::npos);
    const std::string ckpt_x = dir + "/fusion_cross.safetensors";
    rc = run_cmd(testutil::reco_bin() + "train --device cpu --data " + mem + " --memory " + mem +
                     " --k 4 --batch 16 --steps 2 --heads 4 --search cross --out " + ckpt_x,
                 &out);
    REQUIRE_MESSAGE(rc == 0, out);
    rc = run_cmd(testutil::reco_bin() + "classify " + chelsea + " --device cpu --model " + model +
                     " --labels 'cat,dog' --memory " + mem + " --fusion " + ckpt_x + " --k 4 --explain",
                 &out);
    REQUIRE_MESSAGE(rc == 0, out);
    CHECK(out.find("(image→text search; their captions were fused)") != std::string::npos);
    CHECK(out.find("(text→image search; their images were fused)") != std::string::npos);

    // 5. eval: frozen vs RECO side by side
    rc = run_cmd(testutil::reco_bin() + "eval zeroshot --data " + mem + " --memory " + mem + " --fusion " + ckpt, &out);
    CHECK_MESSAGE(rc == 0, out);
}

TEST_CASE("pairs TSV errors name the line: missing TAB, empty caption, unreadable image; --skip-bad skips them") {
    REQUIRE_SHARED_DATA();
    const std::string dir = tmp_dir(), model = tiny_model(), bad = dir + "/bad.tsv", out_file = dir + "/bad.safetensors";
    char* rp = realpath((testutil::shared_data() + "/images/skimage/chelsea.png").c_str(), nullptr);
    REQUIRE(rp);
    std::string good = rp;
    free(rp);
    {
        std::ofstream f(bad);
        f << good << "\ta cat\n"
          << "no tab on this line\n"
          << good << "\t   \n"
          << dir << "/missing.png\ta missing image\n"
          << good << "\tthe same cat\n";
    }
    std::string out;
    CHECK(run_cmd(testutil::reco_bin() + "embed --model " + model + " --pairs " + bad + " --out " + out_file, &out) == 1);
    CHECK(out.find("bad.tsv:2: no TAB") != std::string::npos);
    CHECK_FALSE(testutil::exists(out_file));
    REQUIRE(run_cmd(testutil::reco_bin() + "embed --model " + model + " --pairs " + bad + " --out " + out_file + " --skip-bad", &out) == 0);
    CHECK(out.find("skipping " + bad + ":2") != std::string::npos);
    CHECK(out.find("skipping " + bad + ":3: empty caption") != std::string::npos);
    CHECK(out.find("skipping " + bad + ":4") != std::string::npos);
    EmbeddingFile ef(out_file);
    CHECK(ef.n() == 2);
    CHECK(ef.caption(1) == "the same cat");
    // the image error is fatal without --skip-bad, naming line and file
    {
        std::ofstream f(bad);
        f << good << "\ta cat\n" << dir << "/missing.png\ta missing image\n";
    }
    CHECK(run_cmd(testutil::reco_bin() + "embed --model " + model + " --pairs " + bad + " --out " + dir + "/x.safetensors", &out) == 1);
    CHECK(out.find("bad.tsv:2: ") != std::string::npos);
    CHECK(out.find("missing.png") != std::string::npos);
    CHECK_FALSE(testutil::exists(dir + "/x.safetensors"));
}

TEST_CASE("memory build: decoding overlaps the towers and writes the same file as the sequential loop; errors in a later batch") {
    REQUIRE_SHARED_DATA();
    const std::string dir = tmp_dir(), model = tiny_model(), pairs = dir + "/pairs.tsv";
    REQUIRE(write_pairs(pairs, 14) == 14);
    std::string out;
    const std::string base = testutil::reco_bin() + "memory build --device cpu --model " + model + " --pairs " + pairs;
    // batches of 4: four batches, the last one short; two decoder threads, one, none (sequential)
    for (const char* d : {"2", "1", "0"}) {
        const std::string file = dir + "/m" + d + ".safetensors";
        int rc = run_cmd(base + " --batch 4 --decode-threads " + d + " --out " + file, &out);
        REQUIRE_MESSAGE(rc == 0, out);
        CHECK(out.find("pairs/s end to end") != std::string::npos);
        CHECK(out.find("towers alone") != std::string::npos);
        CHECK(out.find(std::string(d) == "0" ? "not overlapped" : "overlapped with the towers") != std::string::npos);
    }
    CHECK(read_file(dir + "/m2.safetensors") == read_file(dir + "/m0.safetensors"));  // bit for bit
    CHECK(read_file(dir + "/m1.safetensors") == read_file(dir + "/m0.safetensors"));
    CHECK(run_cmd(base + " --decode-threads -1 --out " + dir + "/x.safetensors", &out) == 1);
    CHECK(out.find("--decode-threads") != std::string::npos);

    // an unreadable image in the third batch: the error names its line and no file is written;
    // with --skip-bad the other 14 pairs are embedded
    const std::string bad = dir + "/bad.tsv";
    {
        std::ifstream in(pairs);
        std::ofstream f(bad);
        std::string line;
        int row = 0;
        while (std::getline(in, line)) {
            f << line << "\n";
            if (line[0] != '#' && ++row == 9) f << dir << "/missing.png\ta missing image\n";  // line 11
        }
    }
    for (const char* d : {"1", "0"}) {
        CHECK(run_cmd(base.substr(0, base.find(" --pairs")) + " --pairs " + bad + " --batch 4 --decode-threads " + d +
                          " --out " + dir + "/x.safetensors",
                      &out) == 1);
        CHECK_MESSAGE(out.find("bad.tsv:11: ") != std::string::npos, out);
        CHECK_FALSE(testutil::exists(dir + "/x.safetensors"));
    }
    REQUIRE(run_cmd(base.substr(0, base.find(" --pairs")) + " --pairs " + bad + " --batch 4 --skip-bad --out " + dir +
                        "/x.safetensors",
                    &out) == 0);
    CHECK(EmbeddingFile(dir + "/x.safetensors").n() == 14);
}

TEST_CASE("classify: a labels file may start with a BOM; a fusion checkpoint with heads=0 is an error, not a crash") {
    REQUIRE_SHARED_DATA();
    const std::string dir = tmp_dir(), model = tiny_model(), labels = dir + "/labels_bom.txt";
    const std::string chelsea = testutil::shared_data() + "/images/skimage/chelsea.png";
    const std::string text = "\xEF\xBB\xBF" "cat\ndog\n";
    write_file_atomic(labels, text.data(), text.size());
    std::string out;
    int rc = run_cmd(testutil::reco_bin() + "classify " + chelsea + " --device cpu --model " + model + " --labels-file " + labels,
                     &out);
    REQUIRE_MESSAGE(rc == 0, out);
    CHECK_MESSAGE(out.find("  cat\n") != std::string::npos, out);  // the label, not "\xEF\xBB\xBF" "cat"
    CHECK(out.find("\xEF\xBB\xBF") == std::string::npos);

    // classify --fusion loads through load_checkpoint, like train and eval: heads=0 (d % heads) is
    // refused by name instead of dividing by zero
    const std::string mem = dir + "/mem24.safetensors", ck = dir + "/heads0.safetensors";
    std::vector<float> rows(4 * 24, 0.0f);
    for (int i = 0; i < 4; i++) rows[i * 24 + i] = 1.0f;
    write_embedding_file(mem, rows.data(), rows.data(), 4, 24, {}, "");
    FusionModel m;
    FusionDims dims;
    dims.d = 24, dims.heads = 2;
    m.init(dims, 2.0f, 1);
    SafeTensorsWriter w;
    m.save(w);
    w.set_metadata("heads", "0");
    w.write(ck);
    rc = run_cmd(testutil::reco_bin() + "classify " + chelsea + " --device cpu --model " + model +
                     " --labels cat,dog --memory " + mem + " --fusion " + ck + " --k 2",
                 &out);
    CHECK_MESSAGE(rc == 1, out);
    CHECK(out.find(ck + ": metadata heads = 0 is invalid") != std::string::npos);
}

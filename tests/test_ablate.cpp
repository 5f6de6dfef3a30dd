// test_ablate.cpp — `reco ablate` (cells cached, an interrupted run resumes, the table is the mean
// and sample std of the cell files), the parameter-free baselines against a hand computation, and
// `reco train --metrics` (JSONL lines that agree with the --log-every losses and the lr schedule).
#include <dirent.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "ablation_grid.h"
#include "baselines.h"
#include "common.h"
#include "dist/sharded_memory.h"
#include "json.h"
#include "memory.h"
#include "test_util.h"

using namespace reco;
using testutil::contains;

namespace {

// A temporary folder tree, removed with `rm -rf` at the end of the test.
struct TmpTree {
    std::string path;
    TmpTree() {
        char t[] = "/tmp/reco_ablate_XXXXXX";
        REQUIRE(mkdtemp(t) != nullptr);
        path = t;
    }
    ~TmpTree() { (void)!system(("rm -rf '" + path + "'").c_str()); }
};

std::string last_line(const std::string& s) {
    std::string t = s;
    while (!t.empty() && t.back() == '\n') t.pop_back();
    return t.substr(t.rfind('\n') == std::string::npos ? 0 : t.rfind('\n') + 1);
}

std::vector<std::string> csv_row(const std::string& csv, const std::string& id) {
    std::istringstream in(csv);
    for (std::string l; std::getline(in, l);) {
        std::vector<std::string> f;
        std::string cur;
        bool q = false;
        for (char c : l) {
            if (c == '"') q = !q;
            else if (c == ',' && !q) {
                f.push_back(cur);
                cur.clear();
            } else cur += c;
        }
        f.push_back(cur);
        if (f.size() > 1 && f[1] == id) return f;
    }
    return {};
}

}  // namespace

TEST_CASE("ablate cli: a small synthetic grid; a rerun redoes nothing; lost cells (an interrupted run) are redone alone") {
    TmpTree t;
    const std::string out = t.path + "/abl";
    const std::string cmd = testutil::reco_bin() + "ablate --out " + out +
                            " --seeds 2 --steps 3 --batch 64 --concepts-per-group 12 --train-per-concept 4"
                            " --memory-per-concept 4 --no-plots";
    std::string o1, o2, o3;
    REQUIRE(run_cmd("(" + cmd + " 2>" + t.path + "/err)", &o1) == 0);
    CHECK(contains(last_line(o1), "ablate: 20 cells (20 run now, 0 cached)"));
    const std::string md1 = read_file(out + "/ablations.md"), csv1 = read_file(out + "/ablations.csv");
    CHECK(contains(md1, "| search x fusion | uni-modal search, cross-modal fusion (RECO) |"));
    CHECK(contains(md1, "no retrieval (k = 0)"));
    CHECK(contains(read_file(t.path + "/err"), "ETA"));

    // the table is the mean and the sample std over the seeds' cell files (read here independently)
    std::vector<double> both;
    for (int seed = 1; seed <= 2; seed++) {
        Json j = parse_json(read_file(cell_path(out, seed, "k5")), "cell");
        both.push_back(j.find("test")->find("reco")->find("both")->num);
    }
    const double mean = (both[0] + both[1]) / 2, sd = std::fabs(both[0] - both[1]) / std::sqrt(2.0);
    std::vector<std::string> row = csv_row(csv1, "k5");
    REQUIRE(row.size() > 10);
    CHECK(std::stod(row[9]) == doctest::Approx(mean).epsilon(1e-4));
    CHECK(std::stod(row[10]) == doctest::Approx(sd).epsilon(1e-3));

    REQUIRE(run_cmd("(" + cmd + " 2>/dev/null)", &o2) == 0);
    CHECK(contains(last_line(o2), "ablate: 20 cells (0 run now, 20 cached)"));
    CHECK(read_file(out + "/ablations.csv") == csv1);

    // an interrupted run leaves some cells without files (each is written atomically when done), and
    // one unreadable file: exactly those are run again, and the table comes out the same
    unlink(cell_path(out, 2, "mem0.1").c_str());
    unlink(cell_path(out, 1, "base").c_str());
    write_file_atomic(cell_path(out, 2, "k1"), "{\"key\": ", 8);
    REQUIRE(run_cmd("(" + cmd + " 2>/dev/null)", &o3) == 0);
    CHECK(contains(last_line(o3), "ablate: 20 cells (3 run now, 17 cached)"));
    CHECK(read_file(out + "/ablations.csv") == csv1);

    // another setting is another key: not taken from the cache
    std::string o4;
    REQUIRE(run_cmd(testutil::reco_bin() + "ablate --out " + out +
                        " --seeds 1 --steps 4 --batch 64 --concepts-per-group 12 --train-per-concept 4"
                        " --memory-per-concept 4 --no-plots 2>/dev/null",
                    &o4) == 0);
    CHECK(contains(last_line(o4), "ablate: 10 cells (10 run now, 0 cached)"));
    // bad input
    CHECK(run_cmd(testutil::reco_bin() + "ablate --seeds 1", &o4) == 1);
    CHECK(contains(o4, "needs --out DIR"));
    CHECK(run_cmd(testutil::reco_bin() + "ablate --out " + out + " --memory x.safetensors", &o4) == 1);
    CHECK(contains(o4, "--memory needs --data"));
}

TEST_CASE("baselines: retrieved mean and query + mean equal a hand computation on a hand-made memory") {
    TmpTree t;
    // memory rows (image, text): r0 (e0, e1), r1 (e0+e2 norm, e3), r2 (e2, e2)
    const float s = 1.0f / std::sqrt(2.0f);
    const std::vector<float> img = {1, 0, 0, 0, s, 0, s, 0, 0, 0, 1, 0}, txt = {0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0};
    write_embedding_file(t.path + "/m.safetensors", img.data(), txt.data(), 3, 4, {}, "test-clip");
    EmbeddingFile file(t.path + "/m.safetensors");
    const ShardedMemory mem(file);
    RetrievalMode mode;
    mode.k = 2;
    // image query e0: nearest images r0 (1), r1 (0.707); fused texts e1, e3 → mean (0, .5, 0, .5)
    std::vector<float> q = {1, 0, 0, 0};
    std::vector<float> m1 = q, m2 = q;
    baseline_refine(ModeMemory(mem, mode), Modality::image, Baseline::retrieved_mean, m1, 1);
    baseline_refine(ModeMemory(mem, mode), Modality::image, Baseline::query_plus_mean, m2, 1);
    const std::vector<float> want1 = {0, s, 0, s};
    const float n2 = std::sqrt(1.0f + 0.25f + 0.25f);
    const std::vector<float> want2 = {1 / n2, 0.5f / n2, 0, 0.5f / n2};
    for (int c = 0; c < 4; c++) {
        CHECK(m1[c] == doctest::Approx(want1[c]).epsilon(1e-6));
        CHECK(m2[c] == doctest::Approx(want2[c]).epsilon(1e-6));
    }
    // k = 0: the query itself
    RetrievalMode k0;
    k0.k = 0;
    std::vector<float> m3 = q;
    baseline_refine(ModeMemory(mem, k0), Modality::image, Baseline::retrieved_mean, m3, 1);
    CHECK(m3 == q);
}

TEST_CASE("train cli: --metrics writes one JSON object per line: losses as --log-every, lr as the schedule, eval lines") {
    TmpTree t;
    const int n = 48, d = 8;
    std::mt19937_64 rng(2);
    std::normal_distribution<float> g;
    std::vector<float> img(n * d), txt(n * d);
    for (auto& x : img) x = g(rng);
    for (auto& x : txt) x = g(rng);
    std::vector<std::string> caps;
    for (int i = 0; i < n; i++) caps.push_back("c" + std::to_string(i % 4));
    const std::string data = t.path + "/data.safetensors", mem = t.path + "/mem.safetensors",
                      mfile = t.path + "/m.jsonl";
    write_embedding_file(data, img.data(), txt.data(), n, d, caps, "test-clip");
    for (auto& x : img) x = g(rng);
    write_embedding_file(mem, img.data(), txt.data(), n, d, caps, "test-clip");
    std::string out;
    REQUIRE(run_cmd(testutil::reco_bin() + "train --data " + data + " --memory " + mem + " --k 2 --batch 16 --steps 4 "
                        "--heads 2 --schedule constant --lr 0.002 --log-every 1 --metrics " + mfile +
                        " --metrics-every 2 --eval " + data + " --eval-every 2 --out " + t.path + "/f.safetensors 2>/dev/null",
                    &out) == 0);
    std::vector<double> logged;
    std::istringstream so(out);
    for (std::string l; std::getline(so, l);) {
        long long st;
        double v;
        if (sscanf(l.c_str(), "step %lld loss %lf", &st, &v) == 2) logged.push_back(v);
    }
    REQUIRE(logged.size() == 4);
    const std::string text = read_file(mfile);
    std::istringstream in(text);
    int steps = 0, evals = 0;
    for (std::string l; std::getline(in, l);) {
        Json j = parse_json(l, "metrics line");
        const int step = (int)j.find("step")->num;
        if (j.find("loss")) {
            steps++;
            CHECK((step == 2 || step == 4));
            CHECK(j.find("loss")->num == doctest::Approx(logged[step - 1]).epsilon(1e-6));
            CHECK(j.find("lr")->num == doctest::Approx(0.002));
            CHECK(std::isfinite(j.find("logit_scale")->num));
            CHECK(j.find("items_per_s")->num > 0);
        } else {
            evals++;
            CHECK(j.find("classes")->num == 4);
            CHECK(j.find("images")->num == n);
            CHECK(j.find("both")->num >= 0);
        }
    }
    CHECK(steps == 2);
    CHECK(evals == 2);
    CHECK(text.back() == '\n');
    // an unwritable path is refused before any work
    CHECK(run_cmd(testutil::reco_bin() + "train --data " + data + " --memory " + mem +
                      " --k 2 --batch 16 --steps 1 --heads 2 --metrics /nonexistent/dir/m.jsonl --out " + t.path +
                      "/g.safetensors",
                  &out) == 1);
    CHECK(contains(out, "--metrics"));
}

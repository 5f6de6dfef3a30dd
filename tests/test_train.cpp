// test_train.cpp — `reco train` and its parts: batches, neighbours (brute force, self-exclusion,
// the cache), checkpoints, resume == uninterrupted (bit for bit), an interrupted save, the
// `--log-every 1` output (its first loss recomputed independently), and every bad input of issue 3.
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "checkpoint.h"
#include "common.h"
#include "fusion_train.h"
#include "memory.h"
#include "neighbour_cache.h"
#include "safetensors.h"
#include "sigmoid_loss.h"
#include "test_util.h"
#include "trainer.h"

using namespace reco;

namespace {

// Temporary folders (flat), removed when the test program exits.
struct TmpDirs {
    std::vector<std::string> dirs;
    ~TmpDirs() {
        for (const std::string& d : dirs) {
            if (DIR* h = opendir(d.c_str())) {
                while (dirent* e = readdir(h))
                    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) unlink((d + "/" + e->d_name).c_str());
                closedir(h);
            }
            rmdir(d.c_str());
        }
    }
} g_tmp_dirs;

std::string make_tmp_dir() {
    char t[] = "/tmp/reco_train_XXXXXX";
    const char* d = mkdtemp(t);
    REQUIRE(d != nullptr);
    g_tmp_dirs.dirs.push_back(d);
    return d;
}

// Random L2-normalised pairs (seeded), written as an embedding file with captions.
void write_random(const std::string& path, int n, int d, uint64_t seed, const std::string& model = "test-clip") {
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> g;
    std::vector<float> img((size_t)n * d), txt((size_t)n * d);
    for (auto& x : img) x = g(rng);
    for (auto& x : txt) x = g(rng);
    std::vector<std::string> caps;
    for (int i = 0; i < n; i++) caps.push_back("caption " + std::to_string(i % 7));
    write_embedding_file(path, img.data(), txt.data(), n, d, caps, model);
}

// An embedding file written by hand (to hold what write_embedding_file refuses).
void write_raw_embeddings(const std::string& path, int n, int d, float poison_value, int poison_at) {
    std::vector<uint16_t> img((size_t)n * d, float_to_half(0.25f)), txt((size_t)n * d, float_to_half(0.25f));
    if (poison_at >= 0) img[poison_at] = float_to_half(poison_value);
    SafeTensorsWriter w;
    w.add("image_emb", DType::F16, {n, d}, img.data(), img.size() * 2);
    w.add("text_emb", DType::F16, {n, d}, txt.data(), txt.size() * 2);
    w.set_metadata("format", "reco-embeddings-v1");
    w.set_metadata("model", "test-clip");
    w.write(path);
}

std::string slurp(const std::string& p) { return read_file(p); }

// The topk.h reference definition written out: score = one fmaf chain over c; order by score
// descending, ties → lower index; the item `skip` (its own pair) excluded.
std::vector<int> brute_knn(const float* q, const EmbeddingFile& mem, bool images, int k, int skip) {
    const int n = mem.n(), d = mem.d();
    std::vector<std::pair<float, int>> s;
    std::vector<float> row(d);
    for (int j = 0; j < n; j++) {
        if (j == skip) continue;
        images ? mem.image_row(j, row.data()) : mem.text_row(j, row.data());
        float acc = 0.0f;
        for (int c = 0; c < d; c++) acc = std::fmaf(q[c], row[c], acc);
        s.push_back({acc, j});
    }
    std::sort(s.begin(), s.end(), [](const std::pair<float, int>& a, const std::pair<float, int>& b) {
        return a.first > b.first || (a.first == b.first && a.second < b.second);
    });
    std::vector<int> out;
    for (int i = 0; i < k; i++) out.push_back(s[i].second);
    return out;
}

// stdout lines of a command (stderr to a file), exit status in *rc.
std::vector<std::string> stdout_lines(const std::string& cmd, int* rc, const std::string& err_file) {
    std::string out;
    *rc = run_cmd("(" + cmd + " 2>" + err_file + ")", &out);  // run_cmd's own 2>&1 then sees nothing
    std::vector<std::string> lines;
    std::istringstream in(out);
    for (std::string l; std::getline(in, l);) lines.push_back(l);
    return lines;
}

bool contains(const std::string& s, const std::string& sub) { return s.find(sub) != std::string::npos; }

std::string error_of(std::function<void()> f) {
    try {
        f();
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

}  // namespace

// ------------------------------------------------------------------------------------ batches
TEST_CASE("train: epoch permutations are seeded permutations; batches follow the documented order") {
    std::vector<int> p0 = epoch_permutation(7, 0, 1000), p0b = epoch_permutation(7, 0, 1000);
    std::vector<int> p1 = epoch_permutation(7, 1, 1000), q0 = epoch_permutation(8, 0, 1000);
    CHECK(p0 == p0b);
    CHECK(p0 != p1);
    CHECK(p0 != q0);
    std::vector<int> sorted = p0;
    std::sort(sorted.begin(), sorted.end());
    for (int i = 0; i < 1000; i++) REQUIRE(sorted[i] == i);

    // 10 items, batch 4: 2 steps per epoch, items 8 and 9 of each epoch's order are dropped
    const std::string dir = make_tmp_dir(), data = dir + "/d.safetensors";
    write_random(data, 10, 8, 1);
    EmbeddingFile f(data);
    NeighbourIndex nb = compute_neighbours(f, f, 2, true);
    TrainSettings s;
    s.k = 2, s.batch = 4, s.heads = 2, s.total_steps = 6, s.seed = 3, s.schedule = "constant";
    FusionModel m;
    FusionDims dims;
    dims.d = 8, dims.heads = 2;
    m.init(dims, kDefaultLogitScale, 0);
    AdamW opt(m.table, m.params.size());
    Trainer t(f, f, nb, s, m, opt, 0);
    CHECK(t.steps_per_epoch() == 2);
    std::vector<int> items;
    const std::vector<int> e1 = epoch_permutation(3, 1, 10);
    t.batch_items(3, items);  // epoch 1, second batch
    CHECK(items == std::vector<int>(e1.begin() + 4, e1.begin() + 8));
    s.shuffle = false;
    Trainer u(f, f, nb, s, m, opt, 0);
    u.batch_items(5, items);  // epoch 2, second batch, file order
    CHECK(items == std::vector<int>({4, 5, 6, 7}));
}

// ------------------------------------------------------------------------------------ neighbours
TEST_CASE("train: neighbours equal a brute-force search; with data == memory no item retrieves itself") {
    const std::string dir = make_tmp_dir(), data = dir + "/d.safetensors", mem = dir + "/m.safetensors";
    write_random(data, 60, 16, 11);
    write_random(mem, 90, 16, 12);
    EmbeddingFile fd(data), fm(mem);
    const int k = 5;
    std::vector<float> q(16);
    for (int self = 0; self < 2; self++) {
        const EmbeddingFile& M = self ? fd : fm;
        NeighbourIndex nb = load_or_compute_neighbours(fd, M, k, nullptr);
        CHECK(nb.self_excluded == (self == 1));
        for (int i = 0; i < fd.n(); i++) {
            fd.image_row(i, q.data());
            std::vector<int> ref = brute_knn(q.data(), M, true, k, self ? i : -1);
            CHECK(std::vector<int>(nb.img.begin() + i * k, nb.img.begin() + (i + 1) * k) == ref);
            fd.text_row(i, q.data());
            ref = brute_knn(q.data(), M, false, k, self ? i : -1);
            CHECK(std::vector<int>(nb.txt.begin() + i * k, nb.txt.begin() + (i + 1) * k) == ref);
            if (self)
                for (int j = 0; j < k; j++) {
                    REQUIRE(nb.img[i * k + j] != i);
                    REQUIRE(nb.txt[i * k + j] != i);
                }
        }
    }
    // without exclusion an item of the memory finds itself first (its own row scores 1)
    NeighbourIndex plain = compute_neighbours(fd, fd, 1, false);
    for (int i = 0; i < fd.n(); i++) CHECK(plain.img[i] == i);
    // self-exclusion is by realpath: a second path to the same file counts too
    const std::string alias = dir + "/alias.safetensors";
    REQUIRE(symlink(data.c_str(), alias.c_str()) == 0);
    CHECK(same_file(alias, data));
    EmbeddingFile fa(alias);
    CHECK(load_or_compute_neighbours(fd, fa, k, nullptr).self_excluded);
}

TEST_CASE("train: the neighbour cache is reused when data, memory and k match and recomputed otherwise") {
    const std::string dir = make_tmp_dir(), data = dir + "/d.safetensors", mem = dir + "/m.safetensors";
    write_random(data, 40, 8, 21);
    write_random(mem, 50, 8, 22);
    NeighbourIndex a, b, c;
    {
        EmbeddingFile fd(data), fm(mem);
        a = load_or_compute_neighbours(fd, fm, 4, nullptr);
        CHECK_FALSE(a.from_cache);
        CHECK(file_exists(a.cache_path));
        CHECK(a.cache_path == neighbour_cache_path(data, mem, 4));
        CHECK(contains(a.cache_path, "d.safetensors.knn-4-"));
        b = load_or_compute_neighbours(fd, fm, 4, nullptr);
        CHECK(b.from_cache);
        CHECK(b.img == a.img);
        CHECK(b.txt == a.txt);
        // k changes: another file, computed
        c = load_or_compute_neighbours(fd, fm, 3, nullptr);
        CHECK_FALSE(c.from_cache);
        CHECK(c.cache_path != a.cache_path);
        for (int i = 0; i < 40; i++)
            for (int j = 0; j < 3; j++) CHECK(c.img[i * 3 + j] == a.img[i * 4 + j]);  // a prefix of the top-4
    }
    // the memory changes (new content, same path): recomputed, and the answer is the new one
    write_random(mem, 50, 8, 23);
    {
        EmbeddingFile fd(data), fm(mem);
        NeighbourIndex d2 = load_or_compute_neighbours(fd, fm, 4, nullptr);
        CHECK_FALSE(d2.from_cache);
        NeighbourIndex fresh = compute_neighbours(fd, fm, 4, false);
        CHECK(d2.img == fresh.img);
        CHECK(load_or_compute_neighbours(fd, fm, 4, nullptr).from_cache);
    }
    // a truncated cache file is recomputed, not trusted and not fatal
    {
        const std::string p = neighbour_cache_path(data, mem, 4);
        std::string bytes = slurp(p);
        write_file_atomic(p, bytes.data(), bytes.size() / 2);
        EmbeddingFile fd(data), fm(mem);
        NeighbourIndex e = load_or_compute_neighbours(fd, fm, 4, nullptr);
        CHECK_FALSE(e.from_cache);
        CHECK(e.img == compute_neighbours(fd, fm, 4, false).img);
    }
}

// ------------------------------------------------------------------------------------ checkpoints
namespace {
struct SmallRun {
    std::string dir, data, mem;
    std::unique_ptr<EmbeddingFile> fd, fm;
    NeighbourIndex nb;
    TrainSettings s;
    FusionModel m0;
    AdamW opt0;
    SmallRun() {
        dir = make_tmp_dir();
        data = dir + "/d.safetensors";
        mem = dir + "/m.safetensors";
        write_random(data, 40, 16, 31);
        write_random(mem, 64, 16, 32);
        fd.reset(new EmbeddingFile(data));
        fm.reset(new EmbeddingFile(mem));
        nb = load_or_compute_neighbours(*fd, *fm, 4, nullptr);
        s.k = 4, s.batch = 16, s.heads = 2, s.total_steps = 6, s.lr = 3e-3, s.warmup = 2, s.schedule = "cosine";
        s.seed = 9, s.data = data, s.memory = mem, s.model = "test-clip";
        FusionDims dims;
        dims.d = 16, dims.heads = 2;
        m0.init(dims, kDefaultLogitScale, s.seed);
        opt0 = AdamW(m0.table, m0.params.size());
    }
};
}  // namespace

TEST_CASE("train: checkpoint round trip keeps weights, AdamW state and settings exactly") {
    SmallRun r;
    Trainer t(*r.fd, *r.fm, r.nb, r.s, r.m0, r.opt0, 0);
    for (int i = 0; i < 2; i++) t.step();
    const std::string ck = r.dir + "/ck.safetensors";
    t.save(ck);
    Checkpoint c = load_checkpoint(ck);
    CHECK(c.step == 2);
    CHECK(c.has_optimizer);
    CHECK(c.opt.t == 2);
    CHECK(c.model.params == t.model.params);
    CHECK(c.opt.m == t.opt.m);
    CHECK(c.opt.v == t.opt.v);
    CHECK(c.settings.lr == r.s.lr);
    CHECK(c.settings.k == 4);
    CHECK(c.settings.batch == 16);
    CHECK(c.settings.heads == 2);
    CHECK(c.settings.seed == 9);
    CHECK(c.settings.total_steps == 6);
    CHECK(c.settings.warmup == 2);
    CHECK(c.settings.schedule == "cosine");
    CHECK(c.settings.data_n == 40);
    CHECK(c.metadata.at("format") == "reco-fusion-v1");
    CHECK(c.metadata.at("d") == "16");
    CHECK(c.metadata.at("model") == "test-clip");
    // SPEC names, F32, moments beside them
    SafeTensors st(ck);
    CHECK(st.info("image_fusion.attn.q_proj.weight").dtype == DType::F32);
    CHECK(st.info("text_fusion.mlp.fc1.weight").shape == std::vector<int64_t>({64, 16}));
    CHECK(st.has("optim.exp_avg.logit_scale"));
    CHECK(st.has("optim.exp_avg_sq.text_fusion.mlp.fc2.bias"));
}

TEST_CASE("train: resume from a checkpoint equals the uninterrupted run bit for bit; a failed save keeps the old one") {
    SmallRun r;
    Trainer straight(*r.fd, *r.fm, r.nb, r.s, r.m0, r.opt0, 0);
    std::vector<float> L;
    for (int i = 0; i < 6; i++) L.push_back(straight.step());

    Trainer first(*r.fd, *r.fm, r.nb, r.s, r.m0, r.opt0, 0);
    for (int i = 0; i < 3; i++) CHECK(first.step() == L[i]);
    const std::string ck = r.dir + "/ck.safetensors";
    first.save(ck);
    const std::string saved = slurp(ck);

    // the run goes on, and its next save fails: a directory where the temp file goes, then a
    // temp file that is /dev/full (ENOSPC in the middle of the write)
    for (int i = 0; i < 3; i++) first.step();
    const std::string tmp = ck + ".tmp." + std::to_string(getpid());
    REQUIRE(mkdir(tmp.c_str(), 0755) == 0);
    CHECK_THROWS_AS(first.save(ck), Error);
    CHECK(slurp(ck) == saved);
    REQUIRE(rmdir(tmp.c_str()) == 0);
    if (file_exists("/dev/full")) {
        REQUIRE(symlink("/dev/full", tmp.c_str()) == 0);
        CHECK_THROWS_AS(first.save(ck), Error);
        CHECK(slurp(ck) == saved);
        unlink(tmp.c_str());
    }

    // the intact checkpoint resumes where it stopped
    Checkpoint c = load_checkpoint(ck);
    Trainer resumed(*r.fd, *r.fm, r.nb, c.settings, c.model, c.opt, c.step);
    for (int i = 3; i < 6; i++) CHECK(resumed.step() == L[i]);
    CHECK(resumed.model.params == straight.model.params);
    CHECK(resumed.opt.m == straight.opt.m);
    CHECK(resumed.opt.v == straight.opt.v);
    CHECK(resumed.opt.t == 6);
}

TEST_CASE("train: checkpoints that are truncated, mis-shaped or not checkpoints are refused naming file and tensor") {
    SmallRun r;
    Trainer t(*r.fd, *r.fm, r.nb, r.s, r.m0, r.opt0, 0);
    t.step();
    const std::string ck = r.dir + "/ck.safetensors", bad = r.dir + "/bad.safetensors";
    t.save(ck);
    const std::string bytes = slurp(ck);
    // truncated
    write_file_atomic(bad, bytes.data(), bytes.size() - 1000);
    std::string e = error_of([&] { load_checkpoint(bad); });
    CHECK(contains(e, bad));
    write_file_atomic(bad, bytes.data(), 5);
    CHECK(contains(error_of([&] { load_checkpoint(bad); }), bad));
    // a tensor with the wrong shape
    {
        SafeTensors st(ck);
        SafeTensorsWriter w;
        for (const TensorInfo& ti : st.tensors()) {
            std::vector<float> v = st.to_f32(ti.name);
            std::vector<int64_t> shape = ti.shape;
            if (ti.name == "image_fusion.mlp.fc1.weight") shape = {16, 64};  // transposed
            w.add_f32(ti.name, shape, v.data());
        }
        for (auto& kv : st.metadata()) w.set_metadata(kv.first, kv.second);
        w.write(bad);
    }
    e = error_of([&] { load_checkpoint(bad); });
    CHECK(contains(e, bad));
    CHECK(contains(e, "image_fusion.mlp.fc1.weight"));
    // a non-finite weight
    {
        SafeTensors st(ck);
        SafeTensorsWriter w;
        for (const TensorInfo& ti : st.tensors()) {
            std::vector<float> v = st.to_f32(ti.name);
            if (ti.name == "text_fusion.ln2.bias") v[3] = NAN;
            w.add_f32(ti.name, ti.shape, v.data());
        }
        w.write(bad);
    }
    e = error_of([&] { load_checkpoint(bad); });
    CHECK(contains(e, "text_fusion.ln2.bias"));
    // the embedding file is not a checkpoint
    CHECK(contains(error_of([&] { load_checkpoint(r.data); }), "not a fusion checkpoint"));
    // a checkpoint whose width does not match the data
    {
        FusionModel wide;
        FusionDims dims;
        dims.d = 32, dims.heads = 2;
        wide.init(dims, 1.0f, 0);
        AdamW o(wide.table, wide.params.size());
        CHECK(contains(error_of([&] { Trainer bad_t(*r.fd, *r.fm, r.nb, r.s, wide, o, 0); }), "d=32"));
    }
}

// ------------------------------------------------------------------------------------ the command
TEST_CASE("train cli: --log-every 1 prints one 'step n loss v' line per step; the first is the loss before any update") {
    const std::string dir = make_tmp_dir(), data = dir + "/d.safetensors", err = dir + "/err.txt";
    const int n = 48, d = 16, k = 3, B = 16;
    write_random(data, n, d, 41);
    int rc = 0;
    // data == memory: self-excluded neighbours; file order, constant lr
    std::vector<std::string> lines = stdout_lines(
        testutil::reco_bin() + "train --data " + data + " --memory " + data + " --k 3 --batch 16 --steps 5 --heads 2 --seed 5" +
            " --no-shuffle --schedule constant --log-every 1 --out " + dir + "/f.safetensors",
        &rc, err);
    REQUIRE(rc == 0);
    REQUIRE(lines.size() == 5);
    std::vector<double> losses;
    for (int i = 0; i < 5; i++) {
        char word[16], word2[16];
        int step = 0;
        double v = 0;
        char value[64];
        REQUIRE(sscanf(lines[i].c_str(), "%15s %d %15s %63s", word, &step, word2, value) == 4);
        CHECK(std::string(word) == "step");
        CHECK(std::string(word2) == "loss");
        CHECK(step == i + 1);
        CHECK(lines[i] == strformat("step %d loss %s", step, value));  // exactly that, nothing else
        v = atof(value);
        CHECK(std::isfinite(v));
        int digits = 0;
        for (const char* p = value; *p && *p != 'e'; p++) digits += isdigit((unsigned char)*p) != 0;
        CHECK(digits >= 7);
        losses.push_back(v);
    }
    const std::string e = slurp(err);
    CHECK(contains(e, "steps/s"));
    CHECK(contains(e, "own pair excluded"));
    CHECK(losses[4] < losses[0]);

    // step 1 recomputed here: init with the same seed, items 0..15 (file order), neighbours by brute
    // force without the item itself, the readable reference fusion in double
    FusionModel m;
    FusionDims dims;
    dims.d = d, dims.heads = 2;
    m.init(dims, kDefaultLogitScale, 5);
    EmbeddingFile f(data);
    std::vector<double> V(B * d), T(B * d), nbr_txt_for_img(B * k * d), nbr_img_for_txt(B * k * d),
        P(m.params.begin(), m.params.end());
    std::vector<float> q(d), row(d);
    for (int b = 0; b < B; b++) {
        f.image_row(b, q.data());
        for (int c = 0; c < d; c++) V[b * d + c] = q[c];
        std::vector<int> nb = brute_knn(q.data(), f, true, k, b);
        for (int j = 0; j < k; j++) {
            f.text_row(nb[j], row.data());  // image query → the neighbours' TEXTS
            for (int c = 0; c < d; c++) nbr_txt_for_img[(b * k + j) * d + c] = row[c];
        }
        f.text_row(b, q.data());
        for (int c = 0; c < d; c++) T[b * d + c] = q[c];
        nb = brute_knn(q.data(), f, false, k, b);
        for (int j = 0; j < k; j++) {
            f.image_row(nb[j], row.data());  // text query → the neighbours' IMAGES
            for (int c = 0; c < d; c++) nbr_img_for_txt[(b * k + j) * d + c] = row[c];
        }
    }
    FusionLossWorkspace<double> ws;
    const double ref = fusion_loss<double>(dims, P.data(), nullptr, V.data(), T.data(), nbr_txt_for_img.data(),
                                           nbr_img_for_txt.data(), B, k, ws, /*reference=*/true);
    CHECK(losses[0] == doctest::Approx(ref).epsilon(1e-5));
}

TEST_CASE("train cli: 3 steps + --resume 3 steps == 6 steps: same losses, byte-equal checkpoint") {
    const std::string dir = make_tmp_dir(), data = dir + "/d.safetensors", mem = dir + "/m.safetensors";
    write_random(data, 40, 16, 51);
    write_random(mem, 70, 16, 52);
    const std::string common = testutil::reco_bin() + "train --data " + data + " --memory " + mem +
                               " --k 4 --batch 16 --steps 6 --heads 2 --seed 3 --warmup 2 --lr 2e-3 --log-every 1";
    int rc = 0;
    std::vector<std::string> a = stdout_lines(common + " --out " + dir + "/a.safetensors", &rc, dir + "/e1");
    REQUIRE(rc == 0);
    std::vector<std::string> b =
        stdout_lines(common + " --stop-after 3 --out " + dir + "/b.safetensors", &rc, dir + "/e2");
    REQUIRE(rc == 0);
    const std::string b_bytes = slurp(dir + "/b.safetensors");
    std::vector<std::string> c = stdout_lines(testutil::reco_bin() + "train --resume " + dir + "/b.safetensors --out " + dir +
                                                  "/c.safetensors --log-every 1",
                                              &rc, dir + "/e3");
    REQUIRE(rc == 0);
    REQUIRE(a.size() == 6);
    REQUIRE(b.size() == 3);
    REQUIRE(c.size() == 3);
    for (int i = 0; i < 3; i++) CHECK(b[i] == a[i]);
    for (int i = 0; i < 3; i++) CHECK(c[i] == a[i + 3]);
    CHECK(c[0].rfind("step 4 loss ", 0) == 0);
    CHECK(slurp(dir + "/c.safetensors") == slurp(dir + "/a.safetensors"));
    CHECK(slurp(dir + "/b.safetensors") == b_bytes);  // the resumed checkpoint was only read
    CHECK(contains(slurp(dir + "/e3"), "resuming"));
    CHECK(contains(slurp(dir + "/e1"), "neighbours: exact top-4"));
    CHECK(contains(slurp(dir + "/e2"), "neighbours: reusing"));

    // --init loads weights only: a fresh optimiser (t counts from 0), step 0
    REQUIRE(run_cmd(common + " --steps 1 --init " + dir + "/b.safetensors --out " + dir + "/i.safetensors") == 0);
    Checkpoint ci = load_checkpoint(dir + "/i.safetensors");
    CHECK(ci.step == 1);
    CHECK(ci.opt.t == 1);
    // a resumed run keeps its settings
    std::string out;
    CHECK(run_cmd(testutil::reco_bin() + "train --resume " + dir + "/b.safetensors --k 5 --out " + dir + "/x.safetensors", &out) == 1);
    CHECK(contains(out, "differs from the checkpoint"));
    CHECK_FALSE(file_exists(dir + "/x.safetensors"));
}

TEST_CASE("train cli: bad inputs fail with a message naming the file and leave no output behind") {
    const std::string dir = make_tmp_dir(), data = dir + "/d.safetensors", mem = dir + "/m.safetensors";
    write_random(data, 40, 16, 61);
    write_random(mem, 30, 16, 62);
    const std::string out_ck = dir + "/out.safetensors";
    auto fails = [&](const std::string& args, const std::string& expect) {
        std::string out;
        const int rc = run_cmd(testutil::reco_bin() + "train " + args + " --steps 2 --batch 8 --heads 2 --out " + out_ck, &out);
        INFO(args, " → ", out);
        CHECK(rc == 1);
        CHECK(contains(out, expect));
        CHECK_FALSE(file_exists(out_ck));
    };
    // memory from another model: another width, or another model name
    const std::string wide = dir + "/wide.safetensors", other = dir + "/other.safetensors";
    write_random(wide, 30, 32, 63);
    write_random(other, 30, 16, 64, "another-clip");
    fails("--data " + data + " --memory " + wide, "dimensions differ");
    fails("--data " + data + " --memory " + other, "different CLIP models");
    // k larger than the memory (and, with data == memory, larger than N−1)
    fails("--data " + data + " --memory " + mem + " --k 31", "larger than the memory");
    fails("--data " + data + " --memory " + data + " --k 40", "own pair");
    // an empty memory
    const std::string empty = dir + "/empty.safetensors";
    write_raw_embeddings(empty, 0, 16, 0, -1);
    fails("--data " + data + " --memory " + empty, empty);
    // NaN and Inf in the embeddings
    const std::string nan_file = dir + "/nan.safetensors", inf_file = dir + "/inf.safetensors";
    write_raw_embeddings(nan_file, 20, 16, NAN, 37);
    write_raw_embeddings(inf_file, 20, 16, INFINITY, 5);
    fails("--data " + nan_file + " --memory " + mem, nan_file);
    fails("--data " + data + " --memory " + inf_file, inf_file);
    // batch larger than the data, missing files, an output folder that does not exist
    {
        std::string out;
        CHECK(run_cmd(testutil::reco_bin() + "train --data " + data + " --memory " + mem + " --batch 64 --steps 1 --out " + out_ck,
                      &out) == 1);
        CHECK(contains(out, "batch 64 is larger than the data"));
        CHECK(run_cmd(testutil::reco_bin() + "train --data " + data + " --memory " + mem + " --steps 1 --batch 8 --out " + dir +
                          "/no/such/dir/f.safetensors",
                      &out) == 1);
        CHECK(contains(out, "does not exist"));
    }
    fails("--data " + dir + "/missing.safetensors --memory " + mem, "missing.safetensors");
    // checkpoints: truncated, another width, not a checkpoint
    REQUIRE(run_cmd(testutil::reco_bin() + "train --data " + data + " --memory " + mem + " --steps 2 --batch 8 --heads 2 --out " +
                    dir + "/good.safetensors") == 0);
    const std::string good = slurp(dir + "/good.safetensors"), trunc = dir + "/trunc.safetensors";
    write_file_atomic(trunc, good.data(), good.size() / 2);
    fails("--resume " + trunc, trunc);
    fails("--data " + data + " --memory " + mem + " --init " + trunc, trunc);
    const std::string wide_mem = dir + "/wide_mem.safetensors";
    write_random(wide_mem, 30, 32, 65);
    fails("--data " + wide + " --memory " + wide_mem + " --init " + dir + "/good.safetensors", "does not match");
    fails("--data " + data + " --memory " + mem + " --init " + mem, "not a fusion checkpoint");
    fails("--resume " + dir + "/good.safetensors --data " + wide + " --memory " + wide_mem, "d=");
}

// ------------------------------------------------------------------------------------ --loss sigmoid
namespace {
// Rewrite a checkpoint through `edit` (tensors by name, metadata map) into `out`.
void rewrite_checkpoint(const std::string& in, const std::string& out,
                        const std::function<void(std::map<std::string, std::vector<float>>&,
                                                 std::map<std::string, std::string>&)>& edit) {
    SafeTensors st(in);
    std::map<std::string, std::vector<float>> t;
    std::map<std::string, std::vector<int64_t>> shapes;
    for (const TensorInfo& ti : st.tensors()) t[ti.name] = st.to_f32(ti.name), shapes[ti.name] = ti.shape;
    std::map<std::string, std::string> meta = st.metadata();
    edit(t, meta);
    SafeTensorsWriter w;
    for (auto& kv : t) w.add_f32(kv.first, shapes.count(kv.first) ? shapes[kv.first] : std::vector<int64_t>{}, kv.second.data());
    for (auto& kv : meta) w.set_metadata(kv.first, kv.second);
    w.write(out);
}
}  // namespace

TEST_CASE("train: sigmoid loss — checkpoint keeps loss, logit_bias and its AdamW moments; resume is bit for bit") {
    SmallRun r;
    r.s.loss = "sigmoid";
    FusionDims dims = r.m0.dims;
    dims.logit_bias = true;
    FusionModel m0;
    m0.init(dims, kSigmoidInitLogitScale, r.s.seed, kSigmoidInitLogitBias);
    AdamW opt0(m0.table, m0.params.size());
    // the nce model or the sigmoid model with the other loss: refused
    CHECK(contains(error_of([&] { Trainer t(*r.fd, *r.fm, r.nb, r.s, r.m0, r.opt0, 0); }), "logit_bias"));
    Trainer straight(*r.fd, *r.fm, r.nb, r.s, m0, opt0, 0);
    std::vector<float> L;
    for (int i = 0; i < 6; i++) L.push_back(straight.step());
    CHECK(straight.model.logit_bias() != -10.0f);  // learnt
    CHECK(straight.model.logit_scale() != m0.logit_scale());
    // the sigmoid loss at the SigLIP init is ≈ 3·(positive term ≈ 10 − t·cos): not the NCE's scale
    CHECK(L[0] > 20.0f);

    Trainer first(*r.fd, *r.fm, r.nb, r.s, m0, opt0, 0);
    for (int i = 0; i < 3; i++) CHECK(first.step() == L[i]);
    const std::string ck = r.dir + "/sig.safetensors";
    first.save(ck);
    SafeTensors st(ck);
    CHECK(st.meta("loss") == "sigmoid");
    CHECK(st.has("logit_bias"));
    CHECK(st.info("logit_bias").shape.empty());
    CHECK(st.has("optim.exp_avg.logit_bias"));
    CHECK(st.has("optim.exp_avg_sq.logit_bias"));
    Checkpoint c = load_checkpoint(ck);
    CHECK(c.settings.loss == "sigmoid");
    CHECK(c.model.dims.logit_bias);
    CHECK(c.model.params == first.model.params);
    CHECK(c.opt.m == first.opt.m);
    CHECK(c.opt.v == first.opt.v);
    CHECK(c.opt.v[c.model.logit_bias_offset()] > 0.0f);
    Trainer resumed(*r.fd, *r.fm, r.nb, c.settings, c.model, c.opt, c.step);
    for (int i = 3; i < 6; i++) CHECK(resumed.step() == L[i]);
    CHECK(resumed.model.params == straight.model.params);
    CHECK(resumed.opt.m == straight.opt.m);
    CHECK(resumed.opt.v == straight.opt.v);

    // an nce checkpoint of an older reco (no loss field) loads as nce
    TrainSettings sn = r.s;
    sn.loss = "nce";
    Trainer tn(*r.fd, *r.fm, r.nb, sn, r.m0, r.opt0, 0);
    tn.step();
    const std::string ckn = r.dir + "/nce.safetensors", old = r.dir + "/old.safetensors", bad = r.dir + "/bad.safetensors";
    tn.save(ckn);
    CHECK(SafeTensors(ckn).meta("loss") == "nce");
    CHECK_FALSE(SafeTensors(ckn).has("logit_bias"));
    rewrite_checkpoint(ckn, old, [](std::map<std::string, std::vector<float>>&, std::map<std::string, std::string>& m) {
        m.erase("loss");
    });
    REQUIRE_FALSE(SafeTensors(old).metadata().count("loss"));
    Checkpoint co = load_checkpoint(old);
    CHECK(co.settings.loss == "nce");
    CHECK_FALSE(co.model.dims.logit_bias);
    // inconsistent or unknown: refused, naming the file
    rewrite_checkpoint(ckn, bad, [](std::map<std::string, std::vector<float>>&, std::map<std::string, std::string>& m) {
        m["loss"] = "sigmoid";  // but no logit_bias tensor
    });
    std::string e = error_of([&] { load_checkpoint(bad); });
    CHECK(contains(e, bad));
    CHECK(contains(e, "logit_bias"));
    rewrite_checkpoint(ck, bad, [](std::map<std::string, std::vector<float>>&, std::map<std::string, std::string>& m) {
        m.erase("loss");  // a logit_bias tensor in a checkpoint that says nothing: nce, inconsistent
    });
    CHECK(contains(error_of([&] { load_checkpoint(bad); }), "logit_bias"));
    rewrite_checkpoint(ckn, bad, [](std::map<std::string, std::vector<float>>&, std::map<std::string, std::string>& m) {
        m["loss"] = "hinge";
    });
    e = error_of([&] { load_checkpoint(bad); });
    CHECK(contains(e, bad));
    CHECK(contains(e, "unknown loss 'hinge'"));
    // the logit_bias moments: all or none, like every other tensor
    rewrite_checkpoint(ck, bad, [](std::map<std::string, std::vector<float>>& t, std::map<std::string, std::string>&) {
        t.erase("optim.exp_avg_sq.logit_bias");
    });
    CHECK(contains(error_of([&] { load_checkpoint(bad); }), "optim.exp_avg_sq.logit_bias"));
}

TEST_CASE("train cli: --loss sigmoid — 3 steps + --resume 3 == 6; a different --loss is refused; bad names; --init across losses") {
    const std::string dir = make_tmp_dir(), data = dir + "/d.safetensors", mem = dir + "/m.safetensors";
    write_random(data, 40, 16, 61);
    write_random(mem, 70, 16, 62);
    const std::string common = testutil::reco_bin() + "train --data " + data + " --memory " + mem +
                               " --k 4 --batch 16 --steps 6 --heads 2 --seed 3 --warmup 2 --lr 2e-3 --log-every 1 --device cpu";
    int rc = 0;
    std::vector<std::string> a = stdout_lines(common + " --loss sigmoid --out " + dir + "/a.safetensors", &rc, dir + "/e1");
    REQUIRE(rc == 0);
    CHECK(contains(slurp(dir + "/e1"), "logit_bias to -10"));
    CHECK(contains(slurp(dir + "/e1"), "sigmoid loss"));
    std::vector<std::string> b =
        stdout_lines(common + " --loss sigmoid --stop-after 3 --out " + dir + "/b.safetensors", &rc, dir + "/e2");
    REQUIRE(rc == 0);
    std::vector<std::string> c = stdout_lines(testutil::reco_bin() + "train --resume " + dir + "/b.safetensors --out " +
                                                  dir + "/c.safetensors --log-every 1 --loss sigmoid --device cpu",
                                              &rc, dir + "/e3");
    REQUIRE(rc == 0);
    REQUIRE(a.size() == 6);
    REQUIRE(b.size() == 3);
    REQUIRE(c.size() == 3);
    for (int i = 0; i < 3; i++) CHECK(b[i] == a[i]);
    for (int i = 0; i < 3; i++) CHECK(c[i] == a[i + 3]);
    CHECK(slurp(dir + "/c.safetensors") == slurp(dir + "/a.safetensors"));
    Checkpoint ca = load_checkpoint(dir + "/a.safetensors");
    CHECK(ca.settings.loss == "sigmoid");
    CHECK(ca.model.logit_bias() > -10.0f);
    CHECK(ca.model.logit_bias() < -9.9f);
    // the same run with the nce loss: other losses (the sigmoid's start near 3·10)
    std::vector<std::string> n = stdout_lines(common + " --out " + dir + "/n.safetensors", &rc, dir + "/e4");
    REQUIRE(rc == 0);
    REQUIRE(n.size() == 6);
    CHECK(n[0] != a[0]);
    CHECK(load_checkpoint(dir + "/n.safetensors").settings.loss == "nce");

    std::string out;
    // resuming with another loss: refused, nothing written
    CHECK(run_cmd(testutil::reco_bin() + "train --resume " + dir + "/b.safetensors --loss nce --out " + dir + "/x.safetensors", &out) == 1);
    CHECK(contains(out, "--loss nce differs from the checkpoint's loss=sigmoid"));
    CHECK(run_cmd(testutil::reco_bin() + "train --resume " + dir + "/n.safetensors --loss sigmoid --steps 8 --out " + dir + "/x.safetensors", &out) == 1);
    CHECK(contains(out, "differs from the checkpoint's loss=nce"));
    CHECK_FALSE(file_exists(dir + "/x.safetensors"));
    // an unknown loss: a clear error naming the choices, no output
    for (const char* bad : {"siglip", "NCE", ""}) {
        CHECK(run_cmd(common + " --loss '" + bad + "' --out " + dir + "/x.safetensors", &out) == 1);
        CHECK(contains(out, std::string("unknown loss '") + bad + "'"));
        CHECK(contains(out, "nce"));
        CHECK(contains(out, "sigmoid"));
        CHECK_FALSE(file_exists(dir + "/x.safetensors"));
    }
    CHECK(run_cmd(testutil::reco_bin() + "train --resume " + dir + "/b.safetensors --loss hinge --out " + dir + "/x.safetensors", &out) == 1);
    CHECK(contains(out, "unknown loss 'hinge'"));

    // --init from the other loss: the module weights, fresh scalars for this run's loss
    REQUIRE(run_cmd(common + " --steps 1 --init " + dir + "/a.safetensors --out " + dir + "/i.safetensors", &out) == 0);
    Checkpoint ci = load_checkpoint(dir + "/i.safetensors");
    CHECK(ci.settings.loss == "nce");
    CHECK_FALSE(ci.model.dims.logit_bias);
    REQUIRE(run_cmd(common + " --steps 1 --loss sigmoid --init " + dir + "/n.safetensors --out " + dir + "/j.safetensors", &out) == 0);
    CHECK(contains(out, "trained with the nce loss"));
    Checkpoint cj = load_checkpoint(dir + "/j.safetensors");
    CHECK(cj.settings.loss == "sigmoid");
    CHECK(cj.model.logit_bias() == doctest::Approx(-10.0).epsilon(1e-3));  // one step from −10
    // --init from the same loss keeps the scalars
    REQUIRE(run_cmd(common + " --steps 1 --loss sigmoid --init " + dir + "/a.safetensors --out " + dir + "/k.safetensors", &out) == 0);
    CHECK(contains(out, "and logit_bias from"));
}

// test_retrieval_mode.cpp — the ablation switches (retrieval_mode.h, issue 10): each one changes what
// is retrieved and what is fused exactly as specified, on a hand-made memory whose right answers are
// known by construction; k = 0 is the query alone; the memory subset is a seeded subset searched
// exactly; the switches round-trip through the checkpoint and evaluation refuses other ones.
#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "checkpoint.h"
#include "fusion_train.h"
#include "memory.h"
#include "neighbour_cache.h"
#include "reco_eval.h"
#include "retrieval.h"
#include "retrieval_mode.h"
#include "dist/sharded_memory.h"
#include "test_util.h"
#include "trainer.h"

using namespace reco;
using testutil::contains;

namespace {

struct TmpDir {
    std::string path;
    TmpDir() {
        char t[] = "/tmp/reco_mode_XXXXXX";
        REQUIRE(mkdtemp(t) != nullptr);
        path = t;
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

std::vector<float> basis(int d, int i) {
    std::vector<float> v(d, 0.0f);
    v[i] = 1.0f;
    return v;
}

// The hand-made memory (d = 4, e_i the basis vectors), row: (image, text)
//   0: (e0, e1)   1: (e1, e0)   2: (e2, e3)   3: (e3, e2)
// An image query e0 finds row 0 among the IMAGES and row 1 among the TEXTS; a text query e2 finds
// row 3 among the TEXTS and row 2 among the IMAGES. Every other row scores 0.
void write_hand_memory(const std::string& path) {
    const int d = 4;
    const int img_of[4] = {0, 1, 2, 3}, txt_of[4] = {1, 0, 3, 2};
    std::vector<float> img, txt;
    for (int r = 0; r < 4; r++) {
        auto a = basis(d, img_of[r]), b = basis(d, txt_of[r]);
        img.insert(img.end(), a.begin(), a.end());
        txt.insert(txt.end(), b.begin(), b.end());
    }
    write_embedding_file(path, img.data(), txt.data(), 4, d, {"r0", "r1", "r2", "r3"}, "test-clip");
}

RetrievalMode mode_of(SearchMode s, FuseMode f, int k = 1) {
    RetrievalMode m;
    m.search = s;
    m.fuse = f;
    m.k = k;
    return m;
}

struct Expect {
    SearchMode s;
    FuseMode f;
    int img_row, img_fused;  // image query e0: the row found, the basis index of the fused vector
    int txt_row, txt_fused;  // text query e2
};
// Worked out from the table above, not from the code.
const Expect kExpect[4] = {
    {SearchMode::uni, FuseMode::cross, 0, 1, 3, 3},    // image→images, fuse row 0's text e1; text→texts, row 3's image e3
    {SearchMode::uni, FuseMode::uni, 0, 0, 3, 2},      // same rows, fuse the query's own modality
    {SearchMode::cross, FuseMode::cross, 1, 0, 2, 2},  // image→texts finds row 1, fuse its text e0; text→images row 2
    {SearchMode::cross, FuseMode::uni, 1, 1, 2, 3},    // row 1's image e1; row 2's text e3
};

}  // namespace

TEST_CASE("retrieval mode: search uni|cross and fuse cross|uni retrieve and fuse exactly the specified rows and sides") {
    TmpDir t;
    const std::string mp = t.path + "/mem.safetensors";
    write_hand_memory(mp);
    ShardedMemory mem(mp);
    const std::vector<float> qi = basis(4, 0), qt = basis(4, 2);
    for (const Expect& e : kExpect) {
        CAPTURE(search_mode_name(e.s));
        CAPTURE(fuse_mode_name(e.f));
        ModeMemory mm(mem, mode_of(e.s, e.f));
        Neighbours ni = retrieve(mm, Modality::image, qi.data(), 1);
        Neighbours nt = retrieve(mm, Modality::text, qt.data(), 1);
        REQUIRE(ni.idx.size() == 1);
        CHECK(ni.idx[0] == e.img_row);
        CHECK(ni.score[0] == 1.0f);
        CHECK(nt.idx[0] == e.txt_row);
        CHECK(gather_fusion_inputs(mm, Modality::image, ni) == basis(4, e.img_fused));
        CHECK(gather_fusion_inputs(mm, Modality::text, nt) == basis(4, e.txt_fused));
    }
    // the old entry point is the paper's mode
    Neighbours old = retrieve(mem, Modality::image, qi.data(), 1, 1);
    CHECK(old.idx[0] == 0);
    CHECK(gather_fusion_inputs(mem, Modality::image, old) == basis(4, 1));
}

TEST_CASE("retrieval mode: the trainer's neighbours and fused inputs follow the switches (loss == hand-gathered inputs)") {
    TmpDir t;
    const std::string mp = t.path + "/mem.safetensors", dp = t.path + "/data.safetensors";
    write_hand_memory(mp);
    // two training pairs: (image e0, text e2) and (image e2, text e0)
    const std::vector<float> img = {1, 0, 0, 0, 0, 0, 1, 0}, txt = {0, 0, 1, 0, 1, 0, 0, 0};
    write_embedding_file(dp, img.data(), txt.data(), 2, 4, {"a", "b"}, "test-clip");
    ShardedMemory mem(mp);
    EmbeddingFile data(dp);
    // the rows each item finds: image e0 → (uni) row 0 (cross) row 1; image e2 → row 2 | row 3;
    // text e2 → (uni) row 3 (cross) row 2; text e0 → row 1 | row 0.
    const int img_row[2][2] = {{0, 2}, {1, 3}}, txt_row[2][2] = {{3, 1}, {2, 0}};  // [search][item]
    for (const Expect& e : kExpect) {
        CAPTURE(search_mode_name(e.s));
        CAPTURE(fuse_mode_name(e.f));
        const RetrievalMode mode = mode_of(e.s, e.f);
        NeighbourIndex nb = compute_neighbours(data, mem, mode, false);
        const int si = e.s == SearchMode::uni ? 0 : 1;
        CHECK(nb.img == std::vector<int32_t>({img_row[si][0], img_row[si][1]}));
        CHECK(nb.txt == std::vector<int32_t>({txt_row[si][0], txt_row[si][1]}));

        TrainSettings s;
        s.set_mode(mode);
        s.batch = 2;
        s.heads = 2;
        s.total_steps = 1;
        s.shuffle = false;
        s.schedule = "constant";
        FusionDims dims;
        dims.d = 4;
        dims.heads = 2;
        FusionModel m0;
        m0.init(dims, 2.0f, 5);
        AdamW opt0(m0.table, m0.params.size());
        Trainer tr(data, mem, nb, s, m0, opt0, 0);
        const float loss = tr.step();
        // the expected fused inputs, read from the table: fuse cross = the other modality of the row
        auto row_vec = [&](int row, bool image_side) {
            std::vector<float> v(4);
            image_side ? mem.image_row(row, v.data()) : mem.text_row(row, v.data());
            return v;
        };
        std::vector<float> nbr_txt_for_img, nbr_img_for_txt;
        for (int i = 0; i < 2; i++) {
            auto a = row_vec(nb.img[i], e.f == FuseMode::uni);   // image query: uni → images
            auto b = row_vec(nb.txt[i], e.f == FuseMode::cross); // text query: cross → images
            nbr_txt_for_img.insert(nbr_txt_for_img.end(), a.begin(), a.end());
            nbr_img_for_txt.insert(nbr_img_for_txt.end(), b.begin(), b.end());
        }
        FusionModel m1 = m0;
        AdamW opt1(m1.table, m1.params.size());
        FusionTrainWorkspace ws;
        const float want = fusion_train_step(m1, opt1, ws, img.data(), txt.data(), nbr_txt_for_img.data(),
                                             nbr_img_for_txt.data(), 2, 1, s.lr, LossKind::nce);
        CHECK(loss == want);
        CHECK(tr.model.params == m1.params);
    }
}

TEST_CASE("retrieval mode: k = 0 runs the fusion module on the query alone, whatever the memory holds") {
    TmpDir t;
    const std::string mp = t.path + "/mem.safetensors";
    write_hand_memory(mp);
    ShardedMemory mem(mp);
    FusionDims dims;
    dims.d = 4;
    dims.heads = 2;
    FusionModel m;
    m.init(dims, 2.0f, 3);
    RetrievalMode k0;
    k0.k = 0;
    std::vector<float> q = {0.5f, 0.5f, 0.5f, 0.5f, 1, 0, 0, 0};
    std::vector<float> got = q;
    reco_refine(m, ModeMemory(mem, k0), Modality::image, got, 2);
    // independent: the full-sequence reference layer with T = 1 token
    FusionRefCache<float> c;
    fusion_forward_ref(c, dims, m.module(Modality::image), q.data(), (const float*)nullptr, 2, 0);
    for (size_t i = 0; i < got.size(); i++) CHECK(got[i] == doctest::Approx(c.out[i]).epsilon(1e-6));
    CHECK(got != q);  // the module did run
    NeighbourIndex nb = compute_neighbours(EmbeddingFile(mp), mem, k0, true);
    CHECK(nb.k == 0);
    CHECK(nb.img.empty());
    CHECK(k0.describe() == "k 0 (no retrieval: the query alone)");
}

TEST_CASE("retrieval mode: --memory-fraction searches a seeded subset exactly (brute force over the subset)") {
    const std::vector<int> a = memory_subset_rows(50, 0.3, 7), b = memory_subset_rows(50, 0.3, 7),
                           c = memory_subset_rows(50, 0.3, 8);
    CHECK(a.size() == 15);
    CHECK(a == b);
    CHECK(a != c);
    CHECK(std::is_sorted(a.begin(), a.end()));
    CHECK(std::set<int>(a.begin(), a.end()).size() == a.size());
    CHECK(memory_subset_rows(50, 1.0, 7).size() == 50);
    CHECK(memory_subset_rows(50, 0.001, 7).size() == 1);
    CHECK(contains(testutil::error_of([] { memory_subset_rows(50, 0, 1); }), "--memory-fraction must be in (0, 1]"));

    TmpDir t;
    const std::string mp = t.path + "/mem.safetensors";
    const int N = 50, d = 8;
    std::mt19937_64 rng(3);
    std::normal_distribution<float> g;
    std::vector<float> img(N * d), txt(N * d);
    for (auto& x : img) x = g(rng);
    for (auto& x : txt) x = g(rng);
    write_embedding_file(mp, img.data(), txt.data(), N, d, {}, "test-clip");
    ShardedMemory mem(mp);
    RetrievalMode mode;
    mode.k = 4;
    mode.memory_fraction = 0.3;
    mode.memory_seed = 7;
    ModeMemory mm(mem, mode);
    CHECK(mm.searchable() == 15);
    std::vector<float> q(d);
    for (auto& x : q) x = g(rng);
    const int exclude = a[2];
    Neighbours nb = retrieve(mm, Modality::image, q.data(), 1, &exclude);
    // brute force over the subset rows only, one fmaf chain per row (topk.h's definition)
    std::vector<std::pair<float, int>> s;
    std::vector<float> row(d);
    for (int r : a) {
        if (r == exclude) continue;
        mem.image_row(r, row.data());
        float acc = 0;
        for (int j = 0; j < d; j++) acc = std::fmaf(q[j], row[j], acc);
        s.push_back({acc, r});
    }
    std::sort(s.begin(), s.end(), [](auto& x, auto& y) { return x.first > y.first || (x.first == y.first && x.second < y.second); });
    for (int i = 0; i < 4; i++) {
        CHECK(nb.idx[i] == s[i].second);
        CHECK(nb.score[i] == s[i].first);
    }
    RetrievalMode big = mode;
    big.k = 15;
    CHECK(contains(testutil::error_of([&] { ModeMemory(mem, big).search(Modality::image, q.data(), 1, nullptr, nullptr, &exclude); }),
                   "larger than the searched part of the memory (15 of 50 rows"));
}

TEST_CASE("retrieval mode: switches round-trip through the checkpoint; evaluation refuses another search/fuse naming both") {
    TmpDir t;
    FusionDims dims;
    dims.d = 4;
    dims.heads = 2;
    FusionModel m;
    m.init(dims, 2.0f, 1);
    TrainSettings s;
    s.set_mode(mode_of(SearchMode::cross, FuseMode::uni, 5));
    s.memory_fraction = 0.25;
    s.memory_seed = 11;
    const std::string p = t.path + "/ck.safetensors";
    save_checkpoint(p, m, nullptr, s, 0);
    Checkpoint ck = load_checkpoint(p);
    CHECK(ck.metadata.at("search") == "cross");
    CHECK(ck.metadata.at("fuse") == "uni");
    CHECK(ck.settings.mode() == s.mode());

    // k = 0 is a valid checkpoint
    TrainSettings s0;
    s0.k = 0;
    save_checkpoint(p, m, nullptr, s0, 0);
    CHECK(load_checkpoint(p).settings.mode().k == 0);

    // older checkpoints (no keys) read as the paper's mode
    std::map<std::string, std::string> none;
    RetrievalMode old = mode_from_metadata(none, 10, "old.safetensors");
    CHECK(old.search == SearchMode::uni);
    CHECK(old.fuse == FuseMode::cross);
    CHECK(old.memory_fraction == 1.0);
    std::map<std::string, std::string> bad = {{"search", "sideways"}};
    CHECK(contains(testutil::error_of([&] { mode_from_metadata(bad, 10, "x.safetensors"); }),
                   "x.safetensors: metadata: unknown search mode 'sideways'"));

    const RetrievalMode trained = mode_of(SearchMode::uni, FuseMode::cross, 10);
    CHECK(testutil::error_of([&] { check_same_mode(trained, mode_of(SearchMode::uni, FuseMode::cross, 3), "c.st"); })
              .empty());  // another k is allowed
    CHECK(testutil::error_of([&] { check_same_mode(trained, mode_of(SearchMode::cross, FuseMode::cross), "c.st"); }) ==
          "c.st: trained with --search uni --fuse cross; asked for --search cross --fuse cross (a fusion module only "
          "works with the retrieval it was trained with: train another with those switches)");
    CHECK(contains(testutil::error_of([&] { check_same_mode(trained, mode_of(SearchMode::uni, FuseMode::uni), "c.st"); }),
                   "asked for --search uni --fuse uni"));
    CHECK(contains(testutil::error_of([&] { check_same_mode(trained, mode_of(SearchMode::uni, FuseMode::cross, 0), "c.st"); }),
                   "asked for --search uni --fuse cross --k 0"));
    CHECK(contains(testutil::error_of([] { parse_fuse_mode("both"); }), "unknown fuse mode 'both'"));
}

TEST_CASE("retrieval mode cli: train --search cross --fuse uni is stored; eval with another --fuse is refused naming both") {
    TmpDir t;
    const std::string d = t.path;
    {
        std::mt19937_64 rng(5);
        std::normal_distribution<float> g;
        const int n = 40, dd = 8;
        std::vector<float> img(n * dd), txt(n * dd);
        for (auto& x : img) x = g(rng);
        for (auto& x : txt) x = g(rng);
        std::vector<std::string> caps;
        for (int i = 0; i < n; i++) caps.push_back("c" + std::to_string(i % 4));
        write_embedding_file(d + "/data.safetensors", img.data(), txt.data(), n, dd, caps, "test-clip");
    }
    const std::string bin = testutil::reco_bin(), data = d + "/data.safetensors", ck = d + "/ck.safetensors";
    std::string out;
    const int rc = run_cmd(bin + "train --data " + data + " --memory " + data +
                                         " --k 3 --batch 8 --steps 2 --heads 2 --search cross --fuse uni --out " + ck,
                                     &out);
    REQUIRE_MESSAGE(rc == 0, out);
    CHECK(contains(out, "search cross, fuse uni, k 3"));
    Checkpoint c = load_checkpoint(ck);
    CHECK(c.settings.search == SearchMode::cross);
    CHECK(c.settings.fuse == FuseMode::uni);
    CHECK(run_cmd(bin + "eval zeroshot --data " + data + " --memory " + data + " --fusion " + ck, &out) == 0);
    CHECK(run_cmd(bin + "eval zeroshot --data " + data + " --memory " + data + " --fusion " + ck +
                                " --fuse cross",
                            &out) == 1);
    CHECK(contains(out, "trained with --search cross --fuse uni; asked for --search cross --fuse cross"));
    // a different cache file for another search side
    CHECK(neighbour_cache_path(data, data, mode_of(SearchMode::cross, FuseMode::uni, 3)) !=
          neighbour_cache_path(data, data, 3));
    CHECK(neighbour_cache_path(data, data, mode_of(SearchMode::uni, FuseMode::uni, 3)) ==
          neighbour_cache_path(data, data, 3));  // fuse does not change which rows are found
    // resume keeps the switches
    CHECK(run_cmd(bin + "train --resume " + ck + " --steps 3 --search uni", &out) == 1);
    CHECK(contains(out, "differ from the checkpoint's (search cross, fuse uni, k 3)"));
}

TEST_CASE("eval leak: with the data as the memory, no query retrieves a row of its own label (brute force over the rest)") {
    // 3 classes x 4 items; images of class c cluster around e_c, every text of class c IS c's prompt
    // (what `reco eval zeroshot --data M --memory M` sees): the nearest images are the own class's.
    TmpDir t;
    const int C = 3, per = 4, n = C * per, d = 6;
    std::mt19937_64 rng(9);
    std::normal_distribution<float> g(0.0f, 0.2f);
    std::vector<float> img(n * d), txt(n * d);
    std::vector<int> label(n);
    std::vector<std::string> caps;
    for (int i = 0; i < n; i++) {
        label[i] = i % C;
        for (int j = 0; j < d; j++) img[i * d + j] = (j == label[i] ? 1.0f : 0.0f) + g(rng);
        for (int j = 0; j < d; j++) txt[i * d + j] = j == 3 + label[i] ? 1.0f : 0.1f;
        caps.push_back("class " + std::to_string(label[i]));
    }
    const std::string mp = t.path + "/m.safetensors";
    write_embedding_file(mp, img.data(), txt.data(), n, d, caps, "test-clip");
    ShardedMemory mem(mp);
    RetrievalMode mode;
    mode.k = 3;
    ModeMemory mm(mem, mode);
    std::vector<float> q(img.begin(), img.end());
    for (int i = 0; i < n; i++) mem.image_row(i, q.data() + i * d);
    // without the exclusion the own class is what is found (the leak)
    Neighbours leaky = retrieve(mm, Modality::image, q.data(), n);
    int same = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < 3; j++) same += label[leaky.idx[i * 3 + j]] == label[i];
    CHECK(same >= n * 2);
    Neighbours nb = retrieve_excluding_labels(mm, Modality::image, q.data(), n, label.data(), label);
    for (int i = 0; i < n; i++) {
        std::vector<std::pair<float, int>> s;
        std::vector<float> row(d);
        for (int r = 0; r < n; r++) {
            if (label[r] == label[i]) continue;
            mem.image_row(r, row.data());
            float acc = 0;
            for (int j = 0; j < d; j++) acc = std::fmaf(q[i * d + j], row[j], acc);
            s.push_back({acc, r});
        }
        std::sort(s.begin(), s.end(), [](auto& x, auto& y) { return x.first > y.first || (x.first == y.first && x.second < y.second); });
        for (int j = 0; j < 3; j++) {
            CHECK(label[nb.idx[i * 3 + j]] != label[i]);
            CHECK(nb.idx[i * 3 + j] == s[j].second);
        }
    }
    // the class prompts too: prompt c never retrieves (its own copies in) class c
    std::vector<float> prompts(C * d);
    std::vector<int> cl(C);
    for (int c = 0; c < C; c++) {
        mem.text_row(c, prompts.data() + c * d);
        cl[c] = c;
    }
    Neighbours pt = retrieve_excluding_labels(mm, Modality::text, prompts.data(), C, cl.data(), label);
    for (int c = 0; c < C; c++)
        for (int j = 0; j < 3; j++) CHECK(label[pt.idx[c * 3 + j]] != c);
    // too few rows left is an error, not a short list
    RetrievalMode big = mode;
    big.k = 9;
    CHECK(contains(testutil::error_of([&] {
                       retrieve_excluding_labels(ModeMemory(mem, big), Modality::image, q.data(), n, label.data(), label);
                   }),
                   "once the rows of its own label are excluded (k=9)"));
}

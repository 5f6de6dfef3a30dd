// test_shards.cpp — the sharded memory (src/dist/sharded_memory.h, sharded_search.h, memory_split.h)
// in one process: exact top-k over 1, 2, 5 shards and small tiles equals the plain reference over the
// unsplit memory (indices and score bits, ties included), bad shards, `reco memory split|import-npy`,
// `reco info DIR`, `reco search --query-npy`, and a search under an address-space cap smaller than the
// memory. (Many ranks: test_mpi_search.cpp.)
#include <doctest/doctest.h>

#include <fstream>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

#include "dist/sharded_search.h"
#include "mpi_util.h"
#include "retrieval.h"
#include "shard_fixture.h"
#include "test_util.h"

using namespace reco;
using namespace shardtest;
using testutil::contains;

TEST_CASE("shards: top-k over 1, 2, 5 shards and row tiles equals the unsplit reference (bits, ties)") {
    const std::string dir = make_tmp_dir("shards");
    TieMemory m = tie_memory(83, 24, 7);
    const std::string file = write_memory(m, dir + "/memory.safetensors");
    ShardedMemory whole(file);
    for (int P : {1, 2, 5}) {
        const std::string sd = dir + "/p" + std::to_string(P);
        split_memory(whole, P, sd, nullptr);
        ShardedMemory sm(sd);
        REQUIRE(sm.n() == m.n);
        REQUIRE((int)sm.shards().size() == P);
        for (bool images : {true, false}) {
            std::vector<float> q = tie_queries(m, 10, 11, images);
            const int Q = 10;
            for (int k : {1, 12, 83}) {
                std::vector<int> ri, gi((size_t)Q * k);
                std::vector<float> rs, gs((size_t)Q * k);
                reference(file, images, q, k, ri, rs);
                for (uint64_t budget : {(uint64_t)1 << 30, (uint64_t)24 * 2 * 3}) {  // whole shards; 3-row tiles
                    ShardSearchOptions opt;
                    opt.budget_bytes = budget;
                    ShardSearchStats st;
                    sharded_topk(sm, images, q.data(), Q, k, gi.data(), gs.data(), nullptr, opt, &st);
                    INFO("P=" << P << " images=" << images << " k=" << k << " budget=" << budget);
                    CHECK(gi == ri);
                    CHECK(same_bits(gs, rs));
                    if (budget < 1000) CHECK(st.tiles >= m.n / 3);
                }
            }
            // self-exclusion by global row (the neighbour cache's case), k = N - 1
            std::vector<int> ex(Q);
            for (int i = 0; i < Q; i++) ex[i] = (i * 13) % m.n;
            for (int k : {5, m.n - 1}) {
                std::vector<int> ri, gi((size_t)Q * k);
                std::vector<float> rs, gs((size_t)Q * k);
                reference(file, images, q, k, ri, rs, ex.data());
                ShardSearchOptions opt;
                opt.budget_bytes = 24 * 2 * 4;
                sharded_topk(sm, images, q.data(), Q, k, gi.data(), gs.data(), ex.data(), opt);
                CHECK(gi == ri);
                CHECK(same_bits(gs, rs));
            }
        }
        // rows and captions by global index
        std::vector<float> a(m.d), b(m.d);
        for (int i : {0, 17, 40, 82}) {
            sm.text_row(i, a.data());
            whole.text_row(i, b.data());
            CHECK(a == b);
            CHECK(sm.caption(i) == "cap " + std::to_string(i));
        }
    }
    // the retrieval step on the directory = on the file
    std::vector<float> q = tie_queries(m, 4, 3, true);
    Neighbours n1 = retrieve(ShardedMemory(dir + "/p5"), Modality::image, q.data(), 4, 9);
    Neighbours n2 = retrieve(whole, Modality::image, q.data(), 4, 9);
    CHECK(n1.idx == n2.idx);
    CHECK(same_bits(n1.score, n2.score));
    CHECK(gather_fusion_inputs(ShardedMemory(dir + "/p5"), Modality::image, n1) ==
          gather_fusion_inputs(whole, Modality::image, n2));
}

TEST_CASE("shards: merging per-shard lists keeps topk order (score, then lower index; -1 = none)") {
    const int a_idx[] = {7, 2, -1}, b_idx[] = {3, 9, 1};
    const float a_s[] = {0.5f, 0.25f, 0.f}, b_s[] = {0.5f, 0.25f, 0.1f};
    const int* il[] = {a_idx, b_idx};
    const float* sl[] = {a_s, b_s};
    int oi[4];
    float os[4];
    merge_topk_lists(2, il, sl, 1, 3, 4, oi, os);
    CHECK(std::vector<int>(oi, oi + 4) == std::vector<int>{3, 7, 2, 9});
}

// A raw memory shard (no normalisation) with the given rows, model, family.
static void write_raw_shard(const std::string& path, int n, int d, const std::string& model, const std::string& family,
                            uint16_t fill = 0x3C00) {
    SafeTensorsWriter w;
    std::vector<uint16_t> x((size_t)n * d, fill);
    w.add("image_emb", DType::F16, {(int64_t)n, (int64_t)d}, x.data(), x.size() * 2);
    w.add("text_emb", DType::F16, {(int64_t)n, (int64_t)d}, x.data(), x.size() * 2);
    w.set_metadata("format", kEmbeddingFormat);
    w.set_metadata("model", model);
    if (!family.empty()) w.set_metadata("family", family);
    w.write(path);
}

TEST_CASE("shards: bad shard directories are refused, naming the file") {
    const std::string dir = make_tmp_dir("badshards");
    auto err = [](const std::string& p) { return testutil::error_of([&] { ShardedMemory m(p); }); };
    // no memory files (a neighbour cache and a text file do not count)
    mkdir((dir + "/none").c_str(), 0755);
    write_file_atomic(dir + "/none/readme.txt", "x", 1);
    write_raw_shard(dir + "/none/a.safetensors.knn-10-0000abcd.safetensors", 2, 4, "m", "");
    CHECK(contains(err(dir + "/none"), "holds no memory files"));
    // widths differ
    mkdir((dir + "/width").c_str(), 0755);
    write_raw_shard(dir + "/width/a.safetensors", 3, 8, "clip-a", "clip");
    write_raw_shard(dir + "/width/b.safetensors", 3, 16, "clip-a", "clip");
    std::string e = err(dir + "/width");
    CHECK(contains(e, dir + "/width/b.safetensors"));
    CHECK(contains(e, "dimensions differ"));
    // models differ
    mkdir((dir + "/model").c_str(), 0755);
    write_raw_shard(dir + "/model/a.safetensors", 3, 8, "clip-a", "clip");
    write_raw_shard(dir + "/model/b.safetensors", 3, 8, "clip-b", "clip");
    e = err(dir + "/model");
    CHECK(contains(e, dir + "/model/b.safetensors"));
    CHECK(contains(e, "clip-b"));
    // families differ
    mkdir((dir + "/family").c_str(), 0755);
    write_raw_shard(dir + "/family/a.safetensors", 3, 8, "m", "clip");
    write_raw_shard(dir + "/family/b.safetensors", 3, 8, "m", "siglip");
    e = err(dir + "/family");
    CHECK(contains(e, dir + "/family/b.safetensors"));
    CHECK(contains(e, "siglip"));
    // an empty shard: no rows, or an empty file
    mkdir((dir + "/empty").c_str(), 0755);
    write_raw_shard(dir + "/empty/a.safetensors", 3, 8, "m", "");
    write_raw_shard(dir + "/empty/b.safetensors", 0, 8, "m", "");
    e = err(dir + "/empty");
    CHECK(contains(e, dir + "/empty/b.safetensors"));
    CHECK(contains(e, "empty shard"));
    write_file_atomic(dir + "/empty/b.safetensors", "", 0);
    CHECK(contains(err(dir + "/empty"), dir + "/empty/b.safetensors: not a memory file: 0 bytes"));
    // truncated when listed
    mkdir((dir + "/trunc").c_str(), 0755);
    write_raw_shard(dir + "/trunc/a.safetensors", 30, 8, "m", "");
    struct stat st;
    REQUIRE(stat((dir + "/trunc/a.safetensors").c_str(), &st) == 0);
    REQUIRE(truncate((dir + "/trunc/a.safetensors").c_str(), st.st_size - 10) == 0);
    CHECK(contains(err(dir + "/trunc"), "truncated?"));
    CHECK(contains(err(dir + "/missing"), "cannot open the memory"));
}

TEST_CASE("shards: a shard truncated, changed or removed after opening is an error naming it") {
    const std::string dir = make_tmp_dir("midrun");
    TieMemory m = tie_memory(40, 8, 3);
    ShardedMemory whole(write_memory(m, dir + "/memory.safetensors"));
    split_memory(whole, 4, dir + "/s", nullptr);
    std::vector<float> q = tie_queries(m, 3, 1, true);
    std::vector<int> idx(3 * 5);
    std::vector<float> score(3 * 5);
    {
        ShardedMemory sm(dir + "/s");
        const std::string victim = sm.shards()[2].path;
        REQUIRE(truncate(victim.c_str(), (off_t)sm.shards()[2].file_size / 2) == 0);
        std::string e = testutil::error_of([&] { sharded_topk(sm, true, q.data(), 3, 5, idx.data(), score.data()); });
        CHECK(contains(e, victim));
        CHECK(contains(e, "was truncated since the memory was opened"));
    }
    split_memory(whole, 3, dir + "/s2", nullptr);
    {
        ShardedMemory sm(dir + "/s2");
        const std::string victim = sm.shards()[1].path;
        REQUIRE(unlink(victim.c_str()) == 0);
        std::string e = testutil::error_of([&] { sharded_topk(sm, false, q.data(), 3, 5, idx.data(), score.data()); });
        CHECK(contains(e, victim));
        CHECK(contains(e, "disappeared"));
    }
    // NaN in a shard's rows: found when its tile is searched
    mkdir((dir + "/nan").c_str(), 0755);
    write_raw_shard(dir + "/nan/a.safetensors", 4, 8, "m", "");
    write_raw_shard(dir + "/nan/b.safetensors", 4, 8, "m", "", 0x7E00);
    ShardedMemory sm(dir + "/nan");
    std::vector<float> q8(8, 1.f);
    std::string e = testutil::error_of([&] { sharded_topk(sm, true, q8.data(), 1, 2, idx.data(), score.data()); });
    CHECK(contains(e, dir + "/nan/b.safetensors"));
    CHECK(contains(e, "NaN or Inf"));
}

// ------------------------------------------------------------------------------ the command line

TEST_CASE("shards cli: memory split, info DIR, search --query-npy (fp32, fp16) equal the unsplit reference") {
    const std::string dir = make_tmp_dir("shardcli"), bin = testutil::reco_bin();
    TieMemory m = tie_memory(61, 16, 5);
    const std::string file = write_memory(m, dir + "/memory.safetensors");
    std::string out;
    REQUIRE(run_cmd(bin + "memory split --memory " + file + " --parts 5 --out " + dir + "/s5", &out) == 0);
    CHECK(contains(out, "shard-00004.safetensors"));
    REQUIRE(run_cmd(bin + "info " + dir + "/s5", &out) == 0);
    CHECK(contains(out, "rows: 61"));
    CHECK(contains(out, "shards: 5"));
    CHECK(contains(out, "model: clip-test"));
    CHECK(contains(out, "shard-00004.safetensors"));
    // splitting into an existing shard directory, or into more parts than rows, is refused
    CHECK(run_cmd(bin + "memory split --memory " + file + " --parts 2 --out " + dir + "/s5", &out) == 1);
    CHECK(contains(out, "already holds memory files"));
    CHECK(run_cmd(bin + "memory split --memory " + file + " --parts 62 --out " + dir + "/s62", &out) == 1);
    CHECK(contains(out, "a shard must not be empty"));
    // a sharded memory re-split: the same rows
    REQUIRE(run_cmd(bin + "memory split --memory " + dir + "/s5 --parts 3 --out " + dir + "/s3", &out) == 0);
    {
        ShardedMemory s3(dir + "/s3"), one(file);
        REQUIRE(s3.n() == 61);
        std::vector<float> x(16), y(16);
        for (int i = 0; i < 61; i++) {
            s3.image_row(i, x.data());
            one.image_row(i, y.data());
            CHECK(x == y);
            CHECK(s3.caption(i) == one.caption(i));
        }
    }
    for (bool f16 : {false, true}) {
        std::vector<float> q = tie_queries(m, 9, 2, false);
        if (f16)
            for (float& x : q) x = half_to_float(float_to_half(x));  // what the fp16 file holds
        write_npy(dir + "/q.npy", q, 9, 16, f16);
        std::vector<int> ri, gi;
        std::vector<float> rs, gs;
        reference(file, false, q, 7, ri, rs);
        for (const std::string& mem : {file, dir + "/s5"}) {
            const std::string res = dir + "/r.safetensors";
            INFO(mem << " f16=" << f16);
            REQUIRE(run_cmd(bin + "search --memory " + mem + " --query-npy " + dir + "/q.npy --side text --k 7 --out " +
                            res + " --memory-budget 1", &out) == 0);
            read_result(res, gi, gs);
            CHECK(gi == ri);
            CHECK(same_bits(gs, rs));
            unlink(res.c_str());
        }
    }
    // bad queries: wrong width; k larger than the memory; nothing written
    write_npy(dir + "/q8.npy", std::vector<float>(16, 1.f), 2, 8);
    CHECK(run_cmd(bin + "search --memory " + dir + "/s5 --query-npy " + dir + "/q8.npy --out " + dir + "/r.safetensors", &out) == 1);
    CHECK(contains(out, "columns but the memory"));
    CHECK(run_cmd(bin + "search --memory " + dir + "/s5 --query-npy " + dir + "/q.npy --k 62 --out " + dir + "/r.safetensors", &out) == 1);
    CHECK(contains(out, "larger than the memory"));
    CHECK(!testutil::exists(dir + "/r.safetensors"));
}

TEST_CASE("shards cli: import-npy turns many img_emb_N / text_emb_N pairs into one shard each") {
    const std::string dir = make_tmp_dir("shardimport"), bin = testutil::reco_bin();
    TieMemory m = tie_memory(30, 8, 9);
    std::string args;
    int rows[3] = {10, 7, 13}, at = 0;
    for (int i = 0; i < 3; i++) {
        std::vector<float> a(m.img.begin() + at * 8, m.img.begin() + (at + rows[i]) * 8);
        std::vector<float> b(m.txt.begin() + at * 8, m.txt.begin() + (at + rows[i]) * 8);
        const std::string n = std::to_string(i);
        write_npy(dir + "/img_emb_" + n + ".npy", a, rows[i], 8, i == 1);
        write_npy(dir + "/text_emb_" + n + ".npy", b, rows[i], 8);
        std::string caps;
        for (int r = 0; r < rows[i]; r++) caps += "caption " + std::to_string(at + r) + "\n";
        write_file_atomic(dir + "/captions_" + n + ".txt", caps.data(), caps.size());
        args += " --image-npy " + dir + "/img_emb_" + n + ".npy --text-npy " + dir + "/text_emb_" + n +
                ".npy --captions " + dir + "/captions_" + n + ".txt";
        at += rows[i];
    }
    std::string out;
    REQUIRE(run_cmd(bin + "memory import-npy" + args + " --model clip-x --out " + dir + "/mem", &out) == 0);
    CHECK(contains(out, "3 shards"));
    ShardedMemory sm(dir + "/mem");
    CHECK(sm.n() == 30);
    CHECK(sm.shards().size() == 3);
    CHECK(sm.model() == "clip-x");
    CHECK(sm.shards()[2].offset == 17);
    CHECK(sm.caption(17) == "caption 17");
    // rows as the single-file import writes them
    REQUIRE(run_cmd(bin + "memory import-npy --image-npy " + dir + "/img_emb_2.npy --text-npy " + dir +
                    "/text_emb_2.npy --out " + dir + "/one.safetensors", &out) == 0);
    EmbeddingFile one(dir + "/one.safetensors");
    std::vector<float> a(8), b(8);
    sm.image_row(20, a.data());
    one.image_row(3, b.data());
    CHECK(a == b);
    // mismatched pairs are refused before anything is written
    CHECK(run_cmd(bin + "memory import-npy --image-npy " + dir + "/img_emb_0.npy --image-npy " + dir +
                  "/img_emb_1.npy --text-npy " + dir + "/text_emb_0.npy --out " + dir + "/bad", &out) == 1);
    CHECK(contains(out, "2 --image-npy but 1 --text-npy"));
    CHECK(run_cmd(bin + "memory import-npy --image-npy " + dir + "/img_emb_0.npy --text-npy " + dir +
                  "/text_emb_0.npy --image-npy " + dir + "/img_emb_1.npy --text-npy " + dir + "/text_emb_2.npy --out " +
                  dir + "/bad2", &out) == 1);
    CHECK(contains(out, "must agree in N"));
    CHECK(!testutil::exists(dir + "/bad2/shard-00000.safetensors"));
}

// `sh -c 'ulimit -v KB; exec reco ...'` with two OpenMP threads (so the address space the runtime
// reserves does not depend on the machine's core count).
static int run_capped(long kb, const std::string& args, std::string* out = nullptr) {
    return run_cmd("OMP_NUM_THREADS=2 sh -c 'ulimit -v " + std::to_string(kb) + " && exec " + testutil::reco_bin() +
                   args + "'", out);
}

TEST_CASE("shards: a memory larger than the address-space cap is still searched exactly (streamed)") {
#if defined(__SANITIZE_ADDRESS__)
    testutil::skip("AddressSanitizer reserves terabytes of address space: no address-space cap can apply");
    return;
#endif
    const std::string dir = make_tmp_dir("ascap");
    const int n = 400000, d = 32, Q = 4, k = 10;
    // random fp16 rows, then the same rows as 5 shards
    {
        SafeTensorsWriter w;
        std::vector<uint16_t> x((size_t)n * d);
        std::mt19937_64 rng(1);
        std::uniform_real_distribution<float> u(-0.3f, 0.3f);
        for (auto& v : x) v = float_to_half(u(rng));
        w.add("image_emb", DType::F16, {n, d}, x.data(), x.size() * 2);
        w.add("text_emb", DType::F16, {n, d}, x.data(), x.size() * 2);
        w.set_metadata("model", "m");
        w.write(dir + "/memory.safetensors");
        SafeTensorsWriter t;
        std::vector<uint16_t> y((size_t)50 * d, 0x3000);
        t.add("image_emb", DType::F16, {50, d}, y.data(), y.size() * 2);
        t.add("text_emb", DType::F16, {50, d}, y.data(), y.size() * 2);
        t.write(dir + "/tiny.safetensors");
    }
    split_memory(ShardedMemory(dir + "/memory.safetensors"), 5, dir + "/s5", nullptr);
    std::vector<float> q((size_t)Q * d);
    std::mt19937_64 rng(2);
    std::normal_distribution<float> nd;
    for (auto& v : q) v = nd(rng);
    write_npy(dir + "/q.npy", q, Q, d);
    std::vector<int> ri, gi;
    std::vector<float> rs, gs;
    reference(dir + "/memory.safetensors", true, q, k, ri, rs);
    const std::string search = "search --query-npy " + dir + "/q.npy --k 10 --out " + dir + "/r.safetensors --memory ";

    // the smallest cap (1 MB steps) under which reco searches the tiny memory: the program's own needs
    long lo = 4 << 10, hi = 2 << 20;  // KB
    REQUIRE(run_capped(hi, search + dir + "/tiny.safetensors") == 0);
    while (hi - lo > 1024) {
        long mid = (lo + hi) / 2;
        (run_capped(mid, search + dir + "/tiny.safetensors") == 0 ? hi : lo) = mid;
    }
    // + 6 MB: less than the 25.6 MB image_emb (and the 51.2 MB file), more than a 2 MB tile or a 5.1 MB shard
    const long cap = hi + 6 * 1024;
    MESSAGE("address-space cap " << cap / 1024 << " MB (the program alone needs " << hi / 1024
                                 << " MB); memory file 51.2 MB, searched tensor 25.6 MB");
    std::string out;
    unlink((dir + "/r.safetensors").c_str());
    // control: mapping the whole searched tensor at once does not fit under the cap
    CHECK(run_capped(cap, search + dir + "/memory.safetensors --memory-budget 1024", &out) == 1);
    CHECK(contains(out, "cannot map rows"));
    CHECK(!testutil::exists(dir + "/r.safetensors"));
    // streamed: 2 MB tiles of the one file, or the 5 shards one after another — the exact answer
    for (const std::string& args : {search + dir + "/memory.safetensors --memory-budget 2", search + dir + "/s5"}) {
        INFO(args);
        REQUIRE(run_capped(cap, args, &out) == 0);
        read_result(dir + "/r.safetensors", gi, gs);
        CHECK(gi == ri);
        CHECK(same_bits(gs, rs));
        unlink((dir + "/r.safetensors").c_str());
    }
    run_cmd("rm -rf " + dir);
}

// The lines of `text` that start with `prefix`.
static std::string lines_starting(const std::string& text, const std::string& prefix) {
    std::string keep;
    size_t p = 0;
    while (p < text.size()) {
        size_t e = text.find('\n', p);
        if (e == std::string::npos) e = text.size();
        if (text.compare(p, prefix.size(), prefix) == 0) keep += text.substr(p, e - p + 1);
        p = e + 1;
    }
    return keep;
}

TEST_CASE("shards cli: train and eval take a sharded memory and give the one-file results") {
    const std::string dir = make_tmp_dir("shardtrain"), bin = testutil::reco_bin();
    std::string out, o1, o2;
    REQUIRE(run_cmd(bin + "train --steps 10 --synthetic-out " + dir + " --out " + dir + "/f.safetensors", &out) == 0);
    REQUIRE(run_cmd(bin + "memory split --memory " + dir + "/memory.safetensors --parts 3 --out " + dir + "/mem3", &out) == 0);
    // eval: the same numbers (the first line names the memory)
    const std::string ev = bin + "eval zeroshot --data " + dir + "/eval.safetensors --fusion " + dir + "/f.safetensors --memory ";
    REQUIRE(run_cmd(ev + dir + "/memory.safetensors 2>/dev/null", &o1) == 0);
    REQUIRE(run_cmd(ev + dir + "/mem3 2>/dev/null", &o2) == 0);
    CHECK(contains(o1, "RECO refine both"));
    // the same apart from the memory's name (and the one-line "no CUDA device" note of CUDA builds)
    auto same_text = [&](std::string s) {
        std::string keep, line;
        std::istringstream in(s);
        while (std::getline(in, line)) {
            if (line.rfind("reco: no CUDA device", 0) == 0) continue;
            for (const std::string& m : {dir + "/memory.safetensors", dir + "/mem3"})
                for (size_t p; (p = line.find(m)) != std::string::npos;) line.replace(p, m.size(), "MEM");
            keep += line + "\n";
        }
        return keep;
    };
    CHECK(same_text(o1) == same_text(o2));
    // train: the same losses, step by step (neighbours searched in the shards)
    const std::string tr = bin + "train --data " + dir + "/train.safetensors --steps 5 --no-shuffle --schedule constant "
                           "--log-every 1 --out " + dir + "/g.safetensors --memory ";
    REQUIRE(run_cmd(tr + dir + "/memory.safetensors", &o1) == 0);
    REQUIRE(run_cmd(tr + dir + "/mem3", &o2) == 0);
    CHECK(!lines_starting(o1, "step ").empty());
    CHECK(lines_starting(o1, "step ") == lines_starting(o2, "step "));
    // under mpirun: the shards split over 2 ranks, the numbers printed once, the same
    if (RECO_MPI && testutil::have_mpirun()) {
        std::string o3;
        REQUIRE(run_cmd(testutil::mpirun(2) + ev + dir + "/mem3 2>/dev/null", &o3) == 0);
        std::string o4;
        REQUIRE(run_cmd(ev + dir + "/mem3 2>/dev/null", &o4) == 0);
        CHECK(same_text(o3) == same_text(o4));
    }
    run_cmd("rm -rf " + dir);
}

// test_train.cpp — `reco train`'s parts: batches, neighbours (brute force, self-exclusion, the cache),
// checkpoints (round trip, resume == uninterrupted bit for bit, an interrupted save, refused files), the
// sigmoid loss's checkpoint. The command line: tests/test_train_cli.cpp.
#include "train_test_util.h"

using namespace reco;
using namespace traintest;

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


// test_train_cli.cpp — `reco train` on the command line: the `--log-every 1` output (its first loss
// recomputed independently), 3 steps + --resume 3 == 6 steps (losses, byte-equal checkpoint) for both
// losses, and every bad input of issue 3 failing with a message and no output left behind.
#include "train_test_util.h"

using namespace reco;
using namespace traintest;

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

// test_memory.cpp — the embedding/memory file (memory.h), the .npy reader (npy.h) and
// `reco memory import-npy`:
//  * round trip: the stored fp16 bits equal a hand-checked table of fp16(normalised input)
//    (values verified with numpy: np.float16(0.6).view(np.uint16) == 0x38CD, etc.),
//  * every bad input has a test: wrong dims between image and text, another model, empty memory,
//    NaN/Inf (named row), corrupt/truncated .npy (bad magic, header beyond the file, data shorter
//    than the shape, fortran order, big-endian, 1-D/3-D), truncated safetensors, bad captions,
//  * the command leaves no output file behind on any error.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <unistd.h>
#include <vector>

#include "common.h"
#include "memory.h"
#include "npy.h"
#include "safetensors.h"
#include "test_util.h"

using namespace reco;
using testutil::contains;
using testutil::error_of;

namespace {

std::string tmpdir() {
    static std::string d;
    if (d.empty()) {
        char tmpl[] = "/tmp/reco_mem_XXXXXX";
        d = mkdtemp(tmpl);
    }
    return d;
}

// A .npy file as numpy.save writes it: magic, version, header length, dict padded with spaces to
// a multiple of 64 bytes, '\n', then the data. `header` overrides the dict text when non-empty.
std::string write_npy(const std::string& name, const std::string& descr, const std::string& shape, const void* data,
                      size_t nbytes, int major = 1, const std::string& fortran = "False",
                      const std::string& header_override = "") {
    std::string dict = header_override.empty()
                           ? "{'descr': '" + descr + "', 'fortran_order': " + fortran + ", 'shape': " + shape + ", }"
                           : header_override;
    size_t prefix = major == 1 ? 10 : 12;
    while ((prefix + dict.size() + 1) % 64) dict += ' ';
    dict += '\n';
    std::string b = "\x93NUMPY";
    b += (char)major;
    b += (char)0;
    size_t hl = dict.size();
    b += (char)(hl & 0xFF);
    b += (char)((hl >> 8) & 0xFF);
    if (major != 1) b += (char)((hl >> 16) & 0xFF), b += (char)((hl >> 24) & 0xFF);
    b += dict;
    b.append((const char*)data, nbytes);
    std::string path = tmpdir() + "/" + name;
    write_file_atomic(path, b.data(), b.size());
    return path;
}

std::string write_npy_f32(const std::string& name, const std::vector<float>& x, int rows, int cols, int major = 1) {
    return write_npy(name, "<f4", "(" + std::to_string(rows) + ", " + std::to_string(cols) + ")", x.data(),
                     x.size() * 4, major);
}


// Any file in the temp dir whose name starts with `prefix` (the output or a leftover temp file)?
bool any_file_starting(const std::string& prefix) {
    std::string out;
    run_cmd("ls -1 " + tmpdir(), &out);
    size_t p = 0;
    while (p < out.size()) {
        size_t e = out.find('\n', p);
        if (e == std::string::npos) e = out.size();
        if (out.compare(p, prefix.size(), prefix) == 0) return true;
        p = e + 1;
    }
    return false;
}

// The test pairs (d = 4). Each row's normalised fp16 bits were checked with numpy:
//   [3,4,0,0]/5 → 0.6, 0.8; [1,2,2,0]/3 → 1/3, 2/3; [0.1, sqrt(0.99), 0, 0] is already unit;
//   [1e-5, 1, 0, 0] → fp16 subnormal 0x00A8 (168 · 2^-24) and 1.0; [0,0,0,-2] → -1.
const std::vector<float> kImage = {3, 4, 0, 0, 1, 2, 2, 0, 0.1f, 0.99498743710662f, 0, 0};
const std::vector<uint16_t> kImageF16 = {0x38CD, 0x3A66, 0, 0, 0x3555, 0x3955, 0x3955, 0, 0x2E66, 0x3BF6, 0, 0};
const std::vector<float> kText = {1e-5f, 1, 0, 0, 0, 0, 0, -2, 0, -3, 0, 4};
const std::vector<uint16_t> kTextF16 = {0x00A8, 0x3C00, 0, 0, 0, 0, 0, 0xBC00, 0, 0xB8CD, 0, 0x3A66};

}  // namespace

// ---------------------------------------------------------------------------------------------
// the embedding file

TEST_CASE("memory: embedding file round trip stores fp16(normalised rows) and captions") {
    std::string path = tmpdir() + "/rt.safetensors";
    std::vector<std::string> caps = {"a cat", "", "caf\xC3\xA9 \xE2\x9C\x93"};
    write_embedding_file(path, kImage.data(), kText.data(), 3, 4, caps, "openai/clip-vit-base-patch32");
    EmbeddingFile f(path);
    CHECK(f.n() == 3);
    CHECK(f.d() == 4);
    CHECK(f.model() == "openai/clip-vit-base-patch32");
    CHECK(f.tensors().meta("format") == "reco-embeddings-v1");
    CHECK(f.tensors().meta("n") == "3");
    CHECK(f.tensors().meta("d") == "4");
    for (int j = 0; j < 12; j++) {
        INFO("element " << j);
        CHECK(f.image_emb_f16()[j] == kImageF16[j]);
        CHECK(f.text_emb_f16()[j] == kTextF16[j]);
    }
    REQUIRE(f.has_captions());
    for (int i = 0; i < 3; i++) CHECK(f.caption(i) == caps[i]);
    float row[4];
    f.image_row(0, row);
    CHECK(row[0] == doctest::Approx(0.6).epsilon(1e-3));
    CHECK(row[1] == doctest::Approx(0.8).epsilon(1e-3));
    CHECK(contains(error_of([&] { f.caption(3); }), "caption 3 out of range"));

    // without captions
    write_embedding_file(path, kImage.data(), kText.data(), 3, 4, {}, "");
    EmbeddingFile g(path);
    CHECK(!g.has_captions());
    CHECK(g.caption(1) == "");
    CHECK(g.model() == "");
}

TEST_CASE("memory: the writer rejects NaN/Inf, zero rows, no pairs and a wrong caption count; no file left") {
    std::string path = tmpdir() + "/bad_write.safetensors";
    std::vector<float> img = kImage, txt = kText;
    img[6] = NAN;
    CHECK(contains(error_of([&] { write_embedding_file(path, img.data(), txt.data(), 3, 4, {}, "m"); }),
                   "image embeddings: row 1 has a non-finite value"));
    img = kImage;
    txt[8] = INFINITY;
    CHECK(contains(error_of([&] { write_embedding_file(path, img.data(), txt.data(), 3, 4, {}, "m"); }),
                   "text embeddings: row 2 has a non-finite value"));
    txt = kText;
    for (int c = 0; c < 4; c++) txt[4 + c] = 0;
    CHECK(contains(error_of([&] { write_embedding_file(path, img.data(), txt.data(), 3, 4, {}, "m"); }),
                   "text embeddings: row 1 is all zeros"));
    CHECK(contains(error_of([&] { write_embedding_file(path, img.data(), txt.data(), 0, 4, {}, "m"); }), "no pairs"));
    CHECK(contains(error_of([&] { write_embedding_file(path, kImage.data(), kText.data(), 3, 4, {"a", "b"}, "m"); }),
                   "2 captions for 3 pairs"));
    CHECK(!file_exists(path));
    CHECK(!any_file_starting("bad_write"));
}

TEST_CASE("memory: opening rejects bad files with the file and the problem named") {
    auto make = [](const std::string& name, std::function<void(SafeTensorsWriter&)> fill) {
        SafeTensorsWriter w;
        fill(w);
        std::string p = tmpdir() + "/" + name;
        w.write(p);
        return p;
    };
    auto open_err = [](const std::string& p) { return error_of([&] { EmbeddingFile f(p); }); };
    std::vector<uint16_t> h(12, 0x3800);

    std::string p = make("no_text.st", [&](SafeTensorsWriter& w) { w.add("image_emb", DType::F16, {3, 4}, h.data(), 24); });
    CHECK(contains(open_err(p), p + ": missing tensor 'text_emb'"));

    p = make("f32.st", [&](SafeTensorsWriter& w) {
        w.add_f32("image_emb", {3, 4}, kImage.data());
        w.add("text_emb", DType::F16, {3, 4}, h.data(), 24);
    });
    CHECK(contains(open_err(p), "tensor 'image_emb' has dtype F32, expected F16"));

    p = make("dims.st", [&](SafeTensorsWriter& w) {
        w.add("image_emb", DType::F16, {3, 4}, h.data(), 24);
        w.add("text_emb", DType::F16, {4, 3}, h.data(), 24);
    });
    CHECK(contains(open_err(p), "image_emb has shape [3, 4] but text_emb has shape [4, 3]"));

    p = make("empty.st", [&](SafeTensorsWriter& w) {
        w.add("image_emb", DType::F16, {0, 4}, h.data(), 0);
        w.add("text_emb", DType::F16, {0, 4}, h.data(), 0);
    });
    CHECK(contains(open_err(p), p + ": the file holds no pairs"));

    std::vector<uint16_t> nan = h;
    nan[9] = 0x7E00;  // NaN in row 2
    p = make("nan.st", [&](SafeTensorsWriter& w) {
        w.add("image_emb", DType::F16, {3, 4}, h.data(), 24);
        w.add("text_emb", DType::F16, {3, 4}, nan.data(), 24);
    });
    CHECK(contains(open_err(p), p + ": tensor 'text_emb' row 2 contains NaN or Inf"));
    nan = h;
    nan[4] = 0xFC00;  // -Inf in row 1
    p = make("inf.st", [&](SafeTensorsWriter& w) {
        w.add("image_emb", DType::F16, {3, 4}, nan.data(), 24);
        w.add("text_emb", DType::F16, {3, 4}, h.data(), 24);
    });
    CHECK(contains(open_err(p), "tensor 'image_emb' row 1 contains NaN or Inf"));

    auto with_caps = [&](const std::string& name, std::vector<int64_t> off, const std::string& blob) {
        return make(name, [&](SafeTensorsWriter& w) {
            w.add("caption_offsets", DType::I64, {(int64_t)off.size()}, off.data(), off.size() * 8);
            w.add("image_emb", DType::F16, {3, 4}, h.data(), 24);
            w.add("text_emb", DType::F16, {3, 4}, h.data(), 24);
            w.add("captions", DType::U8, {(int64_t)blob.size()}, blob.data(), blob.size());
        });
    };
    CHECK(open_err(with_caps("caps_ok.st", {0, 1, 1, 3}, "abc")) == "");
    CHECK(contains(open_err(with_caps("caps_dec.st", {0, 2, 1, 3}, "abc")), "caption_offsets decrease at caption 1"));
    CHECK(contains(open_err(with_caps("caps_end.st", {0, 1, 2, 9}, "abc")), "caption_offsets end at 9 but the captions blob has 3 bytes"));
    CHECK(contains(open_err(with_caps("caps_n.st", {0, 1, 3}, "abc")), "tensor 'caption_offsets' must be I64 [4]"));
    p = make("caps_only.st", [&](SafeTensorsWriter& w) {
        w.add("image_emb", DType::F16, {3, 4}, h.data(), 24);
        w.add("text_emb", DType::F16, {3, 4}, h.data(), 24);
        w.add("captions", DType::U8, {3}, "abc", 3);
    });
    CHECK(contains(open_err(p), "'captions' without 'caption_offsets'"));

    p = make("meta.st", [&](SafeTensorsWriter& w) {
        w.add("image_emb", DType::F16, {3, 4}, h.data(), 24);
        w.add("text_emb", DType::F16, {3, 4}, h.data(), 24);
        w.set_metadata("n", "5");
    });
    CHECK(contains(open_err(p), "metadata says n=5 but the tensors hold 3 pairs"));

    // truncated: a valid file cut in half
    std::string good = tmpdir() + "/good.safetensors";
    write_embedding_file(good, kImage.data(), kText.data(), 3, 4, {"a", "b", "c"}, "m");
    std::string bytes = read_file(good);
    std::string cut = tmpdir() + "/cut.safetensors";
    write_file_atomic(cut, bytes.data(), bytes.size() - 20);
    std::string e = open_err(cut);
    CHECK(contains(e, cut + ":"));
    CHECK(contains(e, "beyond the end of the file"));
    write_file_atomic(cut, bytes.data(), 5);
    CHECK(contains(open_err(cut), cut + ": not a safetensors file"));
}

TEST_CASE("memory: check_compatible refuses memories of another model") {
    std::string a = tmpdir() + "/a.safetensors", b = tmpdir() + "/b.safetensors", c = tmpdir() + "/c.safetensors";
    write_embedding_file(a, kImage.data(), kText.data(), 3, 4, {}, "openai/clip-vit-base-patch32");
    write_embedding_file(b, kImage.data(), kText.data(), 2, 6, {}, "openai/clip-vit-base-patch32");  // d = 6
    write_embedding_file(c, kImage.data(), kText.data(), 3, 4, {}, "openai/clip-vit-base-patch16");
    EmbeddingFile fa(a), fb(b), fc(c);
    std::string e = error_of([&] { check_compatible(fa, fb); });
    CHECK(contains(e, a));
    CHECK(contains(e, b));
    CHECK(contains(e, "d=4"));
    CHECK(contains(e, "d=6"));
    CHECK(contains(error_of([&] { check_compatible(fa, fc); }), "embedded with model openai/clip-vit-base-patch32"));
    CHECK(error_of([&] { check_compatible(fa, fa); }) == "");
    // the same model named by hub id and by local folder; an unknown model is checked by d only
    CHECK(error_of([&] { check_compatible("x", 4, "openai/clip-vit-base-patch32", "y", 4, "weights/clip-vit-base-patch32/"); }) == "");
    CHECK(error_of([&] { check_compatible("x", 4, "", "y", 4, "openai/clip-vit-base-patch16"); }) == "");
    CHECK(contains(error_of([&] { check_compatible("x", 512, "", "y", 768, ""); }), "x (unknown model, d=512)"));
}

// ---------------------------------------------------------------------------------------------
// .npy

TEST_CASE("npy: reads float32 and float16 arrays, format versions 1, 2 and 3") {
    std::vector<float> x = {1, -2.5f, 3, 0.25f, 5, 6};
    for (int major : {1, 2, 3}) {
        NpyMatrix m(write_npy_f32("v" + std::to_string(major) + ".npy", x, 2, 3, major));
        CHECK(m.rows() == 2);
        CHECK(m.cols() == 3);
        CHECK(!m.is_f16());
        float r[3];
        m.row_f32(1, r);
        CHECK(r[0] == 0.25f);
        CHECK(r[1] == 5.0f);
        CHECK(r[2] == 6.0f);
    }
    std::vector<uint16_t> h = {0x3C00, 0xB8CD, 0x00A8, 0x3555};  // 1, -0.6, 168·2^-24, 0.333...
    NpyMatrix m(write_npy("h.npy", "<f2", "(2, 2)", h.data(), 8));
    CHECK(m.is_f16());
    float r[2];
    m.row_f32(0, r);
    CHECK(r[0] == 1.0f);
    CHECK(r[1] == -0.60009765625f);
    m.row_f32(1, r);
    CHECK(r[0] == 168.0f / 16777216.0f);
    CHECK(r[1] == 0.333251953125f);
    // header written with double quotes, keys in another order, no trailing comma
    NpyMatrix m2(write_npy("order.npy", "", "", x.data(), 24, 1, "",
                           "{\"shape\": (3, 2), \"fortran_order\": False, \"descr\": \"<f4\"}"));
    CHECK(m2.rows() == 3);
    CHECK(m2.cols() == 2);
}

TEST_CASE("npy: corrupt and unsupported files are errors naming the file") {
    std::vector<float> x(6, 1.0f);
    auto err = [](const std::string& p) { return error_of([&] { NpyMatrix m(p); }); };

    std::string p = write_npy_f32("magic.npy", x, 2, 3);
    std::string bytes = read_file(p);
    bytes[1] = 'X';
    write_file_atomic(p, bytes.data(), bytes.size());
    CHECK(contains(err(p), p + ": not a .npy file (bad magic"));

    p = write_npy_f32("hdr.npy", x, 2, 3);
    bytes = read_file(p);
    write_file_atomic(p, bytes.data(), 40);  // cut inside the header
    CHECK(contains(err(p), p + ": truncated .npy file: the header"));

    p = write_npy("short.npy", "<f4", "(2, 3)", x.data(), 20);
    CHECK(contains(err(p), p + ": truncated .npy file: shape (2, 3) of <f4 needs 24 data bytes, the file has 20"));
    p = write_npy("long.npy", "<f4", "(1, 3)", x.data(), 24);
    CHECK(contains(err(p), "12 unexpected bytes after the array data"));
    p = write_npy("fortran.npy", "<f4", "(2, 3)", x.data(), 24, 1, "True");
    CHECK(contains(err(p), p + ": fortran_order=True (column-major) is not supported"));
    p = write_npy("big.npy", ">f4", "(2, 3)", x.data(), 24);
    CHECK(contains(err(p), p + ": big-endian data ('>f4') is not supported"));
    p = write_npy("f8.npy", "<f8", "(1, 3)", x.data(), 24);
    CHECK(contains(err(p), "dtype '<f8' is not supported"));
    p = write_npy("i4.npy", "<i4", "(2, 3)", x.data(), 24);
    CHECK(contains(err(p), "dtype '<i4' is not supported"));
    p = write_npy("3d.npy", "<f4", "(1, 2, 3)", x.data(), 24);
    CHECK(contains(err(p), p + ": shape (1, 2, 3) is 3-D; expected a 2-D array"));
    p = write_npy("1d.npy", "<f4", "(6,)", x.data(), 24);
    CHECK(contains(err(p), "shape (6,) is 1-D"));
    p = write_npy("empty.npy", "<f4", "(0, 3)", x.data(), 0);
    CHECK(contains(err(p), p + ": the array has no rows"));
    p = write_npy("d0.npy", "<f4", "(3, 0)", x.data(), 0);
    CHECK(contains(err(p), "dimension 0"));
    p = write_npy("ver.npy", "<f4", "(2, 3)", x.data(), 24, 7);
    CHECK(contains(err(p), "unsupported .npy format version 7.0"));
    p = write_npy("garbage.npy", "", "", x.data(), 24, 1, "", "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'x': 1}");
    CHECK(contains(err(p), "corrupt .npy header (unexpected key 'x')"));
    p = write_npy("nokey.npy", "", "", x.data(), 24, 1, "", "{'descr': '<f4', 'shape': (2, 3)}");
    CHECK(contains(err(p), "are all required"));
    CHECK(contains(err(tmpdir() + "/missing.npy"), "missing.npy: cannot open"));
}

// ---------------------------------------------------------------------------------------------
// reco memory import-npy

TEST_CASE("memory import-npy: writes a memory file from .npy pairs") {
    std::string a = write_npy_f32("img.npy", kImage, 3, 4);
    // the text array as float16 (numpy's img_emb/text_emb are often fp16): fp16 of kText, exact
    // values except 1e-5 whose fp16 is 0x00A8 — still rounds back to 0x00A8 after normalising
    std::vector<uint16_t> th = {0x00A8, 0x3C00, 0, 0, 0, 0, 0, 0xC000, 0, 0xC200, 0, 0x4400};  // 1e-5,1 / -2 / -3,4
    std::string b = write_npy("txt.npy", "<f2", "(3, 4)", th.data(), th.size() * 2, 2);
    std::string caps = tmpdir() + "/caps.txt";
    std::string ctext = "a red car\r\n\nzebra \xE2\x9C\x93\n";
    write_file_atomic(caps, ctext.data(), ctext.size());
    std::string out = tmpdir() + "/imported.safetensors", log;
    int rc = run_cmd(testutil::reco_bin() + "memory import-npy --image-npy " + a + " --text-npy " + b + " --captions " + caps +
                         " --model openai/clip-vit-base-patch32 --out " + out, &log);
    INFO(log);
    REQUIRE(rc == 0);
    CHECK(contains(log, "3 pairs, d=4"));
    EmbeddingFile f(out);
    CHECK(f.n() == 3);
    CHECK(f.d() == 4);
    CHECK(f.model() == "openai/clip-vit-base-patch32");
    for (int j = 0; j < 12; j++) {
        INFO("element " << j);
        CHECK(f.image_emb_f16()[j] == kImageF16[j]);
        CHECK(f.text_emb_f16()[j] == kTextF16[j]);
    }
    CHECK(f.caption(0) == "a red car");
    CHECK(f.caption(1) == "");
    CHECK(f.caption(2) == "zebra \xE2\x9C\x93");
}

TEST_CASE("memory import-npy: every bad input fails, names the problem and writes nothing") {
    std::string a = write_npy_f32("ci.npy", kImage, 3, 4);
    std::string t = write_npy_f32("ct.npy", kText, 3, 4);
    std::string out = tmpdir() + "/never.safetensors";
    auto fails_with = [&](const std::string& args, const std::string& msg) {
        std::string log;
        int rc = run_cmd(testutil::reco_bin() + "memory import-npy " + args + " --out " + out, &log);
        INFO(args << "\n" << log);
        CHECK(rc != 0);
        CHECK(contains(log, msg));
        CHECK(!any_file_starting("never.safetensors"));  // no output, no temp file
    };
    std::vector<float> x6(18, 0.5f);
    std::string d6 = write_npy_f32("d6.npy", x6, 3, 6);
    fails_with("--image-npy " + a + " --text-npy " + d6, "has shape (3, 4) but " + d6 + " has shape (3, 6)");
    std::string n2 = write_npy_f32("n2.npy", std::vector<float>(kText.begin(), kText.begin() + 8), 2, 4);
    fails_with("--image-npy " + a + " --text-npy " + n2, "must agree in N");
    std::vector<float> bad = kText;
    bad[5] = NAN;
    std::string nan = write_npy_f32("nan.npy", bad, 3, 4);
    fails_with("--image-npy " + a + " --text-npy " + nan, nan + ": row 1 has a non-finite value");
    bad = kImage;
    bad[11] = -INFINITY;
    std::string inf = write_npy_f32("inf.npy", bad, 3, 4);
    fails_with("--image-npy " + inf + " --text-npy " + t, inf + ": row 2 has a non-finite value");
    bad = kImage;
    for (int c = 0; c < 4; c++) bad[c] = 0;
    std::string zero = write_npy_f32("zero.npy", bad, 3, 4);
    fails_with("--image-npy " + zero + " --text-npy " + t, zero + ": row 0 is all zeros");
    std::string empty = write_npy("e.npy", "<f4", "(0, 4)", nullptr, 0);
    fails_with("--image-npy " + empty + " --text-npy " + t, empty + ": the array has no rows");
    std::string fo = write_npy("fo.npy", "<f4", "(3, 4)", kImage.data(), 48, 1, "True");
    fails_with("--image-npy " + fo + " --text-npy " + t, "fortran_order=True");
    std::string caps = tmpdir() + "/two.txt";
    write_file_atomic(caps, "one\ntwo\n", 8);
    fails_with("--image-npy " + a + " --text-npy " + t + " --captions " + caps, caps + ": 2 caption lines, but the embedding arrays have 3 rows");
    fails_with("--image-npy " + a, "--text-npy is required");
    fails_with("--image-npy " + a + " --text-npy " + tmpdir() + "/nope.npy", "nope.npy: cannot open");
    std::string log;
    CHECK(run_cmd(testutil::reco_bin() + "memory frobnicate", &log) != 0);
    CHECK(contains(log, "unknown action 'frobnicate'"));
}

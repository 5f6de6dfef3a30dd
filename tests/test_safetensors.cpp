// test_safetensors.cpp — the safetensors reader/writer, fp16/bf16 conversion, and every
// header-validation error (each must name the file and the problem, never crash).
#include <cmath>
#include <cstring>
#include <string>
#include <unistd.h>
#include <vector>

#include "common.h"
#include "safetensors.h"
#include "test_util.h"

using namespace reco;

static std::string tmpdir() {
    static std::string d;
    if (d.empty()) {
        char tmpl[] = "/tmp/reco_st_XXXXXX";
        d = mkdtemp(tmpl);
    }
    return d;
}

// Write a raw safetensors file from a header string and a data blob.
static std::string write_raw(const std::string& name, const std::string& header, const std::string& data,
                             long long hlen_override = -1) {
    std::string path = tmpdir() + "/" + name;
    std::string bytes;
    uint64_t hl = hlen_override >= 0 ? (uint64_t)hlen_override : header.size();
    for (int i = 0; i < 8; i++) bytes += (char)((hl >> (8 * i)) & 0xFF);
    bytes += header + data;
    write_file_atomic(path, bytes.data(), bytes.size());
    return path;
}

static std::string open_error(const std::string& path) {
    try {
        SafeTensors st(path);
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

TEST_CASE("fp16 conversion matches IEEE 754 binary16 reference values") {
    // reference bit patterns from the IEEE 754 half-precision table
    CHECK(float_to_half(1.0f) == 0x3C00);
    CHECK(float_to_half(-2.0f) == 0xC000);
    CHECK(float_to_half(0.1f) == 0x2E66);
    CHECK(float_to_half(65504.0f) == 0x7BFF);
    CHECK(float_to_half(65520.0f) == 0x7C00);       // rounds to inf
    CHECK(float_to_half(5.9604645e-8f) == 0x0001);  // smallest subnormal
    CHECK(float_to_half(1.0f + 1.0f / 2048) == 0x3C00);  // tie → even
    CHECK(float_to_half(1.0f + 3.0f / 2048) == 0x3C02);  // tie → even (up)
    CHECK(half_to_float(0x3C00) == 1.0f);
    CHECK(half_to_float(0x0001) == std::ldexp(1.0f, -24));
    CHECK(half_to_float(0x7BFF) == 65504.0f);
    CHECK(std::isinf(half_to_float(0x7C00)));
    CHECK(half_to_float(0x3555) == doctest::Approx(0.333251953125).epsilon(1e-12));
    // every finite half survives a round trip
    for (uint32_t h = 0; h < 0x10000; h++) {
        if (((h >> 10) & 0x1F) == 0x1F) continue;
        REQUIRE(float_to_half(half_to_float((uint16_t)h)) == (uint16_t)h);
    }
    CHECK(bf16_to_float(0x3F80) == 1.0f);
    CHECK(float_to_bf16(1.0f) == 0x3F80);
    CHECK(float_to_bf16(3.14159265f) == 0x4049);
}

TEST_CASE("safetensors writer/reader round trip with F32, F16, BF16, metadata") {
    SafeTensorsWriter w;
    std::vector<float> a = {1.5f, -2.25f, 3.0f, 0.1f, 7.0f, 8.0f};
    w.add_f32("a", {2, 3}, a.data());
    w.add_f16("b", {6}, a.data());
    std::vector<uint16_t> bf(6);
    for (int i = 0; i < 6; i++) bf[i] = float_to_bf16(a[i]);
    w.add("c", DType::BF16, {3, 2}, bf.data(), 12);
    w.set_metadata("model", "tiny \"quoted\"");
    std::string path = tmpdir() + "/rt.safetensors";
    w.write(path);
    SafeTensors st(path);
    CHECK(st.meta("model") == "tiny \"quoted\"");
    CHECK(st.info("a").shape == std::vector<int64_t>{2, 3});
    auto ra = st.to_f32("a", {2, 3});
    auto rb = st.to_f32("b");
    auto rc = st.to_f32("c");
    for (int i = 0; i < 6; i++) {
        CHECK(ra[i] == a[i]);
        CHECK(rb[i] == half_to_float(float_to_half(a[i])));
        CHECK(rc[i] == bf16_to_float(float_to_bf16(a[i])));
    }
    CHECK(rb[3] == doctest::Approx(0.0999755859375).epsilon(1e-12));
    std::string err;
    try { st.to_f32("a", {3, 2}); } catch (const Error& e) { err = e.what(); }
    CHECK(err.find("has shape [2, 3], expected [3, 2]") != std::string::npos);
    err.clear();
    try { st.info("nope"); } catch (const Error& e) { err = e.what(); }
    CHECK(err.find("missing tensor 'nope'") != std::string::npos);
    CHECK(err.find(path) != std::string::npos);
}

TEST_CASE("corrupt safetensors files give clear errors naming the file") {
    std::string d8(8, '\0');
    struct Case { const char* file; std::string header; std::string data; long long hl; const char* expect; };
    std::vector<Case> cases = {
        {"hlen.st", "{}", "", 1000, "beyond the end of the file"},
        {"json.st", "{\"a\":", "", -1, "invalid JSON"},
        {"dtype.st", R"({"a":{"dtype":"F17","shape":[2],"data_offsets":[0,8]}})", d8, -1, "unknown dtype 'F17'"},
        {"range.st", R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", d8, -1, "beyond the end of the file"},
        {"mismatch.st", R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", d8, -1, "needs 12 bytes"},
        {"overlap.st", R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", d8, -1, "overlap"},
        {"neg.st", R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", d8, -1, "bad shape"},
        {"offsets.st", R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", d8, -1, "end before begin"},
    };
    for (auto& c : cases) {
        std::string p = write_raw(c.file, c.header, c.data, c.hl);
        std::string e = open_error(p);
        INFO(c.file << ": " << e);
        CHECK(e.find(c.expect) != std::string::npos);
        CHECK(e.find(p) != std::string::npos);
    }
    std::string tiny = tmpdir() + "/tiny.st";
    write_file_atomic(tiny, "abc", 3);
    CHECK(open_error(tiny).find("not a safetensors file") != std::string::npos);
    CHECK(open_error(tmpdir() + "/missing.st").find("cannot open") != std::string::npos);
}

// test_image.cpp — image decoding, Pillow bicubic resize, HF center crop and the CLIPImageProcessor
// pipeline against references dumped from Pillow / transformers by tools/make_image_fixtures.py
// (tests/fixtures/images/reference.safetensors), plus bad-input handling.
#include <atomic>
#include <chrono>
#include <cstring>
#include <stdlib.h>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include "common.h"
#include "image.h"
#include "image_memory.h"
#include "safetensors.h"
#include "test_util.h"

using namespace reco;

namespace {

const std::string kDir = "tests/fixtures/images/";

const SafeTensors& refs() {
    static SafeTensors st(kDir + "reference.safetensors");
    return st;
}
const SafeTensors& refs_shared() {  // crops of ../shared/data photos
    static SafeTensors st(kDir + "reference_shared.safetensors");
    return st;
}

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }
bool ends_with(const std::string& s, const std::string& p) {
    return s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
}

// A uint8 [h, w, 3] reference tensor as an image.
ImageU8 ref_image(const std::string& name, const SafeTensors& st = refs()) {
    const TensorInfo& ti = st.info(name);
    REQUIRE(ti.dtype == DType::U8);
    REQUIRE(ti.shape.size() == 3);
    REQUIRE(ti.shape[2] == 3);
    ImageU8 im;
    im.h = (int)ti.shape[0];
    im.w = (int)ti.shape[1];
    const uint8_t* p = st.raw(name);
    im.rgb.assign(p, p + ti.numel());
    return im;
}

struct Diff {
    int max = 0;
    double mean = 0, frac = 0;  // mean |a-b| over all samples, fraction of samples that differ
};
Diff diff(const ImageU8& a, const ImageU8& b) {
    Diff d;
    REQUIRE(a.w == b.w);
    REQUIRE(a.h == b.h);
    REQUIRE(a.rgb.size() == b.rgb.size());
    size_t ndiff = 0;
    double sum = 0;
    for (size_t i = 0; i < a.rgb.size(); i++) {
        int e = std::abs((int)a.rgb[i] - (int)b.rgb[i]);
        d.max = std::max(d.max, e);
        sum += e;
        ndiff += e != 0;
    }
    d.mean = sum / a.rgb.size();
    d.frac = (double)ndiff / a.rgb.size();
    return d;
}

// The float CHW output expected from a uint8 crop: HF's rescale+normalize per value, as dumped (norm_lut).
std::vector<float> expected_pixel_values(const ImageU8& crop) {
    std::vector<float> lut = refs().to_f32("norm_lut", {3, 256});
    const size_t plane = (size_t)crop.w * crop.h;
    std::vector<float> out(3 * plane);
    for (size_t i = 0; i < plane; i++)
        for (int c = 0; c < 3; c++) out[c * plane + i] = lut[c * 256 + crop.rgb[3 * i + c]];
    return out;
}
double max_abs(const std::vector<float>& a, const std::vector<float>& b) {
    REQUIRE(a.size() == b.size());
    double m = 0;
    for (size_t i = 0; i < a.size(); i++) m = std::max(m, (double)std::fabs(a[i] - b[i]));
    return m;
}

std::string temp_dir() {
    static std::string dir;
    if (dir.empty()) {
        char tmpl[] = "/tmp/reco_test_image_XXXXXX";
        REQUIRE(mkdtemp(tmpl) != nullptr);
        dir = tmpl;
    }
    return dir;
}
std::string write_temp(const std::string& name, const std::string& bytes) {
    std::string p = temp_dir() + "/" + name;
    write_file_atomic(p, bytes.data(), bytes.size());
    return p;
}

// Calls f, expects a reco::Error whose message contains every needle; returns the seconds it took.
#define EXPECT_ERROR(F, ...) expect_error(__LINE__, F, __VA_ARGS__)
template <class F>
double expect_error(int line, F f, std::vector<std::string> needles) {
    auto t0 = std::chrono::steady_clock::now();
    std::string msg;
    try {
        f();
    } catch (const Error& e) {
        msg = e.what();
    }
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    INFO("case at line " << line << ", message: " << msg);
    CHECK(!msg.empty());
    for (auto& n : needles) CHECK(msg.find(n) != std::string::npos);
    return s;
}

uint32_t crc32(const std::string& s) {
    uint32_t c = 0xFFFFFFFFu;
    for (unsigned char b : s) {
        c ^= b;
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1)));
    }
    return ~c;
}
std::string be32(uint32_t v) {
    std::string s(4, '\0');
    for (int i = 0; i < 4; i++) s[i] = (char)(v >> (24 - 8 * i));
    return s;
}
std::string le32(uint32_t v) {
    std::string s(4, '\0');
    for (int i = 0; i < 4; i++) s[i] = (char)(v >> (8 * i));
    return s;
}
// A PNG signature + IHDR chunk (valid CRC) claiming w×h RGB, and nothing else.
std::string png_header(uint32_t w, uint32_t h) {
    std::string body = "IHDR" + be32(w) + be32(h) + std::string("\x08\x02\x00\x00\x00", 5);
    return std::string("\x89PNG\r\n\x1a\n", 8) + be32(13) + body + be32(crc32(body));
}
// A 24-bit BMP file + info header claiming w×h, no pixel data.
std::string bmp_header(uint32_t w, uint32_t h) {
    std::string s = "BM" + le32(54 + 3 * w * h) + le32(0) + le32(54);
    s += le32(40) + le32(w) + le32(h) + std::string("\x01\x00\x18\x00", 4) + le32(0) + le32(0);
    s += le32(2835) + le32(2835) + le32(0) + le32(0);
    return s;
}

}  // namespace

TEST_CASE("image: decode equals PIL convert('RGB') for PNG, BMP, GIF, TGA") {
    int exact = 0;
    for (const TensorInfo& ti : refs().tensors()) {
        if (!starts_with(ti.name, "decode/")) continue;
        std::string file = ti.name.substr(7);
        if (ends_with(file, ".jpg")) continue;  // other decoder: see the JPEG test
        ImageU8 ours = load_image_rgb(kDir + file);
        Diff d = diff(ours, ref_image(ti.name));
        INFO(file << ": max abs diff " << d.max);
        CHECK(d.max == 0);
        exact++;
    }
    MESSAGE(exact << " PNG/BMP/GIF/TGA files decode bit-identically to PIL");
    CHECK(exact >= 16);
}

TEST_CASE("image: JPEG decoding difference from PIL (libjpeg-turbo), measured") {
    int n = 0;
    for (const TensorInfo& ti : refs().tensors()) {
        if (!starts_with(ti.name, "decode/") || !ends_with(ti.name, ".jpg")) continue;
        std::string file = ti.name.substr(7);
        Diff d = diff(load_image_rgb(kDir + file), ref_image(ti.name));
        MESSAGE(file << " stb vs PIL: max abs diff " << d.max << ", mean " << d.mean << ", " << 100 * d.frac
                     << "% of samples differ");
        // A different IDCT/upsampler/colour converter, not a different picture (measured: max 2, mean < 0.07).
        CHECK(d.max <= 8);
        CHECK(d.mean < 0.5);
        n++;
    }
    CHECK(n >= 5);
}

TEST_CASE("image: bicubic resize equals PIL Image.resize(BICUBIC) exactly") {
    int n = 0;
    for (const TensorInfo& ti : refs().tensors()) {
        if (!starts_with(ti.name, "resize/")) continue;
        // resize/<source>/<W>x<H>
        size_t slash = ti.name.rfind('/');
        std::string src_name = ti.name.substr(7, slash - 7);
        int W = 0, H = 0;
        REQUIRE(sscanf(ti.name.c_str() + slash + 1, "%dx%d", &W, &H) == 2);
        const bool is_file = refs().has("decode/" + src_name);
        ImageU8 src = ref_image((is_file ? "decode/" : "src/") + src_name);
        ImageU8 want = ref_image(ti.name);
        ImageU8 got = resize_bicubic_pil(src, W, H);
        Diff d = diff(got, want);
        INFO(src_name << " " << src.w << "x" << src.h << " -> " << W << "x" << H << ": max abs diff " << d.max);
        CHECK(d.max == 0);
        // The windowed resize must equal the same window of the full one.
        if (W >= 3 && H >= 3) {
            int x0 = W / 3, y0 = H / 4, cw = W / 2, ch = H / 2;
            ImageU8 win = resize_bicubic_pil_window(src, W, H, x0, y0, cw, ch);
            ImageU8 sub;
            sub.w = cw;
            sub.h = ch;
            for (int y = 0; y < ch; y++)
                sub.rgb.insert(sub.rgb.end(), want.rgb.begin() + ((size_t)(y0 + y) * W + x0) * 3,
                               want.rgb.begin() + ((size_t)(y0 + y) * W + x0 + cw) * 3);
            CHECK(diff(win, sub).max == 0);
        }
        n++;
    }
    MESSAGE(n << " resize cases bit-identical to Pillow");
    CHECK(n >= 50);
}

TEST_CASE("image: center_crop equals transformers center_crop, padding included") {
    int n = 0;
    for (const TensorInfo& ti : refs().tensors()) {
        if (!starts_with(ti.name, "crop/")) continue;
        size_t slash = ti.name.rfind('/');
        std::string src_name = ti.name.substr(5, slash - 5);
        int S = atoi(ti.name.c_str() + slash + 1);
        ImageU8 got = center_crop(ref_image("decode/" + src_name), S);
        INFO(ti.name);
        CHECK(diff(got, ref_image(ti.name)).max == 0);
        n++;
    }
    CHECK(n >= 8);
}

TEST_CASE("image: CLIP pipeline on fixture files equals CLIPImageProcessor") {
    int n = 0;
    for (const TensorInfo& ti : refs().tensors()) {
        if (!starts_with(ti.name, "pipeline/")) continue;
        size_t slash = ti.name.rfind('/');
        std::string file = ti.name.substr(9, slash - 9);
        int S = atoi(ti.name.c_str() + slash + 1);
        INFO(ti.name);
        ImageU8 want = ref_image(ti.name);
        std::vector<float> want_pv = expected_pixel_values(want);
        // From PIL's decoded pixels: exact, u8 crop and float output.
        ImageU8 pil = ref_image("decode/" + file);
        CHECK(diff(clip_crop_u8(pil, S), want).max == 0);
        std::vector<float> pv = clip_preprocess(pil, S);
        REQUIRE(pv.size() == want_pv.size());
        CHECK(memcmp(pv.data(), want_pv.data(), pv.size() * sizeof(float)) == 0);
        // From the file through our decoder: exact unless JPEG.
        std::vector<float> pv_file = load_and_preprocess(kDir + file, S);
        double m = max_abs(pv_file, want_pv);
        if (ends_with(file, ".jpg"))
            MESSAGE(file << " pipeline through stb's JPEG decoder: max abs diff " << m << " (normalised units), "
                         << diff(clip_crop_u8(load_image_rgb(kDir + file), S), want).max << " (uint8)");
        else
            CHECK(m == 0.0);
        n++;
    }
    CHECK(n >= 4);
}

TEST_CASE("image: CLIP pipeline on shared photos equals CLIPImageProcessor (224)") {
    REQUIRE_SHARED_DATA();
    const std::string img_dir = testutil::shared_data() + "/images/";
    int n = 0;
    for (const TensorInfo& ti : refs_shared().tensors()) {
        if (!starts_with(ti.name, "pipeline_shared/")) continue;
        std::string rel = ti.name.substr(16);
        INFO(rel);
        ImageU8 want = ref_image(ti.name, refs_shared());
        std::vector<float> want_pv = expected_pixel_values(want);
        auto t0 = std::chrono::steady_clock::now();
        std::vector<float> pv = load_and_preprocess(img_dir + rel);
        double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        REQUIRE(pv.size() == (size_t)3 * 224 * 224);
        double m = max_abs(pv, want_pv);
        if (ends_with(rel, ".jpg")) {
            Diff d = diff(clip_crop_u8(load_image_rgb(img_dir + rel)), want);
            MESSAGE(rel << " (JPEG via stb) vs HF: crop max abs diff " << d.max << " (uint8), mean " << d.mean
                        << ", pixel_values max abs diff " << m << "; " << ms << " ms");
            CHECK(d.max <= 8);
        } else {
            MESSAGE(rel << ": pixel_values max abs diff " << m << "; " << ms << " ms");
            CHECK(m == 0.0);
        }
        n++;
    }
    CHECK(n >= 3);
}

TEST_CASE("image: load_and_preprocess timing on a ~1000x870 JPEG") {
    REQUIRE_SHARED_DATA();
    const std::string path = testutil::shared_data() + "/images/skimage/hubble_deep_field.jpg";
    load_and_preprocess(path);  // warm the file cache
    const int reps = 5;
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < reps; i++) load_and_preprocess(path);
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / reps;
    auto t1 = std::chrono::steady_clock::now();
    ImageU8 im = load_image_rgb(path);
    double dec = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t1).count();
    MESSAGE("load_and_preprocess(" << im.w << "x" << im.h << " JPEG): " << ms << " ms (decode alone " << dec
                                   << " ms)");
    CHECK(ms < 2000);
}

TEST_CASE("image: bad input is refused with the file named") {
    // Missing, directory, empty, garbage.
    EXPECT_ERROR([] { load_image_rgb("/nonexistent/x.png"); }, {"/nonexistent/x.png", "cannot open"});
    EXPECT_ERROR([] { load_image_rgb(temp_dir()); }, {temp_dir(), "directory"});
    std::string empty = write_temp("empty.png", "");
    EXPECT_ERROR([&] { load_image_rgb(empty); }, {empty, "empty"});
    std::string junk = write_temp("junk.jpg", std::string(300, 'x'));
    EXPECT_ERROR([&] { load_image_rgb(junk); }, {junk, "not a readable"});

    // Truncated files (header intact, data cut): stb's reason is passed on.
    std::string png = read_file(kDir + "rgb_61x90.png");
    std::string tpng = write_temp("trunc.png", png.substr(0, png.size() / 2));
    EXPECT_ERROR([&] { load_image_rgb(tpng); }, {tpng, "cannot decode"});
    std::string bmp = read_file(kDir + "rgb_37x23.bmp");
    std::string tbmp = write_temp("trunc.bmp", bmp.substr(0, bmp.size() / 2));
    EXPECT_ERROR([&] { load_image_rgb(tbmp); }, {tbmp});
    std::string jpg = read_file(kDir + "photo_61x90.jpg");
    std::string tjpg = write_temp("trunc.jpg", jpg.substr(0, jpg.size() / 2));
    EXPECT_ERROR([&] { load_image_rgb(tjpg); }, {tjpg, "cannot decode"});
    // stb_image alone would return these three padded with black; the structure check refuses them.
    EXPECT_ERROR([&] { load_image_rgb(tbmp); }, {tbmp, "truncated"});
    for (const char* f : {"pal_61x90.gif", "rgb_61x90.tga", "rgba_rle_37x23.tga"}) {
        std::string b = read_file(kDir + f);
        std::string t = write_temp(std::string("trunc_") + f, b.substr(0, b.size() * 9 / 10));
        EXPECT_ERROR([&] { load_image_rgb(t); }, {t, "truncated"});
    }

    // JPEG Huffman tables that stb_image 2.27 would overrun its arrays with / read uninitialised.
    {
        size_t dht = jpg.find("\xFF\xC4");
        REQUIRE(dht != std::string::npos);
        std::string bad = jpg;
        for (int i = 0; i < 16; i++) bad[dht + 5 + i] = (char)40;  // 640 symbols in the first table
        std::string p1 = write_temp("dht.jpg", bad);
        EXPECT_ERROR([&] { load_image_rgb(p1); }, {p1, "Huffman table with 640 symbols"});
        size_t sos = jpg.find("\xFF\xDA");
        REQUIRE(sos != std::string::npos);
        bad = jpg;
        bad[sos + 6] = (char)0x33;  // first component: DC table 3, AC table 3 (never defined)
        std::string p2 = write_temp("sos.jpg", bad);
        EXPECT_ERROR([&] { load_image_rgb(p2); }, {p2, "never defined"});
    }

    // Zero-sized header.
    std::string zero = write_temp("zero.png", png_header(0, 5));
    EXPECT_ERROR([&] { load_image_rgb(zero); }, {zero});

    // Decompression bombs: tiny files claiming huge sizes are refused from the header, at once.
    std::string bomb = write_temp("bomb.png", png_header(100000, 100000));
    double s1 = EXPECT_ERROR([&] { load_image_rgb(bomb); }, {bomb, "100000x100000", "over the limit"});
    std::string bomb2 = write_temp("bomb.bmp", bmp_header(16000, 10000));  // sides OK, 160 Mpixel
    double s2 = EXPECT_ERROR([&] { load_image_rgb(bomb2); }, {bomb2, "16000x10000", "over the limit"});
    std::string bomb3 = write_temp("wide.png", png_header(20000, 8));
    double s3 = EXPECT_ERROR([&] { load_image_rgb(bomb3); }, {bomb3, "over the limit"});
    CHECK(s1 < 0.5);
    CHECK(s2 < 0.5);
    CHECK(s3 < 0.5);

    // Bad arguments to the transforms.
    ImageU8 ok = load_image_rgb(kDir + "rgb_37x23.bmp");
    EXPECT_ERROR([&] { resize_bicubic_pil(ok, 0, 5); }, {"bad output size"});
    EXPECT_ERROR([&] { resize_bicubic_pil_window(ok, 10, 10, 5, 5, 6, 2); }, {"outside"});
    EXPECT_ERROR([&] { center_crop(ok, 0); }, {"bad crop size"});
    EXPECT_ERROR([&] { clip_preprocess(ok, -1); }, {"bad sizes"});
    ImageU8 broken = ok;
    broken.rgb.pop_back();
    EXPECT_ERROR([&] { clip_preprocess(broken); }, {"expected 37x23x3"});
    EXPECT_ERROR([] { clip_preprocess(ImageU8{}); }, {"empty image"});
}

TEST_CASE("image: extreme aspect ratios stay small (only the crop window is resampled)") {
    // 1×3000 → resized to 224×672000 by HF; we compute only the central 224×224 window.
    ImageU8 thin;
    thin.w = 1;
    thin.h = 3000;
    thin.rgb.resize(3 * 3000);
    for (int y = 0; y < 3000; y++)
        for (int c = 0; c < 3; c++) thin.rgb[3 * y + c] = (uint8_t)((y * (c + 1)) & 255);
    int rw = 0, rh = 0;
    clip_resize_dims(thin.w, thin.h, 224, &rw, &rh);
    CHECK(rw == 224);
    CHECK(rh == 672000);
    ImageU8 crop = clip_crop_u8(thin, 224);
    CHECK(crop.w == 224);
    CHECK(crop.h == 224);
    // Closed form: a 1-pixel-wide source upscaled horizontally is constant along each row.
    for (int y = 0; y < 224; y++)
        for (int x = 1; x < 224; x++)
            for (int c = 0; c < 3; c++) REQUIRE(crop.rgb[(y * 224 + x) * 3 + c] == crop.rgb[(y * 224) * 3 + c]);
}

TEST_CASE("image: the JPEG checks run on what stb_image parses as JPEG (0xFF fill bytes before FF D8)") {
    // stb's JPEG reader skips any number of 0xFF fill bytes before its SOI; a sniffer that wanted FF D8 first
    // called this TGA and skipped the Huffman-table guard, and stb wrote past its 257-entry table (UBSan).
    const std::string bad = "tests/fixtures/bad_images/fill_byte_dht_640.jpg";
    EXPECT_ERROR([&] { load_image_rgb(bad); }, {bad, "Huffman table with 640 symbols"});
    // A valid JPEG behind fill bytes is still a JPEG, decoded as without them.
    const std::string jpg = read_file(kDir + "photo_61x90.jpg");
    std::string filled = write_temp("filled.jpg", "\xFF\xFF" + jpg);
    CHECK(diff(load_image_rgb(filled), load_image_rgb(kDir + "photo_61x90.jpg")).max == 0);
}

TEST_CASE("image: top-down BMP (negative height) decodes; absurd BMP heights name the real size") {
    // rgb_topdown_37x23.bmp: rgb_37x23.bmp with its height negated and its rows stored in the other order.
    ImageU8 td = load_image_rgb(kDir + "rgb_topdown_37x23.bmp");
    CHECK(td.w == 37);
    CHECK(td.h == 23);
    CHECK(diff(td, ref_image("decode/rgb_37x23.bmp")).max == 0);  // PIL's pixels of the bottom-up file
    std::string big = bmp_header(30000, 0);
    big.replace(22, 4, le32((uint32_t)-30000));
    std::string p = write_temp("topdown_big.bmp", big);
    EXPECT_ERROR([&] { load_image_rgb(p); }, {p, "30000x30000", "over the limit"});
    big.replace(22, 4, le32(0x80000000u));  // INT_MIN: |height| does not fit an int
    p = write_temp("topdown_min.bmp", big);
    EXPECT_ERROR([&] { load_image_rgb(p); }, {p, "30000x2147483648", "over the limit"});
    big = bmp_header(0, 5);
    big.replace(18, 4, le32((uint32_t)-7));
    p = write_temp("negwidth.bmp", big);
    EXPECT_ERROR([&] { load_image_rgb(p); }, {p, "negative width"});
}

TEST_CASE("image: a truncated or corrupt file is reported for its own format") {
    // stb_image's last failure reason could come from another format's signature test ("bad png sig" for a
    // truncated progressive JPEG); each format's loader is now called directly.
    struct Case {
        const char* file;
        double keep;  // fraction of the file kept
        const char* fmt;
    };
    for (Case c : {Case{"photo_prog_61x90.jpg", 0.5, "JPEG"}, Case{"photo_prog_61x90.jpg", 0.1, "JPEG"},
                   Case{"photo_61x90.jpg", 0.5, "JPEG"}, Case{"grey_61x90.jpg", 0.3, "JPEG"},
                   Case{"rgb_61x90.png", 0.5, "PNG"}, Case{"pal_trns_61x90.png", 0.2, "PNG"},
                   Case{"rgb16_37x23.png", 0.6, "PNG"}}) {
        std::string b = read_file(kDir + c.file);
        std::string t = write_temp(std::string("cut_") + c.file, b.substr(0, (size_t)(b.size() * c.keep)));
        std::string msg = testutil::error_of([&] { load_image_rgb(t); });
        INFO(std::string(c.file) << " cut to " << c.keep << ": " << msg);
        CHECK(testutil::contains(msg, t));
        CHECK(testutil::contains(msg, std::string("corrupt ") + c.fmt));
        CHECK(!testutil::contains(msg, "png sig"));
    }
}

TEST_CASE("image: decode memory is bounded from the header, per image and in flight") {
    // The bound holds stb's real peak for every fixture and shared photo (how tight: printed).
    std::vector<std::string> files;
    for (const TensorInfo& ti : refs().tensors())
        if (starts_with(ti.name, "decode/")) files.push_back(kDir + ti.name.substr(7));
    for (const TensorInfo& ti : refs_shared().tensors())
        if (starts_with(ti.name, "pipeline_shared/") && !testutil::shared_data().empty())
            files.push_back(testutil::shared_data() + "/images/" + ti.name.substr(16));
    double worst = 0;
    for (const std::string& f : files) {
        if (access(f.c_str(), R_OK) != 0) continue;
        ImageU8 im = load_image_rgb(f);
        DecodeMemory m = last_decode_memory();
        INFO(f << ": stb peak " << m.stb_peak << " bytes, bound " << m.stb_bound);
        CHECK(m.stb_peak > 0);
        CHECK(m.stb_peak <= m.stb_bound);
        worst = std::max(worst, (double)m.stb_peak / m.stb_bound);
    }
    MESSAGE(files.size() << " images: stb's peak is at most " << 100 * worst << "% of its header bound");

    // A 64×64 PNG whose IDAT inflates to 16 MiB (a zlib bomb, 16 KB on disk) is refused at the bound (~1 MiB),
    // not decoded through a 16 MiB buffer.
    const std::string bomb = "tests/fixtures/bad_images/zlib_bomb_64x64.png";
    EXPECT_ERROR([&] { load_image_rgb(bomb); }, {bomb, "more memory than its 64x64 header implies"});
    CHECK(last_decode_memory().stb_peak <= last_decode_memory().stb_bound);

    // The biggest images are refused from the header when decoding them could need more than kMaxDecodeBytes:
    // an interlaced 16-bit RGBA PNG of 8192×8192 (stb: inflate buffer doubled + image + pass image).
    std::string ihdr = png_header(8192, 8192);
    ihdr[24] = 16, ihdr[25] = 6, ihdr[28] = 1;
    std::string body = ihdr.substr(12, 17);
    ihdr.replace(29, 4, be32(crc32(body)));
    std::string p = write_temp("interlaced16.png", ihdr);
    EXPECT_ERROR([&] { load_image_rgb(p); }, {p, "8192x8192 PNG needs up to", "MB limit"});
}

TEST_CASE("image: decodes in flight wait for the process-wide budget") {
    // Reservations only (no memory behind them): while one thread holds most of kDecodeBytesInFlight, a
    // second that does not fit waits for its release; one that fits does not wait.
    using namespace std::chrono;
    std::atomic<bool> released{false};
    int64_t big = kDecodeBytesInFlight * 3 / 4;
    auto* first = new image_memory::DecodeReservation(big);
    std::thread releaser([&] {
        std::this_thread::sleep_for(milliseconds(300));
        released = true;
        delete first;
    });
    {
        image_memory::DecodeReservation small(kDecodeBytesInFlight / 8);  // fits beside it: no wait
        CHECK(!released);
    }
    {
        image_memory::DecodeReservation second(big);  // does not fit: waits
        CHECK(released);
        CHECK(image_memory::in_flight_bytes() == big);
    }
    releaser.join();
    CHECK(image_memory::in_flight_bytes() == 0);
    CHECK(image_memory::in_flight_peak() <= kDecodeBytesInFlight);
}

// image_decode.cpp — image files to RGB pixels: stb_image, made to give the pixels of PIL's
// Image.open(path).convert("RGB") (what HF's CLIPImageProcessor starts from; research anchors A.4), and
// hardened: sizes are checked from the header before anything is decoded, truncated files are refused, and
// two JPEG holes of stb_image 2.27 are closed before stb sees the data. See image.h for the known
// differences from PIL's decoders.
#include "image.h"

#include "common.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <sys/stat.h>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
// stb_image's internal consistency asserts fire on some corrupt files; throw instead of aborting (the
// decoder's buffers leak in that case, a bounded cost on input that is already broken).
namespace {
struct StbAssertFailed {
    const char* expr;
};
[[noreturn]] void stb_assert_failed(const char* expr) { throw StbAssertFailed{expr}; }
}  // namespace
#define STBI_ASSERT(x) ((x) ? (void)0 : stb_assert_failed(#x))
#define STB_IMAGE_IMPLEMENTATION
#define STBI_NO_STDIO
#define STBI_ONLY_JPEG
#define STBI_ONLY_PNG
#define STBI_ONLY_BMP
#define STBI_ONLY_GIF
#define STBI_ONLY_TGA

#include <stb/stb_image.h>
#pragma GCC diagnostic pop

namespace reco {

enum class Format { PNG, JPEG, BMP, GIF, TGA };

// The loaders stb_image tries, in its order; TGA has no signature and is whatever else stb accepts.
static Format sniff(const std::string& b) {
    if (b.size() >= 8 && memcmp(b.data(), "\x89PNG\r\n\x1a\n", 8) == 0) return Format::PNG;
    if (b.size() >= 2 && b[0] == 'B' && b[1] == 'M') return Format::BMP;
    if (b.size() >= 4 && memcmp(b.data(), "GIF8", 4) == 0) return Format::GIF;
    if (b.size() >= 2 && (uint8_t)b[0] == 0xFF && (uint8_t)b[1] == 0xD8) return Format::JPEG;
    return Format::TGA;
}

static uint32_t rd16le(const std::string& b, size_t i) { return (uint8_t)b[i] | (uint32_t)(uint8_t)b[i + 1] << 8; }
static uint32_t rd32le(const std::string& b, size_t i) { return rd16le(b, i) | rd16le(b, i + 2) << 16; }

// What the GIF's first image says about transparency (filled in by check_complete).
struct GifFirstFrame {
    bool has_transparency = false;
    uint8_t transparent_rgb[3] = {0, 0, 0};  // palette colour of the transparent index
};

// stb_image reads past the end of BMP, TGA and GIF data as zeros and returns a partly black image, where
// PIL raises "image file is truncated". So check from the headers that the pixel data is all there.
// (PNG and JPEG truncation is caught by stb itself.) Called after the header's size passed the limits.
static void check_complete(const std::string& b, Format fmt, const char* w, GifFirstFrame* gif) {
    const int64_t n = (int64_t)b.size();
    auto truncated = [&]() {
        fail("%s: truncated image file (%lld bytes): pixel data is missing", w, (long long)n);
    };
    if (fmt == Format::BMP) {
        if (n < 26) truncated();
        int64_t off = rd32le(b, 10), width, height, bpp, compression = 0;
        if (rd32le(b, 14) == 12) {  // OS/2 BITMAPCOREHEADER
            width = rd16le(b, 18), height = rd16le(b, 20), bpp = rd16le(b, 24);
        } else {
            if (n < 34) truncated();
            width = (int32_t)rd32le(b, 18), height = (int32_t)rd32le(b, 22), bpp = rd16le(b, 28);
            compression = rd32le(b, 30);
        }
        const bool rows = compression == 0 || compression == 3 || compression == 6;  // RGB, BITFIELDS
        const int64_t stride = ((std::llabs(width) * bpp + 31) / 32) * 4;
        if (rows && off + stride * std::llabs(height) > n) truncated();
    } else if (fmt == Format::TGA) {
        if (n < 18) truncated();
        const int type = (uint8_t)b[2];
        const int64_t width = rd16le(b, 12), height = rd16le(b, 14), px = ((uint8_t)b[16] + 7) / 8;
        int64_t pos = 18 + (uint8_t)b[0] + ((uint8_t)b[1] ? rd16le(b, 5) * (((uint8_t)b[7] + 7) / 8) : 0);
        if (type >= 1 && type <= 3) {
            if (pos + width * height * px > n) truncated();
        } else if (type >= 9 && type <= 11) {  // RLE packets: header byte, then 1 pixel (run) or count pixels
            for (int64_t left = width * height; left > 0;) {
                if (pos >= n) truncated();
                const int hdr = (uint8_t)b[pos++];
                const int64_t count = (hdr & 0x7f) + 1;
                pos += (hdr & 0x80) ? px : count * px;
                if (pos > n) truncated();
                left -= count;
            }
        }
    } else if (fmt == Format::GIF) {
        // Header, logical screen, global palette, then blocks up to the end of the first image's data.
        if (n < 13) truncated();
        int64_t pos = 13, palette = -1, trans_index = -1;
        if ((uint8_t)b[10] & 0x80) {
            palette = 13;
            pos += 3LL << (((uint8_t)b[10] & 7) + 1);
        }
        auto skip_sub_blocks = [&]() {
            for (;;) {
                if (pos >= n) truncated();
                const int len = (uint8_t)b[pos++];
                if (len == 0) return;
                pos += len;
            }
        };
        for (;;) {
            if (pos >= n) truncated();
            const int tag = (uint8_t)b[pos++];
            if (tag == 0x21) {  // extension; 0xF9 = graphic control (transparency of the next image)
                if (pos + 1 >= n) truncated();
                if ((uint8_t)b[pos] == 0xF9 && (uint8_t)b[pos + 1] == 4 && pos + 6 <= n)
                    trans_index = ((uint8_t)b[pos + 2] & 1) ? (uint8_t)b[pos + 5] : -1;
                pos++;
                skip_sub_blocks();
            } else if (tag == 0x2C) {  // image descriptor, optional local palette, LZW size, data
                if (pos + 9 > n) truncated();
                const int flags = (uint8_t)b[pos + 8];
                pos += 9;
                if (flags & 0x80) {
                    palette = pos;
                    pos += 3LL << ((flags & 7) + 1);
                }
                pos++;
                skip_sub_blocks();
                break;
            } else {
                return;  // trailer or garbage: stb_image reports it
            }
        }
        if (trans_index >= 0 && palette >= 0 && palette + 3 * trans_index + 3 <= n) {
            gif->has_transparency = true;
            for (int c = 0; c < 3; c++) gif->transparent_rgb[c] = (uint8_t)b[palette + 3 * trans_index + c];
        }
    }
}

// Two holes in stb_image 2.27's JPEG decoder, found by fuzzing under UBSan: it builds a Huffman table from
// a DHT segment without checking that the 16 code counts add up to at most 256 symbols (and writes past
// its arrays), and it decodes a scan with a table that was never defined (uninitialised memory, then an
// out-of-bounds index). Walk the marker segments as stb does — lengths for segments, byte scanning through
// entropy-coded data (where 0xFF is always followed by 0x00 or RSTn) — and refuse both.
static void check_jpeg_huffman_tables(const std::string& b, const char* w) {
    const size_t n = b.size();
    bool defined[2][4] = {};  // [DC=0 / AC=1][table id]
    bool progressive = false;
    size_t pos = 2;
    while (pos + 1 < n) {
        if ((uint8_t)b[pos] != 0xFF) {  // entropy-coded data
            pos++;
            continue;
        }
        const int m = (uint8_t)b[pos + 1];
        if (m == 0xFF) {  // fill byte
            pos++;
            continue;
        }
        if (m == 0x00 || m == 0x01 || (m >= 0xD0 && m <= 0xD7)) {  // stuffed 0xFF, TEM, restart markers
            pos += 2;
            continue;
        }
        if (m == 0xD9 || pos + 4 > n) return;  // EOI, or truncated: stb reports it
        const size_t end = pos + 2 + ((size_t)(uint8_t)b[pos + 2] << 8 | (uint8_t)b[pos + 3]);
        if (m == 0xC4) {  // DHT: tables of (class/id byte, 16 counts, symbols)
            for (size_t t = pos + 4; t < end && t < n;) {
                if (t + 17 > n || t + 17 > end) fail("%s: corrupt JPEG (bad Huffman table)", w);
                int symbols = 0;
                for (int i = 1; i <= 16; i++) symbols += (uint8_t)b[t + i];
                if (symbols > 256) fail("%s: corrupt JPEG (Huffman table with %d symbols)", w, symbols);
                const int tc = (uint8_t)b[t] >> 4, th = (uint8_t)b[t] & 15;
                if (tc <= 1 && th <= 3) defined[tc][th] = true;
                t += 17 + symbols;
            }
        } else if (m == 0xC0 || m == 0xC1 || m == 0xC2) {  // SOF: baseline, extended, progressive
            progressive = m == 0xC2;
        } else if (m == 0xDA && pos + 5 <= n) {  // SOS: Ns, Ns × (component, DC/AC table ids), Ss, Se, Ah/Al
            const size_t ns = (uint8_t)b[pos + 4];
            if (pos + 8 + 2 * ns > n) return;
            const int ss = (uint8_t)b[pos + 5 + 2 * ns], ah = (uint8_t)b[pos + 7 + 2 * ns] >> 4;
            // Which tables stb's decoder reads for this scan.
            const bool needs_dc = ss == 0 && (!progressive || ah == 0), needs_ac = !progressive || ss > 0;
            for (size_t i = 0; i < ns; i++) {
                const int hd = (uint8_t)b[pos + 6 + 2 * i] >> 4, ha = (uint8_t)b[pos + 6 + 2 * i] & 15;
                if ((needs_dc && hd <= 3 && !defined[0][hd]) || (needs_ac && ha <= 3 && !defined[1][ha]))
                    fail("%s: corrupt JPEG (a scan uses a Huffman table that was never defined)", w);
            }
        }
        pos = end;
    }
}

// The decode proper, once the header and structure checks passed.
static ImageU8 decode_checked(const std::string& bytes, Format fmt, int iw, int ih, const GifFirstFrame& gif,
                              const char* w) {
    const stbi_uc* data = reinterpret_cast<const stbi_uc*>(bytes.data());
    const int len = (int)bytes.size();
    ImageU8 img;
    int n = 0;
    const size_t npix = (size_t)iw * ih;
    if (fmt == Format::PNG && bytes.size() >= 26 && (uint8_t)bytes[24] == 16 && (uint8_t)bytes[25] == 0) {
        // 16-bit greyscale PNG (IHDR bit depth 16, colour type 0): PIL opens it as mode "I;16", whose
        // convert("RGB") saturates each sample at 255. Reproduce that (HF parity), not stb's high byte.
        stbi_us* p = stbi_load_16_from_memory(data, len, &img.w, &img.h, &n, 1);
        if (!p) fail("%s: cannot decode image (%s)", w, stbi_failure_reason());
        if ((size_t)img.w * img.h == npix) {
            img.rgb.resize(npix * 3);
            for (size_t i = 0; i < npix; i++) {
                const uint8_t v = p[i] > 255 ? 255 : (uint8_t)p[i];
                img.rgb[3 * i] = img.rgb[3 * i + 1] = img.rgb[3 * i + 2] = v;
            }
        }
        stbi_image_free(p);
    } else if (fmt == Format::GIF) {
        // stb_image leaves transparent pixels (0,0,0,0); PIL's "P" image keeps the transparent index, whose
        // palette colour convert("RGB") then shows. Put that colour back.
        stbi_uc* p = stbi_load_from_memory(data, len, &img.w, &img.h, &n, 4);
        if (!p) fail("%s: cannot decode image (%s)", w, stbi_failure_reason());
        if ((size_t)img.w * img.h == npix) {
            img.rgb.resize(npix * 3);
            for (size_t i = 0; i < npix; i++) {
                const uint8_t* s = (gif.has_transparency && p[4 * i + 3] == 0) ? gif.transparent_rgb : p + 4 * i;
                memcpy(&img.rgb[3 * i], s, 3);
            }
        }
        stbi_image_free(p);
    } else {
        // req_comp = 3: grey is replicated, alpha is dropped (not composited), palettes are expanded —
        // the same pixels as PIL's convert("RGB") for L, LA, RGBA, P and 1-bit images.
        stbi_uc* p = stbi_load_from_memory(data, len, &img.w, &img.h, &n, 3);
        if (!p) fail("%s: cannot decode image (%s)", w, stbi_failure_reason());
        if ((size_t)img.w * img.h == npix) img.rgb.assign(p, p + npix * 3);
        stbi_image_free(p);
    }
    if (img.w != iw || img.h != ih)
        fail("%s: decoded size %dx%d differs from the header's %dx%d", w, img.w, img.h, iw, ih);
    return img;
}

// Header checks (size limits, completeness, JPEG tables), then the decode.
static ImageU8 decode_guarded(const std::string& bytes, const char* w) {
    const stbi_uc* data = reinterpret_cast<const stbi_uc*>(bytes.data());
    const int len = (int)bytes.size();
    const Format fmt = sniff(bytes);

    // Header only: refuse absurd sizes before anything is allocated. (stb's own PNG header check refuses
    // anything over 2^30 bytes as "unknown image type", so read a PNG's size from IHDR ourselves.)
    if (fmt == Format::PNG && bytes.size() >= 24 && memcmp(bytes.data() + 12, "IHDR", 4) == 0) {
        const uint8_t* q = data + 16;
        const int64_t pw = (int64_t)q[0] << 24 | q[1] << 16 | q[2] << 8 | q[3];
        const int64_t ph = (int64_t)q[4] << 24 | q[5] << 16 | q[6] << 8 | q[7];
        if (pw > kMaxImageSide || ph > kMaxImageSide || pw * ph > kMaxImagePixels)
            fail("%s: image is %lldx%lld pixels, over the limit (%d per side, %lld pixels); refusing to decode", w,
                 (long long)pw, (long long)ph, kMaxImageSide, (long long)kMaxImagePixels);
    }
    if (fmt == Format::JPEG) check_jpeg_huffman_tables(bytes, w);  // stbi_info already reads the tables
    int iw = 0, ih = 0, icomp = 0;
    if (!stbi_info_from_memory(data, len, &iw, &ih, &icomp))
        fail("%s: not a readable JPEG/PNG/BMP/GIF/TGA image (%s)", w, stbi_failure_reason());
    if (iw <= 0 || ih <= 0) fail("%s: image has zero size (%dx%d)", w, iw, ih);
    if (iw > kMaxImageSide || ih > kMaxImageSide || (int64_t)iw * ih > kMaxImagePixels)
        fail("%s: image is %dx%d pixels, over the limit (%d per side, %lld pixels); refusing to decode", w, iw,
             ih, kMaxImageSide, (long long)kMaxImagePixels);
    GifFirstFrame gif;
    check_complete(bytes, fmt, w, &gif);
    return decode_checked(bytes, fmt, iw, ih, gif, w);
}

ImageU8 decode_image_rgb(const std::string& bytes, const std::string& what) {
    const char* w = what.c_str();
    if (bytes.empty()) fail("%s: empty file, not an image", w);
    if ((int64_t)bytes.size() > kMaxImageFileBytes)
        fail("%s: %zu bytes, more than the %lld-byte limit for an image file", w, bytes.size(),
             (long long)kMaxImageFileBytes);
    try {
        return decode_guarded(bytes, w);
    } catch (const StbAssertFailed& e) {
        fail("%s: corrupt image (decoder check failed: %s)", w, e.expr);
    }
}

ImageU8 load_image_rgb(const std::string& path) {
    const char* p = path.c_str();
    struct stat st;
    if (stat(p, &st) != 0) fail("%s: cannot open image: %s", p, strerror(errno));
    if (S_ISDIR(st.st_mode)) fail("%s: is a directory, not an image file", p);
    if (st.st_size == 0) fail("%s: empty file, not an image", p);
    if ((int64_t)st.st_size > kMaxImageFileBytes)
        fail("%s: %lld bytes, more than the %lld-byte limit for an image file", p, (long long)st.st_size,
             (long long)kMaxImageFileBytes);
    return decode_image_rgb(read_file(path), path);
}

}  // namespace reco

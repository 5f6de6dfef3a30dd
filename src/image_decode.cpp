// image_decode.cpp — image files to RGB pixels: stb_image, made to give the pixels of PIL's
// Image.open(path).convert("RGB") (what HF's CLIPImageProcessor starts from; research anchors A.4), and
// hardened: the format is decided by stb_image's own signature tests (so our checks and stb's loader always
// agree on what the bytes are) and that format's loader is called directly (so its failure reason is its own,
// not a leftover from another format's test); sizes and the memory the decode may use are checked from the
// header before anything is decoded, every stb allocation is charged against that bound (image_memory.h),
// truncated files are refused, and two JPEG holes of stb_image 2.27 are closed before stb sees the data.
// See image.h for the limits and the known differences from PIL's decoders.
#include "image.h"

#include "common.h"
#include "image_memory.h"

#include <algorithm>
#include <cerrno>
#include <memory>
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
// Every allocation stb makes is charged to the decode's memory bound (a refusal is stb's "outofmem").
#define STBI_MALLOC(n) reco::image_memory::stb_malloc(n)
#define STBI_REALLOC(p, n) reco::image_memory::stb_realloc(p, n)
#define STBI_FREE(p) reco::image_memory::stb_free(p)
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

enum class Format { None, PNG, JPEG, BMP, GIF, TGA };
static const char* format_name(Format f) {
    static const char* names[] = {"image", "PNG", "JPEG", "BMP", "GIF", "TGA"};
    return names[(int)f];
}

// The loader stb_image's stbi_load would pick: its own signature tests, in its order (stbi__load_main). Our
// pre-decode checks run on this decision, never on a sniff of our own: stb's JPEG test, for one, skips any
// number of 0xFF fill bytes before FF D8, and a check that wanted FF D8 first was bypassed by one fill byte.
static Format stb_format(const std::string& b) {
    stbi__context s;
    stbi__start_mem(&s, reinterpret_cast<const stbi_uc*>(b.data()), (int)b.size());
    if (stbi__png_test(&s)) return Format::PNG;
    if (stbi__bmp_test(&s)) return Format::BMP;
    if (stbi__gif_test(&s)) return Format::GIF;
    if (stbi__jpeg_test(&s)) return Format::JPEG;
    if (stbi__tga_test(&s)) return Format::TGA;
    return Format::None;
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

// What the JPEG's frame header (its first SOF, the one stb decodes) says; for the memory bound.
struct JpegFrame {
    bool found = false, progressive = false;
    int ncomp = 0, h[4] = {}, v[4] = {};  // sampling factors per component
};

// Two holes in stb_image 2.27's JPEG decoder, found by fuzzing under UBSan: it builds a Huffman table from
// a DHT segment without checking that the 16 code counts add up to at most 256 symbols (and writes past
// its arrays), and it decodes a scan with a table that was never defined (uninitialised memory, then an
// out-of-bounds index). Walk the marker segments as stb does — from its SOI (after any 0xFF fill bytes, as
// stb skips them), lengths for segments, byte scanning through entropy-coded data (where 0xFF is always
// followed by 0x00 or RSTn) — and refuse both. Also reads the frame header into *frame.
static void check_jpeg_huffman_tables(const std::string& b, const char* w, JpegFrame* frame) {
    const size_t n = b.size();
    bool defined[2][4] = {};  // [DC=0 / AC=1][table id]
    bool progressive = false;
    size_t pos = 0;
    while (pos < n && (uint8_t)b[pos] == 0xFF) pos++;  // stb_format saw FF (FF...) D8: start after the D8
    pos++;
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
            // P, Y, X, Nf, then Nf × (id, H<<4 | V, Tq); stb validates it, we only size memory from it.
            if (!frame->found && pos + 10 <= n) {
                const int nc = (uint8_t)b[pos + 9];
                if (nc >= 1 && nc <= 4 && pos + 10 + 3 * (size_t)nc <= n) {
                    frame->found = true;
                    frame->progressive = progressive;
                    frame->ncomp = nc;
                    for (int c = 0; c < nc; c++) {
                        frame->h[c] = (uint8_t)b[pos + 11 + 3 * c] >> 4;
                        frame->v[c] = (uint8_t)b[pos + 11 + 3 * c] & 15;
                    }
                }
            }
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

// The most memory stb_image 2.27 allocates at once to decode this image (as we call it: 3 channels, 1 for
// 16-bit grey PNG, 4 for GIF), from its allocation pattern per format; every stb allocation is charged
// against it (image_memory.h), so a file that needs more (data inflating past its header) fails cleanly.
// `slack` covers per-row buffers, palettes and decoder structs.
static int64_t decode_memory_bound(const std::string& b, Format fmt, int64_t w, int64_t h, const JpegFrame& jf) {
    const int64_t px = w * h, f = (int64_t)b.size(), slack = (1 << 20) + 128 * (w + h);
    if (fmt == Format::PNG) {
        // IHDR: bit depth, colour type, interlace. Phases: (A) the concatenated IDAT data (grown by doubling)
        // and the inflated rows; (B) the rows and the image (plus one pass image if interlaced); (C) the
        // image and its palette expansion or channel conversion. stb sizes the inflate buffer exactly for a
        // non-interlaced image and too small (then doubles it) for an interlaced one.
        const int depth = (uint8_t)b[24], ct = (uint8_t)b[25], interlaced = (uint8_t)b[28] != 0;
        const int n = ct == 0 ? 1 : ct == 2 ? 3 : ct == 3 ? 1 : ct == 4 ? 2 : 4, bps = depth == 16 ? 2 : 1;
        const int64_t guess = (((w * depth + 7) / 8) * n + 1) * h;
        const int64_t raw = interlaced ? 2 * guess : guess;
        const int64_t out = px * std::min(n + 1, 4) * bps;
        const int64_t a = 2 * f + raw, bb = raw + out * (interlaced ? 2 : 1);
        const int64_t c = out + std::max(px * 4, px * 3 * bps);
        return std::max(a, std::max(bb, c)) + slack;
    }
    if (fmt == Format::JPEG) {
        // Per component, its samples (MCU-padded) and, if progressive, its coefficients (2 bytes each);
        // then the 3-channel output while they are alive. Without a frame header: 4 components at most.
        int64_t comps = 0;
        if (jf.found) {
            int hmax = 1, vmax = 1;
            for (int c = 0; c < jf.ncomp; c++) hmax = std::max(hmax, jf.h[c]), vmax = std::max(vmax, jf.v[c]);
            const int64_t mcux = (w + 8 * hmax - 1) / (8 * hmax), mcuy = (h + 8 * vmax - 1) / (8 * vmax);
            for (int c = 0; c < jf.ncomp; c++)
                comps += (mcux * std::max(jf.h[c], 1) * 8) * (mcuy * std::max(jf.v[c], 1) * 8) * (jf.progressive ? 3 : 1);
        } else {
            comps = 4 * (w + 32) * (h + 32) * 3;
        }
        return comps + 3 * px + slack;
    }
    if (fmt == Format::GIF) return 9 * px + slack;  // 4-channel image, background, per-pixel history
    return 8 * px + slack;  // BMP, TGA: the image (≤ 4 channels) and its 3-channel conversion
}

// The format's own stb loader, as stbi_load_from_memory would call it once the signature tests picked it.
static void* stb_load(Format fmt, const std::string& bytes, int* x, int* y, int req_comp, stbi__result_info* ri) {
    stbi__context s;
    stbi__start_mem(&s, reinterpret_cast<const stbi_uc*>(bytes.data()), (int)bytes.size());
    memset(ri, 0, sizeof(*ri));
    ri->bits_per_channel = 8;
    ri->channel_order = STBI_ORDER_RGB;
    stbi__g_failure_reason = nullptr;  // some loaders fail without saying why
    int comp = 0;
    switch (fmt) {
        case Format::PNG: return stbi__png_load(&s, x, y, &comp, req_comp, ri);
        case Format::JPEG: return stbi__jpeg_load(&s, x, y, &comp, req_comp, ri);
        case Format::BMP: return stbi__bmp_load(&s, x, y, &comp, req_comp, ri);
        case Format::GIF: return stbi__gif_load(&s, x, y, &comp, req_comp, ri);
        case Format::TGA: return stbi__tga_load(&s, x, y, &comp, req_comp, ri);
        default: return nullptr;
    }
}

// The decode proper, once the header and structure checks passed: straight from stb's buffer (8 or 16 bits
// per sample) to our 8-bit RGB, with no 16→8 copy in between.
static ImageU8 decode_checked(const std::string& bytes, Format fmt, int iw, int ih, const GifFirstFrame& gif,
                              int64_t bound, const char* w) {
    // 16-bit greyscale PNG (IHDR bit depth 16, colour type 0): PIL opens it as mode "I;16", whose convert("RGB")
    // saturates each sample at 255. Reproduce that (HF parity), not the high byte. GIF: 4 channels, to see
    // transparency. Everything else: 3 channels — grey replicated, alpha dropped (not composited), palettes
    // expanded, the same pixels as PIL's convert("RGB") for L, LA, RGBA, P and 1-bit images.
    const bool grey16 = fmt == Format::PNG && (uint8_t)bytes[24] == 16 && (uint8_t)bytes[25] == 0;
    const int req = grey16 ? 1 : fmt == Format::GIF ? 4 : 3;
    image_memory::stb_begin(bound);
    stbi__result_info ri;
    ImageU8 img;
    void* p = stb_load(fmt, bytes, &img.w, &img.h, req, &ri);
    if (!p) {
        const char* why = stbi_failure_reason();
        if (!why) fail("%s: cannot decode: truncated or corrupt %s", w, format_name(fmt));
        if (strcmp(why, "outofmem") == 0)
            fail("%s: cannot decode: corrupt %s: it needs more memory than its %dx%d header implies (%lld MB)", w,
                 format_name(fmt), iw, ih, (long long)(bound >> 20));
        fail("%s: cannot decode: truncated or corrupt %s (%s)", w, format_name(fmt), why);
    }
    const size_t npix = (size_t)iw * ih;
    if (img.w == iw && img.h == ih) {
        img.rgb.resize(npix * 3);
        const uint8_t* p8 = (const uint8_t*)p;
        const uint16_t* p16 = (const uint16_t*)p;
        const bool wide = ri.bits_per_channel == 16;
        auto sample = [&](size_t i) { return wide ? (uint8_t)(p16[i] >> 8) : p8[i]; };  // PIL: the high byte
        if (grey16) {
            for (size_t i = 0; i < npix; i++) {
                const uint8_t v = !wide ? p8[i] : p16[i] > 255 ? 255 : (uint8_t)p16[i];
                img.rgb[3 * i] = img.rgb[3 * i + 1] = img.rgb[3 * i + 2] = v;
            }
        } else if (fmt == Format::GIF) {
            // stb_image leaves transparent pixels (0,0,0,0); PIL's "P" image keeps the transparent index, whose
            // palette colour convert("RGB") then shows. Put that colour back.
            for (size_t i = 0; i < npix; i++) {
                const uint8_t* s = (gif.has_transparency && p8[4 * i + 3] == 0) ? gif.transparent_rgb : p8 + 4 * i;
                memcpy(&img.rgb[3 * i], s, 3);
            }
        } else {
            for (size_t i = 0; i < npix * 3; i++) img.rgb[i] = sample(i);
        }
    }
    stbi_image_free(p);
    if (img.w != iw || img.h != ih)
        fail("%s: decoded size %dx%d differs from the header's %dx%d", w, img.w, img.h, iw, ih);
    return img;
}

// What the checks found out before the decode.
struct Checked {
    Format fmt = Format::None;
    int w = 0, h = 0;
    int64_t stb_bound = 0;  // decode_memory_bound
    int64_t reserve = 0;    // for the in-flight budget: the file, stb's working memory, our RGB image
    GifFirstFrame gif;
};

static void over_limit(const char* w, int64_t iw, int64_t ih) {
    fail("%s: image is %lldx%lld pixels, over the limit (%d per side, %lld pixels); refusing to decode", w,
         (long long)iw, (long long)ih, kMaxImageSide, (long long)kMaxImagePixels);
}

// Format, header (size limits), memory bound, completeness, JPEG tables: everything before the decode.
static Checked check_header(const std::string& bytes, const char* w) {
    Checked c;
    image_memory::stb_begin(1 << 20);  // stb's header readers allocate only their decoder struct
    c.fmt = stb_format(bytes);
    if (c.fmt == Format::None) fail("%s: not a readable JPEG/PNG/BMP/GIF/TGA image (no known signature)", w);
    const char* fname = format_name(c.fmt);

    // Header only: refuse absurd sizes before anything is allocated. (stb's own PNG header check refuses
    // anything over 2^30 bytes as "unknown image type", so read a PNG's size from IHDR ourselves.)
    if (c.fmt == Format::PNG && bytes.size() >= 29 && memcmp(bytes.data() + 12, "IHDR", 4) == 0) {
        const uint8_t* q = reinterpret_cast<const uint8_t*>(bytes.data()) + 16;
        const int64_t pw = (int64_t)q[0] << 24 | q[1] << 16 | q[2] << 8 | q[3];
        const int64_t ph = (int64_t)q[4] << 24 | q[5] << 16 | q[6] << 8 | q[7];
        if (pw > kMaxImageSide || ph > kMaxImageSide || pw * ph > kMaxImagePixels) over_limit(w, pw, ph);
    }
    JpegFrame jf;
    if (c.fmt == Format::JPEG) check_jpeg_huffman_tables(bytes, w, &jf);  // stb's header reader builds tables
    stbi__context s;
    stbi__start_mem(&s, reinterpret_cast<const stbi_uc*>(bytes.data()), (int)bytes.size());
    int iw = 0, ih = 0, icomp = 0, ok = 0;
    stbi__g_failure_reason = nullptr;
    switch (c.fmt) {
        case Format::PNG: ok = stbi__png_info(&s, &iw, &ih, &icomp); break;
        case Format::JPEG: ok = stbi__jpeg_info(&s, &iw, &ih, &icomp); break;
        case Format::BMP: ok = stbi__bmp_info(&s, &iw, &ih, &icomp); break;
        case Format::GIF: ok = stbi__gif_info(&s, &iw, &ih, &icomp); break;
        default: ok = stbi__tga_info(&s, &iw, &ih, &icomp); break;
    }
    if (!ok) {
        const char* why = stbi_failure_reason();
        fail("%s: cannot read the %s header: truncated or corrupt %s (%s)", w, fname, fname, why ? why : "?");
    }
    int64_t w64 = iw, h64 = ih;
    if (c.fmt == Format::BMP) {
        // A BMP's height is signed: negative means rows stored top-down (stb's loader handles it; its header
        // reader just passes the sign on). Its width must be positive.
        if (w64 < 0) fail("%s: corrupt BMP (negative width %lld)", w, (long long)w64);
        h64 = std::llabs(h64);
    }
    if (w64 <= 0 || h64 <= 0) fail("%s: image has zero size (%lldx%lld)", w, (long long)w64, (long long)h64);
    if (w64 > kMaxImageSide || h64 > kMaxImageSide || w64 * h64 > kMaxImagePixels) over_limit(w, w64, h64);
    c.w = (int)w64;
    c.h = (int)h64;
    check_complete(bytes, c.fmt, w, &c.gif);
    c.stb_bound = decode_memory_bound(bytes, c.fmt, w64, h64, jf);
    c.reserve = (int64_t)bytes.size() + c.stb_bound + 3 * w64 * h64;
    if (c.reserve > kMaxDecodeBytes)
        fail("%s: decoding this %dx%d %s needs up to %lld MB, over the %lld MB limit; refusing to decode", w, c.w,
             c.h, fname, (long long)(c.reserve >> 20), (long long)(kMaxDecodeBytes >> 20));
    return c;
}

// The whole decode, with the reservation left to the caller (load_and_preprocess holds it longer).
static ImageU8 decode_with(const std::string& bytes, const char* w, std::unique_ptr<image_memory::DecodeReservation>* r) {
    if (bytes.empty()) fail("%s: empty file, not an image", w);
    if ((int64_t)bytes.size() > kMaxImageFileBytes)
        fail("%s: %zu bytes, more than the %lld-byte limit for an image file", w, bytes.size(),
             (long long)kMaxImageFileBytes);
    try {
        const Checked c = check_header(bytes, w);
        r->reset(new image_memory::DecodeReservation(c.reserve));
        return decode_checked(bytes, c.fmt, c.w, c.h, c.gif, c.stb_bound, w);
    } catch (const StbAssertFailed& e) {
        fail("%s: corrupt image (decoder check failed: %s)", w, e.expr);
    }
}

ImageU8 decode_image_rgb(const std::string& bytes, const std::string& what) {
    std::unique_ptr<image_memory::DecodeReservation> r;
    return decode_with(bytes, what.c_str(), &r);
}

DecodeMemory last_decode_memory() { return {image_memory::stb_peak(), image_memory::stb_cap()}; }

std::string read_image_file(const std::string& path) {
    const char* p = path.c_str();
    struct stat st;
    if (stat(p, &st) != 0) fail("%s: cannot open image: %s", p, strerror(errno));
    if (S_ISDIR(st.st_mode)) fail("%s: is a directory, not an image file", p);
    if (st.st_size == 0) fail("%s: empty file, not an image", p);
    if ((int64_t)st.st_size > kMaxImageFileBytes)
        fail("%s: %lld bytes, more than the %lld-byte limit for an image file", p, (long long)st.st_size,
             (long long)kMaxImageFileBytes);
    return read_file(path);
}

ImageU8 load_image_rgb(const std::string& path) { return decode_image_rgb(read_image_file(path), path); }

std::vector<float> load_and_preprocess(const std::string& path, const ImagePreprocess& p) {
    // The decoded image stays in the in-flight budget until it is cropped (then only the crop is left).
    std::unique_ptr<image_memory::DecodeReservation> r;
    ImageU8 img = decode_with(read_image_file(path), path.c_str(), &r);
    return preprocess_image(img, p);
}

std::vector<float> preprocess_image_bytes(const std::string& bytes, const std::string& what, const ImagePreprocess& p) {
    std::unique_ptr<image_memory::DecodeReservation> r;
    ImageU8 img = decode_with(bytes, what.c_str(), &r);
    return preprocess_image(img, p);
}

std::vector<float> load_and_preprocess(const std::string& path, int size) {
    ImagePreprocess p;
    p.size = size;
    return load_and_preprocess(path, p);
}

}  // namespace reco

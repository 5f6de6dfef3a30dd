// image.cpp — the CLIP preprocessing pipeline, bit-identical to Hugging Face's PIL-based
// CLIPImageProcessor (research anchors A.4); decoding is in image_decode.cpp:
//
//   pixel_values = normalize(rescale(center_crop(resize_shortest_edge(convert_rgb(img)))))
//
// The resize is Pillow's libImaging/Resample.c algorithm for 8-bit images, re-derived here:
//   - separable, two passes: horizontal first (into a temporary image holding only the rows the
//     vertical pass will read), then vertical; a pass whose size does not change is skipped;
//   - per output index xx: center = (xx + 0.5) * scale, scale = in/out; the filter is stretched by
//     filterscale = max(scale, 1) (antialiasing when shrinking), support = 2 * filterscale;
//     taps x in [xmin, xmax) with xmin = (int)(center - support + 0.5) clamped to 0 and
//     xmax = (int)(center + support + 0.5) clamped to in; w = bicubic((x - center + 0.5) / filterscale),
//     normalised to sum 1, all in double;
//   - weights to fixed point with 22 fractional bits (PRECISION_BITS = 32 - 8 - 2), rounding half away
//     from zero; each pass sums uint8 * weight in int32 starting at 1 << 21, then >> 22 and clamps to
//     [0, 255] — so the intermediate image is uint8, exactly as in Pillow.
// The double arithmetic must round like Pillow's (compiled without FMA), hence fp-contract=off below.
#include "image.h"

#include "common.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace reco {

// ---------------------------------------------------------------------------------------------
// Pillow's bicubic resampling

static void check_image(const ImageU8& im, const char* fn) {
    if (im.w <= 0 || im.h <= 0) fail("%s: empty image (%dx%d)", fn, im.w, im.h);
    if (im.rgb.size() != (size_t)im.w * im.h * 3)
        fail("%s: image buffer holds %zu bytes, expected %dx%dx3", fn, im.rgb.size(), im.w, im.h);
}

// Pillow's coefficients are computed in plain IEEE double; an FMA would round differently, so the
// weight computation is compiled without floating-point contraction.
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")

// Keys' cubic convolution kernel with a = -0.5 (Pillow's bicubic_filter), support 2.
static double bicubic_filter(double x) {
    const double a = -0.5;
    if (x < 0.0) x = -x;
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}

static const int kPrecisionBits = 32 - 8 - 2;  // Pillow's PRECISION_BITS

// The taps of one axis for output indices [first, first + count): input start, tap count and
// fixed-point weights (ksize per output index, unused ones zero).
struct AxisTaps {
    int ksize = 0;
    std::vector<int> start, count;
    std::vector<int32_t> k;
};

static AxisTaps axis_taps(int in_size, int out_size, int first, int count) {
    AxisTaps t;
    const double scale = (double)in_size / out_size;
    const double filterscale = scale < 1.0 ? 1.0 : scale;
    const double support = 2.0 * filterscale;
    t.ksize = (int)std::ceil(support) * 2 + 1;
    t.start.resize(count);
    t.count.resize(count);
    t.k.assign((size_t)count * t.ksize, 0);
    std::vector<double> w(t.ksize);
    for (int i = 0; i < count; i++) {
        const int xx = first + i;
        const double center = (xx + 0.5) * scale;
        const double ss = 1.0 / filterscale;
        int xmin = (int)(center - support + 0.5);
        if (xmin < 0) xmin = 0;
        int xmax = (int)(center + support + 0.5);
        if (xmax > in_size) xmax = in_size;
        xmax -= xmin;
        double ww = 0.0;
        for (int x = 0; x < xmax; x++) {
            w[x] = bicubic_filter((x + xmin - center + 0.5) * ss);
            ww += w[x];
        }
        int32_t* k = &t.k[(size_t)i * t.ksize];
        for (int x = 0; x < xmax; x++) {
            const double v = (ww != 0.0 ? w[x] / ww : w[x]) * (1 << kPrecisionBits);
            k[x] = v < 0 ? (int32_t)(-0.5 + v) : (int32_t)(0.5 + v);
        }
        t.start[i] = xmin;
        t.count[i] = xmax;
    }
    return t;
}
#pragma GCC pop_options

static inline uint8_t clip8(int32_t acc) {
    int32_t v = acc >> kPrecisionBits;  // arithmetic shift: floor, as Pillow's lookup table assumes
    return v < 0 ? 0 : v > 255 ? 255 : (uint8_t)v;
}

ImageU8 resize_bicubic_pil_window(const ImageU8& src, int out_w, int out_h, int x0, int y0, int cw, int ch) {
    check_image(src, "resize_bicubic_pil");
    if (out_w <= 0 || out_h <= 0) fail("resize_bicubic_pil: bad output size %dx%d", out_w, out_h);
    if (cw <= 0 || ch <= 0 || x0 < 0 || y0 < 0 || x0 + (int64_t)cw > out_w || y0 + (int64_t)ch > out_h)
        fail("resize_bicubic_pil: window %d,%d %dx%d is outside the %dx%d output", x0, y0, cw, ch, out_w, out_h);
    const bool need_h = out_w != src.w, need_v = out_h != src.h;

    // Rows of the source the vertical pass reads (all output rows of the window when it is skipped).
    AxisTaps vt;
    int row0 = y0, row1 = y0 + ch;
    if (need_v) {
        vt = axis_taps(src.h, out_h, y0, ch);
        row0 = vt.start[0];
        row1 = vt.start[ch - 1] + vt.count[ch - 1];
    }
    const int trows = row1 - row0;

    // Horizontal pass: tmp[r][i] for source rows row0..row1, output columns x0..x0+cw.
    std::vector<uint8_t> tmp((size_t)trows * cw * 3);
    if (need_h) {
        AxisTaps ht = axis_taps(src.w, out_w, x0, cw);
        for (int r = 0; r < trows; r++) {
            const uint8_t* in = &src.rgb[(size_t)(row0 + r) * src.w * 3];
            uint8_t* out = &tmp[(size_t)r * cw * 3];
            for (int i = 0; i < cw; i++) {
                const int32_t* k = &ht.k[(size_t)i * ht.ksize];
                const uint8_t* p = in + (size_t)ht.start[i] * 3;
                int32_t s0 = 1 << (kPrecisionBits - 1), s1 = s0, s2 = s0;
                for (int x = 0; x < ht.count[i]; x++) {
                    s0 += p[3 * x + 0] * k[x];
                    s1 += p[3 * x + 1] * k[x];
                    s2 += p[3 * x + 2] * k[x];
                }
                out[3 * i + 0] = clip8(s0);
                out[3 * i + 1] = clip8(s1);
                out[3 * i + 2] = clip8(s2);
            }
        }
    } else {
        for (int r = 0; r < trows; r++)
            memcpy(&tmp[(size_t)r * cw * 3], &src.rgb[((size_t)(row0 + r) * src.w + x0) * 3], (size_t)cw * 3);
    }

    // Vertical pass: out[j] from tmp rows start[j]-row0 .. + count[j].
    ImageU8 dst;
    dst.w = cw;
    dst.h = ch;
    if (!need_v) {
        dst.rgb = std::move(tmp);
        return dst;
    }
    dst.rgb.resize((size_t)cw * ch * 3);
    const int n = cw * 3;
    for (int j = 0; j < ch; j++) {
        const int32_t* k = &vt.k[(size_t)j * vt.ksize];
        const uint8_t* base = &tmp[(size_t)(vt.start[j] - row0) * n];
        std::vector<int32_t> acc(n, 1 << (kPrecisionBits - 1));
        for (int y = 0; y < vt.count[j]; y++) {
            const uint8_t* row = base + (size_t)y * n;
            const int32_t ky = k[y];
            for (int i = 0; i < n; i++) acc[i] += row[i] * ky;
        }
        uint8_t* out = &dst.rgb[(size_t)j * n];
        for (int i = 0; i < n; i++) out[i] = clip8(acc[i]);
    }
    return dst;
}

ImageU8 resize_bicubic_pil(const ImageU8& src, int out_w, int out_h) {
    return resize_bicubic_pil_window(src, out_w, out_h, 0, 0, out_w, out_h);
}

// ---------------------------------------------------------------------------------------------
// Crop and the CLIPImageProcessor pipeline

static int floordiv2(int v) { return v >= 0 ? v / 2 : -((-v + 1) / 2); }  // Python's v // 2

ImageU8 center_crop(const ImageU8& src, int size) {
    check_image(src, "center_crop");
    if (size <= 0) fail("center_crop: bad crop size %d", size);
    // transformers center_crop: top = (H - size) // 2, left = (W - size) // 2. A side shorter than `size` is
    // first zero-padded with ceil((size - side) / 2) before it and the offset moved by that pad, which
    // amounts to the same floor offset (now negative) with zeros wherever it falls outside the image.
    const int top = floordiv2(src.h - size), left = floordiv2(src.w - size);
    ImageU8 dst;
    dst.w = dst.h = size;
    dst.rgb.assign((size_t)size * size * 3, 0);
    for (int y = 0; y < size; y++) {
        const int sy = top + y;
        if (sy < 0 || sy >= src.h) continue;
        for (int x = 0; x < size; x++) {
            const int sx = left + x;
            if (sx < 0 || sx >= src.w) continue;
            memcpy(&dst.rgb[((size_t)y * size + x) * 3], &src.rgb[((size_t)sy * src.w + sx) * 3], 3);
        }
    }
    return dst;
}

void clip_resize_dims(int w, int h, int size, int* out_w, int* out_h) {
    if (w <= 0 || h <= 0 || size <= 0) fail("clip_resize_dims: bad sizes %dx%d -> %d", w, h, size);
    const int short_side = std::min(w, h), long_side = std::max(w, h);
    // Python: int(size * long / short) — exact integer product, correctly rounded true division, truncation.
    const double v = (double)((int64_t)size * long_side) / (double)short_side;
    if (v > (double)(1 << 30)) fail("clip_resize_dims: %dx%d is too elongated to resize to %d", w, h, size);
    const int new_long = (int)v;
    if (w <= h) {
        *out_w = size;
        *out_h = new_long;
    } else {
        *out_w = new_long;
        *out_h = size;
    }
}

ImageU8 clip_crop_u8(const ImageU8& img, int size) {
    check_image(img, "clip_preprocess");
    int rw = 0, rh = 0;
    clip_resize_dims(img.w, img.h, size, &rw, &rh);
    // Both resized sides are >= size, so the crop lies inside the resized image: compute only that window.
    if (rw >= size && rh >= size)
        return resize_bicubic_pil_window(img, rw, rh, floordiv2(rw - size), floordiv2(rh - size), size, size);
    return center_crop(resize_bicubic_pil(img, rw, rh), size);
}

std::vector<float> clip_preprocess(const ImageU8& img, int size) {
    ImagePreprocess p;
    p.size = size;
    return preprocess_image(img, p);
}

ImagePreprocess siglip_image_preprocess(int size) {
    ImagePreprocess p;
    p.crop = false;
    p.size = size;
    for (int c = 0; c < 3; c++) p.mean[c] = p.std[c] = 0.5;  // IMAGENET_STANDARD_MEAN / _STD
    return p;
}

ImageU8 preprocess_u8(const ImageU8& img, const ImagePreprocess& p) {
    if (p.crop) return clip_crop_u8(img, p.size);
    check_image(img, "siglip_preprocess");
    return resize_bicubic_pil(img, p.size, p.size);
}

std::vector<float> preprocess_image(const ImageU8& img, const ImagePreprocess& p) {
    const int size = p.size;
    ImageU8 crop = preprocess_u8(img, p);
    // HF: rescale = float32(float64(v) * rescale_factor); normalize = (x - mean) / std in float32.
    float lut[3][256];
    for (int c = 0; c < 3; c++) {
        const float mean = (float)p.mean[c], stdv = (float)p.std[c];
        for (int v = 0; v < 256; v++) lut[c][v] = ((float)((double)v * p.rescale) - mean) / stdv;
    }
    const size_t plane = (size_t)size * size;
    std::vector<float> out(3 * plane);
    for (size_t i = 0; i < plane; i++)
        for (int c = 0; c < 3; c++) out[c * plane + i] = lut[c][crop.rgb[3 * i + c]];
    return out;
}
// load_and_preprocess is in image_decode.cpp: it holds the decoded image in the in-flight memory budget.

}  // namespace reco

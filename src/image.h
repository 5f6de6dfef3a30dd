// image.h — image decoding and the CLIP image preprocessing, bit-identical to Hugging Face's
// (slow, PIL-based) CLIPImageProcessor (SPEC / research anchors A.4).
//
//   load_image_rgb      stb_image decode, then the pixels PIL's Image.open(path).convert("RGB") gives
//   resize_bicubic_pil  PIL Image.resize(size, Resampling.BICUBIC, reducing_gap=None), exact uint8
//   center_crop         transformers image_transforms.center_crop (zero-pads images smaller than the crop)
//   clip_preprocess     convert_to_rgb → resize shortest edge → center crop → rescale 1/255 → normalize,
//                       output float CHW [3,size,size], bit-identical to CLIPImageProcessor's pixel_values
//
// Known differences from PIL's decoders (all others are bit-exact; see tests/test_image.cpp):
//   - JPEG: stb_image's IDCT/upsampling/colour conversion is not libjpeg-turbo's, so pixels differ slightly:
//     measured max 2 levels, mean 0.004–0.064 (4:2:0, 4:4:4, progressive, grey, CMYK fixtures), and max 2 in
//     the 224×224 crop of a real 868×600 photo (max 0.030 in pixel_values). JPEGs without Huffman tables
//     (Motion-JPEG frames, which libjpeg completes with the standard tables) are refused.
//   - GIF: exact, transparency included (stb leaves transparent pixels black; we put back the palette colour
//     of the transparent index, as PIL's "P" → RGB shows it). Not handled: a first frame smaller than the
//     logical screen with a non-zero background index (stb fills the background colour, PIL index 0 or the
//     transparent index).
//   - RLE-compressed BMP and some 16-bit BMP/TGA variants: stb_image refuses files that PIL opens.
//   - Truncated files are refused (PIL raises "image file is truncated"); stb_image alone would pad BMP,
//     TGA and GIF data with zeros, so those three are checked against their headers first.
//   - EXIF orientation is ignored, as by PIL's Image.open (HF's CLIPImageProcessor does not transpose).
//   - 16-bit greyscale PNG: PIL opens it as mode "I;16" and convert("RGB") SATURATES every value above 255
//     to 255 (it does not scale); we copy that on purpose so that embeddings match HF. Every other 16-bit PNG
//     (grey+alpha, RGB, RGBA) keeps the high byte of each sample, in PIL and here.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace reco {

// Interleaved RGB, row-major: pixel (x, y) channel c is rgb[(y * w + x) * 3 + c].
struct ImageU8 {
    int w = 0, h = 0;
    std::vector<uint8_t> rgb;
};

// Refused before decoding (read from the header with stbi_info), so a small file that claims a huge
// size never allocates gigabytes.
constexpr int kMaxImageSide = 16384;
constexpr int64_t kMaxImagePixels = 128LL * 1024 * 1024;
constexpr int64_t kMaxImageFileBytes = 1LL << 30;

// OPENAI_CLIP_MEAN / OPENAI_CLIP_STD (transformers image_utils; openai clip.py _transform).
constexpr double kClipMean[3] = {0.48145466, 0.4578275, 0.40821073};
constexpr double kClipStd[3] = {0.26862954, 0.26130258, 0.27577711};

// Decodes JPEG, PNG, BMP, GIF (first frame) or TGA. Grey → replicated, alpha dropped (not composited),
// palette expanded. Throws reco::Error naming the file on any problem.
ImageU8 load_image_rgb(const std::string& path);
// The same from the file's bytes already in memory; `what` names the source in error messages.
ImageU8 decode_image_rgb(const std::string& bytes, const std::string& what);

// Pillow's two-pass antialiased bicubic (a = -0.5) with 22-bit fixed-point coefficients.
ImageU8 resize_bicubic_pil(const ImageU8& src, int out_w, int out_h);

// The same resize, but only output pixels [x0, x0+cw) × [y0, y0+ch) are computed (each output pixel of
// Pillow's resize depends only on its own row/column windows, so the result equals resizing fully and then
// cropping). Lets the pipeline handle extreme aspect ratios without allocating the whole resized image.
ImageU8 resize_bicubic_pil_window(const ImageU8& src, int out_w, int out_h, int x0, int y0, int cw, int ch);

// size×size crop at top = (H-size)//2, left = (W-size)//2 (Python floor division); a side smaller than
// `size` is zero-padded with ceil((size-side)/2) zeros before it, as transformers' center_crop does.
ImageU8 center_crop(const ImageU8& src, int size);

// The (height, width) CLIPImageProcessor resizes to: shortest side → size, long side
// int(size * long / short) (transformers get_resize_output_image_size, default_to_square=False).
void clip_resize_dims(int w, int h, int size, int* out_w, int* out_h);

// Whole pipeline; output float CHW [3, size, size].
std::vector<float> clip_preprocess(const ImageU8& img, int size = 224);
std::vector<float> load_and_preprocess(const std::string& path, int size = 224);

// The uint8 size×size×3 crop the pipeline normalises (for tests and debugging).
ImageU8 clip_crop_u8(const ImageU8& img, int size = 224);

}  // namespace reco

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
//   - A PNG whose compressed data inflates to more than its header's image (by over the bound's ~1 MiB
//     slack) is refused as a decompression bomb; PIL would stop at the image's end and ignore the rest.
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

// Limits, all checked from the header before anything is decoded (so a small file that claims a huge size
// never allocates gigabytes):
//   - kMaxImageSide per side and kMaxImagePixels in all: 64 Mpixel (8192×8192) holds every camera photo
//     (a 61-Mpixel 9504×6336 full-frame one included); PIL itself only warns from 89 Mpixel on.
//   - the memory the decode may need: stb_image's working memory is bounded from the header per format
//     (decode_memory_bound in image_decode.cpp), in bytes per pixel: JPEG 4.5 (baseline 4:2:0) to 15
//     (progressive CMYK), BMP/TGA 8, GIF 9, PNG up to 16 (a 16-bit RGBA one: inflated rows + image; stb
//     decodes 16-bit PNGs at 16 bits even through its 8-bit API) or 32 (interlaced 16-bit RGBA); plus the
//     file and our 3-byte/pixel RGB. Every stb allocation is charged against that bound, so nothing a file
//     contains can make one decode use more. Images whose total is over kMaxDecodeBytes (1.5 GiB) are
//     refused: every 8-bit image up to 64 Mpixel fits (worst, an interlaced RGBA PNG: 19 B/px, 1.2 GiB),
//     16-bit non-interlaced ones too; interlaced 16-bit RGBA PNGs fit up to ~46 Mpixel. Measured (one
//     8192×8192 16-bit RGBA PNG): 1.05 GB peak RSS.
//   - kDecodeBytesInFlight: decodes running at once (one per OpenMP thread in `reco memory build`) wait until
//     their bounds fit this process-wide budget together, so peak decode memory does not grow with threads.
//     load_and_preprocess keeps the decoded image in the budget until it is cropped. Measured, two
//     8192×8192 16-bit RGBA PNGs decoded by two threads: 1.05 GB peak RSS (2.1 GB without the budget).
//   - kMaxImageFileBytes: the file itself (256 MiB: a 64-Mpixel 8-bit RGB image stored uncompressed is
//     192 MiB). It is read whole before its header can be checked, so it enters the budget only then: files
//     being read are bounded by threads × this limit, not by the budget.
constexpr int kMaxImageSide = 16384;
constexpr int64_t kMaxImagePixels = 64LL * 1024 * 1024;
constexpr int64_t kMaxDecodeBytes = 1536LL << 20;
constexpr int64_t kDecodeBytesInFlight = 2LL << 30;
constexpr int64_t kMaxImageFileBytes = 256LL << 20;

// OPENAI_CLIP_MEAN / OPENAI_CLIP_STD (transformers image_utils; openai clip.py _transform).
constexpr double kClipMean[3] = {0.48145466, 0.4578275, 0.40821073};
constexpr double kClipStd[3] = {0.26862954, 0.26130258, 0.27577711};

// Decodes JPEG, PNG, BMP, GIF (first frame) or TGA. Grey → replicated, alpha dropped (not composited),
// palette expanded. Throws reco::Error naming the file on any problem.
ImageU8 load_image_rgb(const std::string& path);
// The same from the file's bytes already in memory; `what` names the source in error messages.
ImageU8 decode_image_rgb(const std::string& bytes, const std::string& what);

// Memory of the calling thread's last decode (for tests): the most stb_image held at once, and the bound it
// was allowed (decode_memory_bound of the header).
struct DecodeMemory {
    int64_t stb_peak = 0, stb_bound = 0;
};
DecodeMemory last_decode_memory();

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

// How a model family prepares an image: CLIPImageProcessor (shortest side → size, centre crop) or
// SiglipImageProcessor (straight to size×size, aspect ratio not kept, no crop); then both rescale
// (float32(float64(v)·rescale)) and normalise ((x − mean) / std in float32). Bicubic, PIL semantics.
struct ImagePreprocess {
    bool crop = true;            // true: CLIP's resize + centre crop; false: SigLIP's square resize
    int size = 224;
    double rescale = 1.0 / 255.0;
    double mean[3] = {kClipMean[0], kClipMean[1], kClipMean[2]};
    double std[3] = {kClipStd[0], kClipStd[1], kClipStd[2]};
};
// SiglipImageProcessor's defaults for a size×size model: mean = std = 0.5.
ImagePreprocess siglip_image_preprocess(int size);
std::vector<float> preprocess_image(const ImageU8& img, const ImagePreprocess& p);
std::vector<float> load_and_preprocess(const std::string& path, const ImagePreprocess& p);
// The file's bytes (errors name it: missing, a folder, empty, over kMaxImageFileBytes), and the same
// pipeline from bytes already read (the image-embedding cache hashes the bytes it decodes).
std::string read_image_file(const std::string& path);
std::vector<float> preprocess_image_bytes(const std::string& bytes, const std::string& what, const ImagePreprocess& p);
// The uint8 size×size×3 image the pipeline normalises (crop or square resize).
ImageU8 preprocess_u8(const ImageU8& img, const ImagePreprocess& p);

// Whole CLIP pipeline; output float CHW [3, size, size].
std::vector<float> clip_preprocess(const ImageU8& img, int size = 224);
std::vector<float> load_and_preprocess(const std::string& path, int size = 224);

// The uint8 size×size×3 crop the pipeline normalises (for tests and debugging).
ImageU8 clip_crop_u8(const ImageU8& img, int size = 224);

}  // namespace reco

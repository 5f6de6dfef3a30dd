#!/usr/bin/env python3
"""make_image_fixtures.py — small test images + PIL / Hugging Face reference arrays for tests/test_image.cpp.

Writes tests/fixtures/images/:
  *.png *.bmp *.gif *.tga *.jpg     tiny generated images, one per decoder path (modes L, LA, RGB, RGBA, P, 1,
                                    16-bit, RLE, progressive, CMYK ...)
  reference.safetensors             uint8 / float32 tensors (names below), metadata: versions used
  reference_shared.safetensors      pipeline_shared/* only (crops of ../shared/data photos), same metadata

Tensors (all uint8 HWC unless said):
  decode/<file>                     np.array(Image.open(file).convert("RGB"))  (= HF convert_to_rgb)
  src/<name>                        extra resize sources that are not image files
  resize/<source>/<W>x<H>           PIL .resize((W, H), Resampling.BICUBIC) of decode/<source> or src/<source>
  crop/<source>/<S>                 transformers.image_transforms.center_crop of decode/<source> to S×S (pads)
  pipeline/<file>/<S>               CLIPImageProcessor's uint8 S×S crop (size = crop_size = S) of a fixture file
                                    as PIL decodes it
  pipeline_shared/<path>            the same at 224 for ../shared/data/images/<path> (left out when absent)
  norm_lut                          float32 [3,256]: HF rescale(1/255) + normalize(OPENAI_CLIP mean/std) of v

The crop is computed by replaying the processor's steps with PIL (resize shortest edge to 224 with the long side
int(224 * long / short), crop at (H-224)//2, (W-224)//2); the script checks, for every pipeline case, that
norm_lut[c][crop] equals CLIPImageProcessor()(image).pixel_values bit for bit, so the test may compare the
engine's float output against norm_lut applied to the stored crop.

Run from the repository root:  python tools/make_image_fixtures.py [--shared ../shared/data]
Needs tools/requirements-images.txt (pillow, numpy, safetensors, transformers — no torch).
"""
import argparse
import os
import struct
import zlib

import numpy as np
import PIL
from PIL import Image
from safetensors.numpy import save_file

OUT = "tests/fixtures/images"
SIZE = 224
MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)


# ----------------------------------------------------------------------------------------------- content

def busy(h, w, seed):
    """Noise, gradients and hard 0/255 edges: exercises the resampler's over/undershoot clipping."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.stack([255 * xx / max(w - 1, 1), 255 * yy / max(h - 1, 1), 128 + 100 * np.sin(xx / 3 + yy / 5)], -1)
    img += rng.normal(0, 30, img.shape)
    for _ in range(6):
        y0, x0 = rng.integers(0, h), rng.integers(0, w)
        img[y0:y0 + rng.integers(1, h // 2 + 2), x0:x0 + rng.integers(1, w // 2 + 2)] = rng.choice([0, 255], 3)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def smooth(h, w, seed):
    """Photo-like content (blurred noise on gradients) for JPEG, where busy content would be meaningless."""
    rng = np.random.default_rng(seed)
    small = Image.fromarray(rng.integers(0, 256, (max(h // 8, 2), max(w // 8, 2), 3), dtype=np.uint8))
    img = np.asarray(small.resize((w, h), Image.Resampling.BILINEAR), dtype=np.float64)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    img = 0.6 * img + 0.4 * np.stack([255 * xx / w, 255 * yy / h, 255 * (1 - xx / w)], -1)
    img += rng.normal(0, 4, img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def write_png_raw(path, arr, colour_type):
    """16-bit PNG writer (PIL cannot write 16-bit RGB/LA): arr uint16 [h, w, channels]."""
    h, w = arr.shape[:2]
    raw = b"".join(b"\x00" + arr[y].astype(">u2").tobytes() for y in range(h))

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, 16, colour_type, 0, 0, 0)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 9))
                + chunk(b"IEND", b""))


def make_files():
    """Writes the image files; returns their names."""
    files = []

    def save(im, name, **kw):
        im.save(os.path.join(OUT, name), **kw)
        files.append(name)

    a = busy(23, 37, 1)
    b = busy(90, 61, 2)
    save(Image.fromarray(a), "rgb_37x23.bmp")
    save(Image.fromarray(a).quantize(40), "pal_37x23.bmp")
    save(Image.fromarray(b), "rgb_61x90.png")
    alpha = np.random.default_rng(3).integers(0, 256, (90, 61), dtype=np.uint8)
    save(Image.fromarray(np.dstack([b, alpha]), "RGBA"), "rgba_61x90.png")
    save(Image.fromarray(a[:, :, 1]), "grey_37x23.png")
    save(Image.fromarray(np.dstack([a[:, :, 0], a[:, :, 2]]), "LA"), "greyalpha_37x23.png")
    save(Image.fromarray(b).quantize(64), "pal_trns_61x90.png", transparency=5)  # tRNS chunk, ignored by RGB
    save(Image.fromarray(a[:, :, 0] > 128), "bilevel_37x23.png")                # mode "1"
    g16 = (np.arange(23 * 37, dtype=np.uint32).reshape(23, 37) * 3 % 1100).astype(np.uint16)
    save(Image.fromarray(g16), "grey16_37x23.png")                               # mode "I;16": saturates
    rgb16 = (a.astype(np.uint16) * 257 + np.random.default_rng(4).integers(0, 257, a.shape)).astype(np.uint16)
    write_png_raw(os.path.join(OUT, "rgb16_37x23.png"), rgb16, 2)
    files.append("rgb16_37x23.png")
    write_png_raw(os.path.join(OUT, "greyalpha16_37x23.png"), rgb16[:, :, :2], 4)
    files.append("greyalpha16_37x23.png")
    save(Image.fromarray(b).quantize(64), "pal_61x90.gif")
    save(Image.fromarray(a).quantize(32), "pal_trns_37x23.gif", transparency=3)  # known stb difference
    save(Image.fromarray(b), "rgb_61x90.tga")
    save(Image.fromarray(np.dstack([a, a[:, :, 0]]), "RGBA"), "rgba_rle_37x23.tga", compression="tga_rle")
    save(Image.fromarray(a[:, :, 2]), "grey_37x23.tga")
    s = smooth(90, 61, 5)
    save(Image.fromarray(s), "photo_61x90.jpg", quality=90)                     # 4:2:0
    save(Image.fromarray(s), "photo444_61x90.jpg", quality=95, subsampling=0)
    save(Image.fromarray(s), "photo_prog_61x90.jpg", quality=85, progressive=True)
    save(Image.fromarray(s[:, :, 0]), "grey_61x90.jpg", quality=90)
    save(Image.fromarray(s).convert("CMYK"), "cmyk_61x90.jpg", quality=95)
    return files


# ----------------------------------------------------------------------------------------------- references

def hf_crop(img, size):
    """CLIPImageProcessor's uint8 crop, replayed with PIL (resize shortest edge, int() long side, floor crop)."""
    w, h = img.size
    short, long = (w, h) if w <= h else (h, w)
    new_long = int(size * long / short)
    nw, nh = (size, new_long) if w <= h else (new_long, size)
    r = np.asarray(img.resize((nw, nh), Image.Resampling.BICUBIC))
    top, left = (nh - size) // 2, (nw - size) // 2
    return np.ascontiguousarray(r[top:top + size, left:left + size])


def norm_lut():
    lut = np.zeros((3, 256), np.float32)
    v = np.arange(256, dtype=np.uint8)
    x = (v.astype(np.float64) * (1 / 255)).astype(np.float32)  # transformers rescale
    for c in range(3):
        lut[c] = (x - np.float32(MEAN[c])) / np.float32(STD[c])  # transformers normalize (float32)
    return lut


def check_against_processor(img, crop, size, lut, what):
    """The stored crop + lut must reproduce CLIPImageProcessor's pixel_values exactly."""
    from transformers import CLIPImageProcessor
    proc = CLIPImageProcessor(size={"shortest_edge": size}, crop_size={"height": size, "width": size})
    pv = proc(images=img, return_tensors="np")["pixel_values"][0]
    ours = np.stack([lut[c][crop[:, :, c]] for c in range(3)])
    assert pv.dtype == np.float32 and pv.shape == ours.shape, (what, pv.dtype, pv.shape)
    if not np.array_equal(pv, ours):
        raise SystemExit(f"{what}: PIL replay differs from CLIPImageProcessor (max {np.abs(pv - ours).max()})")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default="../shared/data", help="shared data folder (for pipeline_shared/*)")
    args = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    from transformers.image_transforms import center_crop

    files = make_files()
    t = {}
    for f in files:
        t[f"decode/{f}"] = np.ascontiguousarray(np.asarray(Image.open(os.path.join(OUT, f)).convert("RGB")))
    t["src/smooth_300x200"] = smooth(200, 300, 6)

    def source(name):
        return t[f"decode/{name}"] if f"decode/{name}" in t else t[f"src/{name}"]

    resize_cases = {
        "rgb_37x23.bmp": [(224, 139), (13, 19), (37, 50), (80, 23), (37, 23), (1, 1)],
        "src/smooth_300x200": [(224, 149), (100, 67), (7, 5), (300, 17), (41, 200)],
        "rgb_61x90.png": [(13, 19), (60, 91), (2, 200), (64, 94)],
    }
    sweep = np.random.default_rng(7).integers(1, 49, (40, 2))  # random small targets: window/bound edge cases
    resize_cases["rgb_37x23.bmp"] += [tuple(map(int, wh)) for wh in sweep[:20]]
    resize_cases["rgb_61x90.png"] += [tuple(map(int, wh)) for wh in sweep[20:]]
    for name, sizes in resize_cases.items():
        name = name.replace("src/", "")
        for (w, h) in sizes:
            t[f"resize/{name}/{w}x{h}"] = np.ascontiguousarray(
                np.asarray(Image.fromarray(source(name)).resize((w, h), Image.Resampling.BICUBIC)))

    for name, sizes in {"rgb_37x23.bmp": [20, 30, 50, 1, 23], "rgb_61x90.png": [61, 64, 7]}.items():
        for s in sizes:
            t[f"crop/{name}/{s}"] = np.ascontiguousarray(
                center_crop(source(name), (s, s), input_data_format="channels_last"))

    lut = norm_lut()
    t["norm_lut"] = lut
    # Fixture files at small crop sizes (the processor's size / crop_size set to S), to keep the file small.
    for f, s in [("rgb_37x23.bmp", 48), ("rgba_61x90.png", 64), ("photo_61x90.jpg", 64), ("grey_37x23.png", 31)]:
        img = Image.open(os.path.join(OUT, f))
        crop = hf_crop(img.convert("RGB"), s)
        check_against_processor(img, crop, s, lut, f)
        t[f"pipeline/{f}/{s}"] = crop

    # Real photos at 224: RGB PNG with a fractional long side (451x300 -> 336.7 -> 336), RGBA PNG, a JPEG.
    import transformers
    # One key: safetensors writes metadata keys in hash order, which would make reruns differ byte-wise.
    meta = {"generator": f"tools/make_image_fixtures.py pillow={PIL.__version__} numpy={np.__version__} "
                         f"transformers={transformers.__version__}"}
    save_file(t, os.path.join(OUT, "reference.safetensors"), metadata=meta)

    shared = ["skimage/chelsea.png", "skimage/horse.png", "opencv/building.jpg"]
    ts = {}
    if os.path.isdir(os.path.join(args.shared, "images")):
        for p in shared:
            img = Image.open(os.path.join(args.shared, "images", p))
            crop = hf_crop(img.convert("RGB"), SIZE)
            check_against_processor(img, crop, SIZE, lut, p)
            ts[f"pipeline_shared/{p}"] = crop
        save_file(ts, os.path.join(OUT, "reference_shared.safetensors"), metadata=meta)
    else:
        print(f"warning: {args.shared}/images not found: reference_shared.safetensors not rewritten")
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f"{len(files)} images, {len(t) + len(ts)} tensors, {total} bytes in {OUT}")


if __name__ == "__main__":
    main()

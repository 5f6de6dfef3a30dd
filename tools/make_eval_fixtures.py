#!/usr/bin/env python3
"""make_eval_fixtures.py — reference zero-shot predictions for `reco eval zeroshot --images` (issue 10).

An independent computation with Hugging Face transformers on the tiny committed fixture models: a small
torchvision-style ImageFolder of ../shared/data/images (LAYOUT below; the C++ test builds the same folder in
a temporary directory at test time from ../shared/data, nothing is copied into the project), classes in
sorted folder order, CLIP's prompt ensembling (class embedding = normalised mean of the normalised template
embeddings), cosine ranking, ties to the lower class index. Written to tests/fixtures/eval_zeroshot/:

  layout.tsv            class_folder<TAB>file<TAB>source path relative to ../shared/data/images
  templates.txt         the templates of the ensembled runs
  classes.txt           class names for the --classes run (one per line, sorted folder order)
  reference_<run>.tsv   per image: relative path, true class, predicted class, cosine (%.9g), the top-5
                        classes (comma-separated); '#' header lines give the run, top-1 and top-5 accuracy
                        and the smallest cosine margins (how far a prediction is from flipping)

Runs (RUNS below): tiny_clip_quickgelu_f32 with the templates and folder names; the same model with
classes.txt and the default "a photo of a {}."; tiny_siglip_f32 with the templates.

References follow transformers 4.49: CLIPTokenizer (slow, padding="max_length") + CLIPImageProcessor (slow,
PIL defaults = openai/clip-vit-base-patch32's), SiglipProcessor(padding="max_length", truncation=True) from
the fixture folder; get_text_features / get_image_features; images opened with PIL and convert("RGB") (as
reco does for every image; all the SigLIP inputs here are RGB anyway).

Run from the repository root (the venv of tools/requirements.txt):  tools/.venv/bin/python tools/make_eval_fixtures.py
"""
from pathlib import Path

import numpy as np
import torch
import transformers
from PIL import Image
from transformers import CLIPImageProcessor, CLIPModel, CLIPTokenizer, SiglipModel, SiglipProcessor

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "data"
IMAGE_DIR = SHARED / "images"
TOKENIZER_DIR = SHARED / "clip" / "hf_tokenizer"
FIXTURES = REPO / "tests" / "fixtures"
OUT = FIXTURES / "eval_zeroshot"

# class folder -> images (relative to ../shared/data/images). One JPEG (stb_image and libjpeg decode it
# slightly differently), one file name that sorts differently by case, the rest PNGs.
LAYOUT = {
    "bird": ["tuxpaint/crow.png", "tuxpaint/duck.png", "tuxpaint/hen.png", "tuxpaint/owl.png", "tuxpaint/penguin.png"],
    "fruit": ["tuxpaint/lemon.png", "tuxpaint/pineapple.png", "tuxpaint/strawberry.png", "opencv/apple.jpg"],
    "musical_instrument": ["tuxpaint/trumpet.png", "tuxpaint/violin.png", "tuxpaint/cello.png", "tuxpaint/drum_kit.png"],
    "sea_animal": ["tuxpaint/dolphin.png", "tuxpaint/orca.png", "tuxpaint/lobster.png", "tuxpaint/seahorse.png"],
    "tool": ["tuxpaint/hammer.png", "tuxpaint/saw.png", "tuxpaint/wrench.png"],
    "vehicle": ["tuxpaint/bus.png", "tuxpaint/car.png", "tuxpaint/fire_truck.png", "tuxpaint/tricycle.png"],
}
# the first four of CLIP's 80 ImageNet templates (../shared/data/clip/prompts/imagenet_templates.txt)
TEMPLATES = ["a bad photo of a {}.", "a photo of many {}.", "a sculpture of a {}.", "a photo of the hard to see {}."]
CLASSES = ["small bird", "piece of fruit", "musical instrument", "animal of the sea", "hand tool", "road vehicle"]
DEFAULT_TEMPLATE = ["a photo of a {}."]

RUNS = [  # name, model fixture, family, class names (None = folder names with _ -> space), templates
    ("clip_templates", "tiny_clip_quickgelu_f32", "clip", None, TEMPLATES),
    ("clip_classes", "tiny_clip_quickgelu_f32", "clip", CLASSES, DEFAULT_TEMPLATE),
    ("siglip_templates", "tiny_siglip_f32", "siglip", None, TEMPLATES),
]


def folder_images():
    """(relative path in the folder, class index, source) in ImageFolder order: sorted classes, sorted files."""
    rows = []
    for c, folder in enumerate(sorted(LAYOUT)):
        files = sorted((Path(s).name, s) for s in LAYOUT[folder])
        rows += [(f"{folder}/{name}", c, src) for name, src in files]
    return rows


def unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def embed(family, fixture, prompts, images):
    d = FIXTURES / fixture
    with torch.no_grad():
        if family == "clip":
            model = CLIPModel.from_pretrained(d, torch_dtype=torch.float32, attn_implementation="eager").eval()
            tok = CLIPTokenizer.from_pretrained(str(TOKENIZER_DIR))
            ids = tok(prompts, padding="max_length", max_length=77, truncation=True, return_tensors="pt")
            pix = CLIPImageProcessor()(images=images, return_tensors="pt")["pixel_values"]
            t = model.get_text_features(input_ids=ids["input_ids"], attention_mask=ids["attention_mask"])
        else:
            model = SiglipModel.from_pretrained(d, torch_dtype=torch.float32, attn_implementation="eager").eval()
            proc = SiglipProcessor.from_pretrained(d)
            enc = proc(text=prompts, images=images, padding="max_length", truncation=True, return_tensors="pt")
            pix = enc["pixel_values"]
            t = model.get_text_features(input_ids=enc["input_ids"])
        v = model.get_image_features(pixel_values=pix)
    return unit(t.numpy().astype(np.float64)), unit(v.numpy().astype(np.float64))


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    rows = folder_images()
    folders = sorted(LAYOUT)
    with open(OUT / "layout.tsv", "w") as f:
        f.write("# class_folder\tfile\tsource (relative to ../shared/data/images); made by tools/make_eval_fixtures.py\n")
        for rel, _, src in rows:
            folder, name = rel.split("/")
            f.write(f"{folder}\t{name}\t{src}\n")
    (OUT / "templates.txt").write_text("".join(t + "\n" for t in TEMPLATES))
    (OUT / "classes.txt").write_text("".join(c + "\n" for c in CLASSES))
    images = [Image.open(IMAGE_DIR / src).convert("RGB") for _, _, src in rows]
    labels = np.array([c for _, c, _ in rows])
    for name, fixture, family, classes, templates in RUNS:
        names = classes or [f.replace("_", " ") for f in folders]
        prompts = [t.replace("{}", c) for c in names for t in templates]
        T, V = embed(family, fixture, prompts, images)
        cls = unit(T.reshape(len(names), len(templates), -1).mean(axis=1))
        S = V @ cls.T
        order = np.argsort(-S, axis=1, kind="stable")  # ties -> lower class index
        top1 = 100.0 * np.mean(order[:, 0] == labels)
        top5 = 100.0 * np.mean([labels[i] in order[i, :5] for i in range(len(rows))])
        srt = -np.sort(-S, axis=1)
        margin1 = float(np.min(srt[:, 0] - srt[:, 1]))
        margin5 = float(np.min(srt[:, 4] - srt[:, 5]))
        with open(OUT / f"reference_{name}.tsv", "w") as f:
            f.write(f"# run {name}: model tests/fixtures/{fixture}, {len(templates)} template(s), "
                    f"transformers {transformers.__version__}, torch {torch.__version__}\n")
            f.write(f"# top1 {top1:.6f}\n# top5 {top5:.6f}\n")
            f.write(f"# smallest cosine margin: top-1 vs 2nd {margin1:.3g}, 5th vs 6th {margin5:.3g}\n")
            for i, (rel, c, _) in enumerate(rows):
                top = ",".join(names[j] for j in order[i, :5])
                f.write(f"{rel}\t{names[c]}\t{names[order[i, 0]]}\t{S[i, order[i, 0]]:.9g}\t{top}\n")
        print(f"{name}: top-1 {top1:.2f}% top-5 {top5:.2f}%, margins {margin1:.3g} / {margin5:.3g}")
        assert margin1 > 1e-4 and margin5 > 1e-4, "a prediction is too close to a tie to be a fair test"


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""make_random_clip.py — a CLIP model folder with random weights in the shape of
openai/clip-vit-base-patch32 (transformers' CLIPConfig defaults), for benchmarks that need a real
model folder but not real weights (tools/bench.sh: `reco memory build` end to end).

    python tools/make_random_clip.py OUT_DIR [--tokenizer DIR_WITH_vocab.json_AND_merges.txt]

Writes OUT_DIR/config.json and OUT_DIR/model.safetensors (fp16, ~300 MB) and copies the tokenizer
files. Needs torch and transformers (tools/requirements-bench.txt)."""
import argparse
import os
import shutil

import torch
from transformers import CLIPConfig, CLIPModel


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--tokenizer", default=os.path.join(os.path.dirname(__file__), "../../shared/data/clip/hf_tokenizer"))
    a = ap.parse_args()
    torch.manual_seed(0)
    model = CLIPModel(CLIPConfig()).half().eval()  # defaults: ViT-B/32 image tower, 12-layer 512-wide text tower
    model.save_pretrained(a.out, safe_serialization=True)
    for f in ("vocab.json", "merges.txt"):
        shutil.copy(os.path.join(a.tokenizer, f), os.path.join(a.out, f))
    print("wrote", a.out)


if __name__ == "__main__":
    main()

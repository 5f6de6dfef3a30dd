#!/usr/bin/env python3
"""PyTorch CPU baseline for tools/bench_towers.cpp: the same ViT-B/32-shaped random CLIPModel
(transformers), the same batch sizes and thread count, the same kind of ~10-token prompts.

Texts are measured twice: padded to the batch's longest prompt (what a careful HF user does) and
padded to 77 (openai clip.tokenize / padding="max_length").
usage: bench_towers_torch.py [image_batch=16] [text_batch=64] [seconds=5] [threads=2] [bf16]
(bf16: also images/s under torch.autocast('cpu', dtype=torch.bfloat16))
"""
import sys
import time

import torch
from transformers import CLIPConfig, CLIPModel


def rate(fn, items, seconds):
    fn()
    t0 = time.perf_counter()
    done = 0
    while True:
        fn()
        done += items
        el = time.perf_counter() - t0
        if el >= seconds:
            return done / el


def main():
    ib = int(sys.argv[1]) if len(sys.argv) > 1 else 16
    tb = int(sys.argv[2]) if len(sys.argv) > 2 else 64
    secs = float(sys.argv[3]) if len(sys.argv) > 3 else 5
    threads = int(sys.argv[4]) if len(sys.argv) > 4 else 2
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = CLIPModel(CLIPConfig()).eval()  # defaults = ViT-B/32 shapes, quick_gelu
    pix = torch.randn(ib, 3, 224, 224)
    g = torch.Generator().manual_seed(1)
    lens = [6 + b % 5 for b in range(tb)]
    longest = max(lens) + 3
    ids = torch.zeros(tb, 77, dtype=torch.long)
    for b, n in enumerate(lens):
        ids[b, 0] = 49406
        ids[b, 1:n + 1] = torch.randint(320, 40320, (n,), generator=g)
        ids[b, n + 1] = 269
        ids[b, n + 2:] = 49407  # HF pads with 49407
    with torch.inference_mode():
        ir = rate(lambda: model.get_image_features(pixel_values=pix), ib, secs)
        print(f"torch images/s {ir:.2f}")
        if len(sys.argv) > 5 and sys.argv[5] == "bf16":  # bf16 autocast (oneDNN bf16 / AMX where present)
            with torch.autocast("cpu", dtype=torch.bfloat16):
                br = rate(lambda: model.get_image_features(pixel_values=pix), ib, secs)
            print(f"torch_bf16 images/s {br:.2f}")
        short = ids[:, :longest].contiguous()
        tr = rate(lambda: model.get_text_features(input_ids=short), tb, secs)
        print(f"torch texts/s {tr:.2f}")
        tr77 = rate(lambda: model.get_text_features(input_ids=ids), tb, secs)
        print(f"torch texts77/s {tr77:.2f}")


if __name__ == "__main__":
    main()

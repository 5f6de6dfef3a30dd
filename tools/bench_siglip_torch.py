#!/usr/bin/env python3
"""PyTorch CPU baseline for tools/bench_siglip.cpp: the same SigLIP-base-shaped random SiglipModel
(transformers defaults = google/siglip-base-patch16-224 shapes: 768 wide, 12 layers, 12 heads, mlp 3072,
patch 16 at 224 px with the MAP head; 64 text positions, vocab 32000; gelu_pytorch_tanh), fp32,
torch.inference_mode(), the same batch sizes and thread count, and texts padded to 64 tokens as SigLIP
requires (padding="max_length"; the model was trained without an attention mask, so there is no shorter
correct input). Attention is transformers' default implementation (SDPA in 4.49).
usage: bench_siglip_torch.py [image_batch=16] [text_batch=64] [seconds=5] [threads=2]
"""
import sys
import time

import torch
from transformers import SiglipConfig, SiglipModel


def rate(fn, items, seconds):
    fn()  # warm-up
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
    model = SiglipModel(SiglipConfig()).eval()
    vc, tc = model.config.vision_config, model.config.text_config
    assert (vc.hidden_size, vc.num_hidden_layers, vc.patch_size, vc.image_size) == (768, 12, 16, 224)
    assert (tc.hidden_size, tc.num_hidden_layers, tc.max_position_embeddings, tc.vocab_size) == (768, 12, 64, 32000)
    print(f"torch SiglipModel: {sum(p.numel() for p in model.parameters())} parameters, "
          f"attn_implementation {model.config._attn_implementation}")
    pix = torch.randn(ib, 3, 224, 224)
    g = torch.Generator().manual_seed(1)
    ids = torch.ones(tb, 64, dtype=torch.long)  # "</s>" (id 1) padding, as google/siglip-* tokenizers
    for b in range(tb):
        n = 6 + b % 5
        ids[b, :n] = torch.randint(3, 31993, (n,), generator=g)
    with torch.inference_mode():
        ir = rate(lambda: model.get_image_features(pixel_values=pix), ib, secs)
        print(f"torch images/s {ir:.2f}")
        tr = rate(lambda: model.get_text_features(input_ids=ids), tb, secs)
        print(f"torch texts/s {tr:.2f}")


if __name__ == "__main__":
    main()

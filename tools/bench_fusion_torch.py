#!/usr/bin/env python3
"""PyTorch CPU baseline for tools/bench_fusion.cpp: the same two fusion modules (SPEC §3, the
independent PyTorch model of tools/make_fusion_fixture.py), the 3-term NCE loss, autograd and
torch.optim.AdamW, same d / k / batch / thread count.
usage: bench_fusion_torch.py [d=512] [k=10] [batch=256] [seconds=5] [threads=2]
"""
import math
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fusion_fixture import Fusion, nce  # noqa: E402


def main():
    d = int(sys.argv[1]) if len(sys.argv) > 1 else 512
    k = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    B = int(sys.argv[3]) if len(sys.argv) > 3 else 256
    secs = float(sys.argv[4]) if len(sys.argv) > 4 else 5
    threads = int(sys.argv[5]) if len(sys.argv) > 5 else 2
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    img, txt = Fusion(d, 8), Fusion(d, 8)
    logit_scale = torch.nn.Parameter(torch.tensor(math.log(1 / 0.07)))
    decay = [p for m in (img, txt) for n, p in m.named_parameters() if p.dim() == 2]
    no_decay = [p for m in (img, txt) for n, p in m.named_parameters() if p.dim() != 2] + [logit_scale]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=1e-3, betas=(0.9, 0.999), eps=1e-8)
    unit = lambda *s: F.normalize(torch.randn(*s), dim=-1)
    V, T, nt, ni = unit(B, d), unit(B, d), unit(B, k, d), unit(B, k, d)

    def step():
        opt.zero_grad(set_to_none=True)
        s = logit_scale.exp().clamp(max=100)
        vb, tb = img(V, nt), txt(T, ni)
        loss = nce(vb, tb, s) + nce(vb, T, s) + nce(V, tb, s)
        loss.backward()
        opt.step()
        return loss.item()

    step()
    t0 = time.perf_counter()
    n = 0
    while True:
        loss = step()
        n += 1
        el = time.perf_counter() - t0
        if el >= secs:
            break
    print(f"torch fusion d={d} k={k} batch={B}: last loss {loss:.4f}")
    print(f"torch steps/s {n / el:.3f}")


if __name__ == "__main__":
    main()

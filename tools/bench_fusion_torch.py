#!/usr/bin/env python3
"""PyTorch CPU baseline for tools/bench_fusion.cpp: the same two fusion modules (SPEC §3, the
independent PyTorch model of tools/make_fusion_fixture.py), the 3-term NCE loss, autograd and
torch.optim.AdamW, same d / k / batch / thread count.
usage: bench_fusion_torch.py [d=512] [k=10] [batch=256] [seconds=5] [threads=2] [full|query-row]

full (default): nn.MultiheadAttention over the whole (k+1)-token layer, as the paper's model is written.
query-row: the like-for-like baseline — only the query row Y[0] (the only output used), with K and V folded
into matrix-vector products as reco does (SPEC §3): scores_j = h_j·(W_kᵀ q_h) + b_k·q_h, and
Σ_j p_j v_j = W_v (Σ_j p_j h_j) + b_v. Same parameters, same outputs (checked at start to 1e-5).
"""
import math
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fusion_fixture import Fusion, nce  # noqa: E402


class QueryRowFusion(Fusion):
    """Fusion computing only Y[0], K/V folded (same parameters and output as Fusion)."""

    def forward(self, q, nbr):
        x = torch.cat([q[:, None, :], nbr], dim=1)  # [B, n, d]
        h = self.ln1(x)
        d = h.shape[-1]
        H = self.attn.num_heads
        dh = d // H
        w, b = self.attn.in_proj_weight, self.attn.in_proj_bias
        q0 = F.linear(h[:, 0], w[:d], b[:d]).view(-1, H, dh) / math.sqrt(dh)  # [B, H, dh]
        u = torch.einsum("bhe,hed->bhd", q0, w[d:2 * d].view(H, dh, d))      # W_kᵀ q per head
        c = torch.einsum("bhe,he->bh", q0, b[d:2 * d].view(H, dh))
        p = (torch.einsum("bnd,bhd->bhn", h, u) + c[..., None]).softmax(-1)  # [B, H, n]
        hbar = torch.einsum("bhn,bnd->bhd", p, h)
        a = torch.einsum("bhd,hed->bhe", hbar, w[2 * d:].view(H, dh, d)) + b[2 * d:].view(H, dh)
        x0 = x[:, 0] + self.attn.out_proj(a.reshape(-1, d))
        y = x0 + self.fc2(self.act(self.fc1(self.ln2(x0))))
        return F.normalize(y, dim=-1)


def main():
    d = int(sys.argv[1]) if len(sys.argv) > 1 else 512
    k = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    B = int(sys.argv[3]) if len(sys.argv) > 3 else 256
    secs = float(sys.argv[4]) if len(sys.argv) > 4 else 5
    threads = int(sys.argv[5]) if len(sys.argv) > 5 else 2
    mode = sys.argv[6] if len(sys.argv) > 6 else "full"
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    Model = QueryRowFusion if mode == "query-row" else Fusion
    img, txt = Model(d, 8), Model(d, 8)
    if mode == "query-row":  # the folded algebra gives the full layer's Y[0]
        full = Fusion(d, 8)
        full.load_state_dict(img.state_dict())
        qq, nn_ = F.normalize(torch.randn(4, d), dim=-1), F.normalize(torch.randn(4, k, d), dim=-1)
        with torch.no_grad():
            assert torch.allclose(full(qq, nn_), img(qq, nn_), atol=1e-5), "query-row model differs from the full layer"
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
    print(f"torch fusion ({mode}) d={d} k={k} batch={B}: last loss {loss:.4f}")
    print(f"torch steps/s {n / el:.3f}")


if __name__ == "__main__":
    main()

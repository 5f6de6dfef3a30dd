#!/usr/bin/env python3
"""PyTorch eager baselines on the GPU, for tools/gpu_check.sh (beside tools/bench_gpu.cpp).

Same shapes, batches and data sizes as bench_gpu.cpp; random weights; prints "RESULT torch_<key> <value>":
  towers  ViT-B/32- and ViT-L/14-shaped CLIPs in fp16 (transformers CLIPModel with SDPA attention when
          transformers is importable, else an equivalent minimal CLIP in plain torch): images/s for a batch
          of 256 images already on the GPU, texts/s for 1024 prompts of 12 tokens (padded to 12, the
          longest, as bench_gpu.cpp's batch is cut to 12)
  top-k   torch.topk(q @ Mᵀ, 10) with q, M fp16 on the GPU, 1M and 10M × 512, 1 / 64 / 1024 queries
          (queries chunked so the score matrix stays ≤ 2 GB): queries/s and effective GB/s (N·d·2 / time)
  fusion  the RECO fusion modules of SPEC §3 as a PyTorch user writes them (nn.MultiheadAttention over all
          k+1 tokens, nn.GELU, F.normalize), the 3-term NCE loss, autograd, torch.optim.AdamW; fp32
          (TF32 off), d = 512, k = 10, batch 256: steps/s
Without torch (or without a CUDA device for it) it prints "torch: not available" and exits 0.
usage: bench_gpu_torch.py [seconds per figure = 2] [sections = towers,topk,fusion]
"""
import math
import sys
import time

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except Exception as e:  # noqa: BLE001 — any import failure means no baseline
    print(f"torch: not available ({type(e).__name__}: {e})")
    sys.exit(0)
if not torch.cuda.is_available():
    print("torch: not available (torch sees no CUDA device)")
    sys.exit(0)

DEV = torch.device("cuda")
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False


def per_call(fn, secs):
    fn()
    torch.cuda.synchronize()
    n, t0 = 0, time.perf_counter()
    while True:
        fn()
        torch.cuda.synchronize()
        n += 1
        el = time.perf_counter() - t0
        if el >= secs and n >= 2:
            return el / n


# ----------------------------------------------------------------------------- minimal CLIP (fallback)
class Block(nn.Module):
    def __init__(self, c, heads, mlp):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(c), nn.LayerNorm(c)
        self.q, self.k, self.v, self.o = (nn.Linear(c, c) for _ in range(4))
        self.fc1, self.fc2 = nn.Linear(c, mlp), nn.Linear(mlp, c)

    def forward(self, x, causal):
        B, T, C = x.shape
        h = self.ln1(x)
        sh = lambda t: t.view(B, T, self.heads, C // self.heads).transpose(1, 2)  # noqa: E731
        a = F.scaled_dot_product_attention(sh(self.q(h)), sh(self.k(h)), sh(self.v(h)), is_causal=causal)
        x = x + self.o(a.transpose(1, 2).reshape(B, T, C))
        h = self.fc1(self.ln2(x))
        return x + self.fc2(h * torch.sigmoid(1.702 * h))


class MiniClip(nn.Module):
    def __init__(self, vc, vl, vh, vm, patch, tc, tl, th, tm, e):
        super().__init__()
        g = 224 // patch
        self.patch = nn.Conv2d(3, vc, patch, patch, bias=False)
        self.cls = nn.Parameter(torch.randn(vc) * 0.02)
        self.vpos = nn.Parameter(torch.randn(g * g + 1, vc) * 0.02)
        self.ln_pre, self.ln_post, self.ln_final = nn.LayerNorm(vc), nn.LayerNorm(vc), nn.LayerNorm(tc)
        self.vblocks = nn.ModuleList(Block(vc, vh, vm) for _ in range(vl))
        self.vproj = nn.Linear(vc, e, bias=False)
        self.tok = nn.Embedding(49408, tc)
        self.tpos = nn.Parameter(torch.randn(77, tc) * 0.01)
        self.tblocks = nn.ModuleList(Block(tc, th, tm) for _ in range(tl))
        self.tproj = nn.Linear(tc, e, bias=False)

    def get_image_features(self, pixel_values):
        x = self.patch(pixel_values).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], 1, -1), x], 1) + self.vpos
        x = self.ln_pre(x)
        for b in self.vblocks:
            x = b(x, False)
        return self.vproj(self.ln_post(x[:, 0]))

    def get_text_features(self, input_ids):
        T = input_ids.shape[1]
        x = self.tok(input_ids) + self.tpos[:T]
        for b in self.tblocks:
            x = b(x, True)
        x = self.ln_final(x)
        return self.tproj(x[torch.arange(x.shape[0], device=x.device), input_ids.argmax(-1)])


def make_clip(large):
    shapes = dict(vc=1024, vl=24, vh=16, vm=4096, patch=14, tc=768, tl=12, th=12, tm=3072, e=768) if large else \
        dict(vc=768, vl=12, vh=12, vm=3072, patch=32, tc=512, tl=12, th=8, tm=2048, e=512)
    try:
        from transformers import CLIPConfig, CLIPModel
        cfg = CLIPConfig(
            text_config=dict(hidden_size=shapes["tc"], num_hidden_layers=shapes["tl"], num_attention_heads=shapes["th"],
                             intermediate_size=shapes["tm"], hidden_act="quick_gelu"),
            vision_config=dict(hidden_size=shapes["vc"], num_hidden_layers=shapes["vl"],
                               num_attention_heads=shapes["vh"], intermediate_size=shapes["vm"],
                               patch_size=shapes["patch"], image_size=224, hidden_act="quick_gelu"),
            projection_dim=shapes["e"])
        cfg._attn_implementation = "sdpa"
        with torch.device(DEV):
            m = CLIPModel(cfg)
        return m.half().eval(), "transformers CLIPModel (sdpa)"
    except Exception as e:  # noqa: BLE001
        with torch.device(DEV):
            m = MiniClip(**shapes)
        return m.half().eval(), f"minimal torch CLIP ({type(e).__name__} with transformers)"


def bench_towers(secs):
    for large in (False, True):
        name = "L14" if large else "B32"
        t0 = time.perf_counter()
        model, what = make_clip(large)
        print(f"# torch towers {name}: {what}, built in {time.perf_counter() - t0:.1f} s")
        pix = torch.randn(256, 3, 224, 224, device=DEV, dtype=torch.float16)
        ids = torch.zeros(1024, 12, dtype=torch.long, device=DEV)
        ids[:, 0] = 49406
        ids[:, 1:11] = torch.randint(1000, 41000, (1024, 10), device=DEV)
        ids[:, 11] = 49407
        with torch.inference_mode():
            t = per_call(lambda: model.get_image_features(pixel_values=pix), secs)
            print(f"RESULT torch_{name}_images_per_s {256 / t:.1f}")
            t = per_call(lambda: model.get_text_features(input_ids=ids), secs)
            print(f"RESULT torch_{name}_texts_per_s {1024 / t:.1f}")
        del model
        torch.cuda.empty_cache()
        sys.stdout.flush()


def bench_topk(secs):
    d, k = 512, 10
    for N, tag in ((1_000_000, "1M"), (10_000_000, "10M")):
        M = torch.empty(N, d, dtype=torch.float16, device=DEV)
        for i in range(0, N, 1_000_000):  # normalised random rows, built in slices
            r = torch.randn(min(1_000_000, N - i), d, device=DEV)
            M[i:i + r.shape[0]] = F.normalize(r, dim=-1).half()
        for Q in (1, 64, 1024):
            q = F.normalize(torch.randn(Q, d, device=DEV), dim=-1).half()
            chunk = max(1, min(Q, (2 << 30) // (2 * N)))

            def search():
                return [torch.topk(q[i:i + chunk] @ M.T, k, dim=1) for i in range(0, Q, chunk)]

            with torch.inference_mode():
                t = per_call(search, secs)
            print(f"RESULT torch_topk_{tag}_q{Q}_queries_per_s {Q / t:.1f}")
            print(f"RESULT torch_topk_{tag}_q{Q}_GBps {N * d * 2 / t / 1e9:.1f}")
            sys.stdout.flush()
        del M
        torch.cuda.empty_cache()


class Fusion(nn.Module):
    """SPEC §3: one pre-LN layer over [q; r_1..r_k], returns Y[0]/||Y[0]|| (as tools/make_fusion_fixture.py)."""

    def __init__(self, d, heads):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = nn.MultiheadAttention(d, heads, batch_first=True)
        self.fc1, self.fc2 = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def forward(self, q, nbr):
        x = torch.cat([q[:, None, :], nbr], 1)
        h = self.ln1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        y = x + self.fc2(F.gelu(self.fc1(self.ln2(x))))
        return F.normalize(y[:, 0], dim=-1)


def nce(a, b, s):
    logits = s * a @ b.T
    labels = torch.arange(a.shape[0], device=a.device)
    return 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels))


def bench_fusion(secs):
    d, k, B = 512, 10, 256
    torch.manual_seed(0)
    img, txt = Fusion(d, 8).to(DEV), Fusion(d, 8).to(DEV)
    logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07), device=DEV))
    decay = [p for m in (img, txt) for p in m.parameters() if p.dim() == 2]
    no_decay = [p for m in (img, txt) for p in m.parameters() if p.dim() != 2] + [logit_scale]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=1e-3)
    unit = lambda *s: F.normalize(torch.randn(*s, device=DEV), dim=-1)  # noqa: E731
    V, T, nt, ni = unit(B, d), unit(B, d), unit(B, k, d), unit(B, k, d)
    last = [0.0]

    def step():
        opt.zero_grad(set_to_none=True)
        s = logit_scale.exp().clamp(max=100)
        vb, tb = img(V, nt), txt(T, ni)
        loss = nce(vb, tb, s) + nce(vb, T, s) + nce(V, tb, s)
        loss.backward()
        opt.step()
        last[0] = loss.item()  # as reco's train_step returns the loss: one sync per step

    t = per_call(step, secs)
    print(f"# torch fusion d={d} k={k} batch={B}: last loss {last[0]:.4f}")
    print(f"RESULT torch_fusion_steps_per_s {1 / t:.2f}")


def main():
    secs = float(sys.argv[1]) if len(sys.argv) > 1 else 2.0
    sections = sys.argv[2] if len(sys.argv) > 2 else "towers,topk,fusion"
    print(f"# torch {torch.__version__} on {torch.cuda.get_device_name(0)}")
    for name, fn in (("towers", bench_towers), ("topk", bench_topk), ("fusion", bench_fusion)):
        if name not in sections:
            continue
        try:
            fn(secs)
        except Exception as e:  # noqa: BLE001 — report and go on with the next section
            print(f"# torch {name} failed: {type(e).__name__}: {e}")
        sys.stdout.flush()


if __name__ == "__main__":
    main()

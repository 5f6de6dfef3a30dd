#!/usr/bin/env python3
"""make_fusion_fixture.py — PyTorch reference for the RECO fusion module, its loss and AdamW.

Writes tests/fixtures/fusion/{data,init,expected}.safetensors, read by tests/test_fusion_grad.cpp:
  data.safetensors      V, T [N,d]; nbr_txt_for_img, nbr_img_for_txt [N,k,d] (random unit rows);
                        metadata: heads, k, batch, steps, lr, weight_decay
  init.safetensors      the initial weights, SPEC names (image_fusion.*, text_fusion.*, logit_scale)
  expected.safetensors  losses [steps] (before each update), grad0.<name> (gradient at the init
                        weights, first batch), final.<name> (weights after `steps` AdamW updates)

The model is written from SPEC §3/§4 with stock torch modules, independently of the C++ code:
nn.LayerNorm, nn.MultiheadAttention (its packed in_proj split into q/k/v_proj), nn.Linear,
nn.GELU() (exact erf), autograd for the gradients, torch.optim.AdamW with weight decay on the
2-D weights only. Weights are random (biases and LayerNorm affine included, so every path
matters), drawn in fp32 and saved in fp32; the training itself runs in float64 so the fixture is
the exact answer and the C++ fp32 run is compared to it. Batches in file order, no shuffle,
constant lr.

Usage: tools/.venv/bin/python tools/make_fusion_fixture.py [--out tests/fixtures/fusion]
"""
import argparse
import json
import math
import os

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file

D, HEADS, K, BATCH, N, STEPS = 32, 4, 5, 8, 40, 10
LR, WD = 1e-3, 0.05
LOGIT_SCALE = math.log(1 / 0.07)


class Fusion(nn.Module):
    """One pre-LN transformer layer over [q; r_1..r_k]; returns Y[0] / ||Y[0]||."""

    def __init__(self, d, heads):
        super().__init__()
        self.ln1 = nn.LayerNorm(d, eps=1e-5)
        self.attn = nn.MultiheadAttention(d, heads, bias=True, batch_first=True)
        self.ln2 = nn.LayerNorm(d, eps=1e-5)
        self.fc1 = nn.Linear(d, 4 * d)
        self.act = nn.GELU()  # approximate='none': exact erf
        self.fc2 = nn.Linear(4 * d, d)

    def forward(self, q, nbr):
        x = torch.cat([q[:, None, :], nbr], dim=1)  # [B, k+1, d], no positional embedding
        h = self.ln1(x)
        a, _ = self.attn(h, h, h, need_weights=False)  # no mask
        x = x + a
        y = x + self.fc2(self.act(self.fc1(self.ln2(x))))
        return F.normalize(y[:, 0], dim=-1)

    def named_spec(self, prefix):
        """(SPEC name, tensor view) pairs; q/k/v_proj are row blocks of MHA's packed in_proj."""
        d = self.ln1.weight.shape[0]
        w, b = self.attn.in_proj_weight, self.attn.in_proj_bias
        return [
            (f"{prefix}.ln1.weight", self.ln1.weight), (f"{prefix}.ln1.bias", self.ln1.bias),
            (f"{prefix}.attn.q_proj.weight", w[:d]), (f"{prefix}.attn.q_proj.bias", b[:d]),
            (f"{prefix}.attn.k_proj.weight", w[d:2 * d]), (f"{prefix}.attn.k_proj.bias", b[d:2 * d]),
            (f"{prefix}.attn.v_proj.weight", w[2 * d:]), (f"{prefix}.attn.v_proj.bias", b[2 * d:]),
            (f"{prefix}.attn.out_proj.weight", self.attn.out_proj.weight),
            (f"{prefix}.attn.out_proj.bias", self.attn.out_proj.bias),
            (f"{prefix}.ln2.weight", self.ln2.weight), (f"{prefix}.ln2.bias", self.ln2.bias),
            (f"{prefix}.mlp.fc1.weight", self.fc1.weight), (f"{prefix}.mlp.fc1.bias", self.fc1.bias),
            (f"{prefix}.mlp.fc2.weight", self.fc2.weight), (f"{prefix}.mlp.fc2.bias", self.fc2.bias),
        ]


def nce(a, b, s):
    """½[CE(s·A·Bᵀ, I) + CE(s·B·Aᵀ, I)], mean over the batch."""
    logits = s * a @ b.T
    labels = torch.arange(a.shape[0])
    return 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels))


def spec_tensors(img, txt, logit_scale, prefix=""):
    out = {}
    for name, t in img.named_spec("image_fusion") + txt.named_spec("text_fusion"):
        out[prefix + name] = t.detach().float().contiguous().clone()
    out[prefix + "logit_scale"] = logit_scale.detach().float().reshape(()).clone()
    return out


def grads_spec(img, txt, logit_scale, prefix):
    out = {}
    # gradients of the packed in_proj are split the same way as the weights
    for mod, p in ((img, "image_fusion"), (txt, "text_fusion")):
        d = mod.ln1.weight.shape[0]
        gw, gb = mod.attn.in_proj_weight.grad, mod.attn.in_proj_bias.grad
        pairs = [
            ("ln1.weight", mod.ln1.weight.grad), ("ln1.bias", mod.ln1.bias.grad),
            ("attn.q_proj.weight", gw[:d]), ("attn.q_proj.bias", gb[:d]),
            ("attn.k_proj.weight", gw[d:2 * d]), ("attn.k_proj.bias", gb[d:2 * d]),
            ("attn.v_proj.weight", gw[2 * d:]), ("attn.v_proj.bias", gb[2 * d:]),
            ("attn.out_proj.weight", mod.attn.out_proj.weight.grad),
            ("attn.out_proj.bias", mod.attn.out_proj.bias.grad),
            ("ln2.weight", mod.ln2.weight.grad), ("ln2.bias", mod.ln2.bias.grad),
            ("mlp.fc1.weight", mod.fc1.weight.grad), ("mlp.fc1.bias", mod.fc1.bias.grad),
            ("mlp.fc2.weight", mod.fc2.weight.grad), ("mlp.fc2.bias", mod.fc2.bias.grad),
        ]
        for n, g in pairs:
            out[f"{prefix}{p}.{n}"] = g.detach().float().contiguous().clone()
    out[prefix + "logit_scale"] = logit_scale.grad.detach().float().reshape(()).clone()
    return out


def save(tensors, path, meta):
    """save_file with the __metadata__ keys sorted (the library writes them in hash order), so the
    same inputs give the same bytes; written to PATH.tmp, then renamed."""
    tmp = path + ".tmp"
    save_file(tensors, tmp, metadata=meta)
    with open(tmp, "rb") as f:
        raw = f.read()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    header["__metadata__"] = dict(sorted(header["__metadata__"].items()))
    hb = json.dumps(header, separators=(",", ":")).encode()
    hb += b" " * (-len(hb) % 8)
    with open(tmp, "wb") as f:
        f.write(len(hb).to_bytes(8, "little") + hb + raw[8 + n:])
    os.replace(tmp, path)


def unit_rows(*shape, gen):
    x = torch.randn(*shape, generator=gen)
    return F.normalize(x, dim=-1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "fusion"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    gen = torch.Generator().manual_seed(20240607)
    img, txt = Fusion(D, HEADS), Fusion(D, HEADS)
    with torch.no_grad():  # random fp32 weights, every tensor nonzero
        for mod in (img, txt):
            for name, p in mod.named_parameters():
                if name.startswith("ln"):
                    p.copy_((1.0 if name.endswith("weight") else 0.0) + 0.1 * torch.randn(p.shape, generator=gen))
                else:
                    fan_in = p.shape[-1] if p.dim() == 2 else D
                    bound = 1 / math.sqrt(fan_in)
                    p.copy_((torch.rand(p.shape, generator=gen) * 2 - 1) * bound)
    logit_scale = nn.Parameter(torch.tensor(LOGIT_SCALE, dtype=torch.float32))
    init = spec_tensors(img, txt, logit_scale)

    V, T = unit_rows(N, D, gen=gen), unit_rows(N, D, gen=gen)
    nbr_t, nbr_i = unit_rows(N, K, D, gen=gen), unit_rows(N, K, D, gen=gen)

    # train in float64 from the fp32 values
    img.double()
    txt.double()
    logit_scale = nn.Parameter(logit_scale.detach().double())
    decay, no_decay = [], []
    for mod in (img, txt):
        for p in mod.parameters():
            (decay if p.dim() == 2 else no_decay).append(p)
    no_decay.append(logit_scale)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": WD}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=LR, betas=(0.9, 0.999), eps=1e-8)
    Vd, Td, nbr_td, nbr_id = V.double(), T.double(), nbr_t.double(), nbr_i.double()
    losses, grad0 = [], None
    for step in range(STEPS):
        b0 = (step * BATCH) % N
        sl = slice(b0, b0 + BATCH)
        opt.zero_grad()
        vb = img(Vd[sl], nbr_td[sl])
        tb = txt(Td[sl], nbr_id[sl])
        s = logit_scale.exp().clamp(max=100)
        loss = nce(vb, tb, s) + nce(vb, Td[sl], s) + nce(Vd[sl], tb, s)
        loss.backward()
        if step == 0:
            grad0 = grads_spec(img, txt, logit_scale, "grad0.")
        losses.append(loss.item())
        opt.step()
        print(f"step {step}: loss {loss.item():.8f}")

    meta = {"heads": str(HEADS), "k": str(K), "batch": str(BATCH), "steps": str(STEPS), "lr": repr(LR),
            "weight_decay": repr(WD), "made_by": "tools/make_fusion_fixture.py", "torch": torch.__version__}
    save({"V": V.contiguous(), "T": T.contiguous(), "nbr_txt_for_img": nbr_t.contiguous(),
          "nbr_img_for_txt": nbr_i.contiguous()}, os.path.join(args.out, "data.safetensors"), meta)
    save(init, os.path.join(args.out, "init.safetensors"), meta)
    expected = {"losses": torch.tensor(losses, dtype=torch.float64)}
    expected.update(grad0)
    expected.update(spec_tensors(img, txt, logit_scale, "final."))
    save(expected, os.path.join(args.out, "expected.safetensors"), meta)


if __name__ == "__main__":
    main()

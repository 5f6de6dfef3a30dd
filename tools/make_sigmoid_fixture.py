#!/usr/bin/env python3
"""make_sigmoid_fixture.py — PyTorch reference for RECO training with SigLIP's sigmoid loss.

The same 10-step setup as tools/make_fusion_fixture.py (model, data, AdamW, batches in file order,
constant lr, float64 training from fp32 weights; its Fusion module and helpers are imported from
there), with the sigmoid loss (Zhai et al. 2023, SPEC §8) in each of the three terms:

  SIG(A, B) = −(1/N) Σ_i Σ_j log σ(ℓ_ij · (t·a_i·b_j + β)),  ℓ_ij = +1 if i = j else −1
  L = SIG(V̄, T̄) + SIG(V̄, T) + SIG(V, T̄),  t = exp(logit_scale).clamp(max=100)

one (logit_scale, logit_bias) pair shared by the three terms, initialised ln 10 and −10, both
learnable and not decayed. Written independently of the C++ code with F.logsigmoid and autograd.

Writes tests/fixtures/fusion_sigmoid/{data,init,expected}.safetensors, read by
tests/test_sigmoid_loss.cpp; the layout of tests/fixtures/fusion/ plus the tensor logit_bias
(init.logit_bias, grad0.logit_bias, final.logit_bias) and metadata loss = sigmoid.
The bytes are reproducible: same seed, sorted metadata (make_fusion_fixture.save).

Usage: tools/.venv/bin/python tools/make_sigmoid_fixture.py [--out tests/fixtures/fusion_sigmoid]
"""
import argparse
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fusion_fixture import (BATCH, D, HEADS, K, LR, N, STEPS, WD, Fusion, grads_spec, save,  # noqa: E402
                                 spec_tensors, unit_rows)

LOGIT_SCALE, LOGIT_BIAS = math.log(10.0), -10.0
SEED = 20240608


def sigmoid_loss(a, b, t, bias):
    """−(1/N) Σ_ij log σ(ℓ_ij·(t·a_i·b_j + bias)), ℓ = 2·I − 1 (SigLIP)."""
    logits = t * a @ b.T + bias
    labels = 2 * torch.eye(a.shape[0], dtype=a.dtype) - 1
    return -F.logsigmoid(labels * logits).sum() / a.shape[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures",
                                                  "fusion_sigmoid"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.use_deterministic_algorithms(True)

    gen = torch.Generator().manual_seed(SEED)
    img, txt = Fusion(D, HEADS), Fusion(D, HEADS)
    with torch.no_grad():  # random fp32 weights, every tensor nonzero (as make_fusion_fixture.py)
        for mod in (img, txt):
            for name, p in mod.named_parameters():
                if name.startswith("ln"):
                    p.copy_((1.0 if name.endswith("weight") else 0.0) + 0.1 * torch.randn(p.shape, generator=gen))
                else:
                    fan_in = p.shape[-1] if p.dim() == 2 else D
                    bound = 1 / math.sqrt(fan_in)
                    p.copy_((torch.rand(p.shape, generator=gen) * 2 - 1) * bound)
    logit_scale = nn.Parameter(torch.tensor(LOGIT_SCALE, dtype=torch.float32))
    logit_bias = nn.Parameter(torch.tensor(LOGIT_BIAS, dtype=torch.float32))
    init = spec_tensors(img, txt, logit_scale)
    init["logit_bias"] = logit_bias.detach().float().reshape(()).clone()

    V, T = unit_rows(N, D, gen=gen), unit_rows(N, D, gen=gen)
    nbr_t, nbr_i = unit_rows(N, K, D, gen=gen), unit_rows(N, K, D, gen=gen)

    # train in float64 from the fp32 values
    img.double()
    txt.double()
    logit_scale = nn.Parameter(logit_scale.detach().double())
    logit_bias = nn.Parameter(logit_bias.detach().double())
    decay, no_decay = [], []
    for mod in (img, txt):
        for p in mod.parameters():
            (decay if p.dim() == 2 else no_decay).append(p)
    no_decay += [logit_scale, logit_bias]
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
        t = logit_scale.exp().clamp(max=100)
        loss = (sigmoid_loss(vb, tb, t, logit_bias) + sigmoid_loss(vb, Td[sl], t, logit_bias)
                + sigmoid_loss(Vd[sl], tb, t, logit_bias))
        loss.backward()
        if step == 0:
            grad0 = grads_spec(img, txt, logit_scale, "grad0.")
            grad0["grad0.logit_bias"] = logit_bias.grad.detach().float().reshape(()).clone()
        losses.append(loss.item())
        opt.step()
        print(f"step {step}: loss {loss.item():.8f}  logit_scale {logit_scale.item():.6f}  "
              f"logit_bias {logit_bias.item():.6f}")

    meta = {"heads": str(HEADS), "k": str(K), "batch": str(BATCH), "steps": str(STEPS), "lr": repr(LR),
            "weight_decay": repr(WD), "loss": "sigmoid", "made_by": "tools/make_sigmoid_fixture.py",
            "torch": torch.__version__}
    save({"V": V.contiguous(), "T": T.contiguous(), "nbr_txt_for_img": nbr_t.contiguous(),
          "nbr_img_for_txt": nbr_i.contiguous()}, os.path.join(args.out, "data.safetensors"), meta)
    save(init, os.path.join(args.out, "init.safetensors"), meta)
    expected = {"losses": torch.tensor(losses, dtype=torch.float64)}
    expected.update(grad0)
    expected.update(spec_tensors(img, txt, logit_scale, "final."))
    expected["final.logit_bias"] = logit_bias.detach().float().reshape(()).clone()
    save(expected, os.path.join(args.out, "expected.safetensors"), meta)


if __name__ == "__main__":
    main()

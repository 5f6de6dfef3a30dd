#!/usr/bin/env python3
"""make_clip_fixtures.py — tiny random CLIPs in the exact Hugging Face layout, plus reference outputs.

What it makes (SPEC §2 "Parity is measured against Hugging Face transformers on the same weights"):
  tests/fixtures/<name>/model.safetensors   CLIPModel.save_pretrained(safe_serialization=True)
  tests/fixtures/<name>/config.json         the CLIPConfig, as HF writes it
  tests/fixtures/<name>/reference.safetensors  inputs and outputs of HF transformers on those weights
  tests/fixtures/<name>/texts.txt, images.txt  the inputs, one per line (see tools/README.md)

The tokenizer files are not written: they are ../shared/data/clip/hf_tokenizer/{vocab.json,merges.txt}.
The vocabulary stays 49408 (real token ids), context 77, image 224, so the fixtures exercise the real
tokenizer and preprocessing; only the widths and depths are tiny.

References follow these HF functions (transformers 4.49): CLIPTokenizer (slow, padding="max_length"),
CLIPImageProcessor (slow, PIL), CLIPModel.get_text_features / get_image_features / forward.
Every output is also recomputed here by a second, independent route (a float64 numpy forward read from
the saved safetensors file), and the fixtures are checked to be sensitive to hidden_act and layer_norm_eps.

Also: HF's logits_per_image for every image against the prompts `reco classify` builds from CLASSIFY_LABELS
("a photo of a {label}."), for the classify test.

Reproducibility: two runs on one machine give the same bytes. Across machines torch's fp32 CPU kernels round
differently: regenerating on another x86-64 moved text_embeds by up to 1.4e-7, image_embeds by 2.4e-7 and
vision_hidden_* by up to 4e-6 (abs, f16 fixture) — the same order as the engine's own error — so after a
regeneration the tolerances of tests/test_clip_towers.cpp and tests/test_cli_clip.cpp must be re-measured.

Run from the repository root:  tools/.venv/bin/python tools/make_clip_fixtures.py
"""
import argparse
import json
import math
import os
import sys
from pathlib import Path

import numpy as np
import PIL
import safetensors
import torch
import transformers
from PIL import Image
from safetensors.numpy import load_file, save_file
from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPTokenizer

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "data"
IMAGE_DIR = SHARED / "images"
TOKENIZER_DIR = SHARED / "clip" / "hf_tokenizer"
FIXTURES = REPO / "tests" / "fixtures"

SOT, EOT, CONTEXT = 49406, 49407, 77

# Images, relative to ../shared/data/images. crop_u8 is kept for the first CROP_IMAGES of them, so the
# cases that matter most for preprocessing come first. (W,H) -> resized (W,H) -> crop offset (x,y):
IMAGES = [
    "coco/000000039769.png",   # PNG RGB 640x480 -> 298x224, offset (37,0); COCO cats, HF's test image
    "skimage/rocket.jpg",      # JPEG 640x427 -> 335x224, offset (55,0): odd W-224, downscale
    "skimage/camera.png",      # PNG greyscale (mode L) 512x512 -> 224x224
    "tuxpaint/flamingo.png",   # portrait 215x357 -> 224x371, offset (0,73): odd H-224, UPscale
    "skimage/horse.png",       # PNG RGBA 400x328 -> 273x224, offset (24,0): alpha dropped by convert("RGB")
    "opencv/HappyFish.jpg",    # JPEG 259x194 -> 299x224, offset (37,0): odd W-224, upscale
    "tuxpaint/penguin.png",    # portrait 90x198 -> 224x492, offset (0,134): strong upscale
]
CROP_IMAGES = 4

# `reco classify` labels: the CLI's prompts are "a photo of a {label}." (src/cmd_classify.cpp); the references
# hold HF's logits_per_image for every fixture image against these prompts, so that the printed logits,
# probabilities and ranking can be checked against transformers (tests/test_cli_clip.cpp).
CLASSIFY_LABELS = ["cat", "dog", "diagram", "rocket", "flamingo", "penguin", "horse", "fish"]

TEXTS = [
    "a photo of a cat",
    "",
    "It's 3:45pm -- don't we'll they've 100% (sure)?!",
    "  A   PHOTO of  The   Eiffel TOWER  ",
    "a diagram",
    "un café au lait",
    "a photo of a dog, a type of pet.",
    # longer than 77 tokens: truncated to SOT + 75 tokens + EOT
    "a very long caption that goes on and on: " + " ".join(
        f"item {i} is a {c} {a}" for i, (c, a) in enumerate(
            [("red", "apple"), ("green", "pear"), ("blue", "car"), ("small", "dog"), ("tall", "tree"),
             ("old", "house"), ("new", "phone"), ("wet", "road"), ("dry", "leaf"), ("big", "ship"),
             ("odd", "sock"), ("warm", "coat")])),
]

MODELS = [
    dict(name="tiny_clip_quickgelu_f32", seed=1234, hidden_act="quick_gelu", save_dtype=torch.float32,
         text=dict(hidden_size=16, num_attention_heads=2, num_hidden_layers=2, intermediate_size=40),
         vision=dict(hidden_size=48, num_attention_heads=3, num_hidden_layers=2, intermediate_size=96,
                     patch_size=32),
         projection_dim=24, layer_norm_eps=1e-5, logit_scale=None,
         # eos_token_id 2 is what the published openai/clip-vit-* configs say: HF then pools at argmax(ids)
         eos_token_id=2,
         embed_std=0.1, patch_std=0.05, keep_pixels=True, keep_crops=True),
    dict(name="tiny_clip_gelu_f16", seed=5678, hidden_act="gelu", save_dtype=torch.float16,
         text=dict(hidden_size=16, num_attention_heads=2, num_hidden_layers=2, intermediate_size=48),
         vision=dict(hidden_size=64, num_attention_heads=4, num_hidden_layers=2, intermediate_size=128,
                     patch_size=16),
         projection_dim=32, layer_norm_eps=1e-6, logit_scale=3.0,
         # eos_token_id 49407: HF pools at the first 49407
         eos_token_id=EOT,
         # small embeddings: the first LayerNorms see a variance ~1e-4, so eps 1e-6 vs 1e-5 shows
         embed_std=0.01, patch_std=0.002, keep_pixels=False, keep_crops=False),
]


# ----------------------------------------------------------------------------------------------------
# model construction

def make_config(m):
    text = dict(m["text"], vocab_size=49408, max_position_embeddings=CONTEXT, hidden_act=m["hidden_act"],
                layer_norm_eps=m["layer_norm_eps"], projection_dim=m["projection_dim"],
                bos_token_id=SOT, eos_token_id=m["eos_token_id"], pad_token_id=1)
    vision = dict(m["vision"], image_size=224, num_channels=3, hidden_act=m["hidden_act"],
                  layer_norm_eps=m["layer_norm_eps"], projection_dim=m["projection_dim"])
    kw = dict(text_config=text, vision_config=vision, projection_dim=m["projection_dim"])
    if m["logit_scale"] is not None:
        kw["logit_scale_init_value"] = m["logit_scale"]
    return CLIPConfig(**kw)


def init_weights(model, m):
    """Larger-than-default random weights, so that an error in any op shows in the outputs."""
    g = torch.Generator().manual_seed(m["seed"])
    with torch.no_grad():
        for name, p in model.named_parameters():
            n = lambda: torch.randn(p.shape, generator=g, dtype=torch.float32)
            if name == "logit_scale":
                continue  # from the config
            if "norm" in name:  # layer_norm1/2, final_layer_norm, pre_layrnorm, post_layernorm
                p.copy_(1.0 + 0.1 * n() if name.endswith("weight") else 0.05 * n())
            elif "patch_embedding" in name:
                p.copy_(m["patch_std"] * n())
            elif "embedding" in name:  # token, position, class
                p.copy_(m["embed_std"] * n())
            elif name.endswith("bias"):
                p.copy_(0.05 * n())
            else:  # q/k/v/out_proj, fc1, fc2, text_projection, visual_projection
                p.copy_(0.15 * n())


# ----------------------------------------------------------------------------------------------------
# inputs

def openai_ids(hf_ids):
    """HF pads with 49407; openai clip.tokenize pads with 0: keep up to the first 49407, zeros after."""
    out = np.zeros_like(hf_ids)
    for r, row in enumerate(hf_ids):
        e = int(np.argmax(row == EOT))
        assert row[e] == EOT and row[0] == SOT
        out[r, :e + 1] = row[:e + 1]
    return out


def crop_like_hf(path):
    """The resized + centre-cropped uint8 image, recomputed with PIL the way CLIPImageProcessor does it:
    convert("RGB"); shortest side -> 224 with the long side int(224*long/short); PIL BICUBIC resize;
    crop at ((W-224)//2, (H-224)//2)."""
    im = Image.open(path)
    if im.mode != "RGB":
        im = im.convert("RGB")
    w, h = im.size
    if w <= h:
        nw, nh = 224, int(224 * h / w)
    else:
        nw, nh = int(224 * w / h), 224
    a = np.array(im.resize((nw, nh), resample=Image.BICUBIC))
    top, left = (nh - 224) // 2, (nw - 224) // 2
    return a[top:top + 224, left:left + 224]


def normalise_crop(crop, proc):
    x = (crop.astype(np.float64) * (1.0 / 255.0)).astype(np.float32)
    mean = np.array(proc.image_mean, dtype=np.float32)
    std = np.array(proc.image_std, dtype=np.float32)
    return ((x - mean) / std).transpose(2, 0, 1)


# ----------------------------------------------------------------------------------------------------
# second route: a float64 numpy CLIP forward from the saved safetensors file

# config.json as HF writes it holds only the keys that differ from the defaults of CLIPTextConfig /
# CLIPVisionConfig (e.g. no hidden_act for quick_gelu, no layer_norm_eps for 1e-5), so a reader needs these:
HF_TEXT_DEFAULTS = dict(vocab_size=49408, hidden_size=512, intermediate_size=2048, projection_dim=512,
                        num_hidden_layers=12, num_attention_heads=8, max_position_embeddings=77,
                        hidden_act="quick_gelu", layer_norm_eps=1e-5, eos_token_id=49407)
HF_VISION_DEFAULTS = dict(hidden_size=768, intermediate_size=3072, projection_dim=512, num_hidden_layers=12,
                          num_attention_heads=12, num_channels=3, image_size=224, patch_size=32,
                          hidden_act="quick_gelu", layer_norm_eps=1e-5)


def read_config(path):
    """config.json with the HF defaults filled in (checked against transformers' own defaults in main)."""
    cj = json.loads(Path(path).read_text())
    cj["text_config"] = dict(HF_TEXT_DEFAULTS, **cj.get("text_config", {}))
    cj["vision_config"] = dict(HF_VISION_DEFAULTS, **cj.get("vision_config", {}))
    return cj


def np_act(x, kind):
    if kind == "quick_gelu":
        return x / (1.0 + np.exp(-1.702 * x))
    if kind == "gelu":
        return 0.5 * x * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0)))
    raise ValueError(kind)


def np_ln(x, w, b, eps):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def np_encoder(x, W, pre, layers, heads, eps, act, causal, bug=None):
    """Pre-LN transformer blocks; returns the hidden state after every block (x first).
    bug: None, or a deliberate error ("no_causal", "scale_dmodel") for the sensitivity checks."""
    T, D = x.shape
    hd = D // heads
    out = [x]
    lin = lambda t, n: t @ W[n + ".weight"].T + W[n + ".bias"]
    for l in range(layers):
        p = f"{pre}.encoder.layers.{l}."
        h = np_ln(x, W[p + "layer_norm1.weight"], W[p + "layer_norm1.bias"], eps)
        q = lin(h, p + "self_attn.q_proj") * (D if bug == "scale_dmodel" else hd) ** -0.5
        k = lin(h, p + "self_attn.k_proj")
        v = lin(h, p + "self_attn.v_proj")
        o = np.zeros_like(h)
        for hh in range(heads):
            s = slice(hh * hd, (hh + 1) * hd)
            sc = q[:, s] @ k[:, s].T
            if causal and bug != "no_causal":
                sc = sc + np.triu(np.full((T, T), -np.inf), 1)
            sc = np.exp(sc - sc.max(-1, keepdims=True))
            o[:, s] = (sc / sc.sum(-1, keepdims=True)) @ v[:, s]
        x = x + lin(o, p + "self_attn.out_proj")
        h = np_ln(x, W[p + "layer_norm2.weight"], W[p + "layer_norm2.bias"], eps)
        x = x + lin(np_act(lin(h, p + "mlp.fc1"), act), p + "mlp.fc2")
        out.append(x)
    return out


def np_text(W, cfg, ids, act=None, eps=None, bug=None):
    tc = cfg["text_config"]
    act, eps = act or tc["hidden_act"], eps or tc["layer_norm_eps"]
    x = W["text_model.embeddings.token_embedding.weight"][ids] + W["text_model.embeddings.position_embedding.weight"]
    hs = np_encoder(x, W, "text_model", tc["num_hidden_layers"], tc["num_attention_heads"], eps, act, True, bug)
    e = int(np.argmax(ids == EOT))  # first 49407 (unique under zero padding)
    pooled = np_ln(hs[-1][e], W["text_model.final_layer_norm.weight"], W["text_model.final_layer_norm.bias"], eps)
    return pooled @ W["text_projection.weight"].T, hs, pooled


def np_vision(W, cfg, pix, act=None, eps=None, bug=None):
    vc = cfg["vision_config"]
    act, eps = act or vc["hidden_act"], eps or vc["layer_norm_eps"]
    P = vc["patch_size"]
    G = 224 // P
    conv = W["vision_model.embeddings.patch_embedding.weight"]  # [D,3,P,P]
    patches = pix.reshape(3, G, P, G, P).transpose(1, 3, 0, 2, 4).reshape(G * G, 3 * P * P)  # row-major grid
    x = np.concatenate([W["vision_model.embeddings.class_embedding"][None], patches @ conv.reshape(len(conv), -1).T])
    x = x + W["vision_model.embeddings.position_embedding.weight"]
    emb = x
    x = np_ln(x, W["vision_model.pre_layrnorm.weight"], W["vision_model.pre_layrnorm.bias"], eps)
    hs = np_encoder(x, W, "vision_model", vc["num_hidden_layers"], vc["num_attention_heads"], eps, act, False, bug)
    pooled = np_ln(hs[-1][0], W["vision_model.post_layernorm.weight"], W["vision_model.post_layernorm.bias"], eps)
    return pooled @ W["visual_projection.weight"].T, hs, pooled, emb


def unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def maxdiff(a, b):
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


def save_reproducibly(tensors, path, meta):
    """safetensors.save_file, then the __metadata__ keys sorted (the library writes them in hash order), so
    that the same inputs give the same bytes. Written to a temp file and renamed."""
    tmp = Path(str(path) + ".tmp")
    save_file(tensors, str(tmp), metadata=meta)
    raw = tmp.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    header["__metadata__"] = dict(sorted(header["__metadata__"].items()))
    hb = json.dumps(header, separators=(",", ":")).encode()
    hb += b" " * (-len(hb) % 8)
    tmp.write_bytes(len(hb).to_bytes(8, "little") + hb + raw[8 + n:])
    back = load_file(str(tmp))
    assert back.keys() == tensors.keys() and all(np.array_equal(back[k], tensors[k]) for k in tensors)
    os.replace(tmp, path)


# ----------------------------------------------------------------------------------------------------

def build(m, tok, proc, crops, pixel_values_all):
    out_dir = FIXTURES / m["name"]
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(m["seed"])
    cfg = make_config(m)
    model = CLIPModel(cfg).eval()
    init_weights(model, m)
    if m["logit_scale"] is not None:
        assert abs(model.logit_scale.item() - m["logit_scale"]) < 1e-6
    unrounded = {k: v.clone() for k, v in model.state_dict().items()}  # fp32, before any fp16 rounding
    model.to(m["save_dtype"]).save_pretrained(out_dir, safe_serialization=True)
    for extra in ("generation_config.json",):
        (out_dir / extra).unlink(missing_ok=True)
    assert {"config.json", "model.safetensors"} <= set(os.listdir(out_dir))

    # The reference runs in fp32 on the weights as saved (fp16-rounded for the f16 model): the engine
    # upcasts fp16 to fp32 on load.
    ref = CLIPModel.from_pretrained(out_dir, torch_dtype=torch.float32, attn_implementation="eager").eval()

    enc = tok(TEXTS, padding="max_length", max_length=CONTEXT, truncation=True, return_tensors="np")
    ids = enc["input_ids"].astype(np.int64)
    ids_oa = openai_ids(ids)
    R = {}
    with torch.no_grad():
        tf = ref.get_text_features(input_ids=torch.from_numpy(ids)).numpy()
        tf_oa = ref.get_text_features(input_ids=torch.from_numpy(ids_oa)).numpy()
        tf_mask = ref.get_text_features(input_ids=torch.from_numpy(ids),
                                        attention_mask=torch.from_numpy(enc["attention_mask"])).numpy()
        # features do not depend on the padding convention nor on the padding mask (causal mask + first-EOT pool)
        assert maxdiff(tf, tf_oa) < 1e-6, maxdiff(tf, tf_oa)
        assert maxdiff(tf, tf_mask) < 1e-6, maxdiff(tf, tf_mask)

        pv = torch.from_numpy(pixel_values_all)
        imf = ref.get_image_features(pixel_values=pv).numpy()
        full = ref(input_ids=torch.from_numpy(ids_oa), pixel_values=pv)

        vout = ref.vision_model(pixel_values=pv[:1], output_hidden_states=True)
        vemb = ref.vision_model.embeddings(pv[:1])[0].numpy()
        tout = ref.text_model(input_ids=torch.from_numpy(ids_oa[:1]), output_hidden_states=True)
        tout_hf = ref.text_model(input_ids=torch.from_numpy(ids[:1]), output_hidden_states=True)

        cls_enc = tok([f"a photo of a {l}." for l in CLASSIFY_LABELS], padding="max_length", max_length=CONTEXT,
                      truncation=True, return_tensors="np")
        cls_ids = cls_enc["input_ids"].astype(np.int64)
        cls_full = ref(input_ids=torch.from_numpy(cls_ids), pixel_values=pv)

    R["input_ids"] = ids
    R["input_ids_openai"] = ids_oa
    R["text_features_raw"] = tf.astype(np.float32)
    R["text_embeds"] = unit(tf.astype(np.float64)).astype(np.float32)
    R["image_features_raw"] = imf.astype(np.float32)
    R["image_embeds"] = unit(imf.astype(np.float64)).astype(np.float32)
    R["logits_per_image"] = full.logits_per_image.numpy().astype(np.float32)
    assert maxdiff(full.image_embeds.numpy(), R["image_embeds"]) < 1e-6
    assert maxdiff(full.text_embeds.numpy(), R["text_embeds"]) < 1e-6
    R["classify_input_ids"] = cls_ids
    R["classify_logits_per_image"] = cls_full.logits_per_image.numpy().astype(np.float32)
    if m["keep_pixels"]:
        R["pixel_values"] = pixel_values_all[:1].copy()
    if m["keep_crops"]:
        R["crop_u8"] = np.ascontiguousarray(crops[:CROP_IMAGES])

    # debug hidden states, first image / first text (text from the openai-padded ids = the engine's input)
    R["vision_embeddings"] = vemb.astype(np.float32)  # before pre_layrnorm
    for i, h in enumerate(vout.hidden_states):  # [0] = after pre_layrnorm, [i] = after block i
        R[f"vision_hidden_{i}"] = h[0].numpy().astype(np.float32)
    R["vision_pooled"] = vout.pooler_output[0].numpy().astype(np.float32)
    e0 = int(np.argmax(ids_oa[0] == EOT))
    for i, h in enumerate(tout.hidden_states):  # [0] = token + position embeddings, [i] = after block i
        R[f"text_hidden_{i}"] = h[0].numpy().astype(np.float32)
        # rows up to the EOT are the same whatever the padding (causal mask)
        assert maxdiff(h[0][:e0 + 1], tout_hf.hidden_states[i][0][:e0 + 1]) < 1e-6
    R["text_last_hidden"] = tout.last_hidden_state[0].numpy().astype(np.float32)  # after final_layer_norm
    R["text_pooled"] = tout.pooler_output[0].numpy().astype(np.float32)

    # ---- second route: float64 numpy forward from the saved file ----
    W = {k: v.astype(np.float64) for k, v in load_file(out_dir / "model.safetensors").items()}
    cj = read_config(out_dir / "config.json")
    assert all(v.dtype == (np.float16 if m["save_dtype"] == torch.float16 else np.float32)
               for v in load_file(out_dir / "model.safetensors").values())
    checks = {}
    t_np = np.stack([np_text(W, cj, row)[0] for row in ids_oa])
    i_np = np.stack([np_vision(W, cj, p.astype(np.float64))[0] for p in pixel_values_all])
    checks["text_features_raw (np64 vs HF)"] = maxdiff(t_np, R["text_features_raw"])
    checks["image_features_raw (np64 vs HF)"] = maxdiff(i_np, R["image_features_raw"])
    checks["text_embeds (np64 vs HF)"] = maxdiff(unit(t_np), R["text_embeds"])
    checks["image_embeds (np64 vs HF)"] = maxdiff(unit(i_np), R["image_embeds"])
    logit = math.exp(float(W["logit_scale"]))
    checks["logits_per_image (np64 vs HF)"] = maxdiff(logit * unit(i_np) @ unit(t_np).T, R["logits_per_image"]) / logit
    c_np = np.stack([np_text(W, cj, np.array(openai_ids(row[None])[0]))[0] for row in cls_ids])
    checks["classify_logits_per_image (np64 vs HF)"] = maxdiff(logit * unit(i_np) @ unit(c_np).T,
                                                              R["classify_logits_per_image"]) / logit
    _, ths, tpool = np_text(W, cj, ids_oa[0])
    _, vhs, vpool, vemb_np = np_vision(W, cj, pixel_values_all[0].astype(np.float64))
    checks["text_hidden_* (np64 vs HF)"] = max(maxdiff(h, R[f"text_hidden_{i}"]) for i, h in enumerate(ths))
    checks["vision_hidden_* (np64 vs HF)"] = max(maxdiff(h, R[f"vision_hidden_{i}"]) for i, h in enumerate(vhs))
    checks["vision_embeddings (np64 vs HF)"] = maxdiff(vemb_np, R["vision_embeddings"])
    checks["pooled (np64 vs HF)"] = max(maxdiff(tpool, R["text_pooled"]), maxdiff(vpool, R["vision_pooled"]))
    for k, v in checks.items():
        assert v < 2e-4, (k, v)

    # ---- sensitivity: the wrong activation or the wrong eps must move the embeddings well past 1e-4 ----
    wrong_act = "gelu" if m["hidden_act"] == "quick_gelu" else "quick_gelu"
    wrong_eps = 1e-6 if m["layer_norm_eps"] == 1e-5 else 1e-5
    sens = {}
    sens[f"act={wrong_act}: text_embeds"] = maxdiff(unit(np.stack([np_text(W, cj, r, act=wrong_act)[0] for r in ids_oa])), R["text_embeds"])
    sens[f"act={wrong_act}: image_embeds"] = maxdiff(unit(np.stack([np_vision(W, cj, p.astype(np.float64), act=wrong_act)[0] for p in pixel_values_all])), R["image_embeds"])
    sens[f"eps={wrong_eps}: text_embeds"] = maxdiff(unit(np.stack([np_text(W, cj, r, eps=wrong_eps)[0] for r in ids_oa])), R["text_embeds"])
    sens[f"eps={wrong_eps}: image_embeds"] = maxdiff(unit(np.stack([np_vision(W, cj, p.astype(np.float64), eps=wrong_eps)[0] for p in pixel_values_all])), R["image_embeds"])
    sens["no causal mask: text_embeds"] = maxdiff(unit(np.stack([np_text(W, cj, r, bug="no_causal")[0] for r in ids_oa])), R["text_embeds"])
    sens["scale 1/sqrt(d_model): text_embeds"] = maxdiff(unit(np.stack([np_text(W, cj, r, bug="scale_dmodel")[0] for r in ids_oa])), R["text_embeds"])
    sens["scale 1/sqrt(d_model): image_embeds"] = maxdiff(unit(np.stack([np_vision(W, cj, p.astype(np.float64), bug="scale_dmodel")[0] for p in pixel_values_all])), R["image_embeds"])
    if m["save_dtype"] == torch.float16:
        # the reference is on the fp16-rounded weights: the unrounded fp32 weights give visibly other embeddings
        W32 = {k: v.double().numpy() for k, v in unrounded.items()}
        sens["unrounded fp32 weights: text_embeds"] = maxdiff(unit(np.stack([np_text(W32, cj, r)[0] for r in ids_oa])), R["text_embeds"])
        sens["unrounded fp32 weights: image_embeds"] = maxdiff(unit(np.stack([np_vision(W32, cj, p.astype(np.float64))[0] for p in pixel_values_all])), R["image_embeds"])
    for k, v in sens.items():
        if k.startswith("eps") and m["hidden_act"] == "quick_gelu":
            continue  # only the f16 model is built to be eps-sensitive
        assert v > 2e-4, (k, v)  # parity tests use tolerances of 1e-5 .. 1e-4 on embeds

    meta = {
        "model": m["name"],
        "images": json.dumps(IMAGES),
        "texts": json.dumps(TEXTS),
        "classify_labels": json.dumps(CLASSIFY_LABELS),
        "crop_u8_images": str(CROP_IMAGES if m["keep_crops"] else 0),
        "pixel_values_images": str(1 if m["keep_pixels"] else 0),
        "text_debug_from": "input_ids_openai[0]",
        "vision_debug_from": "images[0]",
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "pillow": PIL.__version__,
        "numpy": np.__version__,
        "safetensors": safetensors.__version__,
        "made_by": "tools/make_clip_fixtures.py",
    }
    save_reproducibly({k: np.ascontiguousarray(v) for k, v in R.items()}, out_dir / "reference.safetensors", meta)
    (out_dir / "texts.txt").write_text("".join(t + "\n" for t in TEXTS), encoding="utf-8")
    (out_dir / "images.txt").write_text("".join(p + "\n" for p in IMAGES), encoding="utf-8")
    return checks, sens


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.parse_args()
    if not (TOKENIZER_DIR / "vocab.json").exists():
        sys.exit(f"{TOKENIZER_DIR}: not found (the shared data must sit at ../shared/data)")
    torch.set_num_threads(2)
    from transformers import CLIPTextConfig, CLIPVisionConfig
    for defaults, cls in ((HF_TEXT_DEFAULTS, CLIPTextConfig), (HF_VISION_DEFAULTS, CLIPVisionConfig)):
        real = cls().to_dict()
        assert all(real[k] == v for k, v in defaults.items()), (cls.__name__, real)
    for t in TEXTS:
        assert "\n" not in t and "\r" not in t  # texts.txt holds one per line

    tok = CLIPTokenizer.from_pretrained(str(TOKENIZER_DIR))  # the slow (Python) tokenizer
    proc = CLIPImageProcessor()  # the slow PIL one; defaults = openai/clip-vit-base-patch32's preprocessor_config
    assert proc.size == {"shortest_edge": 224} and proc.crop_size == {"height": 224, "width": 224}
    assert proc.resample == Image.BICUBIC and proc.do_convert_rgb

    pixel_values, crops = [], []
    for rel in IMAGES:
        path = IMAGE_DIR / rel
        pv = proc(images=Image.open(path), return_tensors="np")["pixel_values"][0]
        crop = crop_like_hf(path)
        d = maxdiff(normalise_crop(crop, proc), pv)
        assert pv.dtype == np.float32 and d <= 1e-6, (rel, d)
        pixel_values.append(pv)
        crops.append(crop)
    pixel_values = np.stack(pixel_values)
    crops = np.stack(crops)

    for m in MODELS:
        checks, sens = build(m, tok, proc, crops, pixel_values)
        d = FIXTURES / m["name"]
        print(f"{m['name']}:")
        for f in sorted(os.listdir(d)):
            print(f"  {f:24s} {os.path.getsize(d / f):>9,d} bytes")
        for k, v in checks.items():
            print(f"  check {k:36s} max|diff| {v:.2e}")
        for k, v in sens.items():
            print(f"  sensitivity {k:30s} max|diff| {v:.2e}")


if __name__ == "__main__":
    main()

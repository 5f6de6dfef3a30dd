#!/usr/bin/env python3
"""make_siglip_fixtures.py — tiny random SigLIPs in the exact Hugging Face layout, plus reference outputs.

What it makes (SPEC §8; references from transformers 4.49 SiglipModel / SiglipProcessor):
  tests/fixtures/<name>/model.safetensors, config.json      SiglipModel.save_pretrained(safe_serialization=True)
  tests/fixtures/<name>/spiece.model                        a small sentencepiece unigram model trained here
  tests/fixtures/<name>/tokenizer_config.json, special_tokens_map.json, preprocessor_config.json
                                                            SiglipProcessor.save_pretrained
  tests/fixtures/<name>/reference.safetensors               inputs and outputs of HF on those weights
  tests/fixtures/<name>/texts.txt, images.txt               the inputs, one per line
  tests/fixtures/siglip_tokenizer.tsv                       ~200 texts -> ids with both fixtures' tokenizers

The sentencepiece models are trained (unigram, T5/SigLIP special ids: <pad> 0, </s> 1, <unk> 2) on text
from ../shared/data: the captions and labels of images/index.tsv and the CLIP prompt lists. The vocabulary
size of each model is the text config's vocab_size. Every reference is recomputed by a second route (a
float64 numpy SigLIP forward read from the saved files) and the fixtures are checked to be sensitive to the
details an engine can get wrong (activation, eps, causal mask, pooling position, MAP head, fp16 rounding).

Run from the repository root:  tools/.venv/bin/python tools/make_siglip_fixtures.py
"""
import argparse
import json
import math
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import PIL
import safetensors
import sentencepiece as spm
import torch
import transformers
from PIL import Image
from safetensors.numpy import load_file, save_file
from transformers import SiglipConfig, SiglipImageProcessor, SiglipModel, SiglipProcessor, SiglipTokenizer

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "data"
IMAGE_DIR = SHARED / "images"
PROMPTS = SHARED / "clip" / "prompts"
FIXTURES = REPO / "tests" / "fixtures"
TSV = FIXTURES / "siglip_tokenizer.tsv"
CONTEXT = 64  # SigLIP's max_position_embeddings / model_max_length

# Images, relative to ../shared/data/images; all RGB (SiglipImageProcessor's do_convert_rgb is None by
# default, so HF would not convert greyscale or RGBA input).
IMAGES = [
    "coco/000000039769.png",   # PNG 640x480, HF's test image
    "skimage/rocket.jpg",      # JPEG 640x427 (PIL and stb_image decode JPEGs slightly differently)
    "tuxpaint/flamingo.png",   # portrait PNG 215x357: the square resize changes the aspect ratio
    "skimage/chelsea.png",     # PNG 451x300
]

LONG_TEXT = "a very long caption that goes on and on: " + " ".join(
    f"item {i} is a {c} {a}" for i, (c, a) in enumerate(
        [("red", "apple"), ("green", "pear"), ("blue", "car"), ("small", "dog"), ("tall", "tree"),
         ("old", "house"), ("new", "phone"), ("wet", "road"), ("dry", "leaf"), ("big", "ship"),
         ("odd", "sock"), ("warm", "coat")]))

TEXTS = [
    "a photo of a cat",
    "",
    "It's 3:45pm -- don't we'll they've 100% (sure)?!",
    "  A   PHOTO of  The   Eiffel TOWER  ",
    "un café au lait, Ünïcödé ÀÉÎ crème brûlée",
    "a\tphoto\u00a0of a dog</s> with <unk> and <pad>, </S> too",
    "Ｆｕｌｌ－ｗｉｄｔｈ ＡＢＣ ﬁsh ½ cup",
    "ΣΊΣΥΦΟΣ Straße İstanbul 東京 🙂 ▁under▁score",
    LONG_TEXT,  # more than 64 tokens: truncated to 63 + </s>
]

# No projections in SigLIP: the text width must equal the vision width (both are the embedding width).
MODELS = [
    dict(name="tiny_siglip_f32", seed=4321, save_dtype=torch.float32, vocab_size=1000, pad_token="</s>",
         normalization="nmt_nfkc",  # sentencepiece's default (NFKC inside the model: a 240 KB charsmap)
         text=dict(hidden_size=32, num_attention_heads=2, num_hidden_layers=2, intermediate_size=64),
         vision=dict(hidden_size=32, num_attention_heads=2, num_hidden_layers=2, intermediate_size=72,
                     image_size=48, patch_size=12),
         layer_norm_eps=None,  # HF default 1e-6 (not written to config.json)
         logit_scale=math.log(10.0), logit_bias=-10.0,  # the SigLIP paper's initial values
         embed_std=0.1, patch_std=0.05, probe_std=0.5),
    dict(name="tiny_siglip_f16", seed=8765, save_dtype=torch.float16, vocab_size=700, pad_token="<pad>",
         normalization="identity",  # no normalisation inside sentencepiece
         text=dict(hidden_size=32, num_attention_heads=2, num_hidden_layers=2, intermediate_size=40),
         vision=dict(hidden_size=32, num_attention_heads=4, num_hidden_layers=3, intermediate_size=80,
                     image_size=56, patch_size=8),
         layer_norm_eps=1e-5,
         logit_scale=2.0, logit_bias=-1.5,
         # small embeddings: the first LayerNorms see a variance ~1e-4, so eps 1e-5 vs 1e-6 shows
         embed_std=0.01, patch_std=0.002, probe_std=0.5),
]

# config.json as HF writes it holds only the keys that differ from these defaults of SiglipTextConfig /
# SiglipVisionConfig (checked against transformers in main).
HF_TEXT_DEFAULTS = dict(vocab_size=32000, hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                        num_attention_heads=12, max_position_embeddings=64, hidden_act="gelu_pytorch_tanh",
                        layer_norm_eps=1e-6)
HF_VISION_DEFAULTS = dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                          num_channels=3, image_size=224, patch_size=16, hidden_act="gelu_pytorch_tanh",
                          layer_norm_eps=1e-6)


# ----------------------------------------------------------------------------------------------------
# text: training corpus, tokenizer texts

def read_lines(p):
    return [l for l in Path(p).read_text(encoding="utf-8").split("\n") if l.strip()]


def shared_texts():
    """Captions and labels of images/index.tsv, then the CLIP prompt lists, in file order."""
    caps, labels = [], []
    for line in read_lines(IMAGE_DIR / "index.tsv"):
        if line.startswith("#") or line.startswith("path\t"):
            continue
        f = line.split("\t")
        labels.append(f[1])
        caps.append(f[2])
    classes = read_lines(PROMPTS / "imagenet_classes.txt")
    templates = read_lines(PROMPTS / "imagenet_templates.txt")
    cifar = read_lines(PROMPTS / "cifar100_classes.txt")
    cifar_t = read_lines(PROMPTS / "cifar100_templates.txt")
    return caps, labels, classes, templates, cifar, cifar_t


def training_corpus():
    caps, labels, classes, templates, cifar, cifar_t = shared_texts()
    lines = list(caps) + list(labels)
    for i, c in enumerate(classes):  # every class in 3 of the 80 templates (fixed rotation)
        for j in range(3):
            lines.append(templates[(7 * i + 29 * j) % len(templates)].format(c))
    for i, c in enumerate(cifar):
        for j, t in enumerate(cifar_t):
            if (i + j) % 3 == 0:
                lines.append(t.format(c))
    # a little accented / non-Latin text, so that some of it has pieces of its own
    lines += ["un café au lait", "crème brûlée à la française", "Ünïcödé ÀÉÎ naïve façade", "Straße",
              "ΣΊΣΥΦΟΣ σίσυφος", "東京 タワー"] * 3
    return lines


def tokenizer_texts():
    """~200 texts for siglip_tokenizer.tsv: a deterministic sample of the shared captions and prompts,
    the fixture texts, and edge cases of the canonicalisation and of the special tokens."""
    caps, labels, classes, templates, cifar, cifar_t = shared_texts()
    out = []
    out += caps[::3]                                                       # ~63 captions
    out += [templates[(11 * i) % len(templates)].format(classes[(37 * i) % len(classes)]) for i in range(50)]
    out += [cifar_t[i % len(cifar_t)].format(cifar[(13 * i) % len(cifar)]) for i in range(10)]
    out += labels[::10]
    out += TEXTS
    out += [
        "A", "a", "!!!", "   ", "\t\t", "...a...", "a.b,c;d", "e-mail & co.", "C++ / C# {x}", "[x](y)",
        "100% 3.14 -7 1,000,000", "2024-05-17T12:00:00Z", "#hashtag @user", "quote \"this\" 'that' `code`",
        "back\\slash", "tilde~caret^pipe|", "under_score", "snake_case_name",
        "</s>", "</s></s>", "a </s>", "a</s>b", " </s> a", "</S>", "<unk>", "<UNK> x", "<pad>", "x <pad> y",
        "<s>", "<mask>", "a </s> </s> b",
        "▁", "▁▁a", "a▁b", "hello ▁ world", "▁</s>",
        "non\u00a0breaking\u2009thin\u3000ideographic", "line\nbreak", "cr\rlf\r\n", "form\x0cfeed\x0bvt",
        "file\x1cgroup\x1drecord\x1eunit\x1fsep", "next\x85line", "para\u2029sep\u2028line",
        "zero\u200bwidth", "bom\ufeffhere", "ogham\u1680space",
        "ÀÉÎÕÜ àéîõü", "İ ı I i", "ΣΑΣ σας", "ǅemal ǈ ǋ", "ﬀ ﬁ ﬂ ﬃ", "Ⅻ ⅻ ①", "ｶﾀｶﾅ カタカナ",
        "中文字符 日本語 한국어", "emoji 🙂👍🏽 ❤️", "Ελληνικά κείμενα", "Кириллица ТЕКСТ", "עברית", "العربية",
        "combining e\u0301 vs é", "a\u0000b", "tab\there",
        "¿qué? ¡sí! «guillemets» „quotes“ —dash– …", "“curly” ‘single’", "½ ¼ ² ³ µ",
        "a " * 40, "word " * 70, "x" * 300, "abc" * 50, LONG_TEXT + " " + LONG_TEXT,
    ]
    seen, uniq = set(), []
    for t in out:
        if t not in seen:
            seen.add(t)
            uniq.append(t)
    return uniq


def escape_field(s):
    """\\ \t \n \r, and \\u{HEX} for the other control characters and U+2028/U+2029 (line breaks to editors)."""
    out = []
    for c in s:
        o = ord(c)
        if c in "\\\t\n\r":
            out.append({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}[c])
        elif o < 0x20 or 0x7F <= o < 0xA0 or o in (0x2028, 0x2029):
            out.append("\\u{%X}" % o)
        else:
            out.append(c)
    return "".join(out)


def train_spiece(vocab_size, normalization, path):
    """A unigram sentencepiece model with SigLIP's special pieces, trained on training_corpus()."""
    spm.set_random_generator_seed(1)
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus.txt"
        corpus.write_text("\n".join(training_corpus()) + "\n", encoding="utf-8")
        spm.SentencePieceTrainer.train(
            input=str(corpus), model_prefix=str(Path(tmp) / "m"), model_type="unigram", vocab_size=vocab_size,
            pad_id=0, eos_id=1, unk_id=2, bos_id=-1, pad_piece="<pad>", eos_piece="</s>", unk_piece="<unk>",
            normalization_rule_name=normalization, character_coverage=1.0, num_threads=1, minloglevel=2)
        # the trainer records its input and output paths (a temporary folder): keep the names only, so
        # that the same corpus gives the same bytes
        from sentencepiece import sentencepiece_model_pb2
        proto = sentencepiece_model_pb2.ModelProto()
        proto.ParseFromString((Path(tmp) / "m.model").read_bytes())
        proto.trainer_spec.input[:] = ["corpus.txt"]
        proto.trainer_spec.model_prefix = "spiece"
        Path(path).write_bytes(proto.SerializeToString(deterministic=True))
    sp = spm.SentencePieceProcessor(model_file=str(path))
    assert sp.get_piece_size() == vocab_size
    assert [sp.id_to_piece(i) for i in range(3)] == ["<pad>", "</s>", "<unk>"]


# ----------------------------------------------------------------------------------------------------
# model construction

def make_config(m):
    text = dict(m["text"], vocab_size=m["vocab_size"], max_position_embeddings=CONTEXT,
                pad_token_id=0 if m["pad_token"] == "<pad>" else 1, eos_token_id=1, bos_token_id=None)
    vision = dict(m["vision"])
    if m["layer_norm_eps"] is not None:
        text["layer_norm_eps"] = vision["layer_norm_eps"] = m["layer_norm_eps"]
    return SiglipConfig(text_config=text, vision_config=vision)


def init_weights(model, m):
    """Larger-than-default random weights, so that an error in any op shows in the outputs."""
    g = torch.Generator().manual_seed(m["seed"])
    with torch.no_grad():
        for name, p in model.named_parameters():
            n = lambda: torch.randn(p.shape, generator=g, dtype=torch.float32)
            if name == "logit_scale":
                p.fill_(m["logit_scale"])
            elif name == "logit_bias":
                p.fill_(m["logit_bias"])
            elif "norm" in name:  # layer_norm1/2, final_layer_norm, post_layernorm, head.layernorm
                p.copy_(1.0 + 0.1 * n() if name.endswith("weight") else 0.05 * n())
            elif "patch_embedding" in name:
                p.copy_(m["patch_std"] * n())
            elif "embedding" in name:  # token, position
                p.copy_(m["embed_std"] * n())
            elif name.endswith("probe"):
                p.copy_(m["probe_std"] * n())
            elif name.endswith("bias"):  # incl. the packed head.attention.in_proj_bias
                p.copy_(0.05 * n())
            else:  # q/k/v/out_proj, fc1, fc2, text head, head.attention.in_proj_weight / out_proj
                p.copy_(0.15 * n())


# ----------------------------------------------------------------------------------------------------
# second route: a float64 numpy SigLIP forward from the saved safetensors file

def read_config(path):
    cj = json.loads(Path(path).read_text())
    cj["text_config"] = dict(HF_TEXT_DEFAULTS, **cj.get("text_config", {}))
    cj["vision_config"] = dict(HF_VISION_DEFAULTS, **cj.get("vision_config", {}))
    return cj


def np_act(x, kind):
    if kind == "gelu_pytorch_tanh":
        return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))
    if kind == "gelu":
        return 0.5 * x * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0)))
    raise ValueError(kind)


def np_ln(x, w, b, eps):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def np_mha(q, k, v, heads, causal=False):
    """softmax(q k^T / sqrt(head_dim)) v per head; q [Tq,D], k/v [Tk,D]."""
    D = q.shape[1]
    hd = D // heads
    o = np.zeros((q.shape[0], D))
    for h in range(heads):
        s = slice(h * hd, (h + 1) * hd)
        sc = q[:, s] @ k[:, s].T * hd ** -0.5
        if causal:
            sc = sc + np.triu(np.full(sc.shape, -np.inf), 1)
        sc = np.exp(sc - sc.max(-1, keepdims=True))
        o[:, s] = (sc / sc.sum(-1, keepdims=True)) @ v[:, s]
    return o


def np_encoder(x, W, pre, layers, heads, eps, act, causal=False):
    out = [x]
    lin = lambda t, n: t @ W[n + ".weight"].T + W[n + ".bias"]
    for l in range(layers):
        p = f"{pre}.encoder.layers.{l}."
        h = np_ln(x, W[p + "layer_norm1.weight"], W[p + "layer_norm1.bias"], eps)
        o = np_mha(lin(h, p + "self_attn.q_proj"), lin(h, p + "self_attn.k_proj"), lin(h, p + "self_attn.v_proj"),
                   heads, causal)
        x = x + lin(o, p + "self_attn.out_proj")
        h = np_ln(x, W[p + "layer_norm2.weight"], W[p + "layer_norm2.bias"], eps)
        x = x + lin(np_act(lin(h, p + "mlp.fc1"), act), p + "mlp.fc2")
        out.append(x)
    return out


def np_text(W, cfg, ids, act=None, eps=None, bug=None):
    """bug: None, "causal" (CLIP's causal mask), "first_eos" (pool at the first </s>, not the last row)."""
    tc = cfg["text_config"]
    act, eps = act or tc["hidden_act"], eps or tc["layer_norm_eps"]
    x = W["text_model.embeddings.token_embedding.weight"][ids] + W["text_model.embeddings.position_embedding.weight"]
    hs = np_encoder(x, W, "text_model", tc["num_hidden_layers"], tc["num_attention_heads"], eps, act,
                    causal=bug == "causal")
    last = np_ln(hs[-1], W["text_model.final_layer_norm.weight"], W["text_model.final_layer_norm.bias"], eps)
    row = int(np.argmax(ids == 1)) if bug == "first_eos" else -1
    feat = last[row] @ W["text_model.head.weight"].T + W["text_model.head.bias"]
    return feat, hs, last


def np_map_head(W, h, heads, eps, act, bug=None):
    """SiglipMultiheadAttentionPoolingHead: nn.MultiheadAttention(probe, h, h) with the packed in_proj
    (rows [0:D) = q, [D:2D) = k, [2D:3D) = v), then x + mlp(layernorm(x)). Returns (output, attention output)."""
    D = h.shape[1]
    Wi, bi = W["vision_model.head.attention.in_proj_weight"], W["vision_model.head.attention.in_proj_bias"]
    probe = W["vision_model.head.probe"].reshape(1, D)
    q = probe @ Wi[:D].T + bi[:D]
    k = h @ Wi[D:2 * D].T + bi[D:2 * D]
    v = h @ Wi[2 * D:].T + bi[2 * D:]
    a = np_mha(q, k, v, heads)
    a = a @ W["vision_model.head.attention.out_proj.weight"].T + W["vision_model.head.attention.out_proj.bias"]
    y = np_ln(a, W["vision_model.head.layernorm.weight"], W["vision_model.head.layernorm.bias"], eps)
    m = np_act(y @ W["vision_model.head.mlp.fc1.weight"].T + W["vision_model.head.mlp.fc1.bias"], act)
    m = m @ W["vision_model.head.mlp.fc2.weight"].T + W["vision_model.head.mlp.fc2.bias"]
    return ((y if bug == "ln_residual" else a) + m)[0], a[0]


def np_vision(W, cfg, pix, act=None, eps=None, bug=None):
    """bug: None, "mean_pool" (mean of the patch tokens instead of the MAP head), "ln_residual" (the head's
    residual taken after its LayerNorm)."""
    vc = cfg["vision_config"]
    act, eps = act or vc["hidden_act"], eps or vc["layer_norm_eps"]
    P, S = vc["patch_size"], vc["image_size"]
    G = S // P
    conv = W["vision_model.embeddings.patch_embedding.weight"]  # [D,3,P,P]
    patches = pix.reshape(3, G, P, G, P).transpose(1, 3, 0, 2, 4).reshape(G * G, 3 * P * P)  # row-major grid
    x = patches @ conv.reshape(len(conv), -1).T + W["vision_model.embeddings.patch_embedding.bias"]
    x = x + W["vision_model.embeddings.position_embedding.weight"]
    hs = np_encoder(x, W, "vision_model", vc["num_hidden_layers"], vc["num_attention_heads"], eps, act)
    last = np_ln(hs[-1], W["vision_model.post_layernorm.weight"], W["vision_model.post_layernorm.bias"], eps)
    if bug == "mean_pool":
        return last.mean(0), hs, last, None
    pooled, attn = np_map_head(W, last, vc["num_attention_heads"], eps, act, bug)
    return pooled, hs, last, attn


def unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def maxdiff(a, b):
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


def save_reproducibly(tensors, path, meta):
    """safetensors.save_file, then the __metadata__ keys sorted (the library writes them in hash order)."""
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


def sort_json_file(path):
    """The processor's JSON files with sorted keys (save_pretrained already sorts most; this makes sure)."""
    d = json.loads(Path(path).read_text(encoding="utf-8"))
    Path(path).write_text(json.dumps(d, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")


# ----------------------------------------------------------------------------------------------------

def build(m):
    out_dir = FIXTURES / m["name"]
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    S = m["vision"]["image_size"]

    # tokenizer + image processor, saved as SiglipProcessor.save_pretrained writes them, then read back
    train_spiece(m["vocab_size"], m["normalization"], out_dir / "spiece.model")
    tok0 = SiglipTokenizer(vocab_file=str(out_dir / "spiece.model"), pad_token=m["pad_token"])
    ip0 = SiglipImageProcessor(size={"height": S, "width": S})
    SiglipProcessor(image_processor=ip0, tokenizer=tok0).save_pretrained(out_dir)
    for f in ("tokenizer_config.json", "special_tokens_map.json", "preprocessor_config.json"):
        sort_json_file(out_dir / f)
    assert sorted(os.listdir(out_dir)) == ["preprocessor_config.json", "special_tokens_map.json", "spiece.model",
                                           "tokenizer_config.json"], os.listdir(out_dir)
    proc = SiglipProcessor.from_pretrained(out_dir)
    tok = proc.tokenizer
    assert type(tok) is SiglipTokenizer and tok.model_max_length == CONTEXT and tok.do_lower_case
    assert tok.eos_token == "</s>" and tok.eos_token_id == 1 and tok.unk_token_id == 2
    assert tok.pad_token == m["pad_token"] and tok.pad_token_id == (0 if m["pad_token"] == "<pad>" else 1)
    assert tok.vocab_size == m["vocab_size"]
    assert proc.image_processor.size == {"height": S, "width": S}

    # the model
    torch.manual_seed(m["seed"])
    cfg = make_config(m)
    model = SiglipModel(cfg).eval()
    init_weights(model, m)
    unrounded = {k: v.clone() for k, v in model.state_dict().items()}
    model.to(m["save_dtype"]).save_pretrained(out_dir, safe_serialization=True)
    (out_dir / "generation_config.json").unlink(missing_ok=True)
    ref = SiglipModel.from_pretrained(out_dir, torch_dtype=torch.float32, attn_implementation="eager").eval()

    # inputs: the processor as SigLIP's model card calls it (padding="max_length"), plus truncation=True so
    # that the long text gives a 64-id row (without it HF leaves the row long and cannot make a tensor)
    images = [Image.open(IMAGE_DIR / p) for p in IMAGES]
    enc = proc(text=TEXTS, images=images, padding="max_length", truncation=True, return_tensors="np")
    ids = enc["input_ids"].astype(np.int64)
    pix = enc["pixel_values"].astype(np.float32)
    assert ids.shape == (len(TEXTS), CONTEXT) and pix.shape == (len(IMAGES), 3, S, S)
    for r, t in enumerate(TEXTS):  # the processor's rows are the tokenizer's own ids
        one = tok(t, truncation=True)["input_ids"]
        assert list(ids[r]) == one + [tok.pad_token_id] * (CONTEXT - len(one)), t
    long_row = TEXTS.index(LONG_TEXT)
    assert len(tok(LONG_TEXT)["input_ids"]) > CONTEXT and ids[long_row, -1] == 1
    # pixel_values = PIL bicubic resize to SxS, /255, (x-0.5)/0.5
    for i, im in enumerate(images):
        a = np.asarray(im.resize((S, S), resample=Image.BICUBIC), dtype=np.float32) / np.float32(255)
        d = maxdiff((a - 0.5) / 0.5, pix[i].transpose(1, 2, 0))
        assert d <= 1e-6, (IMAGES[i], d)

    R = {}
    with torch.no_grad():
        tid, tpix = torch.from_numpy(ids), torch.from_numpy(pix)
        tf = ref.get_text_features(input_ids=tid).numpy()
        imf = ref.get_image_features(pixel_values=tpix).numpy()
        full = ref(input_ids=tid, pixel_values=tpix)
        tf_masked = ref.get_text_features(input_ids=tid, attention_mask=torch.from_numpy(enc["attention_mask"]))
        tout = ref.text_model(input_ids=tid[:1], output_hidden_states=True)
        vout = ref.vision_model(pixel_values=tpix[:1], output_hidden_states=True)
    R["input_ids"] = ids
    R["pixel_values"] = pix
    R["text_features"] = tf.astype(np.float32)
    R["text_embeds"] = unit(tf.astype(np.float64)).astype(np.float32)
    R["image_features"] = imf.astype(np.float32)
    R["image_embeds"] = unit(imf.astype(np.float64)).astype(np.float32)
    R["logits_per_image"] = full.logits_per_image.numpy().astype(np.float32)
    R["probs_per_image"] = torch.sigmoid(full.logits_per_image).numpy().astype(np.float32)
    R["logit_scale"] = ref.logit_scale.detach().numpy().astype(np.float32).reshape(1)
    R["logit_bias"] = ref.logit_bias.detach().numpy().astype(np.float32).reshape(1)
    assert maxdiff(full.text_embeds.numpy(), R["text_embeds"]) < 1e-6
    assert maxdiff(full.image_embeds.numpy(), R["image_embeds"]) < 1e-6
    for i, h in enumerate(tout.hidden_states):  # [0] = token + position embeddings, [i] = after block i
        R[f"text_hidden_{i}"] = h[0].numpy().astype(np.float32)
    R["text_last_hidden"] = tout.last_hidden_state[0].numpy().astype(np.float32)  # after final_layer_norm
    R["text_pooled"] = tout.pooler_output[0].numpy().astype(np.float32)  # head(last row) = text_features[0]
    for i, h in enumerate(vout.hidden_states):  # [0] = patch conv + position embeddings, [i] = after block i
        R[f"vision_hidden_{i}"] = h[0].numpy().astype(np.float32)
    R["vision_last_hidden"] = vout.last_hidden_state[0].numpy().astype(np.float32)  # after post_layernorm
    R["vision_pooled"] = vout.pooler_output[0].numpy().astype(np.float32)  # MAP head = image_features[0]
    assert maxdiff(R["text_pooled"], R["text_features"][0]) < 1e-6
    assert maxdiff(R["vision_pooled"], R["image_features"][0]) < 1e-5, maxdiff(R["vision_pooled"], R["image_features"][0])

    # ---- second route: float64 numpy forward from the saved files ----
    Wraw = load_file(out_dir / "model.safetensors")
    want = np.float16 if m["save_dtype"] == torch.float16 else np.float32
    assert all(v.dtype == want for v in Wraw.values())
    W = {k: v.astype(np.float64) for k, v in Wraw.items()}
    cj = read_config(out_dir / "config.json")
    checks = {}
    t_np = np.stack([np_text(W, cj, r)[0] for r in ids])
    i_np = np.stack([np_vision(W, cj, p.astype(np.float64))[0] for p in pix])
    checks["text_features (np64 vs HF)"] = maxdiff(t_np, R["text_features"])
    checks["image_features (np64 vs HF)"] = maxdiff(i_np, R["image_features"])
    checks["text_embeds (np64 vs HF)"] = maxdiff(unit(t_np), R["text_embeds"])
    checks["image_embeds (np64 vs HF)"] = maxdiff(unit(i_np), R["image_embeds"])
    logits_np = unit(i_np) @ unit(t_np).T * math.exp(float(W["logit_scale"][0])) + float(W["logit_bias"][0])
    checks["logits_per_image (np64 vs HF)"] = maxdiff(logits_np, R["logits_per_image"])
    _, ths, tlast = np_text(W, cj, ids[0])
    _, vhs, vlast, _ = np_vision(W, cj, pix[0].astype(np.float64))
    checks["text_hidden_* (np64 vs HF)"] = max(maxdiff(h, R[f"text_hidden_{i}"]) for i, h in enumerate(ths))
    checks["vision_hidden_* (np64 vs HF)"] = max(maxdiff(h, R[f"vision_hidden_{i}"]) for i, h in enumerate(vhs))
    checks["last_hidden (np64 vs HF)"] = max(maxdiff(tlast, R["text_last_hidden"]), maxdiff(vlast, R["vision_last_hidden"]))
    for k, v in checks.items():
        assert v < 2e-4, (k, v)

    # ---- sensitivity: each plausible engine error must move the embeddings well past 1e-4 ----
    wrong_eps = 1e-6 if m["layer_norm_eps"] == 1e-5 else 1e-5
    T = lambda **kw: unit(np.stack([np_text(W, cj, r, **kw)[0] for r in ids]))
    V = lambda **kw: unit(np.stack([np_vision(W, cj, p.astype(np.float64), **kw)[0] for p in pix]))
    sens = {
        "act=gelu (erf): text_embeds": maxdiff(T(act="gelu"), R["text_embeds"]),
        "act=gelu (erf): image_embeds": maxdiff(V(act="gelu"), R["image_embeds"]),
        f"eps={wrong_eps}: text_embeds": maxdiff(T(eps=wrong_eps), R["text_embeds"]),
        f"eps={wrong_eps}: image_embeds": maxdiff(V(eps=wrong_eps), R["image_embeds"]),
        "causal mask: text_embeds": maxdiff(T(bug="causal"), R["text_embeds"]),
        "pool at first </s>: text_embeds": maxdiff(T(bug="first_eos"), R["text_embeds"]),
        "padding mask (HF attention_mask): text_embeds": maxdiff(unit(tf_masked.numpy()), R["text_embeds"]),
        "mean pool, no MAP head: image_embeds": maxdiff(V(bug="mean_pool"), R["image_embeds"]),
        "MAP residual after LN: image_embeds": maxdiff(V(bug="ln_residual"), R["image_embeds"]),
    }
    if m["save_dtype"] == torch.float16:
        W32 = {k: v.double().numpy() for k, v in unrounded.items()}
        sens["unrounded fp32 weights: text_embeds"] = maxdiff(unit(np.stack([np_text(W32, cj, r)[0] for r in ids])), R["text_embeds"])
        sens["unrounded fp32 weights: image_embeds"] = maxdiff(unit(np.stack([np_vision(W32, cj, p.astype(np.float64))[0] for p in pix])), R["image_embeds"])
    # tanh-GELU and erf-GELU differ by at most 4.7e-4 (at |x| = 2.7), so that error moves the embeddings by
    # less than the others: it is held to 4e-5 (parity tests use 1e-5); everything else to 2e-4.
    weak = {k: v for k, v in sens.items() if v <= (4e-5 if k.startswith("act=") else 2e-4)
            and not (k.startswith("eps") and m["layer_norm_eps"] is None)}  # only the f16 model is eps-sensitive
    assert not weak, (m["name"], sens)

    meta = {
        "model": m["name"],
        "images": json.dumps(IMAGES),
        "texts": json.dumps(TEXTS, ensure_ascii=False),
        "processor_call": 'SiglipProcessor(text=texts, images=images, padding="max_length", truncation=True)',
        "text_debug_from": "input_ids[0]",
        "vision_debug_from": "pixel_values[0]",
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "sentencepiece": spm.__version__,
        "pillow": PIL.__version__,
        "numpy": np.__version__,
        "safetensors": safetensors.__version__,
        "made_by": "tools/make_siglip_fixtures.py",
    }
    save_reproducibly({k: np.ascontiguousarray(v) for k, v in R.items()}, out_dir / "reference.safetensors", meta)
    (out_dir / "texts.txt").write_text("".join(t + "\n" for t in TEXTS), encoding="utf-8")
    (out_dir / "images.txt").write_text("".join(p + "\n" for p in IMAGES), encoding="utf-8")
    return tok, checks, sens


def write_tsv(toks):
    """text, then for each fixture: the ids of tok(text, truncation=True) (</s> included, no padding) and
    the length of the untruncated ids."""
    texts = tokenizer_texts()
    lines = [
        "# siglip_tokenizer.tsv — made by tools/make_siglip_fixtures.py with transformers "
        f"{transformers.__version__} SiglipTokenizer, sentencepiece {spm.__version__}.",
        "# Columns (TAB-separated): text (escapes \\\\ \\t \\n \\r \\u{HEX}), then for each of "
        + ", ".join(n for n, _ in toks)
        + ": ids of tok(text, truncation=True) (max_length 64, </s> included, no padding) and the length of "
        "tok(text) without truncation (> 64 means the text was truncated).",
    ]
    n_trunc = 0
    for t in texts:
        row = [escape_field(t)]
        for _, tok in toks:
            full = tok(t)["input_ids"]
            cut = tok(t, truncation=True)["input_ids"]
            assert len(cut) <= CONTEXT and (len(full) > CONTEXT) == (cut != full)
            n_trunc += len(full) > CONTEXT
            row += [" ".join(map(str, cut)), str(len(full))]
        lines.append("\t".join(row))
    TSV.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(texts), n_trunc


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.parse_args()
    if not (IMAGE_DIR / "index.tsv").exists():
        sys.exit(f"{IMAGE_DIR}: not found (the shared data must sit at ../shared/data)")
    torch.set_num_threads(2)
    from transformers import SiglipTextConfig, SiglipVisionConfig
    for defaults, cls in ((HF_TEXT_DEFAULTS, SiglipTextConfig), (HF_VISION_DEFAULTS, SiglipVisionConfig)):
        real = cls().to_dict()
        assert all(real[k] == v for k, v in defaults.items()), (cls.__name__, real)
    for t in TEXTS:
        assert "\n" not in t and "\r" not in t  # texts.txt holds one per line

    toks = []
    for m in MODELS:
        tok, checks, sens = build(m)
        toks.append((m["name"], tok))
        d = FIXTURES / m["name"]
        print(f"{m['name']}:")
        for f in sorted(os.listdir(d)):
            print(f"  {f:26s} {os.path.getsize(d / f):>9,d} bytes")
        for k, v in checks.items():
            print(f"  check {k:36s} max|diff| {v:.2e}")
        for k, v in sens.items():
            print(f"  sensitivity {k:46s} max|diff| {v:.2e}")
    n, n_trunc = write_tsv(toks)
    print(f"{TSV.relative_to(REPO)}: {n} texts ({n_trunc} truncated rows over both tokenizers), "
          f"{os.path.getsize(TSV):,d} bytes")


if __name__ == "__main__":
    main()

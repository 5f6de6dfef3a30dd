#!/usr/bin/env python3
"""Turn reco's CUDA sources into plain C++ for the CPU emulator (emu_cuda.h):
shared-memory declarations become per-block storage, kernel<<<...>>>(args) becomes emu_launch(...)."""
import re
import sys


def split_top(s, sep=","):
    out, depth, cur = [], 0, ""
    for ch in s:
        if ch in "([{<" and not (ch == "<" and False):
            depth += ch in "([{"
        if ch in ")]}":
            depth -= 1
        if ch == sep and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    out.append(cur)
    return [x.strip() for x in out]


def kernel_expr_start(s, i):
    """s[i:] starts with '<<<'; return the start of the kernel expression before it."""
    j = i
    while True:
        j -= 1
        if s[j] == ">":  # template arguments: skip back to the matching '<'
            depth = 1
            j -= 1
            while depth:
                if s[j] == ">":
                    depth += 1
                elif s[j] == "<":
                    depth -= 1
                j -= 1
            j += 0
            continue
        if s[j].isalnum() or s[j] in "_:":
            continue
        return j + 1


def transform(src):
    src = re.sub(r"extern __shared__ __align__\(\d+\) unsigned char smem\[\];",
                 "unsigned char* smem = emu_dyn_smem();", src)

    def shared(m):
        return f"auto& {m.group(2)} = emu_shared<{m.group(1)}{m.group(3) or ''}>(__LINE__);"

    src = re.sub(r"__shared__\s+([\w:]+)\s+(\w+)((?:\[[^\]]+\])*)\s*;", shared, src)
    out = ""
    pos = 0
    while True:
        i = src.find("<<<", pos)
        if i < 0:
            out += src[pos:]
            break
        k0 = kernel_expr_start(src, i)
        kexpr = src[k0:i]
        j = src.find(">>>", i)
        cfg = split_top(src[i + 3:j])
        assert src[j + 3] == "(", src[j:j + 40]
        depth, e = 0, j + 3
        while True:
            if src[e] == "(":
                depth += 1
            elif src[e] == ")":
                depth -= 1
                if depth == 0:
                    break
            e += 1
        args = src[j + 4:e]
        while len(cfg) < 4:
            cfg.append("0")
        out += src[pos:k0] + f"emu_launch(dim3({cfg[0]}), dim3({cfg[1]}), (size_t)({cfg[2]}), {cfg[3]}, [&] {{ {kexpr}({args}); }})"
        pos = e + 1
    return out


if __name__ == "__main__":
    for path in sys.argv[2:]:
        name = path.split("/")[-1]
        dst = sys.argv[1] + "/" + name.replace(".cu", ".cu.cpp") if name.endswith(".cu") else sys.argv[1] + "/" + name
        text = transform(open(path).read())
        try:
            same = open(dst).read() == text
        except FileNotFoundError:
            same = False
        if not same:  # unchanged files keep their time stamp: run.sh recompiles only what changed
            open(dst, "w").write(text)

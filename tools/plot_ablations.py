#!/usr/bin/env python3
"""Draw the plots of a `reco ablate` output folder (matplotlib; tools/requirements-plot.txt).

    python3 tools/plot_ablations.py DIR

Reads DIR/ablations.csv (one row per table row, mean and sample std over seeds) and, when present,
DIR/training_seed1.jsonl (`reco train --metrics` format). Writes, in DIR:
    training_curve.png   loss and validation top-1 over the steps of the base cell (seed 1)
    k_curve.png          test top-1 against k (k = 0 is the no-retrieval control), with baselines
    memory_curve.png     test top-1 against the fraction of the memory searched, with baselines
    ablation_bars.png    change against frozen CLIP for every row of the table (points)
Every number plotted is read from those files; nothing is recomputed here.
"""
import csv
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read_rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def num(row, key):
    return float(row[key])


def training_curve(d, out):
    path = os.path.join(d, "training_seed1.jsonl")
    if not os.path.exists(path):
        return False
    steps, loss, ev_steps, ev_both, ev_frozen, ev_name = [], [], [], [], [], "val"
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            if "loss" in r:
                steps.append(r["step"])
                loss.append(r["loss"])
            elif "both" in r:
                ev_steps.append(r["step"])
                ev_both.append(r["both"])
                ev_frozen.append(r["frozen"])
                ev_name = r.get("eval", ev_name)
    fig, ax = plt.subplots(figsize=(6.4, 4))
    ax.plot(steps, loss, color="tab:blue", label="training loss")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (three-term InfoNCE)", color="tab:blue")
    if ev_steps:
        ax2 = ax.twinx()
        ax2.plot(ev_steps, ev_both, "o-", color="tab:red", label="RECO top-1 (%s)" % ev_name)
        ax2.axhline(ev_frozen[0], color="gray", ls="--", label="frozen top-1 (%s)" % ev_name)
        ax2.set_ylabel("zero-shot top-1 on %s (%%)" % ev_name, color="tab:red")
        ax2.legend(loc="center right", fontsize=8)
    ax.set_title("training curve (base cell, seed 1)")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return True


def curve(rows, frozen, xs_rows, xlabel, title, out, logx=False):
    xs, ys, es, mb, qb = [], [], [], [], []
    for x, r in xs_rows:
        xs.append(x)
        ys.append(num(r, "test_mean"))
        es.append(num(r, "test_std"))
        mb.append(num(r, "retrieved_mean"))
        qb.append(num(r, "query_plus_mean"))
    fig, ax = plt.subplots(figsize=(6.4, 4))
    ax.errorbar(xs, ys, yerr=es, fmt="o-", capsize=3, label="RECO (trained fusion)")
    ax.plot(xs, mb, "s--", label="retrieved mean (no training)")
    ax.plot(xs, qb, "^--", label="query + retrieved mean (no training)")
    ax.axhline(frozen, color="gray", ls=":", label="frozen CLIP")
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("zero-shot top-1, test (%)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: plot_ablations.py DIR   (a `reco ablate --out DIR` folder)")
    d = sys.argv[1]
    path = os.path.join(d, "ablations.csv")
    if not os.path.exists(path):
        sys.exit("%s: not found (run `reco ablate --out %s` first)" % (path, d))
    rows = read_rows(path)
    by_id = {r["id"]: r for r in rows}
    frozen = num(by_id["frozen"], "test_mean")
    base = by_id["base"]
    written = []
    if training_curve(d, os.path.join(d, "training_curve.png")):
        written.append("training_curve.png")

    ks = [(int(r["k"]), r) for r in rows if r["group"] in ("k", "control")] + [(int(base["k"]), base)]
    ks.sort(key=lambda t: t[0])
    curve(rows, frozen, ks, "k (retrieved neighbours; 0 = no retrieval)", "number of neighbours",
          os.path.join(d, "k_curve.png"))
    written.append("k_curve.png")

    mem = [(float(r["memory_fraction"]), r) for r in rows if r["group"] == "memory"] + [(1.0, base)]
    mem.sort(key=lambda t: t[0])
    curve(rows, frozen, mem, "fraction of the memory searched", "memory size", os.path.join(d, "memory_curve.png"),
          logx=True)
    written.append("memory_curve.png")

    bars = [r for r in rows if r["id"] != "frozen"]
    labels = [r["variant"] for r in bars]
    delta = [num(r, "delta_abs") for r in bars]
    err = [num(r, "test_std") for r in bars]
    colors = ["tab:green" if x >= 0 else "tab:red" for x in delta]
    fig, ax = plt.subplots(figsize=(8, 0.42 * len(bars) + 1.2))
    y = list(range(len(bars)))[::-1]
    ax.barh(y, delta, xerr=err, color=colors, capsize=3)
    ax.set_yticks(y)
    ax.set_yticklabels(labels, fontsize=8)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xlabel("test top-1 change vs frozen CLIP (%.1f%%), points" % frozen)
    ax.set_title("ablations (mean ± std over seeds)")
    fig.tight_layout()
    fig.savefig(os.path.join(d, "ablation_bars.png"), dpi=110)
    plt.close(fig)
    written.append("ablation_bars.png")
    print("plots: wrote " + ", ".join(os.path.join(d, w) for w in written))


if __name__ == "__main__":
    main()

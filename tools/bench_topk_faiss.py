#!/usr/bin/env python3
"""bench_topk_faiss.py — the baseline for tools/bench_topk.cpp: faiss IndexFlatIP (exact inner
product, fp32 memory) on the same shape: N × d memory, Q queries, k neighbours, 2 threads.

Runs with any faiss: `make bench` uses the newest faiss-cpu from PyPI (tools/requirements-bench.txt).
Note: Debian's faiss calls whatever libblas.so.3 the system's alternatives point to for batches of
more than 20 queries (sgemm); the BLAS in use is printed so the number can be read in context.

usage: python tools/bench_topk_faiss.py [--n 1000000] [--d 512] [--q 1024] [--k 10] [--threads 2] [--repeats 1]
"""
import argparse
import os
import time

import numpy as np
import faiss


def blas_in_use():
    """The libblas.so.3 that the faiss extension resolved (via /proc/self/maps)."""
    try:
        with open("/proc/self/maps") as f:
            libs = {line.split()[-1] for line in f if "blas" in line.lower() and "/" in line}
        return ", ".join(sorted(os.path.realpath(p) for p in libs)) or "unknown"
    except OSError:
        return "unknown"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--d", type=int, default=512)
    ap.add_argument("--q", type=int, default=1024)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=1, help="best of (for small, latency-bound batches)")
    a = ap.parse_args()
    faiss.omp_set_num_threads(a.threads)

    rng = np.random.default_rng(0)
    index = faiss.IndexFlatIP(a.d)
    slab = 65536
    for i0 in range(0, a.n, slab):  # add in slabs: never more than one fp64 temporary of a slab
        x = rng.uniform(-1, 1, size=(min(slab, a.n - i0), a.d)).astype(np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        index.add(x)
    q = rng.uniform(-1, 1, size=(a.q, a.d)).astype(np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)

    sec = 1e30
    for _ in range(max(1, a.repeats)):
        t0 = time.perf_counter()
        index.search(q, a.k)
        sec = min(sec, time.perf_counter() - t0)
    gflops = 2.0 * a.q * a.n * a.d / sec / 1e9
    print(f"faiss {faiss.__version__} IndexFlatIP  N={a.n} d={a.d} Q={a.q} k={a.k} threads={a.threads}: "
          f"{sec:.4f} s per batch (best of {max(1, a.repeats)}), {a.q / sec:.1f} queries/s ({gflops:.1f} GFLOP/s)  [BLAS: {blas_in_use()}]")


if __name__ == "__main__":
    main()

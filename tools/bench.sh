#!/usr/bin/env bash
# tools/bench.sh — `make bench`: reco's CPU paths side by side with PyTorch / faiss in one run,
# same machine, same thread count (THREADS, default 2), printed as one table with ratios.
#
#   towers:  ViT-B/32-shaped CLIP, random weights: images/s, texts/s   vs transformers CLIPModel (PyTorch CPU)
#   siglip:  SigLIP-base/16-shaped, random weights: images/s, texts/s  vs transformers SiglipModel (PyTorch CPU)
#            (texts padded to 64 on both sides, as SigLIP requires; SIGLIP=0 skips this part)
#   fusion:  RECO training steps/s at d=512, k=10, batch 256            vs the same model in PyTorch CPU
#   top-k:   exact top-k queries/s, 1M×512 memory, 1024 queries, k=10   vs faiss IndexFlatIP (fp32)
#   mpi:     search on 1 vs 2 MPI ranks, data-parallel training, collectives (tools/bench_mpi.sh)
#
# PyTorch comes from tools/.venv (tools/README.md); faiss from Debian's python3-faiss. A missing
# baseline is reported as "n/a" and the rest still runs. QUICK=1 shrinks the work (smoke test).
set -u
cd "$(dirname "$0")/.."
THREADS="${THREADS:-2}"
export OMP_NUM_THREADS="$THREADS" OPENBLAS_NUM_THREADS="$THREADS" MKL_NUM_THREADS="$THREADS"
# the same OpenMP wait policy for reco and the baselines (./reco sets passive itself; see src/main.cpp)
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"
SECS="${SECS:-5}"
TOPK_N="${TOPK_N:-1000000}"
SIG_IB="${SIG_IB:-16}"; SIG_TB="${SIG_TB:-64}"  # SigLIP batch sizes (images, texts)
if [ "${QUICK:-0}" = 1 ]; then SECS=1; TOPK_N=100000; SIG_IB=4; SIG_TB=16; fi
PY="tools/.venv/bin/python"
log="build/bench.log"
mkdir -p build
: > "$log"

CXX="${CXX:-g++}"
FLAGS="-O3 -march=native -fopenmp -std=c++17 -Isrc -DRECO_CUDA=0"
objs=$(find build/src build/kernels -name '*.o' 2>/dev/null | grep -v '/src/main.o$' | tr '\n' ' ')
build() {  # build NAME from tools/NAME.cpp against the project objects (CPU paths only)
  [ -f "tools/$1.cpp" ] || return 1
  $CXX $FLAGS "tools/$1.cpp" $objs -o "build/$1" $(make -s print-ldlibs 2>/dev/null) >>"$log" 2>&1
}
num() { grep -o "$1 [0-9.]*" | tail -n1 | awk '{print $NF}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b == 0) print "n/a"; else printf "%.2fx", a / b }'; }
row() { printf "%-40s %14s %14s %10s\n" "$1" "${2:-n/a}" "${3:-n/a}" "$(ratio "${2:-}" "${3:-}")"; }

have_torch=0
[ -x "$PY" ] && "$PY" -c "import torch, transformers" 2>/dev/null && have_torch=1

echo "reco bench — $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, threads=$THREADS, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "(details in $log)"

# ---- towers
img_r=; txt_r=; img_t=; txt_t=; txt77_t=
if build bench_towers; then
  out=$(build/bench_towers 16 64 "$SECS" 2>&1); echo "$out" >>"$log"
  img_r=$(echo "$out" | num "reco images/s"); txt_r=$(echo "$out" | num "reco texts/s")
fi
if [ $have_torch = 1 ]; then
  out=$("$PY" tools/bench_towers_torch.py 16 64 "$SECS" "$THREADS" 2>&1); echo "$out" >>"$log"
  img_t=$(echo "$out" | num "torch images/s"); txt_t=$(echo "$out" | num "torch texts/s"); txt77_t=$(echo "$out" | num "torch texts77/s")
fi

# ---- SigLIP towers (base/16 shapes: ~35 GFLOP per image, ~11 per 64-token text; ViT-B/32: 4.4 and ~0.6)
sig_img_r=; sig_txt_r=; sig_img_t=; sig_txt_t=
if [ "${SIGLIP:-1}" != 0 ]; then
  if build bench_siglip; then
    out=$(build/bench_siglip "$SIG_IB" "$SIG_TB" "$SECS" 2>&1); echo "$out" >>"$log"
    sig_img_r=$(echo "$out" | num "reco images/s"); sig_txt_r=$(echo "$out" | num "reco texts/s")
  fi
  if [ $have_torch = 1 ]; then
    out=$("$PY" tools/bench_siglip_torch.py "$SIG_IB" "$SIG_TB" "$SECS" "$THREADS" 2>&1); echo "$out" >>"$log"
    sig_img_t=$(echo "$out" | num "torch images/s"); sig_txt_t=$(echo "$out" | num "torch texts/s")
  fi
fi

# ---- fusion training
fus_r=; fus_t=
if build bench_fusion; then
  out=$(build/bench_fusion 512 10 256 "$SECS" 2>&1); echo "$out" >>"$log"
  fus_r=$(echo "$out" | num "reco steps/s")
fi
if [ $have_torch = 1 ] && [ -f tools/bench_fusion_torch.py ]; then
  out=$("$PY" tools/bench_fusion_torch.py 512 10 256 "$SECS" "$THREADS" 2>&1); echo "$out" >>"$log"
  fus_t=$(echo "$out" | num "torch steps/s")
fi

# ---- exact top-k
topk_r=; topk_f=; topk_fp=
if build bench_topk; then
  out=$(build/bench_topk "$TOPK_N" 512 1024 10 2>&1); echo "$out" >>"$log"
  topk_r=$(echo "$out" | grep -o '[0-9.]* queries/s' | tail -n1 | awk '{print $1}')
fi
if /usr/bin/python3 -c "import faiss" 2>/dev/null; then
  # Debian's faiss runs on the reference BLAS (~3 queries/s): 128 queries keep the run short; its
  # queries/s barely depends on the batch size at that speed (measured here: 2.6 q/s at Q=128, 2.9 at Q=1024)
  out=$(/usr/bin/python3 tools/bench_topk_faiss.py --n "$TOPK_N" --d 512 --q "${FAISS_DEBIAN_Q:-128}" --k 10 --threads "$THREADS" 2>&1); echo "$out" >>"$log"
  topk_f=$(echo "$out" | grep -o '[0-9.]* queries/s' | tail -n1 | awk '{print $1}')
fi
if [ -x "$PY" ] && "$PY" -c "import faiss" 2>/dev/null; then
  out=$("$PY" tools/bench_topk_faiss.py --n "$TOPK_N" --d 512 --q 1024 --k 10 --threads "$THREADS" 2>&1); echo "$out" >>"$log"
  topk_fp=$(echo "$out" | grep -o '[0-9.]* queries/s' | tail -n1 | awk '{print $1}')
fi

echo
printf "%-40s %14s %14s %10s\n" "benchmark" "reco" "baseline" "ratio"
row "ViT-B/32 images/s (batch 16)" "$img_r" "$img_t"
row "ViT-B/32 texts/s (batch 64, pad longest)" "$txt_r" "$txt_t"
row "ViT-B/32 texts/s (vs torch padded to 77)" "$txt_r" "$txt77_t"
if [ "${SIGLIP:-1}" != 0 ]; then
  row "SigLIP-B/16 images/s (batch $SIG_IB)" "$sig_img_r" "$sig_img_t"
  row "SigLIP-B/16 texts/s (batch $SIG_TB, 64 tokens)" "$sig_txt_r" "$sig_txt_t"
fi
row "fusion train steps/s (d512 k10 B256)" "$fus_r" "$fus_t"
row "top-k q/s vs faiss (Debian, ref BLAS)*" "$topk_r" "$topk_f"
row "top-k q/s vs faiss-cpu (PyPI, OpenBLAS)" "$topk_r" "$topk_fp"
echo "top-k: ${TOPK_N}x512 memory (reco fp16, faiss fp32 IndexFlatIP), 1024 queries, k=10 (*Debian faiss: ${FAISS_DEBIAN_Q:-128} queries)"
echo "baselines: PyTorch CPU $( [ $have_torch = 1 ] && "$PY" -c 'import torch; print(torch.__version__)' || echo 'n/a (make tools/.venv: tools/README.md)'), faiss IndexFlatIP fp32 ($(/usr/bin/python3 -c 'import faiss; print(faiss.__version__)' 2>/dev/null || echo n/a))"

# ---- multi-process: search on 1 vs 2 MPI ranks, data-parallel training, the step's collectives
# (a separate script with its own table; MPI_BENCH=0 skips it) — tools/bench_mpi.sh, docs/scaling.md
if [ "${MPI_BENCH:-1}" != 0 ]; then bash tools/bench_mpi.sh; fi

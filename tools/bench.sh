#!/usr/bin/env bash
# tools/bench.sh — `make bench`: this machine's limits, then reco's CPU paths beside the best peers,
# in one run, same machine, same thread count (THREADS, default 2), one table:
#
#   limits:  fp32 FMA peak, bf16 dot-product peak, DRAM read bandwidth (tools/bench_limits.cpp, ours)
#   gemm:    reco's GEMM alone on one ViT-B/32 layer's shapes, fp32 and bf16 (tools/bench_gemm.cpp)
#   towers:  ViT-B/32-shaped CLIP, random weights: images/s, texts/s
#            vs PyTorch fp32, PyTorch bf16 autocast, ONNX Runtime (the same model exported to ONNX)
#   siglip:  SigLIP-base/16-shaped, random weights vs transformers SiglipModel (SIGLIP=0 skips)
#   fusion:  RECO training steps/s at d=512, k=10, batch 256 vs the same model in PyTorch, computing only
#            the query row as reco does (like for like), and the full (k+1)-token layer
#   top-k:   exact top-k, 1M×512 fp16 memory: q=1024 queries/s; q=1 and q=16 latency per batch
#            vs faiss-cpu IndexFlatIP (fp32); the small batches as a fraction of a plain read of the same
#            buffer timed between the searches (this VM's bandwidth differs from process to process)
#   memory build: `reco memory build` end to end on the shared photos (../shared/data; a random
#            ViT-B/32 model folder from tools/make_random_clip.py), decoding overlapped with the
#            towers, beside the towers alone and the sequential loop (MEMBUILD=0 skips)
# Columns: reco, the best peer, reco ÷ peer (> 1 = reco faster), and reco as a fraction of the limit
# that bounds that row (fp32 or bf16 FLOP/s, or DRAM bytes/s for the memory-bound top-k batches).
#   mpi:     search on 1 vs 2 MPI ranks, data-parallel training, collectives (tools/bench_mpi.sh)
#
# Python for the baselines: BENCH_PY, else tools/.venv-bench/bin/python (tools/requirements-bench.txt:
# newest torch, transformers, onnxruntime, faiss-cpu), else tools/.venv/bin/python, else python3.
# A missing baseline prints "n/a" and the rest still runs. QUICK=1 shrinks the work (smoke test).
# Details (every program's full output) go to $B/bench.log.
set -u
cd "$(dirname "$0")/.."
B="${BUILD:-build}"  # the object folder (make bench: build-bench, CPU-only objects)
THREADS="${THREADS:-2}"
export OMP_NUM_THREADS="$THREADS" OPENBLAS_NUM_THREADS="$THREADS" MKL_NUM_THREADS="$THREADS"
# the same OpenMP wait policy for reco and the baselines (./reco sets passive itself; see src/main.cpp)
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"
SECS="${SECS:-5}"
TOPK_N="${TOPK_N:-1000000}"
REPEATS="${REPEATS:-5}"   # best-of for the limits and the small top-k batches (the machine may be shared)
SIG_IB="${SIG_IB:-16}"; SIG_TB="${SIG_TB:-64}"  # SigLIP batch sizes (images, texts)
if [ "${QUICK:-0}" = 1 ]; then SECS=1; TOPK_N=100000; SIG_IB=4; SIG_TB=16; REPEATS=2; fi
PY="${BENCH_PY:-}"
for p in tools/.venv-bench/bin/python tools/.venv/bin/python python3; do
  [ -n "$PY" ] && break
  command -v "$p" >/dev/null 2>&1 && PY="$p"
done
log="$B/bench.log"
mkdir -p build
: > "$log"

CXX="${CXX:-g++}"
FLAGS="-O3 -march=native -fopenmp -std=c++17 -Isrc -DRECO_CUDA=0"
objs=$(find $B/src $B/kernels -name '*.o' 2>/dev/null | grep -v '/src/main.o$' | tr '\n' ' ')
build() {  # build NAME from tools/NAME.cpp against the project objects (CPU paths only)
  [ -f "tools/$1.cpp" ] || return 1
  $CXX $FLAGS "tools/$1.cpp" $objs -o "$B/$1" $(make -s CUDA=0 BUILD="$B" print-ldlibs 2>/dev/null) >>"$log" 2>&1
}
run() { echo "\$ $*" >>"$log"; "$@" 2>&1 | tee -a "$log"; }
num() { grep -o "$1 [0-9.]*" | tail -n1 | awk '{print $NF}'; }
maxof() { printf "%s\n" "$@" | grep -E '^[0-9.]+$' | sort -g | tail -n1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b == 0) print "n/a"; else printf "%.2fx", a / b }'; }
pct() {  # pct VALUE UNIT_PER_VALUE LIMIT: VALUE·UNIT as a percentage of LIMIT
  awk -v a="$1" -v u="$2" -v l="$3" 'BEGIN { if (a == "" || l == "" || l == 0) print "n/a"; else printf "%.0f%%", 100 * a * u / l }'
}
row() { printf "%-44s %11s %11s %9s %9s  %s\n" "$1" "${2:-n/a}" "${3:-n/a}" "$4" "$5" "${6:-}"; }

have() { [ -n "$PY" ] && "$PY" -c "import $1" 2>/dev/null; }
pyver() { have "$1" && "$PY" -c "import $1; print($1.__version__)" 2>/dev/null || echo n/a; }

echo "reco bench — $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, threads=$THREADS, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg) (the machine may be shared: ratios within this run are what count)"
echo "baselines: python $PY, torch $(pyver torch), transformers $(pyver transformers), onnxruntime $(pyver onnxruntime), faiss-cpu $(pyver faiss)"
echo "(details in $log)"

# ---- limits (best of REPEATS)
fp32_peak=; bf16_peak=; dram=
if build bench_limits; then
  out=$($B/bench_limits "$REPEATS" 2>&1); echo "$out" >>"$log"
  fp32_peak=$(echo "$out" | num "limit fp32_gflops"); bf16_peak=$(echo "$out" | num "limit bf16_gflops")
  dram=$(echo "$out" | num "limit dram_gbs")
  echo "$out" | head -n1
fi

# ---- the GEMM alone on the ViT-B/32 layer shapes (best of 3·REPEATS short calls; the limits: best of REPEATS)
gemm32=; gemm16=
if build bench_gemm; then
  out=$($B/bench_gemm 16 $((3 * REPEATS)) 2>&1); echo "$out" >>"$log"  # short calls (5-25 ms): more of them
  gemm32=$(echo "$out" | num "gemm fp32 GFLOP/s"); gemm16=$(echo "$out" | num "gemm bf16 GFLOP/s")
fi

# ---- ViT-B/32 towers: 4.41 G multiply-adds per image = 8.82 GFLOP (patch GEMM 0.12, 12 layers × 50 tokens
# × 7.08 M for the four Linears, attention 0.05)
VIT_GFLOP=8.82
img_r=; img_rb=; txt_r=; img_t=; img_b=; img_o=; txt_t=; txt77_t=; lay32=; lay16=
if build bench_towers; then
  out=$($B/bench_towers 16 64 "$SECS" 2>&1); echo "$out" >>"$log"
  img_r=$(echo "$out" | num "reco images/s"); img_rb=$(echo "$out" | num "reco_bf16 images/s")
  txt_r=$(echo "$out" | num "reco texts/s")
  lay32=$(echo "$out" | grep '^layer fp32' | grep -o 'non-gemm [0-9.]*' | awk '{print $2}')
  lay16=$(echo "$out" | grep '^layer bf16' | grep -o 'non-gemm [0-9.]*' | awk '{print $2}')
fi
if have "torch, transformers"; then
  out=$("$PY" tools/bench_towers_torch.py 16 64 "$SECS" "$THREADS" bf16 2>&1); echo "$out" >>"$log"
  img_t=$(echo "$out" | num "torch images/s"); img_b=$(echo "$out" | num "torch_bf16 images/s")
  txt_t=$(echo "$out" | num "torch texts/s"); txt77_t=$(echo "$out" | num "torch texts77/s")
fi
if have "onnxruntime, torch, transformers"; then
  out=$("$PY" tools/bench_towers_ort.py 16 "$SECS" "$THREADS" 2>&1); echo "$out" >>"$log"
  img_o=$(echo "$out" | num "ort images/s")
fi

# ---- SigLIP towers (base/16 shapes: ~35 GFLOP per image, ~11 per 64-token text)
sig_img_r=; sig_txt_r=; sig_img_t=; sig_txt_t=
if [ "${SIGLIP:-1}" != 0 ]; then
  if build bench_siglip; then
    out=$($B/bench_siglip "$SIG_IB" "$SIG_TB" "$SECS" 2>&1); echo "$out" >>"$log"
    sig_img_r=$(echo "$out" | num "reco images/s"); sig_txt_r=$(echo "$out" | num "reco texts/s")
  fi
  if have "torch, transformers"; then
    out=$("$PY" tools/bench_siglip_torch.py "$SIG_IB" "$SIG_TB" "$SECS" "$THREADS" 2>&1); echo "$out" >>"$log"
    sig_img_t=$(echo "$out" | num "torch images/s"); sig_txt_t=$(echo "$out" | num "torch texts/s")
  fi
fi

# ---- fusion training
fus_r=; fus_t=; fus_q=
if build bench_fusion; then
  out=$($B/bench_fusion 512 10 256 "$SECS" 2>&1); echo "$out" >>"$log"
  fus_r=$(echo "$out" | num "reco steps/s")
fi
if have torch && [ -f tools/bench_fusion_torch.py ]; then
  out=$("$PY" tools/bench_fusion_torch.py 512 10 256 "$SECS" "$THREADS" query-row 2>&1); echo "$out" >>"$log"
  fus_q=$(echo "$out" | num "torch steps/s")
  out=$("$PY" tools/bench_fusion_torch.py 512 10 256 "$SECS" "$THREADS" full 2>&1); echo "$out" >>"$log"
  fus_t=$(echo "$out" | num "torch steps/s")
fi

# ---- exact top-k: q=1024 throughput, q=1 and q=16 latency (best of REPEATS)
declare -A tk_r tk_f tk_read
for q in 1024 16 1; do
  reps=$([ "$q" = 1024 ] && echo 1 || echo "$REPEATS")
  if [ -x $B/bench_topk ] || build bench_topk; then
    out=$($B/bench_topk "$TOPK_N" 512 "$q" 10 "$reps" 2>&1); echo "$out" >>"$log"
    tk_r[$q]=$(echo "$out" | grep -o '[0-9.]* s per batch' | awk '{print $1}')
    tk_read[$q]=$(echo "$out" | grep -o 'interleaved with the searches: [0-9.]*' | awk '{print $NF}')
  fi
  if have faiss; then
    out=$("$PY" tools/bench_topk_faiss.py --n "$TOPK_N" --d 512 --q "$q" --k 10 --threads "$THREADS" --repeats "$reps" 2>&1); echo "$out" >>"$log"
    tk_f[$q]=$(echo "$out" | grep -o '[0-9.]* s per batch' | awk '{print $1}')
  fi
done
# ---- reco memory build end to end (decoding + preprocessing overlapped with the towers)
mb_e2e=; mb_seq=; mb_tower=; mb_n=
SHARED="${SHARED_DATA:-../shared/data}"
MODEL_DIR="$B/random_vitb32"
if [ "${MEMBUILD:-1}" != 0 ] && [ -f "$SHARED/images/index.tsv" ] && [ -x "$B/reco" ]; then
  if [ ! -f "$MODEL_DIR/model.safetensors" ] && have "torch, transformers"; then
    "$PY" tools/make_random_clip.py "$MODEL_DIR" --tokenizer "$SHARED/clip/hf_tokenizer" >>"$log" 2>&1
  fi
  if [ -f "$MODEL_DIR/model.safetensors" ]; then
    root=$(cd "$SHARED/images" && pwd)
    awk -F'\t' -v root="$root" '!/^#/ && $1 != "path" && $1 != "" { print root "/" $1 "\t" $3 }' \
      "$SHARED/images/index.tsv" >"$B/bench_pairs.tsv"
    mb_n=$(wc -l <"$B/bench_pairs.tsv")
    for d in 0 1; do
      rm -f "$B/bench_memory.safetensors"
      out=$($B/reco memory build --device cpu --model "$MODEL_DIR" --pairs "$B/bench_pairs.tsv" \
            --out "$B/bench_memory.safetensors" --decode-threads "$d" 2>&1 | tr '\r' '\n' | tail -n 2)
      echo "$out" >>"$log"
      e2e=$(echo "$out" | grep -o '[0-9.]* pairs/s end to end' | awk '{print $1}')
      if [ "$d" = 0 ]; then mb_seq=$e2e; else mb_e2e=$e2e; mb_tower=$(echo "$out" | grep -o 'towers alone [0-9.]*' | awk '{print $3}'); fi
    done
    rm -f "$B/bench_memory.safetensors"
  fi
fi

qps() { awk -v q="$1" -v t="$2" 'BEGIN { if (t == "" || t == 0) print ""; else printf "%.1f", q / t }'; }
ms() { awk -v t="$1" 'BEGIN { if (t == "") print ""; else printf "%.1f", 1000 * t }'; }
topk_r=$(qps 1024 "${tk_r[1024]:-}"); topk_f=$(qps 1024 "${tk_f[1024]:-}")

echo
row "benchmark" "reco" "best peer" "ratio" "of limit" "(peer; limit)"
row "GEMM fp32 GFLOP/s (ViT-B/32 layer, M=800)" "$gemm32" "" "" "$(pct "$gemm32" 1 "$fp32_peak")" "(fp32 peak)"
row "GEMM bf16 GFLOP/s (ViT-B/32 layer, M=800)" "$gemm16" "" "" "$(pct "$gemm16" 1 "$bf16_peak")" "(bf16 peak)"
best_low=$(maxof "$img_b" "$img_o")
peer_low=$(awk -v b="$best_low" -v f="$img_b" 'BEGIN { print (b == f ? "torch bf16 autocast" : "onnxruntime") }')
row "ViT-B/32 images/s fp32 (batch 16)" "$img_r" "$img_t" "$(ratio "$img_r" "$img_t")" "$(pct "$img_r" "$VIT_GFLOP" "$fp32_peak")" "(torch fp32; fp32 peak)"
row "ViT-B/32 images/s --precision bf16" "$img_rb" "$img_t" "$(ratio "$img_rb" "$img_t")" "$(pct "$img_rb" "$VIT_GFLOP" "$bf16_peak")" "(torch fp32; bf16 peak)"
row "ViT-B/32 images/s --precision bf16" "$img_rb" "$best_low" "$(ratio "$img_rb" "$best_low")" "" "($peer_low; torch bf16 ${img_b:-n/a}, ort ${img_o:-n/a})"
row "ViT-B/32 layer: not in the GEMM, fp32 %" "$lay32" "" "" "" "(LayerNorm, attention, activation, residual: bench_towers)"
row "ViT-B/32 layer: not in the GEMM, bf16 %" "$lay16" "" "" "" ""
row "ViT-B/32 texts/s (batch 64, pad longest)" "$txt_r" "$txt_t" "$(ratio "$txt_r" "$txt_t")" "" "(torch fp32)"
row "ViT-B/32 texts/s (vs torch padded to 77)" "$txt_r" "$txt77_t" "$(ratio "$txt_r" "$txt77_t")" "" "(torch fp32)"
if [ "${SIGLIP:-1}" != 0 ]; then
  row "SigLIP-B/16 images/s (batch $SIG_IB)" "$sig_img_r" "$sig_img_t" "$(ratio "$sig_img_r" "$sig_img_t")" "$(pct "$sig_img_r" 35.2 "$fp32_peak")" "(torch fp32; fp32 peak)"
  row "SigLIP-B/16 texts/s (batch $SIG_TB, 64 tokens)" "$sig_txt_r" "$sig_txt_t" "$(ratio "$sig_txt_r" "$sig_txt_t")" "" "(torch fp32)"
fi
row "fusion train steps/s (d512 k10 B256)" "$fus_r" "$fus_q" "$(ratio "$fus_r" "$fus_q")" "" "(torch, query row only: like for like)"
row "fusion train steps/s (vs the full layer)" "$fus_r" "$fus_t" "$(ratio "$fus_r" "$fus_t")" "" "(torch, full (k+1)-token layer)"
row "top-k q=1024 queries/s" "$topk_r" "$topk_f" "$(ratio "$topk_r" "$topk_f")" "$(pct "$topk_r" "$(awk -v n="$TOPK_N" 'BEGIN{print 2*n*512/1e9}')" "$bf16_peak")" "(faiss-cpu; bf16 peak)"
for q in 16 1; do
  # of limit: the plain read of the same fp16 buffer, timed between the searches (bench_topk)
  row "top-k q=$q latency per batch, ms" "$(ms "${tk_r[$q]:-}")" "$(ms "${tk_f[$q]:-}")" "$(ratio "${tk_f[$q]:-}" "${tk_r[$q]:-}")" \
      "$(pct "$(awk -v t="${tk_r[$q]:-}" 'BEGIN { if (t != "" && t > 0) print 1 / t }')" "$(awk -v n="$TOPK_N" 'BEGIN{print 2*n*512/1e9}')" "${tk_read[$q]:-}")" \
      "(faiss-cpu; a plain read of the buffer, ${tk_read[$q]:-n/a} GB/s)"
done
row "memory build pairs/s end to end" "$mb_e2e" "$mb_seq" "$(ratio "$mb_e2e" "$mb_seq")" "$(pct "$mb_e2e" 1 "$mb_tower")" "(not overlapped; of the towers alone, ${mb_tower:-n/a}/s)"
echo "limits (ours, best of $REPEATS): fp32 FMA ${fp32_peak:-n/a} GFLOP/s, bf16 dot ${bf16_peak:-n/a} GFLOP/s, DRAM read ${dram:-n/a} GB/s"
echo "top-k: ${TOPK_N}x512 memory (reco fp16, faiss fp32 IndexFlatIP), k=10; ViT-B/32 = $VIT_GFLOP GFLOP/image, SigLIP-B/16 images 35.2"
echo "memory build: ${mb_n:-n/a} photos of ../shared/data with captions, random ViT-B/32 weights, --batch 64, --device cpu"
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"

# ---- multi-process: search on 1 vs 2 MPI ranks, data-parallel training, the step's collectives
# (a separate script with its own table; MPI_BENCH=0 skips it) — tools/bench_mpi.sh, docs/scaling.md
if [ "${MPI_BENCH:-1}" != 0 ]; then bash tools/bench_mpi.sh; fi

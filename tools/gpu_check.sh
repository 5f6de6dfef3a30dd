#!/usr/bin/env bash
# tools/gpu_check.sh [OUTDIR] — the one-command GPU check of issue 4 (`make gpu-check`).
#
#   1. build        make -j16 reco build/run_tests (CUDA compiled when nvcc is found)
#   2. tests        the CUDA tests: ./build/run_tests -tc='cuda*'
#   3. memcheck     compute-sanitizer --tool memcheck  on the top-k and attention tests
#   4. racecheck    compute-sanitizer --tool racecheck on the same tests (shared-memory races)
#   5. bench        tools/bench_gpu.cpp, built here against the project objects
#   6. torch        tools/bench_gpu_torch.py: PyTorch eager on the same GPU ("torch: not available" if absent)
#   7. one table (reco | torch | ratio) and the issue's goals, on stdout, in OUTDIR/summary.txt and as
#      markdown in OUTDIR/gpu-report.md (the body of docs/gpu-report.md)
# Every stage has a time limit and is reported as ok / FAILED / TIMEOUT / skipped; a failing stage never
# stops the script. Logs: OUTDIR/<stage>.log. Budget: < 8 minutes on an H200.
# Environment: PYTHON (default python3) for the torch baseline, SECS (default 2) seconds per figure,
# JOBS (default 16) for make, BUDGET (default 470) seconds for all stages together (each stage's own
# limit is cut to what is left, and a stage with under 10 s left is skipped).
set -u
cd "$(dirname "$0")/.."
OUT="${1:-build/gpu-check}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
PYTHON="${PYTHON:-python3}"
SECS="${SECS:-2}"
JOBS="${JOBS:-16}"
SUMMARY="$OUT/summary.txt"
: > "$SUMMARY"
T_START=$(date +%s)
DEADLINE=$(( T_START + ${BUDGET:-470} ))
STATUS_LINES=""

say() { echo "$*" | tee -a "$SUMMARY"; }

# stage NAME LIMIT_S CMD... → runs CMD with a time limit, output in OUT/NAME.log; records the outcome
stage() {
  local name=$1 limit=$2 t0 rc dt st left
  shift 2
  t0=$(date +%s)
  left=$(( DEADLINE - t0 ))
  if [ $left -lt 10 ]; then skip "$name" "out of time (BUDGET)"; return 125; fi
  [ $left -lt "$limit" ] && limit=$left
  echo "[$(date -u +%H:%M:%S)] $name: $*" >&2
  timeout --kill-after=15 "$limit" "$@" >"$OUT/$name.log" 2>&1
  rc=$?
  dt=$(( $(date +%s) - t0 ))
  if [ $rc -eq 0 ]; then st="ok"; elif [ $rc -eq 124 ] || [ $rc -eq 137 ]; then st="TIMEOUT after ${limit}s"; else st="FAILED (exit $rc)"; fi
  STATUS_LINES="${STATUS_LINES}$(printf '%-10s %-22s %4ss  %s' "$name" "$st" "$dt" "OUTDIR/$name.log")
"
  echo "[$(date -u +%H:%M:%S)] $name: $st in ${dt}s" >&2
  return $rc
}
skip() { STATUS_LINES="${STATUS_LINES}$(printf '%-10s %-22s %4s   %s' "$1" "skipped" "-" "$2")
"; echo "$1: skipped ($2)" >&2; }

# ---- the machine
{
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "host: $(uname -srm), $(nproc) cores"
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv,noheader
  command -v nvcc >/dev/null && nvcc --version | tail -n 2 | head -n 1
} > "$OUT/machine.txt" 2>&1
command -v nvidia-smi >/dev/null && nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1

# ---- 1. build
stage build 300 make -j"$JOBS" reco build/run_tests
built=$?

# ---- 2. tests
if [ $built -eq 0 ]; then
  stage tests 240 ./build/run_tests -tc='cuda*'
  # on a GPU machine nothing may skip for lack of a device
  nskip=$(grep -c 'SKIPPED (.*no CUDA device' "$OUT/tests.log" 2>/dev/null)
  STATUS_LINES="${STATUS_LINES}$(printf '%-10s %s' '' "$(tail -n1 "$OUT/tests.log" 2>/dev/null); ${nskip:-0} skipped for lack of a device")
"
else
  skip tests "build failed"
fi

# ---- 3./4. compute-sanitizer on the top-k and attention kernels
SAN="$(command -v compute-sanitizer || true)"
[ -z "$SAN" ] && [ -n "${CUDA_HOME:-}" ] && [ -x "$CUDA_HOME/bin/compute-sanitizer" ] && SAN="$CUDA_HOME/bin/compute-sanitizer"
[ -z "$SAN" ] && [ -x /usr/local/cuda/bin/compute-sanitizer ] && SAN=/usr/local/cuda/bin/compute-sanitizer
SAN_TESTS='cuda topk: ties*,cuda ops: fused attention*,cuda siglip: bias*'
if [ $built -ne 0 ]; then
  skip memcheck "build failed"; skip racecheck "build failed"
elif [ -z "$SAN" ]; then
  skip memcheck "compute-sanitizer not found"; skip racecheck "compute-sanitizer not found"
else
  stage memcheck 120 "$SAN" --tool memcheck --leak-check no --error-exitcode 3 ./build/run_tests -tc="$SAN_TESTS"
  stage racecheck 120 "$SAN" --tool racecheck --racecheck-report analysis --error-exitcode 3 ./build/run_tests -tc="$SAN_TESTS"
fi

# ---- 5. our benchmark
bench_ok=1
if [ $built -eq 0 ]; then
  CUDA_HOME_="${CUDA_HOME:-$(dirname "$(dirname "$(command -v nvcc 2>/dev/null || echo /usr/local/cuda/bin/nvcc)")")}"
  objs=$(find build/src build/kernels -name '*.o' 2>/dev/null | grep -v '/src/main.o$' | tr '\n' ' ')
  if stage bench_build 120 ${CXX:-g++} -O3 -std=c++17 -fopenmp -Isrc -Ikernels -DRECO_CUDA=1 -I"$CUDA_HOME_/include" \
       tools/bench_gpu.cpp $objs -L"$CUDA_HOME_/lib64" -lcublasLt -lcublas -lcudart_static -ldl -lrt -lpthread \
       -o build/bench_gpu; then
    stage bench 240 ./build/bench_gpu "$SECS" && bench_ok=0
  else
    skip bench "bench_build failed"
  fi
else
  skip bench_build "build failed"; skip bench "build failed"
fi

# ---- 6. PyTorch eager on the same GPU
stage torch 240 "$PYTHON" tools/bench_gpu_torch.py "$SECS"

# ---- 7. the table
val() { grep -h "^RESULT $1 " "$OUT/bench.log" "$OUT/torch.log" 2>/dev/null | tail -n1 | awk '{print $3}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "n/a"; else printf "%.2fx", a / b }'; }
MD="$OUT/gpu-report.md"
row() {  # label, our key, torch key
  local a b
  a=$(val "$2"); b=$( [ -n "$3" ] && val "$3" )
  printf "%-44s %12s %12s %8s\n" "$1" "${a:-n/a}" "${b:-n/a}" "$(ratio "$a" "$b")" | tee -a "$SUMMARY"
  printf "| %s | %s | %s | %s |\n" "$1" "${a:-n/a}" "${b:-n/a}" "$(ratio "$a" "$b")" >> "$MD"
}
{
  echo "# GPU check — $(head -n1 "$OUT/machine.txt" | sed 's/^date: //')"
  echo
  echo "Machine: $(sed -n 3p "$OUT/machine.txt"); $(sed -n 2p "$OUT/machine.txt"); $(sed -n 4p "$OUT/machine.txt")"
  echo
  grep -h '^# torch [0-9]' "$OUT/torch.log" 2>/dev/null | sed 's/^# //'
  echo
  echo '```'
  printf '%s' "$STATUS_LINES"
  echo '```'
  echo
  echo "| figure | reco | PyTorch | ratio |"
  echo "|---|---|---|---|"
} > "$MD"

say ""
say "reco GPU check — $(sed -n 1p "$OUT/machine.txt" | sed 's/^date: //'), $(sed -n 3p "$OUT/machine.txt")"
say ""
printf '%s' "$STATUS_LINES" | tee -a "$SUMMARY"
say ""
printf "%-44s %12s %12s %8s\n" "figure" "reco" "torch" "ratio" | tee -a "$SUMMARY"
row "ViT-B/32 images/s (batch 256)" B32_images_per_s torch_B32_images_per_s
row "ViT-B/32 texts/s (1024 × 12 tokens)" B32_texts_per_s torch_B32_texts_per_s
row "ViT-L/14 images/s (batch 256)" L14_images_per_s torch_L14_images_per_s
row "ViT-L/14 texts/s (1024 × 12 tokens)" L14_texts_per_s torch_L14_texts_per_s
for n in 1M 10M; do
  for q in 1 64 1024; do
    row "top-k ${n}×512, ${q} queries: queries/s" "topk_${n}_q${q}_queries_per_s" "torch_topk_${n}_q${q}_queries_per_s"
    row "top-k ${n}×512, ${q} queries: GB/s" "topk_${n}_q${q}_GBps" "torch_topk_${n}_q${q}_GBps"
  done
done
row "top-k 10M×512 streamed from host, 64 q: GB/s" topk_10M_stream_q64_GBps ""
row "fusion training steps/s (d 512, k 10, B 256)" fusion_steps_per_s torch_fusion_steps_per_s
row "device-to-device copy GB/s (read + write)" device_copy_GBps ""

# ---- the issue's goals
goal() { printf "%-60s %s\n" "$1" "$2" | tee -a "$SUMMARY"; printf "| %s | %s |\n" "$1" "$2" >> "$MD"; }
say ""
{ echo; echo "| goal | measured |"; echo "|---|---|"; } >> "$MD"
for m in B32 L14; do
  goal "image embedding ≥ 1.3× PyTorch eager fp16 ($m)" "$(ratio "$(val ${m}_images_per_s)" "$(val torch_${m}_images_per_s)")"
done
bw=$(val device_copy_GBps)
for n in 1M 10M; do
  for q in 1 64; do
    g=$(val "topk_${n}_q${q}_GBps")
    goal "top-k ${n}, ${q} queries ≥ 80% of memory bandwidth (copy ${bw:-n/a} GB/s)" \
         "$(awk -v a="$g" -v b="$bw" 'BEGIN { if (a == "" || b == "") print "n/a"; else printf "%.0f%%", 100 * a / b }')"
  done
done
goal "fusion training ≥ PyTorch" "$(ratio "$(val fusion_steps_per_s)" "$(val torch_fusion_steps_per_s)")"

say ""
say "total $(( $(date +%s) - T_START )) s; logs and gpu-report.md in $OUT"
exit 0

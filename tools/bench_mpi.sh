#!/usr/bin/env bash
# tools/bench_mpi.sh — the multi-process part of `make bench` (SPEC §9, docs/scaling.md): the same
# sharded memory searched by 1 process and by 2 MPI ranks, data-parallel training on 1 vs 2 ranks, and
# the collectives of one training step, with the search, exchange and merge times reported apart.
# On a machine with fewer cores than ranks × threads this shows the OVERHEAD of splitting, not a
# speed-up: each rank gets THREADS/R OpenMP threads so the total stays THREADS.
#
#   MPI_N (200000) memory rows × 512 in MPI_SHARDS (4) shards, MPI_Q (1024) queries, k = 10
#   training: d = 512, k = 10, batch 256, 10 steps, constant lr, no shuffle
#   collectives: the all-gather of a B = 4096, d = 512 step's rows and the rank-ordered sum of the
#                6.3M fusion gradients (tools/bench_mpi_collectives.cpp)
# Skips (one line) when the binary has no MPI or mpirun is missing. Called by tools/bench.sh;
# runs alone as `bash tools/bench_mpi.sh` after `make`.
set -u
cd "$(dirname "$0")/.."
B="${BUILD:-build}"  # the object folder (make bench: build-bench, CPU-only objects)
RECO="./reco"; [ "$B" != build ] && RECO="$B/reco"  # the binary built from those objects
THREADS="${THREADS:-2}"
N="${MPI_N:-200000}"; S="${MPI_SHARDS:-4}"; Q="${MPI_Q:-1024}"
if [ "${QUICK:-0}" = 1 ]; then N=20000; Q=128; fi
log="$B/bench_mpi.log"
mkdir -p build
: > "$log"
if ! command -v mpirun >/dev/null || ! ldd "$RECO" 2>/dev/null | grep -q libmpi; then
  echo "mpi: skipped (no mpirun, or $RECO built without MPI: make with mpicxx on the PATH)"
  exit 0
fi
MPIRUN="timeout 600 mpirun --allow-run-as-root --oversubscribe --bind-to none"
dir=$(mktemp -d "${TMPDIR:-/tmp}/reco-bench-mpi-XXXXXX")
trap 'rm -rf "$dir"' EXIT

objs=""  # the project's objects (not main, not leftovers of removed sources)
for o in $(find $B/src -name '*.o' 2>/dev/null); do
  src="${o#$B/}"; src="${src%.o}.cpp"
  [ "$src" != src/main.cpp ] && [ -f "$src" ] && objs="$objs $o"
done
g++ -O2 -std=c++17 -fopenmp -Isrc tools/bench_mpi_data.cpp $objs -o $B/bench_mpi_data $(make -s CUDA=0 BUILD="$B" print-ldlibs 2>/dev/null) >>"$log" 2>&1 &&
  $B/bench_mpi_data "$dir" "$N" 512 "$S" "$Q" 4096 >>"$log" 2>&1 || { echo "mpi: could not make the inputs (see $log)"; exit 0; }

secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
now() { date +%s.%N; }
field() { grep -o "$1 [0-9.]* s" | head -n1 | awk '{print $(NF-1)}'; }

# ---- search: 1 process vs 2 ranks, same shards, same queries; results must be identical
search() {  # RANKS OUT
  local launcher="" t=$THREADS
  if [ "$1" -gt 1 ]; then launcher="$MPIRUN -np $1"; t=$(( THREADS / $1 > 0 ? THREADS / $1 : 1 )); fi
  local t0 t1 out
  t0=$(now)
  out=$(OMP_NUM_THREADS=$t $launcher "$RECO" search --memory "$dir/memory" --query-npy "$dir/queries.npy" --k 10 --out "$2" 2>&1)
  t1=$(now); echo "$out" >>"$log"
  echo "$(secs "$t0" "$t1") $(echo "$out" | field search) $(echo "$out" | field exchange) $(echo "$out" | field merge)"
}
read -r w1 s1 c1 m1 <<<"$(search 1 "$dir/r1.safetensors")"
read -r w2 s2 c2 m2 <<<"$(search 2 "$dir/r2.safetensors")"
# the result files name the same memory and queries, so identical results mean identical files
same="DIFFER"
cmp -s "$dir/r1.safetensors" "$dir/r2.safetensors" && same="identical"

# ---- data-parallel training: 1 process vs 2 ranks
train() {  # RANKS
  local launcher="" t=$THREADS
  if [ "$1" -gt 1 ]; then launcher="$MPIRUN -np $1"; t=$(( THREADS / $1 > 0 ? THREADS / $1 : 1 )); fi
  local out
  out=$(OMP_NUM_THREADS=$t $launcher "$RECO" train --data "$dir/train.safetensors" --memory "$dir/memory" --k 10 \
        --batch 256 --steps 10 --no-shuffle --schedule constant --log-every 0 --out "$dir/fusion$1.safetensors" 2>&1)
  echo "$out" >>"$log"
  echo "$out" | grep -o 'step 10 of 10, [0-9.]*s' | grep -o '[0-9.]*s$' | tr -d s
}
OMP_NUM_THREADS=$THREADS "$RECO" train --data "$dir/train.safetensors" --memory "$dir/memory" --k 10 --batch 256 \
  --steps 1 --out "$dir/warm.safetensors" >>"$log" 2>&1   # the neighbour cache, outside the timing
tt1=$(train 1); tt2=$(train 2)

# ---- the collectives of one training step
coll=""
if mpicxx -O2 -std=c++17 tools/bench_mpi_collectives.cpp -o $B/bench_mpi_collectives >>"$log" 2>&1; then
  coll=$($MPIRUN -np 2 $B/bench_mpi_collectives 4096 512 6304769 3 2>>"$log"); echo "$coll" >>"$log"
fi

echo
echo "multi-process (mpirun, $(nproc) cores, $THREADS threads in all; details in $log)"
echo "search: $N x 512 memory in $S shards, $Q queries, k 10 (reco search --query-npy)"
printf "%-52s %10s %10s\n" "" "1 process" "2 ranks"
printf "%-52s %10s %10s\n" "search wall time, s" "$w1" "$w2"
printf "%-52s %10s %10s\n" "  of which scanning the shards (rank 0), s" "$s1" "$s2"
printf "%-52s %10s %10s\n" "  exchanging the per-rank top-k lists, s" "$c1" "$c2"
printf "%-52s %10s %10s\n" "  merging them, s" "$m1" "$m2"
printf "%-52s %10s %10s\n" "search queries/s (wall)" "$(awk -v q="$Q" -v t="$w1" 'BEGIN{printf "%.0f", q/t}')" "$(awk -v q="$Q" -v t="$w2" 'BEGIN{printf "%.0f", q/t}')"
printf "%-52s %10s %10s\n" "training, 10 steps d512 k10 B256, s" "${tt1:-n/a}" "${tt2:-n/a}"
echo "results of 1 process and 2 ranks: $same"
[ -n "$coll" ] && echo "$coll" | sed 's/^/collectives (2 ranks): /'
exit 0

#!/usr/bin/env bash
# tools/cuda_emu/run.sh [doctest options] — build reco and its CUDA tests against the CPU emulation of CUDA
# in tools/cuda_emu/emu_cuda.h and run them, e.g.
#     tools/cuda_emu/run.sh -tc='cuda ops*'
# Everything goes to build/emu/. Needs no GPU and no CUDA toolkit. Compiled with ASan + UBSan: an
# out-of-bounds access to "device" or shared memory is reported like compute-sanitizer's memcheck would.
# Slow (every GPU thread is a fiber): the whole CUDA suite takes ~30 min on 2 cores. See README.md.
set -eu
cd "$(dirname "$0")/../.."
E=build/emu
mkdir -p $E/include $E/kernels $E/obj
# copied only when changed: a new time stamp on emu_cuda.h would recompile everything
for h in cuda_runtime.h cuda_runtime_api.h cuda_fp16.h cuda_bf16.h cublas_v2.h mma.h cuda_pipeline.h; do
  [ -f $E/include/$h ] || printf '#pragma once\n#include "emu_cuda.h"\n' > $E/include/$h
done
cmp -s tools/cuda_emu/emu_cuda.h $E/include/emu_cuda.h || cp tools/cuda_emu/emu_cuda.h $E/include/
python3 tools/cuda_emu/transform.py $E/kernels kernels/*
newest_kernel=$(ls -t $E/kernels/* | head -1)
FLAGS="-O1 -g -std=c++17 -fopenmp -ffp-contract=off -fsanitize=address,undefined -fno-omit-frame-pointer \
  -DRECO_CUDA=1 -I$E/kernels -I$E/include -Isrc -Itests -Wno-unknown-pragmas"
JOBS="${JOBS:-2}"
objs=""
for f in src/*.cpp src/*/*.cpp tests/test_main.cpp tests/test_cuda_*.cpp $E/kernels/*.cu.cpp; do
  [ "$f" = src/main.cpp ] && continue
  # object named by its path below src/, tests/ or the kernels folder (src/adamw.cpp and src/reference/adamw.cpp differ)
  n=${f#src/}; n=${n#tests/}; n=${n#$E/kernels/}
  o=$E/obj/$(printf %s "$n" | tr / _).o
  # a transformed kernel is rebuilt when any transformed kernel file changed (they include each other's headers)
  case "$f" in $E/kernels/*) dep="$newest_kernel" ;; *) dep="$f" ;; esac
  if [ ! -f "$o" ] || [ "$f" -nt "$o" ] || [ "$dep" -nt "$o" ] || [ $E/include/emu_cuda.h -nt "$o" ]; then
    echo "cc $f" >&2
    g++ $FLAGS -c "$f" -o "$o" &
    while [ "$(jobs -r | wc -l)" -ge "$JOBS" ]; do sleep 0.2; done
  fi
  objs="$objs $o"
done
wait
g++ $FLAGS $objs -o $E/run_tests -lsentencepiece -lpthread
ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0}" $E/run_tests "$@"

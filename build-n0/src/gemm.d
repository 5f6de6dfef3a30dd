build-n0/src/gemm.o: src/gemm.cpp src/ops.h
src/ops.h:

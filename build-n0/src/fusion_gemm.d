build-n0/src/fusion_gemm.o: src/fusion_gemm.cpp src/fusion_gemm.h
src/fusion_gemm.h:

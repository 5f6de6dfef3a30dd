build-n0/src/fusion_fast.o: src/fusion_fast.cpp src/common.h src/fusion.h \
 src/fusion_ops.h src/fusion_gemm.h
src/common.h:
src/fusion.h:
src/fusion_ops.h:
src/fusion_gemm.h:

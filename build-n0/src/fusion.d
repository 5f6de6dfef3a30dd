build-n0/src/fusion.o: src/fusion.cpp src/fusion.h src/common.h \
 src/fusion_ops.h src/fusion_gemm.h src/safetensors.h
src/fusion.h:
src/common.h:
src/fusion_ops.h:
src/fusion_gemm.h:
src/safetensors.h:

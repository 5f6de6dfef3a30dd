build-n0/src/reco_eval.o: src/reco_eval.cpp src/reco_eval.h src/fusion.h \
 src/memory.h src/safetensors.h src/common.h src/fusion_gemm.h \
 src/retrieval.h
src/reco_eval.h:
src/fusion.h:
src/memory.h:
src/safetensors.h:
src/common.h:
src/fusion_gemm.h:
src/retrieval.h:

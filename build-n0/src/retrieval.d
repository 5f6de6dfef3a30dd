build-n0/src/retrieval.o: src/retrieval.cpp src/retrieval.h src/fusion.h \
 src/memory.h src/safetensors.h src/common.h src/topk.h \
 src/cpu_features.h
src/retrieval.h:
src/fusion.h:
src/memory.h:
src/safetensors.h:
src/common.h:
src/topk.h:
src/cpu_features.h:

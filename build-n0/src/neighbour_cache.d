build-n0/src/neighbour_cache.o: src/neighbour_cache.cpp \
 src/neighbour_cache.h src/memory.h src/safetensors.h src/common.h \
 src/progress.h src/topk.h src/cpu_features.h
src/neighbour_cache.h:
src/memory.h:
src/safetensors.h:
src/common.h:
src/progress.h:
src/topk.h:
src/cpu_features.h:

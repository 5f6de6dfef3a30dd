build-n0/src/topk.o: src/topk.cpp src/topk.h src/cpu_features.h \
 src/common.h src/safetensors.h src/topk_blocked.h
src/topk.h:
src/cpu_features.h:
src/common.h:
src/safetensors.h:
src/topk_blocked.h:

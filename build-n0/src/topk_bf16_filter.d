build-n0/src/topk_bf16_filter.o: src/topk_bf16_filter.cpp \
 src/topk_blocked.h
src/topk_blocked.h:

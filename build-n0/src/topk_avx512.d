build-n0/src/topk_avx512.o: src/topk_avx512.cpp src/topk_blocked.h
src/topk_blocked.h:

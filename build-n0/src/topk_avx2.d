build-n0/src/topk_avx2.o: src/topk_avx2.cpp src/topk_blocked.h
src/topk_blocked.h:

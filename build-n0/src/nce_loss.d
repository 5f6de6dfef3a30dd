build-n0/src/nce_loss.o: src/nce_loss.cpp src/nce_loss.h \
 src/fusion_gemm.h
src/nce_loss.h:
src/fusion_gemm.h:

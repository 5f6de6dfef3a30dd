build-n0/src/sigmoid_loss.o: src/sigmoid_loss.cpp src/sigmoid_loss.h \
 src/fusion_gemm.h src/nce_loss.h
src/sigmoid_loss.h:
src/fusion_gemm.h:
src/nce_loss.h:

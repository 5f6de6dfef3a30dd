build-n0/src/fusion_train.o: src/fusion_train.cpp src/fusion_train.h \
 src/adamw.h src/fusion.h src/common.h src/nce_loss.h src/sigmoid_loss.h
src/fusion_train.h:
src/adamw.h:
src/fusion.h:
src/common.h:
src/nce_loss.h:
src/sigmoid_loss.h:

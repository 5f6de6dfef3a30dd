build-n0/src/checkpoint.o: src/checkpoint.cpp src/checkpoint.h \
 src/adamw.h src/fusion.h src/fusion_train.h src/common.h \
 src/safetensors.h
src/checkpoint.h:
src/adamw.h:
src/fusion.h:
src/fusion_train.h:
src/common.h:
src/safetensors.h:

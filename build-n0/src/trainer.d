build-n0/src/trainer.o: src/trainer.cpp src/trainer.h src/adamw.h \
 src/fusion.h src/checkpoint.h src/fusion_train.h src/memory.h \
 src/safetensors.h src/common.h src/neighbour_cache.h src/progress.h
src/trainer.h:
src/adamw.h:
src/fusion.h:
src/checkpoint.h:
src/fusion_train.h:
src/memory.h:
src/safetensors.h:
src/common.h:
src/neighbour_cache.h:
src/progress.h:

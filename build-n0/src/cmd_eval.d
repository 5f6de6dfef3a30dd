build-n0/src/cmd_eval.o: src/cmd_eval.cpp src/checkpoint.h src/adamw.h \
 src/fusion.h src/fusion_train.h src/cli.h src/common.h src/memory.h \
 src/safetensors.h src/neighbour_cache.h src/reco_eval.h
src/checkpoint.h:
src/adamw.h:
src/fusion.h:
src/fusion_train.h:
src/cli.h:
src/common.h:
src/memory.h:
src/safetensors.h:
src/neighbour_cache.h:
src/reco_eval.h:

build-n0/src/cmd_train.o: src/cmd_train.cpp src/checkpoint.h src/adamw.h \
 src/fusion.h src/fusion_train.h src/cli.h src/device.h src/common.h \
 src/memory.h src/safetensors.h src/neighbour_cache.h src/out_lock.h \
 src/reco_eval.h src/sigmoid_loss.h src/synthetic.h src/trainer.h
src/checkpoint.h:
src/adamw.h:
src/fusion.h:
src/fusion_train.h:
src/cli.h:
src/device.h:
src/common.h:
src/memory.h:
src/safetensors.h:
src/neighbour_cache.h:
src/out_lock.h:
src/reco_eval.h:
src/sigmoid_loss.h:
src/synthetic.h:
src/trainer.h:

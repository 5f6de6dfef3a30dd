build-n0/src/cmd_classify.o: src/cmd_classify.cpp src/checkpoint.h \
 src/adamw.h src/fusion.h src/fusion_train.h src/cli.h src/encoder.h \
 src/image.h src/model_config.h src/ops.h src/json.h src/safetensors.h \
 src/common.h src/labels_coco.h src/memory.h src/retrieval.h
src/checkpoint.h:
src/adamw.h:
src/fusion.h:
src/fusion_train.h:
src/cli.h:
src/encoder.h:
src/image.h:
src/model_config.h:
src/ops.h:
src/json.h:
src/safetensors.h:
src/common.h:
src/labels_coco.h:
src/memory.h:
src/retrieval.h:

build-n0/src/clip_model.o: src/clip_model.cpp src/clip_model.h src/ops.h \
 src/common.h src/clip_block.h src/json.h src/model_config.h \
 src/safetensors.h
src/clip_model.h:
src/ops.h:
src/common.h:
src/clip_block.h:
src/json.h:
src/model_config.h:
src/safetensors.h:

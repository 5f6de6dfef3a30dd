build-n0/src/siglip/siglip_model.o: src/siglip/siglip_model.cpp \
 src/siglip/siglip_model.h src/clip_model.h src/ops.h src/clip_block.h \
 src/common.h src/json.h src/model_config.h src/safetensors.h
src/siglip/siglip_model.h:
src/clip_model.h:
src/ops.h:
src/clip_block.h:
src/common.h:
src/json.h:
src/model_config.h:
src/safetensors.h:

build-n0/src/siglip/siglip_embed.o: src/siglip/siglip_embed.cpp \
 src/siglip/siglip_embed.h src/encoder.h src/image.h src/model_config.h \
 src/ops.h src/json.h src/safetensors.h src/common.h \
 src/siglip/siglip_model.h src/clip_model.h src/siglip/siglip_tokenizer.h \
 src/device.h
src/siglip/siglip_embed.h:
src/encoder.h:
src/image.h:
src/model_config.h:
src/ops.h:
src/json.h:
src/safetensors.h:
src/common.h:
src/siglip/siglip_model.h:
src/clip_model.h:
src/siglip/siglip_tokenizer.h:
src/device.h:

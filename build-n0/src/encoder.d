build-n0/src/encoder.o: src/encoder.cpp src/encoder.h src/image.h \
 src/model_config.h src/ops.h src/json.h src/safetensors.h src/common.h \
 src/clip_embed.h src/clip_model.h src/tokenizer.h \
 src/siglip/siglip_embed.h src/siglip/siglip_model.h \
 src/siglip/siglip_tokenizer.h
src/encoder.h:
src/image.h:
src/model_config.h:
src/ops.h:
src/json.h:
src/safetensors.h:
src/common.h:
src/clip_embed.h:
src/clip_model.h:
src/tokenizer.h:
src/siglip/siglip_embed.h:
src/siglip/siglip_model.h:
src/siglip/siglip_tokenizer.h:

build-n0/src/clip_embed.o: src/clip_embed.cpp src/clip_embed.h \
 src/clip_model.h src/ops.h src/encoder.h src/image.h src/model_config.h \
 src/json.h src/safetensors.h src/common.h src/tokenizer.h src/device.h
src/clip_embed.h:
src/clip_model.h:
src/ops.h:
src/encoder.h:
src/image.h:
src/model_config.h:
src/json.h:
src/safetensors.h:
src/common.h:
src/tokenizer.h:
src/device.h:

build-n0/src/cmd_embed.o: src/cmd_embed.cpp src/cli.h src/encoder.h \
 src/image.h src/model_config.h src/ops.h src/json.h src/safetensors.h \
 src/common.h
src/cli.h:
src/encoder.h:
src/image.h:
src/model_config.h:
src/ops.h:
src/json.h:
src/safetensors.h:
src/common.h:

build-n0/src/cmd_tokenize.o: src/cmd_tokenize.cpp src/cli.h src/common.h \
 src/model_config.h src/ops.h src/json.h src/safetensors.h \
 src/siglip/siglip_model.h src/clip_model.h src/siglip/siglip_tokenizer.h \
 src/tokenizer.h
src/cli.h:
src/common.h:
src/model_config.h:
src/ops.h:
src/json.h:
src/safetensors.h:
src/siglip/siglip_model.h:
src/clip_model.h:
src/siglip/siglip_tokenizer.h:
src/tokenizer.h:

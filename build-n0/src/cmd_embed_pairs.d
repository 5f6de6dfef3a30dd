build-n0/src/cmd_embed_pairs.o: src/cmd_embed_pairs.cpp src/cli.h \
 src/encoder.h src/image.h src/model_config.h src/ops.h src/json.h \
 src/safetensors.h src/common.h src/memory.h src/pairs_tsv.h \
 src/progress.h
src/cli.h:
src/encoder.h:
src/image.h:
src/model_config.h:
src/ops.h:
src/json.h:
src/safetensors.h:
src/common.h:
src/memory.h:
src/pairs_tsv.h:
src/progress.h:

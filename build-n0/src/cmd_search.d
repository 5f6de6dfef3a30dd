build-n0/src/cmd_search.o: src/cmd_search.cpp src/cli.h src/encoder.h \
 src/image.h src/model_config.h src/ops.h src/json.h src/safetensors.h \
 src/common.h src/memory.h src/retrieval.h src/fusion.h
src/cli.h:
src/encoder.h:
src/image.h:
src/model_config.h:
src/ops.h:
src/json.h:
src/safetensors.h:
src/common.h:
src/memory.h:
src/retrieval.h:
src/fusion.h:

build-n0/src/model_config.o: src/model_config.cpp src/model_config.h \
 src/ops.h src/json.h src/safetensors.h src/common.h
src/model_config.h:
src/ops.h:
src/json.h:
src/safetensors.h:
src/common.h:

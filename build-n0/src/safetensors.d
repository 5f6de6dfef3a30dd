build-n0/src/safetensors.o: src/safetensors.cpp src/safetensors.h \
 src/common.h src/json.h
src/safetensors.h:
src/common.h:
src/json.h:

build-n0/src/memory.o: src/memory.cpp src/memory.h src/safetensors.h \
 src/common.h
src/memory.h:
src/safetensors.h:
src/common.h:

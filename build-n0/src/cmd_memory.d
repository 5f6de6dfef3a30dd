build-n0/src/cmd_memory.o: src/cmd_memory.cpp src/cli.h src/common.h \
 src/memory.h src/safetensors.h src/npy.h
src/cli.h:
src/common.h:
src/memory.h:
src/safetensors.h:
src/npy.h:

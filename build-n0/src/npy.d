build-n0/src/npy.o: src/npy.cpp src/npy.h src/common.h src/safetensors.h
src/npy.h:
src/common.h:
src/safetensors.h:

build-n0/src/synthetic.o: src/synthetic.cpp src/synthetic.h src/common.h \
 src/memory.h src/safetensors.h
src/synthetic.h:
src/common.h:
src/memory.h:
src/safetensors.h:

build-n0/src/image_decode.o: src/image_decode.cpp src/image.h \
 src/common.h src/image_memory.h
src/image.h:
src/common.h:
src/image_memory.h:

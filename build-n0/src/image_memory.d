build-n0/src/image_memory.o: src/image_memory.cpp src/image_memory.h \
 src/image.h
src/image_memory.h:
src/image.h:

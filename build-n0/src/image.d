build-n0/src/image.o: src/image.cpp src/image.h src/common.h
src/image.h:
src/common.h:

build-n0/src/common.o: src/common.cpp src/common.h
src/common.h:

build-n0/src/ops.o: src/ops.cpp src/ops.h
src/ops.h:

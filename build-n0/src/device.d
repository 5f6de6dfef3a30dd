build-n0/src/device.o: src/device.cpp src/device.h src/common.h
src/device.h:
src/common.h:

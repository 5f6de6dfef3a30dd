build-n0/src/out_lock.o: src/out_lock.cpp src/out_lock.h src/common.h
src/out_lock.h:
src/common.h:

build-n0/src/json.o: src/json.cpp src/json.h src/common.h
src/json.h:
src/common.h:

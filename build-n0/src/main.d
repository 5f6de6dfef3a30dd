build-n0/src/main.o: src/main.cpp src/cli.h src/common.h
src/cli.h:
src/common.h:

build-n0/src/cli.o: src/cli.cpp src/cli.h src/common.h
src/cli.h:
src/common.h:

build-n0/src/adamw.o: src/adamw.cpp src/adamw.h src/fusion.h src/common.h
src/adamw.h:
src/fusion.h:
src/common.h:

build-n0/src/cpu_features.o: src/cpu_features.cpp src/cpu_features.h
src/cpu_features.h:

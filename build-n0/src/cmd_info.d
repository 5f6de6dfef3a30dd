build-n0/src/cmd_info.o: src/cmd_info.cpp src/cli.h src/common.h \
 src/safetensors.h
src/cli.h:
src/common.h:
src/safetensors.h:

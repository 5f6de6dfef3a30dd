build-n0/src/clip_block.o: src/clip_block.cpp src/clip_block.h \
 src/clip_model.h src/ops.h
src/clip_block.h:
src/clip_model.h:
src/ops.h:

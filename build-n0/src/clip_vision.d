build-n0/src/clip_vision.o: src/clip_vision.cpp src/clip_block.h \
 src/clip_model.h src/ops.h
src/clip_block.h:
src/clip_model.h:
src/ops.h:

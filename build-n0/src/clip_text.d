build-n0/src/clip_text.o: src/clip_text.cpp src/clip_block.h \
 src/clip_model.h src/ops.h src/common.h
src/clip_block.h:
src/clip_model.h:
src/ops.h:
src/common.h:

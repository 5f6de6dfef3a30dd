build-n0/src/siglip/siglip_towers.o: src/siglip/siglip_towers.cpp \
 src/clip_block.h src/clip_model.h src/ops.h src/common.h \
 src/siglip/siglip_model.h
src/clip_block.h:
src/clip_model.h:
src/ops.h:
src/common.h:
src/siglip/siglip_model.h:

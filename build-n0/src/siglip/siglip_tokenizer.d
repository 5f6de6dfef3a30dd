build-n0/src/siglip/siglip_tokenizer.o: src/siglip/siglip_tokenizer.cpp \
 src/siglip/siglip_tokenizer.h src/common.h src/json.h src/text_clean.h
src/siglip/siglip_tokenizer.h:
src/common.h:
src/json.h:
src/text_clean.h:

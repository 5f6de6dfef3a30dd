build-n0/src/tokenizer.o: src/tokenizer.cpp src/tokenizer.h src/common.h \
 src/json.h src/text_clean.h
src/tokenizer.h:
src/common.h:
src/json.h:
src/text_clean.h:

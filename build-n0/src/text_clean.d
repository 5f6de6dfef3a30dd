build-n0/src/text_clean.o: src/text_clean.cpp src/text_clean.h \
 src/unicode_tables.inc
src/text_clean.h:
src/unicode_tables.inc:

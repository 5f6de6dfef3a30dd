build-n0/src/pairs_tsv.o: src/pairs_tsv.cpp src/pairs_tsv.h src/common.h
src/pairs_tsv.h:
src/common.h:

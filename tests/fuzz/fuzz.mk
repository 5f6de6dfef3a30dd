# tests/fuzz/fuzz.mk — libFuzzer harnesses (`make fuzz FUZZ_SECONDS=N`, from the top-level Makefile).
#
# Every tests/fuzz/fuzz_NAME.cpp is one harness (LLVMFuzzerTestOneInput), linked with the engine's
# src/ objects built by clang with ASan + UBSan + fuzzer coverage (CUDA=0) in build-fuzz/.
# tests/fuzz/run.sh runs each for FUZZ_SECONDS, seeded from the files its NAME.seeds lists.

CLANGXX ?= clang++
FUZZ_SECONDS ?= 60
FB := build-fuzz
# clang, its libFuzzer runtime and LLVM's OpenMP, installed like the main build's dependencies.
FUZZ_DEPS := cmd=$(CLANGXX):clang fuzzer/FuzzedDataProvider.h:libclang-rt-dev omp.h:libomp-dev \
             sentencepiece_processor.h:libsentencepiece-dev
SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FLAGS := -std=c++17 -O1 -g -fno-omit-frame-pointer -fopenmp -march=native -DRECO_CUDA=0 -DRECO_NCCL=0 -DRECO_MPI=0 -Isrc -Itests -MMD -MP -Wno-pass-failed $(SAN)

SRC  := $(filter-out src/main.cpp,$(wildcard src/*.cpp src/*/*.cpp))
OBJ  := $(SRC:src/%.cpp=$(FB)/src/%.o)
HARN := $(wildcard tests/fuzz/fuzz_*.cpp)
BINS := $(HARN:tests/fuzz/%.cpp=$(FB)/%)

.PHONY: deps build run
.SECONDARY:
build: $(BINS)
run: build
	bash tests/fuzz/run.sh $(FB) $(FUZZ_SECONDS) $(notdir $(BINS))

deps:
	@bash tools/ensure_deps.sh "$(CLANGXX)" $(FUZZ_DEPS)

$(FB)/src/%.o: src/%.cpp | deps
	@mkdir -p $(dir $@)
	$(CLANGXX) $(FLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FB)/%.o: tests/fuzz/%.cpp | deps
	@mkdir -p $(dir $@)
	$(CLANGXX) $(FLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FB)/fuzz_%: $(FB)/fuzz_%.o $(OBJ)
	$(CLANGXX) $(FLAGS) -fsanitize=fuzzer -o $@ $^ -lsentencepiece -lpthread -lm

-include $(OBJ:.o=.d) $(BINS:=.d)

# reco — one binary (./reco) and one test runner ($(BUILD)/run_tests).
#
#   make              build ./reco (CUDA part included when nvcc is found)
#   make test         build and run the doctest suite; ends with "N passed, M failed"
#   make bench        CPU benchmarks side by side with PyTorch / faiss (see tools/bench.sh)
#   make CUDA=0       leave the CUDA part out
#   make NATIVE=0     no -march=native (portable binary)
#   make BUILD=dir    put objects in another folder (e.g. a CUDA=0 build beside the default one)

CXX      ?= g++
NVCC     ?= nvcc
NATIVE   ?= 1
CUDA     ?= $(if $(shell command -v $(NVCC) 2>/dev/null),1,0)
CUDA_HOME ?= $(patsubst %/bin/,%,$(dir $(shell command -v $(NVCC) 2>/dev/null)))
CUDA_ARCHS ?= -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90 \
              -gencode arch=compute_90,code=compute_90

CXXFLAGS ?= -O3
CXXFLAGS += -std=c++17 -fopenmp -Wall -Wextra -Isrc -MMD -MP
ifeq ($(NATIVE),1)
CXXFLAGS += -march=native
endif
LDFLAGS  += -fopenmp
LDLIBS   += -lpthread -lm

BUILD   ?= build
SRC     := $(filter-out src/main.cpp,$(wildcard src/*.cpp))
OBJ     := $(SRC:src/%.cpp=$(BUILD)/src/%.o)
TESTSRC := $(wildcard tests/*.cpp)
TESTOBJ := $(TESTSRC:tests/%.cpp=$(BUILD)/tests/%.o)

ifeq ($(CUDA),1)
CU      := $(wildcard kernels/*.cu)
CU_OBJ  := $(CU:kernels/%.cu=$(BUILD)/kernels/%.o)
CXXFLAGS += -DRECO_CUDA=1 -Ikernels -I$(CUDA_HOME)/include
NVCCFLAGS ?= -O3
NVCCFLAGS += -std=c++17 $(CUDA_ARCHS) -Isrc -Ikernels -DRECO_CUDA=1 -Xcompiler -fopenmp,-Wall -MMD -MP
LDLIBS  += -L$(CUDA_HOME)/lib64 -lcublasLt -lcublas -lcudart_static -ldl -lrt
else
CU_OBJ  :=
CXXFLAGS += -DRECO_CUDA=0
endif

.PHONY: all test bench gpu-check clean print-ldlibs
all: reco

reco: $(BUILD)/src/main.o $(OBJ) $(CU_OBJ)
	$(CXX) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/run_tests: $(TESTOBJ) $(OBJ) $(CU_OBJ)
	$(CXX) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/src/%.o: src/%.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -c -o $@ $<

$(BUILD)/tests/%.o: tests/%.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -Itests -c -o $@ $<

$(BUILD)/kernels/%.o: kernels/%.cu
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCCFLAGS) -c -o $@ $<

# The tests read ../shared/data when it is there (and skip visibly when not) and
# tests/fixtures always. They need ./reco for the command-line tests.
test: reco $(BUILD)/run_tests
	OMP_WAIT_POLICY=$${OMP_WAIT_POLICY:-passive} $(BUILD)/run_tests

bench: reco
	bash tools/bench.sh

print-ldlibs:
	@echo $(LDLIBS)

gpu-check:
	bash tools/gpu_check.sh

clean:
	rm -rf $(BUILD) reco

-include $(OBJ:.o=.d) $(TESTOBJ:.o=.d) $(CU_OBJ:.o=.d) $(BUILD)/src/main.d

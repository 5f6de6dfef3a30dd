# reco — one binary (./reco) and one test runner ($(BUILD)/run_tests).
#
#   make              build ./reco (CUDA part included when nvcc is found)
#   make test         build and run the doctest suite; ends with "N passed, M failed, K skipped"
#   make sanitize     ASan + UBSan build in build-sanitize/ (CUDA=0), then the suite against it
#   make fuzz         libFuzzer harnesses (tests/fuzz/, clang), each run FUZZ_SECONDS (default 60)
#   make bench        CPU benchmarks side by side with PyTorch / faiss (see tools/bench.sh)
#   make CUDA=0       leave the CUDA part out (and NCCL with it; NCCL=0 only NCCL: tools/get_nccl.sh)
#   make MPI=0        leave MPI out (built in when mpicxx is found, or installable: see below)
#   make NATIVE=0     no -march=native: a portable binary; the top-k/GEMM SIMD kernels are built for
#                     every x86 level anyway and chosen at run time (src/cpu_features.h, reco info)
#   make BUILD=dir    put objects in another folder (e.g. a CUDA=0 build beside the default one)
#
# On a fresh Debian/Ubuntu machine the build installs the Debian packages it needs (stb, doctest,
# OpenMPI unless MPI=0) when it runs as root, saying so in one line; otherwise it stops with the command to run
# (tools/ensure_deps.sh). CXXFLAGS/LDFLAGS given on the command line are added to the required
# flags, never replace them.

CXX      ?= g++
NVCC     ?= nvcc
NATIVE   ?= 1
SANITIZE ?= 0
CUDA     ?= $(if $(shell command -v $(NVCC) 2>/dev/null),1,0)
CUDA_HOME ?= $(patsubst %/bin/,%,$(dir $(shell command -v $(NVCC) 2>/dev/null)))
CUDA_ARCHS ?= -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90 \
              -gencode arch=compute_90,code=compute_90

# MPI (SPEC §9, src/dist/): on when mpicxx is on the PATH, or when we run as root with apt-get (the
# deps step then installs OpenMPI); the binary stays a plain single-process program without mpirun.
MPICXX   ?= mpicxx
MPI      ?= $(if $(shell command -v $(MPICXX) 2>/dev/null),1,$(if $(and $(filter 0,$(shell id -u)),$(shell command -v apt-get 2>/dev/null)),1,0))

# Headers the build needs, each with the Debian package that provides it.
DEPS := stb/stb_image.h:libstb-dev doctest/doctest.h:doctest-dev sentencepiece_processor.h:libsentencepiece-dev

ifeq ($(MPI),1)
DEPS += cmd=$(MPICXX):openmpi-bin cmd=mpirun:openmpi-bin openmpi/mpi-ext.h:libopenmpi-dev
endif

CXXFLAGS ?= -O3
REQ_CXXFLAGS := -std=c++17 -fopenmp -Wall -Wextra -Isrc -MMD -MP
REQ_LDFLAGS  := -fopenmp
ifeq ($(NATIVE),1)
REQ_CXXFLAGS += -march=native
endif
ifeq ($(SANITIZE),1)
REQ_CXXFLAGS += -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g
REQ_LDFLAGS  += -fsanitize=address,undefined
endif
LDLIBS   += -lsentencepiece -lpthread -lm

BUILD   ?= build
# The reco binary: ./reco for the default build, $(BUILD)/reco for any other folder.
BIN     ?= $(if $(filter build,$(BUILD)),reco,$(BUILD)/reco)
SRC     := $(filter-out src/main.cpp,$(wildcard src/*.cpp src/*/*.cpp))
OBJ     := $(SRC:src/%.cpp=$(BUILD)/src/%.o)
TESTSRC := $(wildcard tests/*.cpp)
TESTOBJ := $(TESTSRC:tests/%.cpp=$(BUILD)/tests/%.o)

ifeq ($(CUDA),1)
CU      := $(wildcard kernels/*.cu)
CU_OBJ  := $(CU:kernels/%.cu=$(BUILD)/kernels/%.o)
REQ_CXXFLAGS += -DRECO_CUDA=1 -Ikernels -I$(CUDA_HOME)/include
NVCCFLAGS ?= -O3
REQ_NVCCFLAGS := -std=c++17 $(CUDA_ARCHS) -Isrc -Ikernels -DRECO_CUDA=1 -Xcompiler -fopenmp,-Wall -MMD -MP
LDLIBS  += -L$(CUDA_HOME)/lib64 -lcublasLt -lcublas -lcudart_static -ldl -lrt
# NCCL (SPEC §9, kernels/nccl_comm.h): compiled in when its header is found — tools/get_nccl.sh unpacks
# the nvidia-nccl-cu12 wheel into .nccl/, or give NCCL_HOME=DIR (DIR/include, DIR/lib); NCCL=0 leaves it out.
NCCL_HOME ?= $(CURDIR)/.nccl/nvidia/nccl
NCCL    ?= $(if $(wildcard $(NCCL_HOME)/include/nccl.h),1,0)
ifeq ($(NCCL),1)
REQ_CXXFLAGS  += -DRECO_NCCL=1 -I$(NCCL_HOME)/include
REQ_NVCCFLAGS += -DRECO_NCCL=1 -I$(NCCL_HOME)/include
LDLIBS  += -L$(NCCL_HOME)/lib -lnccl -Wl,-rpath,$(NCCL_HOME)/lib
else
REQ_CXXFLAGS  += -DRECO_NCCL=0
REQ_NVCCFLAGS += -DRECO_NCCL=0
endif
else
CU_OBJ  :=
REQ_CXXFLAGS += -DRECO_CUDA=0 -DRECO_NCCL=0
endif

# Only src/dist/comm_mpi.cpp includes mpi.h. The flags come from the wrapper when a recipe runs
# (recursive variables), i.e. after the deps step may have installed it.
ifeq ($(MPI),1)
MPI_CXXFLAGS = $(shell $(MPICXX) --showme:compile)
REQ_CXXFLAGS += -DRECO_MPI=1 -DOMPI_SKIP_MPICXX=1
LDLIBS  += $(shell $(MPICXX) --showme:link)
else
REQ_CXXFLAGS += -DRECO_MPI=0
endif

.PHONY: all deps test sanitize fuzz bench gpu-check clean print-ldlibs
all: $(BIN)

# Runs on every make (cheap: one preprocessor call per header); installs or explains what is missing.
deps:
	@bash tools/ensure_deps.sh "$(CXX)" $(DEPS)

$(BIN): $(BUILD)/src/main.o $(OBJ) $(CU_OBJ)
	$(CXX) $(REQ_LDFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/run_tests: $(TESTOBJ) $(OBJ) $(CU_OBJ)
	$(CXX) $(REQ_LDFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/src/%.o: src/%.cpp | deps
	@mkdir -p $(dir $@)
	$(CXX) $(REQ_CXXFLAGS) $(CXXFLAGS) -c -o $@ $<

ifeq ($(MPI),1)
$(BUILD)/src/dist/comm_mpi.o: src/dist/comm_mpi.cpp | deps
	@mkdir -p $(dir $@)
	$(CXX) $(REQ_CXXFLAGS) $(MPI_CXXFLAGS) $(CXXFLAGS) -c -o $@ $<
endif

$(BUILD)/tests/%.o: tests/%.cpp | deps
	@mkdir -p $(dir $@)
	$(CXX) $(REQ_CXXFLAGS) $(CXXFLAGS) -Itests -c -o $@ $<

$(BUILD)/kernels/%.o: kernels/%.cu | deps
	@mkdir -p $(dir $@)
	$(NVCC) $(REQ_NVCCFLAGS) $(NVCCFLAGS) -c -o $@ $<

# The tests read ../shared/data when it is there (and skip visibly when not) and
# tests/fixtures always. The command-line tests run $(BIN) (RECO_BIN).
test: $(BIN) $(BUILD)/run_tests
	RECO_BIN=$(abspath $(BIN)) OMP_WAIT_POLICY=$${OMP_WAIT_POLICY:-passive} $(BUILD)/run_tests

# ASan + UBSan, CUDA and MPI off, objects in build-sanitize/: ./reco and build/ are left alone.
# (MPI=0: OpenMPI's own allocations would be reported as leaks; the MPI tests skip visibly there.)
sanitize:
	$(MAKE) --no-print-directory BUILD=build-sanitize CUDA=0 MPI=0 SANITIZE=1 CXXFLAGS="-O1 $(filter-out -O%,$(CXXFLAGS))" test

# libFuzzer harnesses: tests/fuzz/Makefile (clang from Debian), each for FUZZ_SECONDS.
FUZZ_SECONDS ?= 60
fuzz:
	$(MAKE) --no-print-directory -f tests/fuzz/fuzz.mk FUZZ_SECONDS=$(FUZZ_SECONDS) run

# CPU benchmarks, linked from CPU-only objects in build-bench/ (CUDA off, so a CUDA build's objects in
# build/ are never mixed in; MPI as configured, for the 1-vs-2-rank rows).
bench:
	$(MAKE) --no-print-directory BUILD=build-bench CUDA=0 build-bench/reco
	BUILD=build-bench bash tools/bench.sh

print-ldlibs:
	@echo $(LDLIBS)

gpu-check:
	bash tools/gpu_check.sh

clean:
	rm -rf build build-sanitize build-fuzz reco

-include $(OBJ:.o=.d) $(TESTOBJ:.o=.d) $(CU_OBJ:.o=.d) $(BUILD)/src/main.d

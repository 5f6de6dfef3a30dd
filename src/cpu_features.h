// cpu_features.h — what this x86-64 CPU (and its OS) can run, detected once at run time (CPUID,
// XGETBV, and Linux's arch_prctl permission for AMX tiles), and the kernel level chosen from it.
//
// Every SIMD kernel of the CPU engine (top-k, GEMM) is compiled for each instruction set with
// __attribute__((target(...))) whatever -march the build used, so one binary built anywhere
// runs each machine's best path. The level a process runs can be lowered (never raised past what
// the CPU supports) with RECO_ISA=portable|avx2|avx512|avx512_bf16 or set_isa_limit() (the tests
// run every level this CPU supports against the plain references).
#pragma once

namespace reco {

struct CpuFeatures {
    bool fma = false, f16c = false, avx2 = false;         // + OS saves ymm state (XCR0 bits 1,2)
    bool avx512f = false, avx512bw = false, avx512vl = false, avx512dq = false;  // + OS saves zmm (XCR0 5..7)
    bool avx512_bf16 = false;                              // vdpbf16ps / vcvtne2ps2bf16
    bool amx_tile = false, amx_bf16 = false;               // CPUID, OS XCR0 bits 17,18 and arch_prctl granted
};
const CpuFeatures& cpu_features();

// Kernel levels, each implying the ones below it.
enum class Isa { portable = 0, avx2 = 1, avx512 = 2, avx512_bf16 = 3 };
const char* isa_name(Isa isa);
Isa isa_supported();  // the best level this CPU + OS supports
Isa isa_active();     // min(supported, RECO_ISA, set_isa_limit): what the kernels use now
void set_isa_limit(Isa isa);  // process-wide cap (tests, benchmarks); not for concurrent use with searches

// One line for `reco info` / logs, e.g. "cpu: avx2 fma f16c avx512f/bw/vl avx512_bf16; kernels: avx512_bf16".
const char* cpu_summary();

}  // namespace reco

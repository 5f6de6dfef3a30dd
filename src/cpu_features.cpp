// cpu_features.cpp — CPUID / XGETBV / arch_prctl detection (see cpu_features.h).
#include "cpu_features.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define RECO_X86 1
#endif
#if defined(__linux__) && defined(__x86_64__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace reco {

#if RECO_X86
static unsigned long long xgetbv0() {
    unsigned eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((unsigned long long)edx << 32) | eax;
}
#endif

// Linux ≥ 5.16 keeps AMX tile data off until a process asks (ARCH_REQ_XCOMP_PERM for XTILEDATA).
static bool request_amx_permission() {
#if defined(__linux__) && defined(__x86_64__)
    const long ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18;
    return syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0;
#else
    return false;
#endif
}

static CpuFeatures detect() {
    CpuFeatures f;
#if RECO_X86
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
    const bool osxsave = c & (1u << 27);
    const unsigned long long xcr0 = osxsave ? xgetbv0() : 0;
    const bool ymm_os = (xcr0 & 0x6) == 0x6;            // SSE + AVX state
    const bool zmm_os = ymm_os && (xcr0 & 0xE0) == 0xE0;  // opmask, ZMM_Hi256, Hi16_ZMM
    const bool amx_os = (xcr0 & (3ull << 17)) == (3ull << 17);  // XTILECFG, XTILEDATA
    const bool avx = (c & (1u << 28)) && ymm_os;
    f.fma = avx && (c & (1u << 12));
    f.f16c = avx && (c & (1u << 29));
    if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
        f.avx2 = avx && (b & (1u << 5));
        f.avx512f = zmm_os && (b & (1u << 16));
        f.avx512dq = f.avx512f && (b & (1u << 17));
        f.avx512bw = f.avx512f && (b & (1u << 30));
        f.avx512vl = f.avx512f && (b & (1u << 31));
        f.amx_bf16 = amx_os && (d & (1u << 22));
        f.amx_tile = amx_os && (d & (1u << 24));
        unsigned a1, b1, c1, d1;
        if (__get_cpuid_count(7, 1, &a1, &b1, &c1, &d1)) f.avx512_bf16 = f.avx512f && (a1 & (1u << 5));
    }
    if (f.amx_tile && !request_amx_permission()) f.amx_tile = f.amx_bf16 = false;
#endif
    return f;
}

const CpuFeatures& cpu_features() {
    static const CpuFeatures f = detect();
    return f;
}

const char* isa_name(Isa isa) {
    switch (isa) {
        case Isa::avx2: return "avx2";
        case Isa::avx512: return "avx512";
        case Isa::avx512_bf16: return "avx512_bf16";
        default: return "portable";
    }
}

Isa isa_supported() {
    const CpuFeatures& f = cpu_features();
    // every level also needs F16C (fp16 memory conversion) and FMA
    if (!(f.avx2 && f.fma && f.f16c)) return Isa::portable;
    if (!(f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq)) return Isa::avx2;
    if (!f.avx512_bf16) return Isa::avx512;
    return Isa::avx512_bf16;
}

static Isa env_limit() {
    const char* e = getenv("RECO_ISA");
    if (!e || !*e) return Isa::avx512_bf16;
    for (int i = 0; i <= 3; i++)
        if (!strcmp(e, isa_name((Isa)i))) return (Isa)i;
    fprintf(stderr, "reco: RECO_ISA=%s is not one of portable, avx2, avx512, avx512_bf16; ignored\n", e);
    return Isa::avx512_bf16;
}

static std::atomic<int> g_limit{-1};

void set_isa_limit(Isa isa) { g_limit = (int)isa; }

Isa isa_active() {
    static const Isa env = env_limit();
    int lim = g_limit.load();
    int best = std::min((int)isa_supported(), (int)env);
    if (lim >= 0) best = std::min(best, lim);
    return (Isa)best;
}

const char* cpu_summary() {
    static std::string s;
    const CpuFeatures& f = cpu_features();
    s = "cpu:";
    if (f.fma) s += " fma";
    if (f.f16c) s += " f16c";
    if (f.avx2) s += " avx2";
    if (f.avx512f) s += std::string(" avx512f") + (f.avx512bw ? "/bw" : "") + (f.avx512vl ? "/vl" : "") + (f.avx512dq ? "/dq" : "");
    if (f.avx512_bf16) s += " avx512_bf16";
    if (f.amx_tile) s += " amx_tile";
    if (f.amx_bf16) s += " amx_bf16";
    s += std::string("; kernels: ") + isa_name(isa_active());
    return s.c_str();
}

}  // namespace reco

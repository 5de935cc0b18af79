#include "ckernels.h"
#include "isa.h"

// The CPU's level, found once: -1 until then. Relaxed atomics: every thread that finds it computes
// the same value.
static int supported_isa = -1;

int CKernels_isa(void) {
    int level = __atomic_load_n(&supported_isa, __ATOMIC_RELAXED);
    if (level >= 0) return level;
    level = 0;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) {
        level = 2;
    } else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        level = 1;
    }
#endif
    __atomic_store_n(&supported_isa, level, __ATOMIC_RELAXED);
    return level;
}

int CKernels_usable_isa(int isa) {
    int supported = CKernels_isa();
    if (isa > supported) return supported;
    return isa < 0 ? 0 : isa;
}

#include "ckernels.h"
#include "isa.h"

// Relaxed atomics: kernels running while a test changes the cap may use either variant, and all
// variants compute the same values to within rounding.
static int isa_cap = 2;

void CKernels_limit_isa(int level) {
    __atomic_store_n(&isa_cap, level, __ATOMIC_RELAXED);
}

int CKernels_supported_isa(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return 2;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 1;
#endif
    return 0;
}

int CKernels_isa(void) {
    int supported = CKernels_supported_isa();
    int cap = __atomic_load_n(&isa_cap, __ATOMIC_RELAXED);
    return supported < cap ? supported : cap;
}

#include "cblascore.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

// Kernel families by the widest vectors they use (OpenBLAS's own names, as openblas_get_corename
// returns them and OPENBLAS_CORETYPE takes them).
static const char *const avx512_families[] = {"SkylakeX", "Cooperlake", "SapphireRapids"};
static const char *const avx2_families[] = {"Haswell", "Zen"};

static int is_one_of(const char *name, const char *const *names, size_t count) {
    for (size_t i = 0; i < count; i++) {
        if (strcasecmp(name, names[i]) == 0) return 1;
    }
    return 0;
}

int CBLASCore_core_level(const char *name) {
    if (!name) return -1;
    if (is_one_of(name, avx512_families, sizeof avx512_families / sizeof *avx512_families)) return 2;
    if (is_one_of(name, avx2_families, sizeof avx2_families / sizeof *avx2_families)) return 1;
    return -1;
}

const char *CBLASCore_better_core(const char *current, int level) {
    if (!current || CBLASCore_core_level(current) >= 0) return NULL;
    // SkylakeX, not Cooperlake: the same sgemm kernels, and the family every AVX-512 CPU runs.
    if (level >= 2) return "SkylakeX";
    if (level == 1) return "Haswell";
    return NULL;
}

int CBLASCore_cpu_level(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    // __builtin_cpu_supports also checks that the OS saves the wide registers.
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl")) {
        return 2;
    }
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 1;
#endif
    return 0;
}

static const char *replaced = NULL;
static char replaced_name[32];

const char *CBLASCore_replaced_core(void) { return replaced; }

/// What openblas_get_corename says, NULL when this BLAS has no such function.
static const char *openblas_core(void) {
    char *(*corename)(void) = (char *(*)(void))dlsym(RTLD_DEFAULT, "openblas_get_corename");
    return corename ? corename() : NULL;
}

const char *CBLASCore_current_core(void) {
    const char *name = openblas_core();
    return name ? name : "unknown";
}

// Runs when the program loads, after OpenBLAS's own initialisation and before main, so no other
// thread can be inside a BLAS call while the kernel table is swapped. The functions are looked up
// rather than linked: they exist only in OpenBLAS builds that choose kernels at run time
// (DYNAMIC_ARCH, as Debian's), and without them there is nothing to correct.
__attribute__((constructor)) static void correct_openblas_core(void) {
    if (getenv("OPENBLAS_CORETYPE")) return; // the user chose
    void (*quit)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "gotoblas_dynamic_quit");
    void (*init)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "gotoblas_dynamic_init");
    const char *current = openblas_core();
    if (!current || !quit || !init) return;
    const char *better = CBLASCore_better_core(current, CBLASCore_cpu_level());
    if (!better) return;
    strncpy(replaced_name, current, sizeof replaced_name - 1);
    // OpenBLAS's own way to choose: it reads OPENBLAS_CORETYPE when it initialises its kernel
    // table. The variable is removed again so that it reaches no child process.
    setenv("OPENBLAS_CORETYPE", better, 1);
    quit();
    init();
    unsetenv("OPENBLAS_CORETYPE");
    replaced = strcmp(CBLASCore_current_core(), replaced_name) != 0 ? replaced_name : NULL;
}

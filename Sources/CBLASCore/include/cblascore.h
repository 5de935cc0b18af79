#ifndef CBLASCORE_H
#define CBLASCORE_H

// OpenBLAS picks its kernels from the CPU model when it loads. A model it does not know (a new
// CPU, or a virtual machine that hides the model) gets its slowest x86-64 kernels, "Prescott"
// (SSE3): on a 2-core Xeon VM with AVX-512, Debian 12's OpenBLAS 0.3.21 ran sgemm at 39 GFLOP/s
// that way instead of 206 with its SkylakeX kernels. This target corrects that choice when the
// process starts, before any BLAS call, from the CPU's own feature flags.

#ifdef __cplusplus
extern "C" {
#endif

/// The OPENBLAS_CORETYPE name to use instead of `current` (what OpenBLAS chose) on a CPU whose
/// best vector level is `level` (2: AVX-512 F, CD, BW, DQ and VL; 1: AVX2 and FMA; 0: neither),
/// or NULL when `current` already uses vectors that wide. Only kernel families older than AVX2
/// are replaced: a choice OpenBLAS made knowingly among modern ones is left alone.
const char *CBLASCore_better_core(const char *current, int level);

/// The vector level of OpenBLAS's kernel family `name` on the same scale (2: AVX-512, 1: AVX2 and
/// FMA), or -1 for a family not known here.
int CBLASCore_core_level(const char *name);

/// The vector level of this CPU, as `CBLASCore_better_core` takes it.
int CBLASCore_cpu_level(void);

/// The kernel family OpenBLAS had chosen before it was corrected at startup, or NULL when it was
/// left as it was (the choice was good, OPENBLAS_CORETYPE was set, or this OpenBLAS cannot switch).
const char *CBLASCore_replaced_core(void);

/// The kernel family OpenBLAS runs now ("unknown" when it cannot say).
const char *CBLASCore_current_core(void);

#ifdef __cplusplus
}
#endif

#endif

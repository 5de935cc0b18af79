// Matrix products for few rows (a single query's tokens) against weights packed once at load.
//
// OpenBLAS packs its operands on every call. With a handful of rows that repacking of the weights
// (42 MB per query for MiniLM) costs a third of the query's time, and its micro-kernels are tuned
// for many rows. Here the weights are packed once into 16-column panels, and a register-blocked
// kernel (AVX-512, or AVX2+FMA) streams each panel once while every input row reuses it from cache.
//
// Swift cannot compile one function for AVX2 and pick it at run time, which is why this is C: the
// kernels carry target attributes and are only called when the CPU reports the features.

#include "ckernels.h"
#include "isa.h"

#include <stddef.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CKERNELS_X86 1
#endif

int CKernels_small_gemm_available(void) {
    return CKernels_isa() >= 1;
}

void CKernels_pack_panels(const float *w, int n, int k, float *packed) {
    for (int p = 0; p < n / CKernels_PANEL; p++) {
        float *panel = packed + (size_t)p * k * CKernels_PANEL;
        const float *rows = w + (size_t)p * CKernels_PANEL * k;
        for (int i = 0; i < k; i++) {
            for (int j = 0; j < CKernels_PANEL; j++) {
                panel[(size_t)i * CKernels_PANEL + j] = rows[(size_t)j * k + i];
            }
        }
    }
}

#ifdef CKERNELS_X86

// Rows per register block: 6 rows × 2 vectors of 8 = 12 accumulators, leaving registers for the
// two panel vectors and a broadcast (16 ymm registers in all).
#define ROWS 6

// Rows are split into the fewest blocks of at most ROWS, all nearly the same size (8 rows → 4 + 4,
// not 6 + 2): a block of few rows has too few accumulators to hide the FMA latency.
static inline int block_start(int m, int blocks, int b) { return (int)((long)m * b / blocks); }

// Runs CALL(n) for each block of the `m` rows of `x`, with `in` and `o` pointing at the block's
// first input and output row, `first` true for the first block, and `n` its row count as a
// literal, so that every call site inlines a copy of the block kernel specialised for that count.
#define FOR_EACH_ROW_BLOCK(m, k, x, out, ldy, CALL)                                          \
    do {                                                                                     \
        int blocks_ = ((m) + ROWS - 1) / ROWS;                                               \
        for (int b_ = 0; b_ < blocks_; b_++) {                                               \
            int r_ = block_start((m), blocks_, b_);                                          \
            const float *in = (x) + (size_t)r_ * (k);                                        \
            float *o = (out) + (size_t)r_ * (ldy);                                           \
            int first = b_ == 0;                                                             \
            (void)first;                                                                     \
            switch (block_start((m), blocks_, b_ + 1) - r_) {                                \
            case 6: CALL(6); break;                                                          \
            case 5: CALL(5); break;                                                          \
            case 4: CALL(4); break;                                                          \
            case 3: CALL(3); break;                                                          \
            case 2: CALL(2); break;                                                          \
            default: CALL(1); break;                                                         \
            }                                                                                \
        }                                                                                    \
    } while (0)

// One block of up to ROWS rows against one panel. `rows` is a compile-time constant at each call
// site below, so the compiler unrolls the row loops and keeps everything in registers.
//
// `ahead`, when not NULL, is the next panel: a line of it is prefetched into L2 at each step.
// A query's weights (42 MB for MiniLM) come from memory, and a panel's first row block waited for
// them while the blocks after it, reading the panel from cache, left memory idle; fetched during
// the current panel, the next one is in L2 when its first block starts.
__attribute__((target("avx2,fma"), always_inline)) static inline void
block(const float *x, int rows, int k, const float *panel, const float *ahead, float *y, int ldy) {
    __m256 acc[ROWS][2];
    for (int r = 0; r < ROWS; r++) {
        acc[r][0] = _mm256_setzero_ps();
        acc[r][1] = _mm256_setzero_ps();
    }
    for (int i = 0; i < k; i++) {
        if (ahead) _mm_prefetch((const char *)(ahead + (size_t)i * CKernels_PANEL), _MM_HINT_T1);
        __m256 b0 = _mm256_loadu_ps(panel + (size_t)i * CKernels_PANEL);
        __m256 b1 = _mm256_loadu_ps(panel + (size_t)i * CKernels_PANEL + 8);
        for (int r = 0; r < ROWS; r++) {
            if (r < rows) {
                __m256 a = _mm256_broadcast_ss(x + (size_t)r * k + i);
                acc[r][0] = _mm256_fmadd_ps(a, b0, acc[r][0]);
                acc[r][1] = _mm256_fmadd_ps(a, b1, acc[r][1]);
            }
        }
    }
    for (int r = 0; r < ROWS; r++) {
        if (r < rows) {
            _mm256_storeu_ps(y + (size_t)r * ldy, acc[r][0]);
            _mm256_storeu_ps(y + (size_t)r * ldy + 8, acc[r][1]);
        }
    }
}

__attribute__((target("avx2,fma"))) static void
multiply_avx2(const float *x, int m, int k, const float *packed, int panel_begin, int panel_end, float *y, int ldy) {
    for (int p = panel_begin; p < panel_end; p++) {
        const float *panel = packed + (size_t)p * k * CKernels_PANEL;
        float *out = y + (size_t)p * CKernels_PANEL;
        const float *next = p + 1 < panel_end ? panel + (size_t)k * CKernels_PANEL : NULL;
#define BLOCK_AVX2(n) block(in, n, k, panel, first ? next : NULL, o, ldy)
        FOR_EACH_ROW_BLOCK(m, k, x, out, ldy, BLOCK_AVX2);
#undef BLOCK_AVX2
    }
}

// AVX-512: one 16-wide vector covers a panel, so two panels are computed together to keep 12
// accumulators in flight (FMA latency × ports), with the same 6-row blocking.
__attribute__((target("avx512f"), always_inline)) static inline void
block512(const float *x, int rows, int k, const float *panel0, const float *panel1, float *y, int ldy) {
    __m512 acc[ROWS][2];
    for (int r = 0; r < ROWS; r++) {
        acc[r][0] = _mm512_setzero_ps();
        acc[r][1] = _mm512_setzero_ps();
    }
    for (int i = 0; i < k; i++) {
        __m512 b0 = _mm512_loadu_ps(panel0 + (size_t)i * CKernels_PANEL);
        __m512 b1 = _mm512_loadu_ps(panel1 + (size_t)i * CKernels_PANEL);
        for (int r = 0; r < ROWS; r++) {
            if (r < rows) {
                __m512 a = _mm512_set1_ps(x[(size_t)r * k + i]);
                acc[r][0] = _mm512_fmadd_ps(a, b0, acc[r][0]);
                acc[r][1] = _mm512_fmadd_ps(a, b1, acc[r][1]);
            }
        }
    }
    for (int r = 0; r < ROWS; r++) {
        if (r < rows) {
            _mm512_storeu_ps(y + (size_t)r * ldy, acc[r][0]);
            _mm512_storeu_ps(y + (size_t)r * ldy + CKernels_PANEL, acc[r][1]);
        }
    }
}

__attribute__((target("avx512f"))) static void
multiply_avx512(const float *x, int m, int k, const float *packed, int panel_begin, int panel_end, float *y, int ldy) {
    int p = panel_begin;
    for (; p + 2 <= panel_end; p += 2) {
        const float *panel0 = packed + (size_t)p * k * CKernels_PANEL;
        const float *panel1 = panel0 + (size_t)k * CKernels_PANEL;
        float *out = y + (size_t)p * CKernels_PANEL;
#define BLOCK_AVX512(n) block512(in, n, k, panel0, panel1, o, ldy)
        FOR_EACH_ROW_BLOCK(m, k, x, out, ldy, BLOCK_AVX512);
#undef BLOCK_AVX512
    }
    // An odd panel left over goes through the AVX2 kernel (every AVX-512 CPU has AVX2 and FMA).
    if (p < panel_end) multiply_avx2(x, m, k, packed, p, panel_end, y, ldy);
}

#endif

void CKernels_small_gemm(int isa, const float *x, int m, int k, const float *packed, int panel_begin, int panel_end,
                         float *y, int ldy) {
#ifdef CKERNELS_X86
    if (CKernels_usable_isa(isa) >= 2) {
        multiply_avx512(x, m, k, packed, panel_begin, panel_end, y, ldy);
    } else {
        multiply_avx2(x, m, k, packed, panel_begin, panel_end, y, ldy);
    }
#else
    // Not reached: callers check CKernels_small_gemm_available() first. Kept correct all the same.
    (void)isa;
    for (int p = panel_begin; p < panel_end; p++) {
        const float *panel = packed + (size_t)p * k * CKernels_PANEL;
        for (int r = 0; r < m; r++) {
            for (int j = 0; j < CKernels_PANEL; j++) {
                float sum = 0;
                for (int i = 0; i < k; i++) sum += x[(size_t)r * k + i] * panel[(size_t)i * CKernels_PANEL + j];
                y[(size_t)r * ldy + p * CKernels_PANEL + j] = sum;
            }
        }
    }
#endif
}

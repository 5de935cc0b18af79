// Scaled dot-product attention for one head of one sequence, in one call.
//
// Why not two sgemm calls around a softmax: a head of a 32-token sequence is two products of 32 ×
// 32 × 32, and OpenBLAS spends more on each call (copying both operands into its blocks, clearing
// the output) than on the arithmetic; with 12 heads and 6 layers a pass made thousands of them,
// a fifth of a batch's time whether its texts held 32 tokens or 240. Here the keys are transposed
// once into a small buffer, and each product is a register-blocked loop the compiler vectorises,
// like the element-wise kernels (written once as scalar C, compiled per instruction set).
//
// Every row's arithmetic is the same whatever the other rows or sequences are, so a query's vector
// does not depend on its batch.

#include "ckernels.h"
#include "shared.h"

// A block computes up to MAX_ROWS rows of queries (and of outputs) together, so that each load of
// keys or values serves them all, and one vector of 16 columns (one AVX-512 register, two AVX2
// ones, four SSE ones: the compiler splits a vector type wider than the target's registers). Each
// variant picks its rows so that the accumulators fill its registers without spilling and are
// enough to keep both FMA units busy: 8 with AVX-512 (8 of 32 registers), 4 with AVX2 (8 of 16),
// 2 with baseline SSE (8 of 16).
#define MAX_ROWS 8
#define COLUMNS 16

typedef float vector16 __attribute__((vector_size(64), aligned(4)));

// The helpers below take and return vector16 by value, which changes the calling convention
// between instruction sets; they are always inlined into one variant, so no call crosses one.
#pragma clang diagnostic ignored "-Wpsabi"

ALWAYS_INLINE vector16 load16(const float *p) {
    vector16 v;
    memcpy(&v, p, sizeof v);
    return v;
}

ALWAYS_INLINE void store16(float *p, vector16 v, int count) {
    if (count == COLUMNS) {
        memcpy(p, &v, sizeof v);
    } else {
        float lanes[COLUMNS];
        memcpy(lanes, &v, sizeof v);
        for (int j = 0; j < count; j++) p[j] = lanes[j];
    }
}

static inline int round_up(int value, int multiple) { return (value + multiple - 1) / multiple * multiple; }

// scores[r][j0 + j] = scale · Σ_c rows[r][c] · k[j0 + j][c] for r < `block`, j < `count`, the keys
// given transposed (`kt`: d rows of `width` values). `block` is a constant where inlined.
ALWAYS_INLINE void score_block(const float *const rows[MAX_ROWS], int block, const float *kt, int width, int j0, int d,
                               float scale, float *scores, int n, int valid_rows, int count) {
    vector16 sums[MAX_ROWS];
    for (int r = 0; r < block; r++) sums[r] = (vector16){0};
    for (int c = 0; c < d; c++) {
        vector16 keys = load16(kt + (long)c * width + j0);
        for (int r = 0; r < block; r++) sums[r] += rows[r][c] * keys;
    }
    for (int r = 0; r < valid_rows; r++) store16(scores + (long)r * n + j0, sums[r] * scale, count);
}

// out[r][c] = inverse_sums[r] · Σ_j p[r][j] · v[j][c] for r < `block`, c < `count`; `v`'s rows are
// read 16 values at a time.
ALWAYS_INLINE void value_block(const float *const p[MAX_ROWS], int block, int n, const float *v, int stride,
                               const float *inverse_sums, float *out, int out_stride, int valid_rows, int count) {
    vector16 sums[MAX_ROWS];
    for (int r = 0; r < block; r++) sums[r] = (vector16){0};
    for (int j = 0; j < n; j++) {
        vector16 values = load16(v + (long)j * stride);
        for (int r = 0; r < block; r++) sums[r] += p[r][j] * values;
    }
    for (int r = 0; r < valid_rows; r++) store16(out + (long)r * out_stride, sums[r] * inverse_sums[r], count);
}

// Scratch layout (floats): the transposed keys (d × round16(n)), the scores (m × n), the inverse
// sums (m), a row of zeros (max(n, d)) that stands in for the rows past the last of a block, and
// the values' last columns padded to 16 (n × 16) where d is not a multiple of 16.
ALWAYS_INLINE void attention_body(const float *q, int m, const float *k, const float *v, int stride, int n, int d,
                                  float scale, float *scratch, float *out, int out_stride, int block) {
    int width = round_up(n, COLUMNS);
    float *kt = scratch;
    float *scores = kt + (long)d * width;
    float *inverse_sums = scores + (long)m * n;
    float *zeros = inverse_sums + m;
    float *tail = zeros + (n > d ? n : d);
    for (int j = 0; j < (n > d ? n : d); j++) zeros[j] = 0;
    for (int c = 0; c < d; c++) {
        float *line = kt + (long)c * width;
        for (int j = 0; j < n; j++) line[j] = k[(long)j * stride + c];
        for (int j = n; j < width; j++) line[j] = 0;
    }
    for (int i = 0; i < m; i += block) {
        int valid = m - i < block ? m - i : block;
        const float *rows[MAX_ROWS];
        for (int r = 0; r < block; r++) rows[r] = r < valid ? q + (long)(i + r) * stride : zeros;
        for (int j0 = 0; j0 < n; j0 += COLUMNS) {
            score_block(rows, block, kt, width, j0, d, scale, scores + (long)i * n, n, valid,
                        n - j0 < COLUMNS ? n - j0 : COLUMNS);
        }
    }
    exp_rows_body(scores, m, n, inverse_sums);
    for (int c0 = 0; c0 < d; c0 += COLUMNS) {
        int count = d - c0 < COLUMNS ? d - c0 : COLUMNS;
        const float *values = v + c0;
        int values_stride = stride;
        if (count < COLUMNS) {
            for (int j = 0; j < n; j++) {
                for (int c = 0; c < COLUMNS; c++) tail[(long)j * COLUMNS + c] = c < count ? v[(long)j * stride + c0 + c] : 0;
            }
            values = tail;
            values_stride = COLUMNS;
        }
        for (int i = 0; i < m; i += block) {
            int valid = m - i < block ? m - i : block;
            const float *p[MAX_ROWS];
            for (int r = 0; r < block; r++) p[r] = r < valid ? scores + (long)(i + r) * n : zeros;
            value_block(p, block, n, values, values_stride, inverse_sums + i, out + (long)i * out_stride + c0,
                        out_stride, valid, count);
        }
    }
}

#ifdef CKERNELS_X86
#define ATTENTION_PARAMETERS                                                                                 \
    (const float *q, int m, const float *k, const float *v, int stride, int n, int d, float scale, float *scratch, \
     float *out, int out_stride)
__attribute__((target("avx512f"))) static void attention_avx512 ATTENTION_PARAMETERS {
    attention_body(q, m, k, v, stride, n, d, scale, scratch, out, out_stride, 8);
}
__attribute__((target("avx2,fma"))) static void attention_avx2 ATTENTION_PARAMETERS {
    attention_body(q, m, k, v, stride, n, d, scale, scratch, out, out_stride, 4);
}
static void attention_base ATTENTION_PARAMETERS { attention_body(q, m, k, v, stride, n, d, scale, scratch, out, out_stride, 2); }
#else
#define attention_body(...) attention_body(__VA_ARGS__, 4)
#endif

long CKernels_attention_scratch(int m, int n, int d) {
    return (long)d * round_up(n, COLUMNS) + (long)m * n + m + (n > d ? n : d) + (long)n * COLUMNS;
}

void CKernels_attention(int isa, const float *q, int m, const float *k, const float *v, int stride, int n, int d,
                        float scale, float *scratch, float *out, int out_stride) {
    DISPATCH(isa, attention, (q, m, k, v, stride, n, d, scale, scratch, out, out_stride));
}

// What the kernel files share: the softmax's exp and its row kernel, and the macros that compile a
// kernel body once per instruction set and pick one at run time.

#ifndef CKERNELS_SHARED_H
#define CKERNELS_SHARED_H

#include "isa.h"

#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#define CKERNELS_X86 1
#endif

#define ALWAYS_INLINE __attribute__((always_inline)) static inline

// e^x, relative error below 1e-6 on [-87, 88]; inputs outside are clamped.
ALWAYS_INLINE float exp_approx(float x) {
    x = x < -87.0f ? -87.0f : x;
    x = x > 88.0f ? 88.0f : x;
    // Round x·log2(e) to the nearest integer n by adding 1.5·2²³: the sum's low mantissa bits are n.
    const float shifter = 12582912.0f;
    float shifted = x * 1.44269504f + shifter;
    float n = shifted - shifter;
    // r = x − n·ln2 in two steps (Cody–Waite), so r keeps its low bits; |r| ≤ ln2/2.
    float r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    // Taylor series of e^r to degree 7: the first omitted term is below 6e-9 relative.
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    // 2^n, built directly in the exponent field.
    int bits;
    memcpy(&bits, &shifted, sizeof bits);
    int scale_bits = (bits - 0x4B400000 + 127) << 23;
    float scale;
    memcpy(&scale, &scale_bits, sizeof scale);
    return p * scale;
}

// Rows are walked in chunks of 16 values, each chunk's loop of a fixed length that the compiler
// turns into whole vectors (one for AVX-512, two for AVX2). A loop over the whole row was vectorised
// 64 values at a time only, with the rest (all of a short row) and the running maximum left scalar:
// 2.8 times slower on 240-value rows with AVX-512. The sum keeps a partial per lane, added in order.
#define CHUNK 16

ALWAYS_INLINE void exp_rows_body(float *data, int rows, int columns, float *inverse_sums) {
    int whole = columns - columns % CHUNK;
    for (int r = 0; r < rows; r++) {
        float *line = data + (long)r * columns;
        float maxima[CHUNK];
        for (int j = 0; j < CHUNK; j++) maxima[j] = -__builtin_inff();
        for (int c = 0; c < whole; c += CHUNK) {
            for (int j = 0; j < CHUNK; j++) maxima[j] = line[c + j] > maxima[j] ? line[c + j] : maxima[j];
        }
        float maximum = -__builtin_inff();
        for (int j = 0; j < CHUNK; j++) maximum = maxima[j] > maximum ? maxima[j] : maximum;
        for (int c = whole; c < columns; c++) maximum = line[c] > maximum ? line[c] : maximum;
        float sums[CHUNK] = {0};
        for (int c = 0; c < whole; c += CHUNK) {
            for (int j = 0; j < CHUNK; j++) {
                float value = exp_approx(line[c + j] - maximum);
                line[c + j] = value;
                sums[j] += value;
            }
        }
        float sum = 0;
        for (int c = whole; c < columns; c++) {
            float value = exp_approx(line[c] - maximum);
            line[c] = value;
            sum += value;
        }
        for (int j = 0; j < CHUNK; j++) sum += sums[j];
        inverse_sums[r] = 1.0f / sum;
    }
}

// The variants of each kernel, and the switch that picks one for the level its caller asked for
// (see CKernels_isa).
#ifdef CKERNELS_X86
#define VARIANTS(name, params, args)                                                       \
    __attribute__((target("avx512f"))) static void name##_avx512 params { name##_body args; } \
    __attribute__((target("avx2,fma"))) static void name##_avx2 params { name##_body args; }  \
    static void name##_base params { name##_body args; }
#define DISPATCH(isa, name, args)                                                          \
    switch (CKernels_usable_isa(isa)) {                                                    \
    case 2: name##_avx512 args; break;                                                     \
    case 1: name##_avx2 args; break;                                                       \
    default: name##_base args; break;                                                      \
    }
#else
#define VARIANTS(name, params, args)
#define DISPATCH(isa, name, args) \
    (void)(isa);                  \
    name##_body args
#endif

#endif

#include <stdint.h>

#include "ckernels.h"
#include "isa.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

// Each int8 is widened to int16 and multiplied in pairs into int32 (vpmaddwd): exact, with no
// saturation. The scan is bound by memory bandwidth, not arithmetic: VNNI's fused forms (vpdpwssd,
// vpdpbusd) scanned a million rows no faster on an AVX-512 VNNI machine, so there is no variant for them.

__attribute__((target("avx512f,avx512bw")))
static void dot_i8_avx512(const int8_t *rows, long begin, long end, int dimension, const int8_t *query, int32_t *out) {
    int whole = dimension / 32 * 32;
    for (long r = begin; r < end; r++) {
        const int8_t *row = rows + r * (long)dimension;
        __m512i sum = _mm512_setzero_si512();
        for (int i = 0; i < whole; i += 32) {
            __m512i x = _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)(row + i)));
            __m512i q = _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)(query + i)));
            sum = _mm512_add_epi32(sum, _mm512_madd_epi16(x, q));
        }
        int32_t total = _mm512_reduce_add_epi32(sum);
        for (int i = whole; i < dimension; i++) total += (int32_t)row[i] * query[i];
        out[r] = total;
    }
}

__attribute__((target("avx2")))
static void dot_i8_avx2(const int8_t *rows, long begin, long end, int dimension, const int8_t *query, int32_t *out) {
    int whole = dimension / 16 * 16;
    for (long r = begin; r < end; r++) {
        const int8_t *row = rows + r * (long)dimension;
        __m256i sum = _mm256_setzero_si256();
        for (int i = 0; i < whole; i += 16) {
            __m256i x = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(row + i)));
            __m256i q = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(query + i)));
            sum = _mm256_add_epi32(sum, _mm256_madd_epi16(x, q));
        }
        __m128i half = _mm_add_epi32(_mm256_castsi256_si128(sum), _mm256_extracti128_si256(sum, 1));
        half = _mm_add_epi32(half, _mm_shuffle_epi32(half, 0x4E));
        half = _mm_add_epi32(half, _mm_shuffle_epi32(half, 0xB1));
        int32_t total = _mm_cvtsi128_si32(half);
        for (int i = whole; i < dimension; i++) total += (int32_t)row[i] * query[i];
        out[r] = total;
    }
}
#endif

static void dot_i8_baseline(const int8_t *rows, long begin, long end, int dimension, const int8_t *query, int32_t *out) {
    for (long r = begin; r < end; r++) {
        const int8_t *row = rows + r * (long)dimension;
        int32_t total = 0;
        for (int i = 0; i < dimension; i++) total += (int32_t)row[i] * query[i];
        out[r] = total;
    }
}

typedef void (*dot_i8_kernel)(const int8_t *, long, long, int, const int8_t *, int32_t *);

/// The kernel for `isa` (see `CKernels_isa`), chosen once per call rather than once per row.
static dot_i8_kernel dot_i8_for(int isa) {
#if defined(__x86_64__) || defined(__i386__)
    int level = CKernels_usable_isa(isa);
    if (level >= 2 && __builtin_cpu_supports("avx512bw")) return dot_i8_avx512;
    if (level >= 1) return dot_i8_avx2;
#else
    (void)isa;
#endif
    return dot_i8_baseline;
}

void CKernels_dot_i8(int isa, const int8_t *rows, long begin, long end, int dimension, const int8_t *query, int32_t *out) {
    dot_i8_for(isa)(rows, begin, end, dimension, query, out);
}

// How many rows ahead of its product a picked row is fetched: enough to cover a miss to memory
// (a few hundred ns) with the products of the rows between (a few tens of ns each).
#define PICKED_AHEAD 8

static inline void fetch_row(const int8_t *row, int dimension) {
    for (int byte = 0; byte < dimension; byte += 64) __builtin_prefetch(row + byte, 0, 0);
    // The row's last byte may sit on one more line than its 64-byte steps from the first reach.
    __builtin_prefetch(row + dimension - 1, 0, 0);
}

void CKernels_dot_i8_picked(int isa, const int8_t *rows, const long *picked, long count, int dimension,
                            const int8_t *query, int32_t *out) {
    dot_i8_kernel kernel = dot_i8_for(isa);
    for (long i = 0; i < count && i < PICKED_AHEAD; i++) fetch_row(rows + picked[i] * (long)dimension, dimension);
    for (long i = 0; i < count; i++) {
        if (i + PICKED_AHEAD < count) fetch_row(rows + picked[i + PICKED_AHEAD] * (long)dimension, dimension);
        kernel(rows + picked[i] * (long)dimension, 0, 1, dimension, query, out + i);
    }
}

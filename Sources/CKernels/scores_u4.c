#include <stdint.h>

#include "ckernels.h"
#include "isa.h"

// Each byte holds two 4-bit codes (0–15). vpmaddubsw multiplies unsigned bytes by signed bytes
// and adds neighbouring pairs into int16: at most 2 · 15 · 128 = 3840, far from saturating. The
// pairs are widened to int32 (vpmaddwd by ones) at every step, so no row is long enough to
// overflow. There is no AVX-512 variant: the scan streams half the bytes of the int8 one and is
// bound by memory bandwidth, which wider registers do not raise.

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

__attribute__((target("avx2")))
static void scores_u4_avx2(const uint8_t *rows, const float *scales, long begin, long end, int row_bytes,
                           const int8_t *query_low, const int8_t *query_high, int32_t offset, float query_scale,
                           float *out) {
    const __m256i low_nibbles = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi16(1);
    int whole = row_bytes / 32 * 32;
    for (long r = begin; r < end; r++) {
        const uint8_t *row = rows + r * (long)row_bytes;
        __m256i sum = _mm256_setzero_si256();
        for (int j = 0; j < whole; j += 32) {
            __m256i packed = _mm256_loadu_si256((const __m256i *)(row + j));
            __m256i low = _mm256_and_si256(packed, low_nibbles);
            __m256i high = _mm256_and_si256(_mm256_srli_epi16(packed, 4), low_nibbles);
            __m256i pairs = _mm256_add_epi16(
                _mm256_maddubs_epi16(low, _mm256_loadu_si256((const __m256i *)(query_low + j))),
                _mm256_maddubs_epi16(high, _mm256_loadu_si256((const __m256i *)(query_high + j))));
            sum = _mm256_add_epi32(sum, _mm256_madd_epi16(pairs, ones));
        }
        __m128i half = _mm_add_epi32(_mm256_castsi256_si128(sum), _mm256_extracti128_si256(sum, 1));
        half = _mm_add_epi32(half, _mm_shuffle_epi32(half, 0x4E));
        half = _mm_add_epi32(half, _mm_shuffle_epi32(half, 0xB1));
        int32_t total = _mm_cvtsi128_si32(half);
        for (int j = whole; j < row_bytes; j++) {
            total += (int32_t)(row[j] & 0x0F) * query_low[j] + (int32_t)(row[j] >> 4) * query_high[j];
        }
        out[r] = (float)(total - offset) * scales[r] * query_scale;
    }
}
#endif

static void scores_u4_baseline(const uint8_t *rows, const float *scales, long begin, long end, int row_bytes,
                               const int8_t *query_low, const int8_t *query_high, int32_t offset, float query_scale,
                               float *out) {
    for (long r = begin; r < end; r++) {
        const uint8_t *row = rows + r * (long)row_bytes;
        int32_t total = 0;
        for (int j = 0; j < row_bytes; j++) {
            total += (int32_t)(row[j] & 0x0F) * query_low[j] + (int32_t)(row[j] >> 4) * query_high[j];
        }
        out[r] = (float)(total - offset) * scales[r] * query_scale;
    }
}

void CKernels_scores_u4(int isa, const uint8_t *rows, const float *scales, long begin, long end, int row_bytes,
                        const int8_t *query_low, const int8_t *query_high, int32_t offset, float query_scale,
                        float *out) {
#if defined(__x86_64__) || defined(__i386__)
    if (CKernels_usable_isa(isa) >= 1) {
        scores_u4_avx2(rows, scales, begin, end, row_bytes, query_low, query_high, offset, query_scale, out);
        return;
    }
#else
    (void)isa;
#endif
    scores_u4_baseline(rows, scales, begin, end, row_bytes, query_low, query_high, offset, query_scale, out);
}

#ifndef CKERNELS_H
#define CKERNELS_H

#include <stdint.h>

// CPU kernels for the encoder and the vector search that need the CPU's widest vectors. Each is compiled several times
// (AVX-512, AVX2+FMA, baseline) and the best one this CPU supports is picked at run time: a
// build for baseline x86-64 alone would leave three quarters of the vector width unused, and one
// for a newer CPU would not start on an older one.

#ifdef __cplusplus
extern "C" {
#endif

/// The widest instruction set this CPU runs the kernels with: 2 AVX-512, 1 AVX2+FMA, 0 baseline.
///
/// Every kernel below takes the level to use as its first argument, `isa`: callers pass this, and
/// the tests pass each level in turn to run every variant on one machine. A level above what the
/// CPU supports is lowered to it. The level is an argument, not a process-wide setting, so that a
/// test running one variant cannot change what kernels running beside it use.
int CKernels_isa(void);

// MARK: small-row matrix products

/// Output columns per packed panel.
#define CKernels_PANEL 16

/// 1 when this CPU runs the small-row kernel (AVX2 and FMA), 0 otherwise.
int CKernels_small_gemm_available(void);

/// Packs `w` (`n` × `k`, row-major, `n` a multiple of 16) into panels of 16 output columns:
/// `packed[(p·k + i)·16 + j] = w[(p·16 + j)·k + i]`. `packed` holds `n·k` floats.
void CKernels_pack_panels(const float *w, int n, int k, float *packed);

/// `y[r][p·16 + j] = Σ_i x[r][i] · w[p·16 + j][i]` for rows `r < m` and panels
/// `panel_begin ≤ p < panel_end`, with `w` given packed. `x` is `m` × `k` (row stride `k`),
/// `y` has row stride `ldy`. Only call when `CKernels_small_gemm_available()` is 1; `isa` below 1
/// runs the AVX2 kernel all the same.
void CKernels_small_gemm(int isa, const float *x, int m, int k, const float *packed, int panel_begin, int panel_end,
                         float *y, int ldy);

// MARK: element-wise

/// `out[i] = e^in[i]`; relative error below 1e-6 for inputs in [-87, 88]. `out` may be `in`.
void CKernels_exp(int isa, const float *in, float *out, long count);

/// Adds `bias` to each of `rows` rows of `columns` values (row stride `stride`), then applies
/// exact-erf GELU when `gelu` is non-zero.
void CKernels_bias_gelu(int isa, float *data, int rows, int columns, int stride, const float *bias, int gelu);

/// Each row of `columns` values becomes `e^(x − max(row))`, and `inverse_sums[row]` the factor that
/// normalises it to a softmax.
void CKernels_exp_rows(int isa, float *data, int rows, int columns, float *inverse_sums);

// MARK: attention

/// One attention head of one sequence: for each of the `m` query rows `q[i]` (`d` values, row
/// stride `stride`), `out[i] = softmax(scale · q[i] · Kᵀ) · V` over the `n` rows of `k` and `v`
/// (the same width and stride), into rows of stride `out_stride`. `scratch` holds at least
/// `CKernels_attention_scratch(m, n, d)` floats. Each row's result does not depend on `m` or on
/// the other rows.
void CKernels_attention(int isa, const float *q, int m, const float *k, const float *v, int stride, int n, int d,
                        float scale, float *scratch, float *out, int out_stride);

/// The floats of scratch `CKernels_attention` needs for `m` query rows over `n` keys `d` wide.
long CKernels_attention_scratch(int m, int n, int d);

// MARK: int8 vectors

/// `out[r] = Σ_i rows[r][i] · query[i]` for `begin ≤ r < end`, exactly, in int32: the dot products
/// of an int8 query with rows of an int8 matrix (`dimension` values per row, row-major). Ranges
/// let callers split one scan over threads.
void CKernels_dot_i8(int isa, const int8_t *rows, long begin, long end, int dimension, const int8_t *query, int32_t *out);

/// `out[i] = Σ_j rows[picked[i]][j] · query[j]` for `0 ≤ i < count`: `CKernels_dot_i8` for a few
/// rows here and there (a first pass's candidates), each fetched from memory a few rows ahead of
/// its product, as no hardware prefetcher guesses where the next one is.
void CKernels_dot_i8_picked(int isa, const int8_t *rows, const long *picked, long count, int dimension,
                            const int8_t *query, int32_t *out);

// MARK: 4-bit vectors

/// `out[r] = (Σ_j low(rows[r][j]) · query_low[j] + high(rows[r][j]) · query_high[j] − offset)
/// · scales[r] · query_scale` for `begin ≤ r < end`, the sum exact in int32: approximate dot
/// products of an int8 query with rows of 4-bit codes, two to a byte (`low`: bits 0–3, `high`:
/// bits 4–7, each 0–15), `row_bytes` bytes per row. `offset` takes out the codes' bias (see
/// `Int4Codes` in Storage).
void CKernels_scores_u4(int isa, const uint8_t *rows, const float *scales, long begin, long end, int row_bytes,
                        const int8_t *query_low, const int8_t *query_high, int32_t offset, float query_scale,
                        float *out);

#ifdef __cplusplus
}
#endif
#endif

#ifndef CSMALLGEMM_SMALL_GEMM_H
#define CSMALLGEMM_SMALL_GEMM_H

#ifdef __cplusplus
extern "C" {
#endif

/// Output columns per packed panel.
#define CSmallGEMM_PANEL 16

/// 1 when this CPU runs the fast kernel (AVX2 and FMA), 0 otherwise.
int CSmallGEMM_available(void);

/// Packs `w` (`n` × `k`, row-major, `n` a multiple of 16) into panels of 16 output columns:
/// `packed[(p·k + i)·16 + j] = w[(p·16 + j)·k + i]`. `packed` holds `n·k` floats.
void CSmallGEMM_pack(const float *w, int n, int k, float *packed);

/// `y[r][p·16 + j] = Σ_i x[r][i] · w[p·16 + j][i]` for rows `r < m` and panels
/// `panel_begin ≤ p < panel_end`, with `w` given packed. `x` is `m` × `k` (row stride `k`),
/// `y` has row stride `ldy`. Only call when `CSmallGEMM_available()` is 1.
void CSmallGEMM_multiply(const float *x, int m, int k, const float *packed, int panel_begin, int panel_end,
                         float *y, int ldy);

#ifdef __cplusplus
}
#endif
#endif

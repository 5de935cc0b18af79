// Element-wise kernels of the encoder: exp (for the attention softmax) and bias + exact-erf GELU.
//
// Each loop body is written once, as plain scalar C that the compiler vectorises, and compiled
// three times: for AVX-512, for AVX2+FMA and for baseline x86-64. The transcendental functions are
// polynomial approximations because libm's expf and erff do not vectorise, and at one call per
// element they would cost as much as the matrix products (a 240-token batch needs over a hundred
// million exps).

#include "ckernels.h"
#include "shared.h"

// GELU with the exact error function, x·½·(1 + erf(x/√2)), as PyTorch's default `gelu`; erf from
// Abramowitz & Stegun 7.1.26 (absolute error ≤ 1.5e-7).
ALWAYS_INLINE float gelu_approx(float x) {
    float z = (x < 0 ? -x : x) * 0.70710678f;
    float t = 1.0f / (1.0f + 0.3275911f * z);
    float poly = 1.061405429f;
    poly = poly * t - 1.453152027f;
    poly = poly * t + 1.421413741f;
    poly = poly * t - 0.284496736f;
    poly = poly * t + 0.254829592f;
    poly = poly * t;
    float erf_abs = 1.0f - poly * exp_approx(-(z * z));
    float erf = x < 0 ? -erf_abs : erf_abs;
    return 0.5f * x * (1.0f + erf);
}

ALWAYS_INLINE void exp_body(const float *in, float *out, long count) {
    for (long i = 0; i < count; i++) out[i] = exp_approx(in[i]);
}

ALWAYS_INLINE void bias_gelu_body(float *data, int rows, int columns, int stride, const float *bias, int gelu) {
    for (int r = 0; r < rows; r++) {
        float *line = data + (long)r * stride;
        if (gelu) {
            for (int c = 0; c < columns; c++) line[c] = gelu_approx(line[c] + bias[c]);
        } else {
            for (int c = 0; c < columns; c++) line[c] += bias[c];
        }
    }
}

VARIANTS(exp, (const float *in, float *out, long count), (in, out, count))
VARIANTS(bias_gelu, (float *data, int rows, int columns, int stride, const float *bias, int gelu),
         (data, rows, columns, stride, bias, gelu))
VARIANTS(exp_rows, (float *data, int rows, int columns, float *inverse_sums), (data, rows, columns, inverse_sums))

void CKernels_exp(int isa, const float *in, float *out, long count) { DISPATCH(isa, exp, (in, out, count)); }

void CKernels_bias_gelu(int isa, float *data, int rows, int columns, int stride, const float *bias, int gelu) {
    DISPATCH(isa, bias_gelu, (data, rows, columns, stride, bias, gelu));
}

void CKernels_exp_rows(int isa, float *data, int rows, int columns, float *inverse_sums) {
    DISPATCH(isa, exp_rows, (data, rows, columns, inverse_sums));
}

/// The kernels of the encoder's forward pass, written once for NVRTC (CUDA) and hiprtc (HIP).
///
/// The source uses only what both compilers provide without headers: the thread-index builtins,
/// `__syncthreads`, `__shared__` and the float math functions. Reductions go through shared memory
/// rather than warp shuffles, whose names and masks differ between CUDA and HIP (and whose width
/// is 32 on NVIDIA and RDNA but 64 on CDNA), so no kernel depends on the warp size. Every kernel
/// runs with `blockThreads` threads per block, a power of two.
///
/// Layout: a batch of `B` sequences padded to `L` tokens, row-major `[B * L, width]` activations;
/// `lengths[b]` tokens of sequence `b` are real, the rest padding that attention and pooling skip.
public enum EncoderKernels {
    /// Threads per block of every kernel (the reductions assume it).
    public static let blockThreads = 128

    /// The kernels' entry points, as `cuModuleGetFunction` / `hipModuleGetFunction` name them.
    public static let functionNames = [
        "rag_embed_layernorm", "rag_add_bias", "rag_to_half", "rag_bias_gelu", "rag_bias_residual_layernorm", "rag_attention", "rag_pool",
    ]

    /// The source. `LayerNorm` and pooling keep the CPU encoder's order of operations (mean, then
    /// the mean of squared deviations), so the two paths agree to float rounding.
    public static let source = #"""
    #if defined(__HIPCC_RTC__) || defined(__HIP__)
    #define RAG_DEVICE_HIP 1
    #endif
    #define RAG_THREADS 128
    #define RAG_NEG_HUGE (-3.402823466e38f)

    // The sum of `value` over the block, returned to every thread. `scratch` holds RAG_THREADS floats.
    __device__ float rag_block_sum(float value, float* scratch) {
        const int t = threadIdx.x;
        __syncthreads();
        scratch[t] = value;
        __syncthreads();
        for (int half = RAG_THREADS / 2; half > 0; half >>= 1) {
            if (t < half) scratch[t] += scratch[t + half];
            __syncthreads();
        }
        return scratch[0];
    }

    // The maximum of `value` over the block, returned to every thread.
    __device__ float rag_block_max(float value, float* scratch) {
        const int t = threadIdx.x;
        __syncthreads();
        scratch[t] = value;
        __syncthreads();
        for (int half = RAG_THREADS / 2; half > 0; half >>= 1) {
            if (t < half) scratch[t] = fmaxf(scratch[t], scratch[t + half]);
            __syncthreads();
        }
        return scratch[0];
    }

    // LayerNorm of the `width` values in `row` (spread over the block, at most RAG_MAX_PER_THREAD per thread),
    // written to `out`. Values are passed in registers so `out` may be the row's own storage.
    #define RAG_MAX_PER_THREAD 8
    __device__ void rag_layernorm_write(const float* values, int width, const float* gamma, const float* beta,
                                        float epsilon, float* out, float* scratch) {
        const int t = threadIdx.x;
        float sum = 0.0f;
        for (int k = 0, c = t; c < width; ++k, c += RAG_THREADS) sum += values[k];
        const float mean = rag_block_sum(sum, scratch) / (float)width;
        float squares = 0.0f;
        for (int k = 0, c = t; c < width; ++k, c += RAG_THREADS) {
            const float d = values[k] - mean;
            squares += d * d;
        }
        const float inverse = rsqrtf(rag_block_sum(squares, scratch) / (float)width + epsilon);
        for (int k = 0, c = t; c < width; ++k, c += RAG_THREADS) out[c] = (values[k] - mean) * inverse * gamma[c] + beta[c];
    }

    // Grid (L, B). Word + position + token-type-0 embeddings, then LayerNorm. Padding rows are zeroed.
    // `rows` holds the position row of each token (BERT counts from 0, RoBERTa past its padding row).
    extern "C" __global__ void rag_embed_layernorm(const int* ids, const int* rows, const int* lengths, int L,
                                                   const float* word, const float* position, const float* tokenType,
                                                   const float* gamma, const float* beta, float epsilon, int width,
                                                   float* out) {
        __shared__ float scratch[RAG_THREADS];
        const int i = blockIdx.x, b = blockIdx.y;
        float* row = out + ((long)b * L + i) * width;
        if (i >= lengths[b]) {
            for (int c = threadIdx.x; c < width; c += RAG_THREADS) row[c] = 0.0f;
            return;
        }
        const long id = ids[(long)b * L + i], place = rows[(long)b * L + i];
        float values[RAG_MAX_PER_THREAD];
        for (int k = 0, c = threadIdx.x; c < width; ++k, c += RAG_THREADS)
            values[k] = word[id * width + c] + position[place * width + c] + tokenType[c];
        rag_layernorm_write(values, width, gamma, beta, epsilon, row, scratch);
    }

    // x[r, c] += bias[c] for `count` values in rows of `width`.
    extern "C" __global__ void rag_add_bias(float* x, const float* bias, int width, long count) {
        const long index = (long)blockIdx.x * RAG_THREADS + threadIdx.x;
        if (index < count) x[index] += bias[index % width];
    }

    // half[i] = x[i] rounded to IEEE binary16 (to nearest even), as the bits `unsigned short` holds:
    // the fp16 mode's matrix-product inputs. No header declares a half type for both compilers, so
    // CUDA converts with PTX's cvt and HIP with its native _Float16.
    extern "C" __global__ void rag_to_half(const float* x, unsigned short* half, long count) {
        const long index = (long)blockIdx.x * RAG_THREADS + threadIdx.x;
        if (index >= count) return;
    #ifdef RAG_DEVICE_HIP
        union { _Float16 value; unsigned short bits; } converted;
        converted.value = (_Float16)x[index];
        half[index] = converted.bits;
    #else
        unsigned short bits;
        asm("cvt.rn.f16.f32 %0, %1;" : "=h"(bits) : "f"(x[index]));
        half[index] = bits;
    #endif
    }

    // x[r, c] = gelu(x[r, c] + bias[c]) for `count` values in rows of `width`: the erf GELU BERT uses.
    extern "C" __global__ void rag_bias_gelu(float* x, const float* bias, int width, long count) {
        const long index = (long)blockIdx.x * RAG_THREADS + threadIdx.x;
        if (index >= count) return;
        const float v = x[index] + bias[index % width];
        x[index] = 0.5f * v * (1.0f + erff(v * 0.70710678118654752f));
    }

    // Grid (rows). residual[r] = LayerNorm(x[r] + bias + residual[r]), in place.
    extern "C" __global__ void rag_bias_residual_layernorm(const float* x, const float* bias, float* residual,
                                                           const float* gamma, const float* beta, float epsilon, int width) {
        __shared__ float scratch[RAG_THREADS];
        const long r = blockIdx.x;
        float values[RAG_MAX_PER_THREAD];
        for (int k = 0, c = threadIdx.x; c < width; ++k, c += RAG_THREADS)
            values[k] = x[r * width + c] + bias[c] + residual[r * width + c];
        rag_layernorm_write(values, width, gamma, beta, epsilon, residual + r * width, scratch);
    }

    // Grid (L, heads, B); dynamic shared memory of (L + headDim) floats. One query row of one head:
    // scores against every real key, softmax, the weighted sum of values. `qkv` rows hold
    // [Q | K | V], each `heads * headDim` wide, biases already added; `out` is [B * L, heads * headDim].
    extern "C" __global__ void rag_attention(const float* qkv, const int* lengths, int L, int heads, int headDim,
                                             float scale, float* out) {
        extern __shared__ float shared[];
        __shared__ float scratch[RAG_THREADS];
        float* scores = shared;
        float* query = shared + L;
        const int i = blockIdx.x, h = blockIdx.y, b = blockIdx.z, t = threadIdx.x;
        const int width = heads * headDim, stride = 3 * width, length = lengths[b];
        float* target = out + ((long)b * L + i) * width + h * headDim;
        if (i >= length) {
            for (int d = t; d < headDim; d += RAG_THREADS) target[d] = 0.0f;
            return;
        }
        const float* base = qkv + (long)b * L * stride;
        for (int d = t; d < headDim; d += RAG_THREADS) query[d] = base[(long)i * stride + h * headDim + d];
        __syncthreads();
        float best = RAG_NEG_HUGE;
        for (int j = t; j < length; j += RAG_THREADS) {
            const float* key = base + (long)j * stride + width + h * headDim;
            float dot = 0.0f;
            for (int d = 0; d < headDim; ++d) dot += query[d] * key[d];
            scores[j] = dot * scale;
            best = fmaxf(best, scores[j]);
        }
        best = rag_block_max(best, scratch);
        float total = 0.0f;
        for (int j = t; j < length; j += RAG_THREADS) {
            scores[j] = expf(scores[j] - best);
            total += scores[j];
        }
        const float inverse = 1.0f / rag_block_sum(total, scratch);
        for (int d = t; d < headDim; d += RAG_THREADS) {
            float sum = 0.0f;
            for (int j = 0; j < length; ++j) sum += scores[j] * base[(long)j * stride + 2 * width + h * headDim + d];
            target[d] = sum * inverse;
        }
    }

    // Grid (B). Each sequence's sentence vector from its real token rows, as sentence-transformers'
    // `Pooling` computes it: `mode` 0 the mean, 1 the row `first` (CLS), 2 the largest value of each
    // column, 3 the sum over the square root of the count, 4 the mean weighted by position (counted
    // from 1 at the sequence's first token), 5 the last row. Rows before `first` (a prompt the model
    // leaves out of its pooling) are skipped; a sequence that is nothing but its prompt pools its
    // last row. Scaled to unit length when `normalize` is 1.
    extern "C" __global__ void rag_pool(const float* hidden, const int* lengths, int L, int width, int mode, int excluded,
                                        int normalize, float* out) {
        __shared__ float scratch[RAG_THREADS];
        const int b = blockIdx.x, length = lengths[b];
        const int first = excluded < length - 1 ? excluded : length - 1;
        float values[RAG_MAX_PER_THREAD];
        float squares = 0.0f;
        for (int k = 0, c = threadIdx.x; c < width; ++k, c += RAG_THREADS) {
            const float* column = hidden + (long)b * L * width + c;
            float value;
            if (mode == 1) {
                value = column[(long)first * width];
            } else if (mode == 5) {
                value = column[(long)(length - 1) * width];
            } else if (mode == 2) {
                value = RAG_NEG_HUGE;
                for (int i = first; i < length; ++i) value = fmaxf(value, column[(long)i * width]);
            } else {
                float sum = 0.0f, total = 0.0f;
                for (int i = first; i < length; ++i) {
                    const float weight = mode == 4 ? (float)(i + 1) : 1.0f;
                    sum += weight * column[(long)i * width];
                    total += weight;
                }
                const float count = (float)(length - first);
                value = mode == 0 ? sum / count : mode == 3 ? sum / sqrtf(count) : sum / total;
            }
            values[k] = value;
            squares += value * value;
        }
        const float norm = sqrtf(rag_block_sum(squares, scratch));
        const float inverse = normalize ? 1.0f / fmaxf(norm, 1e-12f) : 1.0f;
        for (int k = 0, c = threadIdx.x; c < width; ++k, c += RAG_THREADS) out[(long)b * width + c] = values[k] * inverse;
    }
    """#

    /// The widest row a kernel keeps in registers: `blockThreads` × RAG_MAX_PER_THREAD.
    public static let maxWidth = blockThreads * 8
}

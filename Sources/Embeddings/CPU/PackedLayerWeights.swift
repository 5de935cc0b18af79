import CKernels

/// One layer's four matrices re-laid out for the CKernels small-row kernel: panels of 16 output columns,
/// each stored input-major, so the kernel reads every weight exactly once per call.
///
/// Holding these beside the originals costs as much memory again as the encoder layers (42 MB for
/// MiniLM); in exchange a single query no longer pays OpenBLAS's repacking on every call.
struct PackedLayerWeights: Sendable {
    static let panelWidth = Int(CKernels_PANEL)

    let qkv: FloatTensor
    let attentionOutput: FloatTensor
    let intermediate: FloatTensor
    let output: FloatTensor

    /// Packed copies of every layer, or nil when the kernel cannot run here (no AVX2/FMA) or a
    /// matrix's output width is not a whole number of panels.
    static func pack(_ weights: BertWeights, pool: WorkerPool) -> [PackedLayerWeights]? {
        let c = weights.configuration
        guard CKernels_small_gemm_available() == 1,
              [c.hiddenSize, 3 * c.hiddenSize, c.intermediateSize].allSatisfy({ $0 % panelWidth == 0 })
        else { return nil }
        var packed = [PackedLayerWeights?](repeating: nil, count: weights.layers.count)
        let workers = min(pool.threadCount, weights.layers.count)
        packed.withUnsafeMutableBufferPointer { slots in
            let base = slots.baseAddress!
            pool.run(parts: workers) { worker in
                var index = worker
                while index < weights.layers.count {
                    let layer = weights.layers[index]
                    base[index] = PackedLayerWeights(
                        qkv: packMatrix(layer.qkvWeight, rows: 3 * c.hiddenSize, columns: c.hiddenSize),
                        attentionOutput: packMatrix(layer.attentionOutputWeight, rows: c.hiddenSize, columns: c.hiddenSize),
                        intermediate: packMatrix(layer.intermediateWeight, rows: c.intermediateSize, columns: c.hiddenSize),
                        output: packMatrix(layer.outputWeight, rows: c.hiddenSize, columns: c.intermediateSize))
                    index += workers
                }
            }
        }
        return packed.compactMap { $0 }
    }

    private static func packMatrix(_ matrix: FloatTensor, rows: Int, columns: Int) -> FloatTensor {
        FloatTensor(copying: rows * columns) { out in
            CKernels_pack_panels(matrix.pointer, Int32(rows), Int32(columns), out)
        }
    }
}

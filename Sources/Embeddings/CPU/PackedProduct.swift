import CKernels

/// Matrix products through the CKernels packed kernel, split across a ``WorkerPool``.
package enum PackedProduct {
    /// `output = input · weightᵀ` for `rows` rows, where `packed` holds the weight (`outputs × inputs`)
    /// in the kernel's panels (`CKernels_pack_panels`). `finish` runs in each part on the output
    /// columns that part computed, while they are still in its cache.
    ///
    /// The parts are whole pairs of panels (the AVX-512 kernel computes two at a time), a few per
    /// thread, so that a thread that gets no core for a while delays little. Cutting large products
    /// by rows as well, so that a part's rows stay in cache, measured no faster on 2,048-row passes.
    package static func multiply(
        _ input: UnsafePointer<Float>, rows: Int, inputs: Int, packed: UnsafePointer<Float>, outputs: Int,
        into output: UnsafeMutablePointer<Float>, pool: WorkerPool, finish: (_ columns: Range<Int>) -> Void = { _ in }
    ) {
        let width = PackedLayerWeights.panelWidth
        precondition(outputs % width == 0, "\(outputs) output columns are not whole panels of \(width)")
        let panels = outputs / width
        let parts = pool.threadCount == 1 ? 1 : min(4 * pool.threadCount, max(1, panels / 2))
        pool.run(parts: parts) { part in
            let range = partRange(part, of: parts, count: panels, alignment: 2)
            guard !range.isEmpty else { return }
            CKernels_small_gemm(CKernels_isa(), input, Int32(rows), Int32(inputs), packed,
                                Int32(range.lowerBound), Int32(range.upperBound), output, Int32(outputs))
            finish(range.lowerBound * width..<range.upperBound * width)
        }
    }
}

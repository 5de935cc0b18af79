import CKernels
#if canImport(Glibc)
import Glibc
#endif

/// One layer's four matrices re-laid out for the CKernels small-row kernel: panels of 16 output columns,
/// each stored input-major, so the kernel reads every weight exactly once per call.
///
/// Holding these beside the originals costs as much memory again as the encoder layers (42 MB for
/// MiniLM); in exchange a single query no longer pays OpenBLAS's repacking on every call.
///
/// Every layer's matrices lie in one region asked of the kernel in 2 MiB pages: a query streams all
/// of them from memory, and in 4 KiB pages (10,000 for MiniLM, five times what the TLB holds) each
/// page's first read waited for a page-table walk.
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
        let shapes = [(rows: 3 * c.hiddenSize, columns: c.hiddenSize), (rows: c.hiddenSize, columns: c.hiddenSize),
                      (rows: c.intermediateSize, columns: c.hiddenSize), (rows: c.hiddenSize, columns: c.intermediateSize)]
        let layerFloats = shapes.reduce(0) { $0 + $1.rows * $1.columns }
        let region = HugePageRegion(bytes: layerFloats * weights.layers.count * MemoryLayout<Float>.stride)
        var packed = [PackedLayerWeights?](repeating: nil, count: weights.layers.count)
        let workers = min(pool.threadCount, weights.layers.count)
        packed.withUnsafeMutableBufferPointer { slots in
            let base = slots.baseAddress!
            pool.run(parts: workers) { worker in
                var index = worker
                while index < weights.layers.count {
                    let layer = weights.layers[index]
                    var next = region.floats + index * layerFloats
                    func pack(_ matrix: FloatTensor, _ shape: (rows: Int, columns: Int)) -> FloatTensor {
                        CKernels_pack_panels(matrix.pointer, Int32(shape.rows), Int32(shape.columns), next)
                        defer { next += shape.rows * shape.columns }
                        return FloatTensor(mapped: next, count: shape.rows * shape.columns, owner: region)
                    }
                    base[index] = PackedLayerWeights(qkv: pack(layer.qkvWeight, shapes[0]),
                                                     attentionOutput: pack(layer.attentionOutputWeight, shapes[1]),
                                                     intermediate: pack(layer.intermediateWeight, shapes[2]),
                                                     output: pack(layer.outputWeight, shapes[3]))
                    index += workers
                }
            }
        }
        return packed.compactMap { $0 }
    }
}

/// Memory aligned to 2 MiB and marked for transparent huge pages (Linux's `MADV_HUGEPAGE`, which
/// takes effect where the system's setting is `madvise` or `always`; elsewhere it is plain memory).
///
/// Mapped fresh rather than taken from malloc: pages already touched (malloc reuses what was freed,
/// and its threshold for mapping grows with what it unmapped) stay 4 KiB pages.
///
/// `@unchecked Sendable`: the mapping is made in `init` and freed in `deinit`; the floats are
/// written while the weights are packed, before the region is shared, and only read afterwards.
final class HugePageRegion: @unchecked Sendable {
    static let pageBytes = 2 << 20

    let floats: UnsafeMutablePointer<Float>
    private let base: UnsafeMutableRawPointer
    private let length: Int

    init(bytes: Int) {
        let page = Self.pageBytes
        length = (max(bytes, 1) + page - 1) / page * page
        // One page more than needed, so that an aligned start lies inside; the slack is given back.
        let mapped = mmap(nil, length + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        // Out of memory here is out of memory anywhere: Swift's own allocations trap the same way.
        guard let mapped, mapped != MAP_FAILED else { fatalError("cannot map \(bytes) bytes for the packed weights") }
        let start = UInt(bitPattern: mapped)
        let aligned = (start + UInt(page) - 1) / UInt(page) * UInt(page)
        let head = Int(aligned - start)
        if head > 0 { munmap(mapped, head) }
        // Never empty: the head is less than a page.
        munmap(mapped + head + length, page - head)
        base = mapped + head
        #if os(Linux)
        _ = madvise(base, length, MADV_HUGEPAGE)
        #endif
        floats = base.bindMemory(to: Float.self, capacity: length / MemoryLayout<Float>.stride)
    }

    deinit { munmap(base, length) }
}

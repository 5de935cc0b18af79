import CKernels

/// Vectors in 4 bits a value, two to a byte: the first pass of a search over a large snapshot.
///
/// A million-chunk scan streams every row once per query and is bound by memory bandwidth, so
/// half the bytes take about half the time (at 384 values: 192 bytes a row instead of 384). The
/// 4-bit scores are coarse, off by about 0.01 for unit vectors, so they only choose the
/// candidates (`firstPassCandidates`) whose int8 codes then rank them.
///
/// A row's codes are derived from its int8 codes alone: the largest int8 magnitude maps to ±7, and
/// code `c` (0–15) stands for the value `(c − bias) × scale`. Byte `j` of a row holds value `j` in
/// its low four bits and value `j + rowBytes` in its high four, so a SIMD load of consecutive bytes
/// meets two runs of consecutive query values. A missing last value (an odd dimension) is code
/// `bias`: zero.
enum Int4Codes {
    /// The code of the value 0.
    static let bias: Int32 = 8
    /// The largest magnitude a code stands for, in steps of the row's scale.
    static let largest: Float = 7

    /// Bytes of one row of `dimension` values.
    static func rowBytes(dimension: Int) -> Int {
        (dimension + 1) / 2
    }

    /// Candidates the 4-bit pass keeps for a search of `limit` rows: enough that the true best
    /// `limit` are among them (recall 1.0 at a million synthetic rows in `mcp-rag bench search`),
    /// few enough that reading their int8 codes costs a fraction of the pass.
    static func firstPassCandidates(limit: Int) -> Int {
        max(1000, 10 * limit)
    }

    /// Writes the 4-bit codes of the int8 row `codes` (`dimension` values, whose vector is
    /// `codes × scale`) to `packed` (`rowBytes(dimension:)` bytes), and returns their scale.
    static func pack(_ codes: UnsafePointer<Int8>, dimension: Int, scale: Float, into packed: UnsafeMutablePointer<UInt8>) -> Float {
        var magnitude: Int32 = 0
        for index in 0..<dimension { magnitude = max(magnitude, abs(Int32(codes[index]))) }
        let half = rowBytes(dimension: dimension)
        guard magnitude > 0 else {
            packed.update(repeating: UInt8(bias | bias << 4), count: half)
            return 0
        }
        let step = largest / Float(magnitude)
        func code(_ index: Int) -> UInt8 {
            guard index < dimension else { return UInt8(bias) }
            return UInt8(Int32((Float(codes[index]) * step).rounded()) + bias)
        }
        for byte in 0..<half { packed[byte] = code(byte) | code(byte + half) << 4 }
        return scale * Float(magnitude) / largest
    }

    /// An int8 query laid out for the 4-bit kernel: the values each half of a row's bytes meets,
    /// and the sum that takes the codes' bias back out.
    struct Query {
        let low: [Int8]
        let high: [Int8]
        let offset: Int32
        let scale: Float

        init(codes: [Int8], scale: Float) {
            let half = Int4Codes.rowBytes(dimension: codes.count)
            low = Array(codes[..<half])
            // Padded with a zero for an odd dimension, so the missing value adds nothing.
            high = Array(codes[half...]) + (codes.count % 2 == 1 ? [0] : [])
            offset = Int4Codes.bias * codes.reduce(0) { $0 + Int32($1) }
            self.scale = scale
        }
    }

    /// The approximate dot product of each of `rows` rows of 4-bit codes (`rowBytes(dimension:)`
    /// bytes each, scales `scales`) with `query`, spread over every core for a large matrix, with
    /// the kernel for `instructionSet` (see `CKernels_isa`; by default this CPU's widest).
    static func similarities(codes: UnsafePointer<UInt8>, scales: UnsafePointer<Float>, rows: Int, dimension: Int,
                             query: Query, instructionSet: Int32 = CKernels_isa()) -> [Float] {
        guard rows > 0 else { return [] }
        let rowBytes = rowBytes(dimension: dimension)
        return [Float](unsafeUninitializedCapacity: rows) { scores, initialized in
            query.low.withUnsafeBufferPointer { low in
                query.high.withUnsafeBufferPointer { high in
                    let pointers = ScanPointers(codes: codes, scales: scales, low: low.baseAddress!, high: high.baseAddress!,
                                                out: scores.baseAddress!)
                    RowPartition.run(rows: rows) { range in
                        CKernels_scores_u4(instructionSet, pointers.codes, pointers.scales, range.lowerBound, range.upperBound, Int32(rowBytes),
                                           pointers.low, pointers.high, query.offset, query.scale, pointers.out)
                    }
                }
            }
            initialized = rows
        }
    }

    /// The scan's buffers, handed to its threads; each writes only its own range of `out`.
    private struct ScanPointers: @unchecked Sendable {
        let codes: UnsafePointer<UInt8>
        let scales: UnsafePointer<Float>
        let low: UnsafePointer<Int8>
        let high: UnsafePointer<Int8>
        let out: UnsafeMutablePointer<Float>
    }
}

import CKernels
import Dispatch
import Foundation

/// The int8 form of a vector: each row is its vector divided by a scale of its own (its largest
/// magnitude over 127) and rounded, a quarter of the float32 size, so a scan streams a quarter of
/// the bytes.
enum Int8Codes {
    /// `vector` as int8 codes and the scale that turns them back into values: the largest
    /// magnitude maps to ±127. A zero vector gets zero codes (and scale 0).
    static func quantize(_ vector: [Float]) -> (codes: [Int8], scale: Float) {
        let largest = vector.reduce(Float(0)) { max($0, abs($1)) }
        guard largest > 0, largest.isFinite else { return ([Int8](repeating: 0, count: vector.count), 0) }
        let inverse = 127 / largest
        // Clamped, and NaN taken as 0, so no value can trap the conversion.
        return (vector.map { value in
            let scaled = value * inverse
            return scaled.isNaN ? 0 : Int8(min(127, max(-127, scaled)).rounded())
        }, largest / 127)
    }
}

/// Splits a scan over the rows of a matrix between the cores: a large matrix is scanned by every
/// core at once, each over its own range of rows.
enum RowPartition {
    /// Rows a scan covers on one thread; larger matrices are split over every core.
    static let rowsPerThread = 65_536

    /// Calls `body` with ranges that together cover `0..<rows` once, side by side on several
    /// threads when there are more than `rowsPerThread` rows.
    static func run(rows: Int, _ body: @Sendable (Range<Int>) -> Void) {
        let parts = min(ProcessInfo.processInfo.activeProcessorCount, (rows + rowsPerThread - 1) / rowsPerThread)
        guard parts > 1 else {
            body(0..<rows)
            return
        }
        DispatchQueue.concurrentPerform(iterations: parts) { part in
            body(rows * part / parts ..< rows * (part + 1) / parts)
        }
    }
}

/// Scores the rows of an int8 matrix against a quantized query: the int8 products summed exactly,
/// then both scales applied.
enum Int8Scan {
    /// The approximate dot product of each of `rows` rows of `codes` (row-major, `dimension` wide)
    /// with the query whose codes are `query` and scale `queryScale`, spread over every core for a
    /// large matrix, with the kernel for `instructionSet` (see `CKernels_isa`; by default this CPU's widest).
    static func similarities(codes: UnsafePointer<Int8>, scales: UnsafePointer<Float>, rows: Int, dimension: Int,
                             query: [Int8], queryScale: Float, instructionSet: Int32 = CKernels_isa()) -> [Float] {
        var products = [Int32](repeating: 0, count: rows)
        query.withUnsafeBufferPointer { query in
            products.withUnsafeMutableBufferPointer { products in
                let pointers = SendablePointers(matrix: codes, query: query.baseAddress!, out: products.baseAddress!)
                RowPartition.run(rows: rows) { range in
                    CKernels_dot_i8(instructionSet, pointers.matrix, range.lowerBound, range.upperBound, Int32(dimension), pointers.query, pointers.out)
                }
            }
        }
        return (0..<rows).map { Float(products[$0]) * scales[$0] * queryScale }
    }

    /// The approximate dot product of each of `rows` (row numbers of `codes`, `dimension` wide)
    /// with the query: for the few candidates a first pass kept.
    static func similarities(of rows: [Int], codes: UnsafePointer<Int8>, scales: UnsafePointer<Float>, dimension: Int,
                             query: [Int8], queryScale: Float, instructionSet: Int32 = CKernels_isa()) -> [Float] {
        query.withUnsafeBufferPointer { query in
            rows.map { row in
                var product: Int32 = 0
                CKernels_dot_i8(instructionSet, codes + row * dimension, 0, 1, Int32(dimension), query.baseAddress!, &product)
                return Float(product) * scales[row] * queryScale
            }
        }
    }

    /// The scan's buffers, handed to its threads; each writes only its own range of `out`.
    private struct SendablePointers: @unchecked Sendable {
        let matrix: UnsafePointer<Int8>
        let query: UnsafePointer<Int8>
        let out: UnsafeMutablePointer<Int32>
    }

    /// The best `limit` of `rows` rows by `scores`, best first, among those whose technology code
    /// is `wanted` (any code ≥ 0 when nil; a negative code marks a row gone). Ties go to the row
    /// `isBefore` puts first.
    static func best(limit: Int, scores: [Float], technology: UnsafeBufferPointer<Int32>, wanted: Int32?,
                     isBefore: @escaping (Int, Int) -> Bool) -> [Int] {
        selection(limit: limit, scores: scores, technology: technology, wanted: wanted, isBefore: isBefore).sortedBestFirst()
    }

    /// The rows `best` returns, in no particular order: for a first pass, whose candidates are
    /// ranked again by other scores.
    static func kept(limit: Int, scores: [Float], technology: UnsafeBufferPointer<Int32>, wanted: Int32?,
                     isBefore: @escaping (Int, Int) -> Bool) -> [Int] {
        selection(limit: limit, scores: scores, technology: technology, wanted: wanted, isBefore: isBefore).keptInAnyOrder
    }

    private static func selection(limit: Int, scores: [Float], technology: UnsafeBufferPointer<Int32>, wanted: Int32?,
                                  isBefore: @escaping (Int, Int) -> Bool) -> TopKSelector<Int> {
        var selector = TopKSelector<Int>(capacity: min(limit, scores.count)) { first, second in
            scores[first] > scores[second] || (scores[first] == scores[second] && isBefore(first, second))
        }
        // Most rows of a large index score below the worst kept: one comparison with a local
        // copy of its score turns them away, before their label is even read.
        var bar = -Float.infinity
        scores.withUnsafeBufferPointer { scores in
            for row in scores.indices where !(scores[row] < bar) {
                let code = technology[row]
                if let wanted { if code != wanted { continue } } else if code < 0 { continue }
                selector.offer(row)
                if let worst = selector.worstKeptWhenFull { bar = scores[worst] }
            }
        }
        return selector
    }
}

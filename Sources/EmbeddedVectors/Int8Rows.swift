import CKernels
import Dispatch
import Foundation

/// Int8 rows held in memory, appended and removed one at a time: the rows of a vector index that
/// its snapshot file does not hold (all of them when there is none). Each row is its vector divided
/// by a scale of its own and rounded (see `Int8Rows.quantize`).
struct Int8Rows {
    let dimension: Int
    /// Row-major int8 codes: row `r` is `codes[r * dimension ..< (r + 1) * dimension]`.
    private(set) var codes: [Int8] = []
    /// Each row's scale: its vector is `codes × scale`, to rounding.
    private(set) var scales: [Float] = []
    /// The chunk id of each row.
    private(set) var ids: [String] = []
    /// Each row's technology code (see `TechnologyLabels`).
    private(set) var technology: [Int32] = []
    private var idToRow: [String: Int] = [:]

    init(dimension: Int) {
        self.dimension = dimension
    }

    var count: Int { ids.count }

    /// Bytes held, by capacity (the id strings' own bytes are not counted).
    var memoryBytes: Int {
        codes.capacity * MemoryLayout<Int8>.stride
            + scales.capacity * MemoryLayout<Float>.stride
            + technology.capacity * MemoryLayout<Int32>.stride
            + ids.capacity * MemoryLayout<String>.stride
            + idToRow.capacity * (MemoryLayout<String>.stride + MemoryLayout<Int>.stride)
    }

    func row(of id: String) -> Int? {
        idToRow[id]
    }

    mutating func reserveCapacity(_ rows: Int) {
        codes.reserveCapacity(rows * dimension)
        scales.reserveCapacity(rows)
        ids.reserveCapacity(rows)
        technology.reserveCapacity(rows)
        idToRow.reserveCapacity(rows)
    }

    /// Stores `rowCodes` (`dimension` codes) with `scale` and `code` under `id`, replacing any row
    /// already stored under it.
    mutating func upsert(id: String, technology code: Int32, codes rowCodes: [Int8], scale: Float) {
        if let row = idToRow[id] {
            codes.replaceSubrange(row * dimension ..< (row + 1) * dimension, with: rowCodes)
            scales[row] = scale
            technology[row] = code
        } else {
            idToRow[id] = ids.count
            ids.append(id)
            technology.append(code)
            scales.append(scale)
            codes.append(contentsOf: rowCodes)
        }
    }

    mutating func setTechnology(_ code: Int32, row: Int) {
        technology[row] = code
    }

    /// Removes the row stored under `id`; returns false when there was none.
    ///
    /// The last row moves into the freed slot, so removal costs one row copy and rows stay contiguous.
    mutating func remove(_ id: String) -> Bool {
        guard let row = idToRow.removeValue(forKey: id) else { return false }
        let last = ids.count - 1
        if row != last {
            let lastStart = last * dimension
            for column in 0..<dimension {
                codes[row * dimension + column] = codes[lastStart + column]
            }
            ids[row] = ids[last]
            scales[row] = scales[last]
            technology[row] = technology[last]
            idToRow[ids[row]] = row
        }
        // removeLast keeps the capacity, so a remove-then-add cycle does not reallocate.
        codes.removeLast(dimension)
        ids.removeLast()
        scales.removeLast()
        technology.removeLast()
        return true
    }

    /// The rows in the byte order of their ids' UTF-8, the order of a snapshot file.
    func rowsInIDOrder() -> [Int] {
        let keys = ids.map { Array($0.utf8) }
        return keys.indices.sorted { keys[$0].lexicographicallyPrecedes(keys[$1]) }
    }

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
        return selector.sortedBestFirst()
    }
}

import CKernels
import Dispatch
import Foundation

/// The chunk vectors in memory, in int8: each row is its vector divided by a scale of its own (its
/// largest magnitude over 127) and rounded, a quarter of the float32 size, so a search streams a
/// quarter of the bytes. Scores are approximate (off by about 1e-3 for unit vectors of 384
/// values); `SQLiteKnowledgeStore` rescores the best candidates with the stored float32 vectors.
///
/// Vectors are expected to be unit length, so the dot product is the cosine similarity. Each row
/// carries its technology as a small integer code, so a filtered search compares integers, not
/// strings. Not thread-safe: the store keeps it under a lock.
public final class VectorIndex {
    /// Number of values in each vector.
    public let dimension: Int
    /// Row-major int8 codes: row `r` is `codes[r * dimension ..< (r + 1) * dimension]`.
    private var codes: [Int8] = []
    /// Each row's scale: its vector is `codes × scale`, to rounding.
    private var scales: [Float] = []
    /// The chunk id of each row.
    private var ids: [String] = []
    private var idToRow: [String: Int] = [:]
    /// Each row's technology as an index into `technologyLabels`.
    private var rowTechnology: [Int32] = []
    /// Labels seen so far. They are never removed: there are a handful, and keeping them keeps codes stable.
    private var technologyLabels: [String] = []
    private var technologyCodes: [String: Int32] = [:]

    /// Rows a search scans on one thread; larger indexes are split over every core.
    static let rowsPerThread = 65_536

    /// An empty index for vectors of `dimension` values.
    public init(dimension: Int) {
        precondition(dimension > 0, "a vector index needs a positive dimension")
        self.dimension = dimension
    }

    /// Number of vectors stored.
    public var count: Int { ids.count }

    /// Bytes held by the codes and the per-row tables, by capacity (the id strings' own bytes are not counted).
    public var memoryBytes: Int {
        codes.capacity * MemoryLayout<Int8>.stride
            + scales.capacity * MemoryLayout<Float>.stride
            + rowTechnology.capacity * MemoryLayout<Int32>.stride
            + ids.capacity * MemoryLayout<String>.stride
            + idToRow.capacity * (MemoryLayout<String>.stride + MemoryLayout<Int>.stride)
    }

    /// True when a vector is stored under `id`.
    public func contains(_ id: String) -> Bool {
        idToRow[id] != nil
    }

    /// The technology label stored with `id`, if any.
    public func technology(for id: String) -> String? {
        idToRow[id].map { technologyLabels[Int(rowTechnology[$0])] }
    }

    /// Makes room for `rows` vectors in all, so loading a large store grows the tables once.
    public func reserveCapacity(_ rows: Int) {
        codes.reserveCapacity(rows * dimension)
        scales.reserveCapacity(rows)
        ids.reserveCapacity(rows)
        rowTechnology.reserveCapacity(rows)
        idToRow.reserveCapacity(rows)
    }

    /// Stores `vector` (exactly `dimension` values) and `technology` under `id`, replacing any
    /// vector already stored under it.
    public func upsert(id: String, technology: String, vector: [Float]) {
        precondition(vector.count == dimension, "vector has \(vector.count) values, the index \(dimension)")
        let code = self.code(for: technology)
        let (rowCodes, scale) = Self.quantize(vector)
        if let row = idToRow[id] {
            codes.replaceSubrange(row * dimension ..< (row + 1) * dimension, with: rowCodes)
            scales[row] = scale
            rowTechnology[row] = code
        } else {
            idToRow[id] = ids.count
            ids.append(id)
            rowTechnology.append(code)
            scales.append(scale)
            codes.append(contentsOf: rowCodes)
        }
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

    /// Changes the technology stored with `id`; returns false when `id` is not stored.
    @discardableResult
    public func setTechnology(_ technology: String, for id: String) -> Bool {
        guard let row = idToRow[id] else { return false }
        rowTechnology[row] = code(for: technology)
        return true
    }

    /// Removes the vector stored under `id`; returns false when there was none.
    ///
    /// The last row moves into the freed slot, so removal costs one row copy and rows stay contiguous.
    @discardableResult
    public func remove(_ id: String) -> Bool {
        guard let row = idToRow.removeValue(forKey: id) else { return false }
        let last = ids.count - 1
        if row != last {
            let lastStart = last * dimension
            for column in 0..<dimension {
                codes[row * dimension + column] = codes[lastStart + column]
            }
            ids[row] = ids[last]
            scales[row] = scales[last]
            rowTechnology[row] = rowTechnology[last]
            idToRow[ids[row]] = row
        }
        // removeLast keeps the capacity, so a remove-then-add cycle does not reallocate.
        codes.removeLast(dimension)
        ids.removeLast()
        scales.removeLast()
        rowTechnology.removeLast()
        return true
    }

    /// The `limit` stored vectors most similar to `query` (exactly `dimension` values), best first,
    /// with the approximate dot product as score; ties go to the smaller id so results are
    /// reproducible.
    ///
    /// With `technology` set, only rows carrying that label take part.
    public func search(query: [Float], limit: Int, technology: String?) -> [ScoredChunk] {
        precondition(query.count == dimension, "query has \(query.count) values, the index \(dimension)")
        let rows = ids.count
        guard limit > 0, rows > 0 else { return [] }
        var wanted: Int32?
        if let technology {
            // A label never stored matches nothing.
            guard let code = technologyCodes[technology] else { return [] }
            wanted = code
        }
        let scores = similarities(to: query)
        let ids = self.ids
        var selector = TopKSelector<Int>(capacity: min(limit, rows)) { first, second in
            scores[first] > scores[second] || (scores[first] == scores[second] && ids[first] < ids[second])
        }
        for row in 0..<rows where wanted == nil || rowTechnology[row] == wanted {
            // Most rows of a large index score below the worst kept: one comparison turns them away.
            if let worst = selector.worstKeptWhenFull, scores[row] < scores[worst] { continue }
            selector.offer(row)
        }
        return selector.sortedBestFirst().map { ScoredChunk(id: ids[$0], score: Double(scores[$0])) }
    }

    /// The approximate dot product of every row with `query`: the query quantized like a row, the
    /// int8 products summed exactly, then both scales applied. A large index is scanned by every
    /// core at once, each over its own range of rows.
    private func similarities(to query: [Float]) -> [Float] {
        let rows = ids.count
        let (queryCodes, queryScale) = Self.quantize(query)
        var products = [Int32](repeating: 0, count: rows)
        let dimension = self.dimension
        codes.withUnsafeBufferPointer { codes in
            queryCodes.withUnsafeBufferPointer { queryCodes in
                products.withUnsafeMutableBufferPointer { products in
                    let (matrix, query, out) = (codes.baseAddress!, queryCodes.baseAddress!, products.baseAddress!)
                    let parts = min(ProcessInfo.processInfo.activeProcessorCount, (rows + Self.rowsPerThread - 1) / Self.rowsPerThread)
                    guard parts > 1 else {
                        CKernels_dot_i8(matrix, 0, rows, Int32(dimension), query, out)
                        return
                    }
                    let pointers = SendablePointers(matrix: matrix, query: query, out: out)
                    DispatchQueue.concurrentPerform(iterations: parts) { part in
                        let begin = rows * part / parts, end = rows * (part + 1) / parts
                        CKernels_dot_i8(pointers.matrix, begin, end, Int32(dimension), pointers.query, pointers.out)
                    }
                }
            }
        }
        return zip(products, scales).map { Float($0) * $1 * queryScale }
    }

    /// The scan's buffers, handed to its threads; each writes only its own range of `out`.
    private struct SendablePointers: @unchecked Sendable {
        let matrix: UnsafePointer<Int8>
        let query: UnsafePointer<Int8>
        let out: UnsafeMutablePointer<Int32>
    }

    private func code(for technology: String) -> Int32 {
        if let code = technologyCodes[technology] { return code }
        let code = Int32(technologyLabels.count)
        technologyLabels.append(technology)
        technologyCodes[technology] = code
        return code
    }
}

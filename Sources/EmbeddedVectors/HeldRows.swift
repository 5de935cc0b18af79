/// The rows of a vector index held in memory, appended and removed one at a time: those its
/// snapshot file does not hold (all of them when there is none). Each row keeps its float32 vector,
/// which exact scores are computed with, and its int8 codes (see `Int8Codes`), which scans read.
struct HeldRows {
    let dimension: Int
    /// Row-major int8 codes: row `r` is `codes[r * dimension ..< (r + 1) * dimension]`.
    private(set) var codes: [Int8] = []
    /// Each row's scale: its vector is `codes × scale`, to rounding.
    private(set) var scales: [Float] = []
    /// Row-major float32 vectors, laid out as `codes`.
    private(set) var vectors: [Float] = []
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
            + vectors.capacity * MemoryLayout<Float>.stride
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
        vectors.reserveCapacity(rows * dimension)
        ids.reserveCapacity(rows)
        technology.reserveCapacity(rows)
        idToRow.reserveCapacity(rows)
    }

    /// Stores `vector` (`dimension` values) with `code` under `id`, replacing any row already
    /// stored under it.
    mutating func upsert(id: String, technology code: Int32, vector: [Float]) {
        precondition(vector.count == dimension, "vector has \(vector.count) values, the rows \(dimension)")
        let (rowCodes, scale) = Int8Codes.quantize(vector)
        if let row = idToRow[id] {
            codes.replaceSubrange(row * dimension ..< (row + 1) * dimension, with: rowCodes)
            vectors.replaceSubrange(row * dimension ..< (row + 1) * dimension, with: vector)
            scales[row] = scale
            technology[row] = code
        } else {
            idToRow[id] = ids.count
            ids.append(id)
            technology.append(code)
            scales.append(scale)
            codes.append(contentsOf: rowCodes)
            vectors.append(contentsOf: vector)
        }
    }

    mutating func setTechnology(_ code: Int32, row: Int) {
        technology[row] = code
    }

    /// The float32 vector of row `row`.
    func vector(at row: Int) -> ArraySlice<Float> {
        vectors[row * dimension ..< (row + 1) * dimension]
    }

    /// Removes the row stored under `id`; returns false when there was none.
    ///
    /// The last row moves into the freed slot, so removal costs one row copy and rows stay contiguous.
    mutating func remove(_ id: String) -> Bool {
        guard let row = idToRow.removeValue(forKey: id) else { return false }
        let last = ids.count - 1
        if row != last {
            let (start, lastStart) = (row * dimension, last * dimension)
            for column in 0..<dimension {
                codes[start + column] = codes[lastStart + column]
                vectors[start + column] = vectors[lastStart + column]
            }
            ids[row] = ids[last]
            scales[row] = scales[last]
            technology[row] = technology[last]
            idToRow[ids[row]] = row
        }
        // removeLast keeps the capacity, so a remove-then-add cycle does not reallocate.
        codes.removeLast(dimension)
        vectors.removeLast(dimension)
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
}

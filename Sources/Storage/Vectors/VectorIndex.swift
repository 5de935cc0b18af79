import COpenBLAS

/// The chunk vectors in memory, searched exactly: one contiguous row-major matrix (`count` ×
/// `dimension` floats) multiplied by the query in a single BLAS call.
///
/// Vectors are expected to be unit length, so the dot product is the cosine similarity. Each row
/// carries its technology as a small integer code, so a filtered search compares integers, not
/// strings. Not thread-safe: the store keeps it under a lock.
public final class VectorIndex {
    /// Number of floats in each vector.
    public let dimension: Int
    /// Row-major vectors: row `r` is `matrix[r * dimension ..< (r + 1) * dimension]`.
    private var matrix: [Float] = []
    /// The chunk id of each row.
    private var ids: [String] = []
    private var idToRow: [String: Int] = [:]
    /// Each row's technology as an index into `technologyLabels`.
    private var rowTechnology: [Int32] = []
    /// Labels seen so far. They are never removed: there are a handful, and keeping them keeps codes stable.
    private var technologyLabels: [String] = []
    private var technologyCodes: [String: Int32] = [:]

    /// An empty index for vectors of `dimension` floats.
    public init(dimension: Int) {
        precondition(dimension > 0, "a vector index needs a positive dimension")
        self.dimension = dimension
    }

    /// Number of vectors stored.
    public var count: Int { ids.count }

    /// Bytes held by the matrix and the per-row tables, by capacity (the id strings' own bytes are not counted).
    public var memoryBytes: Int {
        matrix.capacity * MemoryLayout<Float>.stride
            + rowTechnology.capacity * MemoryLayout<Int32>.stride
            + ids.capacity * MemoryLayout<String>.stride
            + idToRow.capacity * (MemoryLayout<String>.stride + MemoryLayout<Int>.stride)
    }

    /// True when a vector is stored under `id`.
    public func contains(_ id: String) -> Bool {
        idToRow[id] != nil
    }

    /// The vector stored under `id`, if any.
    public func vector(for id: String) -> [Float]? {
        guard let row = idToRow[id] else { return nil }
        return Array(matrix[row * dimension ..< (row + 1) * dimension])
    }

    /// The technology label stored with `id`, if any.
    public func technology(for id: String) -> String? {
        idToRow[id].map { technologyLabels[Int(rowTechnology[$0])] }
    }

    /// Makes room for `rows` vectors in all, so loading a large store grows the matrix once.
    public func reserveCapacity(_ rows: Int) {
        matrix.reserveCapacity(rows * dimension)
        ids.reserveCapacity(rows)
        rowTechnology.reserveCapacity(rows)
        idToRow.reserveCapacity(rows)
    }

    /// Stores `vector` (exactly `dimension` floats) and `technology` under `id`, replacing any
    /// vector already stored under it.
    public func upsert(id: String, technology: String, vector: [Float]) {
        precondition(vector.count == dimension, "vector has \(vector.count) values, the index \(dimension)")
        let code = self.code(for: technology)
        if let row = idToRow[id] {
            matrix.replaceSubrange(row * dimension ..< (row + 1) * dimension, with: vector)
            rowTechnology[row] = code
        } else {
            idToRow[id] = ids.count
            ids.append(id)
            rowTechnology.append(code)
            matrix.append(contentsOf: vector)
        }
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
                matrix[row * dimension + column] = matrix[lastStart + column]
            }
            ids[row] = ids[last]
            rowTechnology[row] = rowTechnology[last]
            idToRow[ids[row]] = row
        }
        // removeLast keeps the capacity, so a remove-then-add cycle does not reallocate.
        matrix.removeLast(dimension)
        ids.removeLast()
        rowTechnology.removeLast()
        return true
    }

    /// The `limit` stored vectors most similar to `query` (exactly `dimension` floats), best first,
    /// with the dot product as score; ties go to the smaller id so results are reproducible.
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
            selector.offer(row)
        }
        return selector.sortedBestFirst().map { ScoredChunk(id: ids[$0], score: Double(scores[$0])) }
    }

    /// Dot product of every row with `query`: one `sgemv`, matrix times vector.
    private func similarities(to query: [Float]) -> [Float] {
        let rows = ids.count
        // Zeroed although beta = 0 lets BLAS ignore y: some OpenBLAS versions scale y by beta
        // first, and 0 × uninitialized NaN bits would be NaN.
        var scores = [Float](repeating: 0, count: rows)
        matrix.withUnsafeBufferPointer { matrix in
            query.withUnsafeBufferPointer { query in
                scores.withUnsafeMutableBufferPointer { scores in
                    cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(rows), Int32(dimension), 1,
                                matrix.baseAddress, Int32(dimension), query.baseAddress, 1,
                                0, scores.baseAddress, 1)
                }
            }
        }
        return scores
    }

    private func code(for technology: String) -> Int32 {
        if let code = technologyCodes[technology] { return code }
        let code = Int32(technologyLabels.count)
        technologyLabels.append(technology)
        technologyCodes[technology] = code
        return code
    }
}

import Storage
extension SQLiteKnowledgeStore {
    /// The `limit` chunks whose vectors are most similar to `vector` (cosine similarity), best first,
    /// optionally only those labelled `technology`.
    ///
    /// Throws `KnowledgeStoreError.wrongVectorLength` when `vector` does not have `dimension` values.
    public func semanticSearch(vector: [Float], limit: Int, technology: String?) throws -> [ScoredChunk] {
        guard vector.count == dimension else {
            throw KnowledgeStoreError.wrongVectorLength(chunk: nil, count: vector.count, expected: dimension)
        }
        guard keepsVectorIndex else { throw KnowledgeStoreError.noVectorIndex(path: path) }
        guard limit > 0 else { return [] }
        // Searches take turns: one scan streams every row, is bound by memory bandwidth and already
        // uses every core on a large index, so running them side by side would gain little.
        return vectors.withLock { $0.search(query: vector, limit: limit, technology: technology) }
    }

    /// Every technology label the vectors in memory have carried (a superset of those stored now),
    /// without a query: what a filter that is not an exact label is resolved against.
    public func knownTechnologyLabels() -> [String] {
        guard keepsVectorIndex else { return (try? technologies()) ?? [] }
        return vectors.withLock { $0.knownLabels }
    }

    /// The count of changes to the indexed text, as SQL: `rag_bm25` keeps row lengths while it holds.
    static let textVersion = "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'text_version'"

    /// The `limit` chunks best matching the words of `text` by BM25 (score: the positive `-bm25`,
    /// higher is better), best first, optionally only those labelled `technology`. Among rows tied
    /// at the limit the earlier-written ones are kept; ties are listed by id.
    ///
    /// Any text is accepted: only its words are searched for (see `FTSQuery`), and a chunk
    /// containing any of them matches. Text without letters or digits finds nothing.
    public func keywordSearch(_ text: String, limit: Int, technology: String?) throws -> [ScoredChunk] {
        guard limit > 0, let match = FTSQuery.matchExpression(for: text) else { return [] }
        return try reader.withLock { connection in
            if let technology { return try Self.filteredKeywordSearch(connection, match, limit: limit, technology: technology) }
            return try connection.readTransaction { try Self.keywordSearch(connection, match, limit: limit) }
        }
    }

    // Heading matches count half as much as text matches (the weights 1.0 and 0.5 below): headings
    // are short and shared by every chunk of a section. Both functions are -bm25, computed without
    // a disk read per matched row (see CFTSRank).

    /// Without a filter: rag_bm25_top finds the best rows phrase by phrase in the index alone, and
    /// only they are looked up by rowid.
    private static func keywordSearch(_ connection: SQLiteConnection, _ match: String, limit: Int) throws -> [ScoredChunk] {
        let idOfRow = try connection.cached("SELECT id FROM chunks WHERE rowid = ?1")
        var results: [ScoredChunk] = []
        for (rowid, score) in try bestKeywordRows(connection, match, limit: limit) {
            defer { idOfRow.reset() }
            try idOfRow.bind(rowid, at: 1)
            if try idOfRow.step() { results.append(ScoredChunk(id: idOfRow.string(at: 0), score: score)) }
        }
        return bestFirst(results)
    }

    /// rag_bm25_top's answer for the FTS5 query `match`: the best `limit` rows, best first.
    static func bestKeywordRows(_ connection: SQLiteConnection, _ match: String, limit: Int) throws -> [(rowid: Int, score: Double)] {
        let top = try connection.cached("""
            SELECT rag_bm25_top(chunks_fts, (\(textVersion)), ?2, 1.0, 0.5) FROM chunks_fts WHERE chunks_fts MATCH ?1 LIMIT 1
            """)
        defer { top.reset() }
        try top.bind(match, at: 1)
        try top.bind(limit, at: 2)
        guard try top.step() else { return [] }
        // The blob holds (int64 rowid, double score) pairs in native byte order (see CFTSRank).
        return top.withBlob(at: 0) { bytes in
            let stride = MemoryLayout<Int64>.size + MemoryLayout<Double>.size
            return (0..<bytes.count / stride).map { row in
                (Int(bytes.loadUnaligned(fromByteOffset: row * stride, as: Int64.self)),
                 bytes.loadUnaligned(fromByteOffset: row * stride + MemoryLayout<Int64>.size, as: Double.self))
            }
        }
    }

    /// Both searches choose among tied rows by rowid (the order FTS5 keeps), then list their
    /// choice by score and id.
    private static func bestFirst(_ results: [ScoredChunk]) -> [ScoredChunk] {
        results.sorted(by: ScoredChunk.ranksBefore)
    }

    /// With a filter every match must be joined to its chunk to read its label.
    private static func filteredKeywordSearch(_ connection: SQLiteConnection, _ match: String, limit: Int,
                                              technology: String) throws -> [ScoredChunk] {
        let select = try connection.cached("""
            SELECT chunks.id, rag_bm25(chunks_fts, (\(textVersion)), 1.0, 0.5) AS score
            FROM chunks_fts JOIN chunks ON chunks.rowid = chunks_fts.rowid
            WHERE chunks_fts MATCH ?1 AND chunks.technology = ?2
            ORDER BY score DESC, chunks.rowid
            LIMIT ?3
            """)
        try select.bind(match, at: 1)
        try select.bind(technology, at: 2)
        try select.bind(limit, at: 3)
        var results: [ScoredChunk] = []
        try select.forEachRow { results.append(ScoredChunk(id: select.string(at: 0), score: select.double(at: 1))) }
        return bestFirst(results)
    }
}

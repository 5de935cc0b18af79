extension SQLiteKnowledgeStore {
    /// The `limit` chunks whose vectors are most similar to `vector` (cosine similarity), best first,
    /// optionally only those labelled `technology`.
    ///
    /// Throws `KnowledgeStoreError.wrongVectorLength` when `vector` does not have `dimension` values.
    public func semanticSearch(vector: [Float], limit: Int, technology: String?) throws -> [ScoredChunk] {
        guard vector.count == dimension else {
            throw KnowledgeStoreError.wrongVectorLength(chunk: nil, count: vector.count, expected: dimension)
        }
        // Searches take turns: one sgemv streams the whole matrix and is bound by memory
        // bandwidth (OpenBLAS already splits a large one over threads), so running them side by
        // side would gain little.
        return vectors.withLock { $0.search(query: vector, limit: limit, technology: technology) }
    }

    /// The count of changes to the indexed text, as SQL: `rag_bm25` keeps row lengths while it holds.
    static let textVersion = "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'text_version'"

    /// The `limit` chunks best matching the words of `text` by BM25 (score: the positive `-bm25`,
    /// higher is better), best first, optionally only those labelled `technology`.
    ///
    /// Any text is accepted: only its words are searched for (see `FTSQuery`), and a chunk
    /// containing any of them matches. Text without letters or digits finds nothing.
    public func keywordSearch(_ text: String, limit: Int, technology: String?) throws -> [ScoredChunk] {
        guard limit > 0, let match = FTSQuery.matchExpression(for: text) else { return [] }
        return try reader.withLock { connection in
            // Heading matches count half as much as text matches: headings are short and shared
            // by every chunk of a section. Ties go to the smaller id so results are reproducible.
            // rag_bm25 is -bm25, computed without a disk read per matched row (see CFTSRank).
            // Without a filter, the best rows are found in the index alone and only they are
            // joined to their ids; with one, every match must be joined to read its label.
            let select = try connection.cached(technology == nil ? """
                SELECT chunks.id, best.score
                FROM (SELECT rowid, rag_bm25(chunks_fts, (\(Self.textVersion)), 1.0, 0.5) AS score FROM chunks_fts
                      WHERE chunks_fts MATCH ?1 ORDER BY score DESC, rowid LIMIT ?3) AS best
                JOIN chunks ON chunks.rowid = best.rowid
                ORDER BY best.score DESC, chunks.id
                """ : """
                SELECT chunks.id, rag_bm25(chunks_fts, (\(Self.textVersion)), 1.0, 0.5) AS score
                FROM chunks_fts JOIN chunks ON chunks.rowid = chunks_fts.rowid
                WHERE chunks_fts MATCH ?1 AND chunks.technology = ?2
                ORDER BY score DESC, chunks.id
                LIMIT ?3
                """)
            try select.bind(match, at: 1)
            if let technology { try select.bind(technology, at: 2) }
            try select.bind(limit, at: 3)
            var results: [ScoredChunk] = []
            try select.forEachRow { results.append(ScoredChunk(id: select.string(at: 0), score: select.double(at: 1))) }
            return results
        }
    }
}

import Storage

/// Where a re-embedding stands: passages with a new vector staged, of those to do.
public struct ReembeddingState: Sendable, Equatable {
    /// Passages whose new vector is staged.
    public var staged: Int
    /// Passages this store embedded itself (copies of other processes' passages, in Chroma mode,
    /// have no vector here and are left to their writers).
    public var total: Int
}

/// Re-embedding the store with another model, without ever searching a half-made set: the new
/// vectors are staged in a table of their own (`reembedding`, each batch committed, so a run
/// killed half-way resumes where it stopped), and one transaction swaps them all in with the new
/// model's record once every passage has one. Until then the old vectors and their model's record
/// stay as they are, and every process keeps searching them.
///
/// After the swap, every chunk's vector has changed (the journal says so), and processes that had
/// adopted the old model find the record changed at their next catch-up or write
/// (`checkEmbeddingModel`). This store object is stale after `finishReembedding` returns true: its
/// dimension and vectors are the old ones; open the store again to use it.
extension SQLiteKnowledgeStore {
    /// Prepares staging for `model` (a fingerprint) with vectors of `dimension` floats. Staged
    /// vectors of another model or width (a run for another model, abandoned) are dropped first.
    public func beginReembedding(model: String, dimension: Int) throws -> ReembeddingState {
        try writer.withLock { connection in
            try connection.transaction {
                try connection.execute("""
                    CREATE TABLE IF NOT EXISTS reembedding (
                        chunk_id TEXT PRIMARY KEY,
                        vector BLOB NOT NULL
                    ) WITHOUT ROWID
                    """)
                let target = "\(model)/\(dimension)"
                let select = try connection.cached("SELECT value FROM meta WHERE key = 'reembedding_target'")
                let current = try select.step() ? select.string(at: 0) : nil
                select.reset()
                if current != target {
                    try connection.execute("DELETE FROM reembedding")
                    let record = try connection.cached("INSERT OR REPLACE INTO meta(key, value) VALUES ('reembedding_target', ?1)")
                    try record.bind(target, at: 1)
                    try record.run()
                }
                return try Self.reembeddingState(on: connection)
            }
        }
    }

    /// Up to `limit` passages with a vector here and none staged yet, in storage order.
    public func passagesToReembed(limit: Int) throws -> [StoredChunk] {
        try reader.withLock { connection in
            let select = try connection.cached("""
                SELECT c.id, c.source, c.heading, c.technology, c.text FROM chunks c
                WHERE length(c.vector) > 0 AND NOT EXISTS (SELECT 1 FROM reembedding r WHERE r.chunk_id = c.id)
                ORDER BY c.rowid LIMIT ?1
                """)
            defer { select.reset() }
            try select.bind(limit, at: 1)
            var passages: [StoredChunk] = []
            try select.forEachRow {
                passages.append(StoredChunk(id: select.string(at: 0), source: select.string(at: 1), heading: select.string(at: 2),
                                            technology: select.string(at: 3), text: select.string(at: 4)))
            }
            return passages
        }
    }

    /// Stages `vectors` (each `dimension` floats, the width `beginReembedding` was given) in one
    /// transaction.
    public func stage(_ vectors: [(id: String, vector: [Float])], dimension: Int) throws {
        for (id, vector) in vectors where vector.count != dimension {
            throw KnowledgeStoreError.reembeddingMismatch("chunk \(id) got \(vector.count) values, expected \(dimension)")
        }
        try writer.withLock { connection in
            try connection.transaction {
                let insert = try connection.cached("INSERT OR REPLACE INTO reembedding(chunk_id, vector) VALUES (?1, ?2)")
                for (id, vector) in vectors {
                    try insert.bind(id, at: 1)
                    try insert.bind(floats: vector, at: 2)
                    try insert.run()
                }
            }
        }
    }

    /// Swaps the staged vectors in, with `model` and `dimension` recorded, in one transaction, when
    /// every passage has one; false (nothing changed) when some passage still lacks one (written
    /// by another process meanwhile): stage those and call again.
    public func finishReembedding(model: String, dimension: Int) throws -> Bool {
        try writer.withLock { connection in
            try connection.transaction {
                let missing = try connection.scalarInt("""
                    SELECT EXISTS (SELECT 1 FROM chunks c WHERE length(c.vector) > 0
                                   AND NOT EXISTS (SELECT 1 FROM reembedding r WHERE r.chunk_id = c.id))
                    """)
                guard missing == 0 else { return false }
                try connection.execute("""
                    UPDATE chunks SET vector = (SELECT r.vector FROM reembedding r WHERE r.chunk_id = chunks.id)
                    WHERE length(vector) > 0;
                    DELETE FROM reembedding;
                    DELETE FROM meta WHERE key = 'reembedding_target';
                    """)
                let record = try connection.cached("INSERT OR REPLACE INTO meta(key, value) VALUES (?1, ?2)")
                for (key, value) in [("embedding_model", model), ("dimension", String(dimension))] {
                    try record.bind(key, at: 1)
                    try record.bind(value, at: 2)
                    try record.run()
                    record.reset()
                }
                return true
            }
        }
    }

    /// The model a re-embedding under way is for (its fingerprint) and how far it is; nil when none is.
    public func reembeddingUnderWay() throws -> (model: String, state: ReembeddingState)? {
        try reader.withLock { connection in
            let select = try connection.cached("SELECT value FROM meta WHERE key = 'reembedding_target'")
            defer { select.reset() }
            guard try select.step(), let model = select.string(at: 0).split(separator: "/").first else { return nil }
            return (String(model), try Self.reembeddingState(on: connection))
        }
    }

    private static func reembeddingState(on connection: SQLiteConnection) throws -> ReembeddingState {
        let exists = try connection.scalarInt("SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'reembedding')") == 1
        let staged = exists ? try connection.scalarInt("""
            SELECT count(*) FROM reembedding r JOIN chunks c ON c.id = r.chunk_id WHERE length(c.vector) > 0
            """) ?? 0 : 0
        return ReembeddingState(staged: staged, total: try connection.scalarInt("SELECT count(*) FROM chunks WHERE length(vector) > 0") ?? 0)
    }
}

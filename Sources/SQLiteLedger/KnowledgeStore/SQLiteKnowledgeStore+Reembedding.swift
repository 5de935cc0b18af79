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
/// adopted the old model find the record changed at their next catch-up, write or send to Chroma
/// (`checkEmbeddingModel`). This store object is stale after `finishReembedding` returns true: its
/// dimension and vectors are the old ones; open the store again to use it.
extension SQLiteKnowledgeStore {
    /// Prepares staging for `model` (a fingerprint; its `weights` digest, for a local model) with
    /// vectors of `dimension` floats. Staged vectors of another model, weights or width (a run for
    /// another model, abandoned) are dropped first.
    public func beginReembedding(model: String, weights: String? = nil, dimension: Int) throws -> ReembeddingState {
        try writer.withLock { connection in
            try connection.transaction {
                try connection.execute("""
                    CREATE TABLE IF NOT EXISTS reembedding (
                        chunk_id TEXT PRIMARY KEY,
                        vector BLOB NOT NULL
                    ) WITHOUT ROWID
                    """)
                let target = Self.reembeddingTarget(model: model, weights: weights, dimension: dimension)
                if try KnowledgeStoreSchema.metaValue("reembedding_target", on: connection) != target {
                    try connection.execute("DELETE FROM reembedding")
                    try KnowledgeStoreSchema.setMetaValue("reembedding_target", to: target, on: connection)
                }
                return try Self.reembeddingState(on: connection)
            }
        }
    }

    /// Up to `limit` passages after the row `rowid` with a vector here and none staged yet, in
    /// storage order, each with its row: the next call starts after the last one returned (a
    /// scan from the start each time would make a large store's run quadratic).
    public func passagesToReembed(after rowid: Int, limit: Int) throws -> [(rowid: Int, passage: StoredChunk)] {
        try reader.withLock { connection in
            let select = try connection.cached("""
                SELECT c.rowid, c.id, c.source, c.heading, c.technology, c.text FROM chunks c
                WHERE c.rowid > ?1 AND length(c.vector) > 0
                  AND NOT EXISTS (SELECT 1 FROM reembedding r WHERE r.chunk_id = c.id)
                ORDER BY c.rowid LIMIT ?2
                """)
            defer { select.reset() }
            try select.bind(rowid, at: 1)
            try select.bind(limit, at: 2)
            var passages: [(rowid: Int, passage: StoredChunk)] = []
            try select.forEachRow {
                passages.append((select.int(at: 0), StoredChunk(id: select.string(at: 1), source: select.string(at: 2),
                                                                heading: select.string(at: 3), technology: select.string(at: 4),
                                                                text: select.string(at: 5))))
            }
            return passages
        }
    }

    /// Stages `vectors`, the run for `model` at `dimension` floats, in one transaction. Throws
    /// `reembeddingMismatch` when the vectors have another width, or when another run (for another
    /// model) has begun since: two runs never mix their vectors.
    public func stage(_ vectors: [(id: String, vector: [Float])], model: String, weights: String? = nil, dimension: Int) throws {
        for (id, vector) in vectors where vector.count != dimension {
            throw KnowledgeStoreError.reembeddingMismatch("chunk \(id) got \(vector.count) values, expected \(dimension)")
        }
        try writer.withLock { connection in
            try connection.transaction {
                try Self.requireReembedding(model: model, weights: weights, dimension: dimension, on: connection)
                let insert = try connection.cached("INSERT OR REPLACE INTO reembedding(chunk_id, vector) VALUES (?1, ?2)")
                for (id, vector) in vectors {
                    try insert.bind(id, at: 1)
                    try insert.bind(floats: vector, at: 2)
                    try insert.run()
                }
            }
        }
    }

    /// Swaps the staged vectors in, with `model` (its `name`, its `weights` digest) and `dimension`
    /// recorded, in one transaction, when every passage has one; false (nothing changed) when some
    /// passage still lacks one (written by another process meanwhile): stage those and call again.
    ///
    /// The swap leaves nothing for Chroma to send: the new vectors belong in the new model's
    /// collection, which the next process that opens the folder with Chroma binds (and fills),
    /// and the upserts still waiting for the old model's collection are dropped with the old
    /// vectors they would have read.
    public func finishReembedding(model: String, name: String?, weights: String?, dimension: Int) throws -> Bool {
        try writer.withLock { connection in
            try connection.transaction {
                try Self.requireReembedding(model: model, weights: weights, dimension: dimension, on: connection)
                let missing = try connection.scalarInt("""
                    SELECT EXISTS (SELECT 1 FROM chunks c WHERE length(c.vector) > 0
                                   AND NOT EXISTS (SELECT 1 FROM reembedding r WHERE r.chunk_id = c.id))
                    """)
                guard missing == 0 else { return false }
                let width = try connection.cached("SELECT EXISTS (SELECT 1 FROM reembedding WHERE length(vector) != ?1)")
                try width.bind(dimension * MemoryLayout<Float>.size, at: 1)
                let misfit = try width.step() && width.int(at: 0) == 1
                width.reset()
                if misfit { throw KnowledgeStoreError.reembeddingMismatch("a staged vector is not \(dimension) floats wide") }
                try Self.withoutOutbox(on: connection) {
                    try connection.execute("""
                        UPDATE chunks SET vector = (SELECT r.vector FROM reembedding r WHERE r.chunk_id = chunks.id)
                        WHERE length(vector) > 0
                        """)
                }
                try connection.execute("""
                    DELETE FROM vector_outbox WHERE op = 'upsert';
                    DELETE FROM meta WHERE key IN ('vector_target', 'reembedding_target');
                    DELETE FROM reembedding;
                    """)
                try KnowledgeStoreSchema.setMetaValue("embedding_model", to: model, on: connection)
                try Self.recordModelName(name, on: connection)
                try Self.recordModelWeights(weights, on: connection)
                try Self.markUnitVectors(on: connection)
                try KnowledgeStoreSchema.setMetaValue("dimension", to: String(dimension), on: connection)
                return true
            }
        }
    }

    /// Drops what an abandoned run staged (a run for another model than the one now recorded).
    public func abandonReembedding() throws {
        try writer.withLock { connection in
            try connection.transaction {
                try connection.execute("""
                    DROP TABLE IF EXISTS reembedding;
                    DELETE FROM meta WHERE key = 'reembedding_target';
                    """)
            }
        }
    }

    /// Throws unless the staging is the run for `model` at `dimension`.
    private static func requireReembedding(model: String, weights: String?, dimension: Int, on connection: SQLiteConnection) throws {
        let target = try KnowledgeStoreSchema.metaValue("reembedding_target", on: connection)
        guard target == reembeddingTarget(model: model, weights: weights, dimension: dimension) else {
            throw KnowledgeStoreError.reembeddingMismatch(
                "another re-embedding (\(target ?? "none")) has begun since this one (\(model), \(dimension) dimensions)")
        }
    }

    /// What a run is for: `fingerprint/dimension`, then `/weights` for a local model, so that two
    /// models sharing a fingerprint never mix their vectors in one run either.
    private static func reembeddingTarget(model: String, weights: String?, dimension: Int) -> String {
        "\(model)/\(dimension)" + (weights.map { "/\($0)" } ?? "")
    }

    /// The model a re-embedding under way is for (its fingerprint) and how far it is; nil when none is.
    public func reembeddingUnderWay() throws -> (model: String, state: ReembeddingState)? {
        try reader.withLock { connection in
            guard let target = try KnowledgeStoreSchema.metaValue("reembedding_target", on: connection),
                  let model = target.split(separator: "/").first else { return nil }
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

extension SQLiteKnowledgeStore {
    /// What made the stored vectors: the embedding model's fingerprint, recorded when the store first
    /// met a model; nil before.
    public func embeddingModel() throws -> String? {
        try reader.withLock { try KnowledgeStoreSchema.metaValue("embedding_model", on: $0) }
    }

    /// The name of the model that made the stored vectors (its repository, folder or API model), for
    /// people: recorded beside the fingerprint since names were; nil before.
    public func embeddingModelName() throws -> String? {
        try reader.withLock { try KnowledgeStoreSchema.metaValue("embedding_model_name", on: $0) }
    }

    /// Records `fingerprint` (and `name`) as what made the stored vectors, unless another model is
    /// recorded and passages are stored (an empty store takes whichever model opens it); the
    /// fingerprint recorded.
    public func adoptEmbeddingModel(_ fingerprint: String, name: String?) throws -> String {
        try writer.withLock { connection in
            try connection.transaction {
                let before = try KnowledgeStoreSchema.metaValue("embedding_model", on: connection)
                let recorded = try Self.adopt("embedding_model", fingerprint, on: connection)
                // An empty store taken over by another model forgets the last one's weights.
                if before != recorded { try Self.recordModelWeights(nil, on: connection) }
                if recorded == fingerprint {
                    adoptedModel.withLock { $0 = fingerprint }
                    try Self.recordModelName(name, on: connection)
                }
                return recorded
            }
        }
    }

    /// The digest of every tensor of the weights that made the stored vectors
    /// (`ModelFingerprint.weightsDigest`): nil for an API's model, and for a store older than it.
    public func embeddingModelWeights() throws -> String? {
        try reader.withLock { try KnowledgeStoreSchema.metaValue("embedding_model_weights", on: $0) }
    }

    /// Records `weights` as the digest of the weights that made the stored vectors, unless another
    /// is recorded and passages are stored (as `adoptEmbeddingModel`: an empty store takes
    /// whichever model opens it, and a store older than the record takes it from the model it
    /// recorded); the digest recorded.
    public func adoptEmbeddingModelWeights(_ weights: String) throws -> String {
        try writer.withLock { connection in
            try connection.transaction { try Self.adopt("embedding_model_weights", weights, on: connection) }
        }
    }

    /// Sets meta `key` to `value` unless it holds another and passages are stored; what it holds
    /// then. Inside the caller's transaction.
    private static func adopt(_ key: String, _ value: String, on connection: SQLiteConnection) throws -> String {
        let empty = try connection.scalarInt("SELECT NOT EXISTS (SELECT 1 FROM chunks)") == 1
        let insert = try connection.cached(empty
            ? "INSERT OR REPLACE INTO meta(key, value) VALUES (?1, ?2)"
            : "INSERT OR IGNORE INTO meta(key, value) VALUES (?1, ?2)")
        try insert.bind(key, at: 1)
        try insert.bind(value, at: 2)
        try insert.run()
        return try KnowledgeStoreSchema.metaValue(key, on: connection) ?? value
    }

    /// Sets the recorded weights digest to `weights`; nil forgets it (an API's model has none).
    static func recordModelWeights(_ weights: String?, on connection: SQLiteConnection) throws {
        if let weights {
            try KnowledgeStoreSchema.setMetaValue("embedding_model_weights", to: weights, on: connection)
        } else {
            try connection.execute("DELETE FROM meta WHERE key = 'embedding_model_weights'")
        }
    }

    /// Whether every stored vector is known to have unit length: recorded once a store has met an
    /// mcp-rag that scales the vectors of a model without a Normalize module (earlier ones stored
    /// those at their own length, and the two would not rank alike).
    public func hasUnitVectors() throws -> Bool {
        try reader.withLock { try KnowledgeStoreSchema.metaValue("unit_vectors", on: $0) } == "1"
    }

    /// Records that every stored vector has unit length (a store with none yet, or whose model
    /// normalises its vectors, or re-embedded).
    public func markUnitVectors() throws {
        try writer.withLock { try Self.markUnitVectors(on: $0) }
    }

    /// `markUnitVectors` inside the caller's transaction.
    static func markUnitVectors(on connection: SQLiteConnection) throws {
        try KnowledgeStoreSchema.setMetaValue("unit_vectors", to: "1", on: connection)
    }

    /// Sets the recorded model's name to `name`; nil forgets it (a name that no longer fits).
    static func recordModelName(_ name: String?, on connection: SQLiteConnection) throws {
        if let name {
            try KnowledgeStoreSchema.setMetaValue("embedding_model_name", to: name, on: connection)
        } else {
            try connection.execute("DELETE FROM meta WHERE key = 'embedding_model_name'")
        }
    }

    /// Throws `embeddingModelChanged` when another process has re-embedded the store since this
    /// one adopted its model (another fingerprint or width recorded): its vectors, and those its
    /// model would add, no longer belong with the stored ones. Runs inside the caller's transaction.
    func checkEmbeddingModel(on connection: SQLiteConnection) throws {
        guard let adopted = adoptedModel.withLock({ $0 }) else { return }
        let recorded = try KnowledgeStoreSchema.metaValue("embedding_model", on: connection)
        let recordedDimension = try KnowledgeStoreSchema.metaValue("dimension", on: connection).flatMap(Int.init)
        if recorded != adopted || recordedDimension != dimension {
            throw KnowledgeStoreError.embeddingModelChanged(recorded: recorded ?? "none", dimension: recordedDimension ?? 0,
                                                            path: path)
        }
    }
}

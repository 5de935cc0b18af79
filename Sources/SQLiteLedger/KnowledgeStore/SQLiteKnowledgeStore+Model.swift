extension SQLiteKnowledgeStore {
    /// What made the stored vectors: the embedding model's fingerprint, recorded when the store first
    /// met a model; nil before.
    public func embeddingModel() throws -> String? {
        try reader.withLock { connection in
            let select = try connection.cached("SELECT value FROM meta WHERE key = 'embedding_model'")
            defer { select.reset() }
            return try select.step() ? select.string(at: 0) : nil
        }
    }

    /// Records `fingerprint` as what made the stored vectors, unless another model is recorded and
    /// passages are stored (an empty store takes whichever model opens it); the one recorded.
    public func adoptEmbeddingModel(_ fingerprint: String) throws -> String {
        try writer.withLock { connection in
            try connection.transaction {
                let empty = try connection.scalarInt("SELECT NOT EXISTS (SELECT 1 FROM chunks)") == 1
                let insert = try connection.cached(empty
                    ? "INSERT OR REPLACE INTO meta(key, value) VALUES ('embedding_model', ?1)"
                    : "INSERT OR IGNORE INTO meta(key, value) VALUES ('embedding_model', ?1)")
                try insert.bind(fingerprint, at: 1)
                try insert.run()
                let recorded = try Self.recordedModel(on: connection) ?? fingerprint
                if recorded == fingerprint { adoptedModel.withLock { $0 = fingerprint } }
                return recorded
            }
        }
    }

    static func recordedModel(on connection: SQLiteConnection) throws -> String? {
        let select = try connection.cached("SELECT value FROM meta WHERE key = 'embedding_model'")
        defer { select.reset() }
        return try select.step() ? select.string(at: 0) : nil
    }

    /// Throws `embeddingModelChanged` when another process has re-embedded the store since this
    /// one adopted its model (another fingerprint or width recorded): its vectors, and those its
    /// model would add, no longer belong with the stored ones. Runs inside the caller's transaction.
    func checkEmbeddingModel(on connection: SQLiteConnection) throws {
        guard let adopted = adoptedModel.withLock({ $0 }) else { return }
        let recorded = try Self.recordedModel(on: connection)
        let width = try connection.cached("SELECT value FROM meta WHERE key = 'dimension'")
        defer { width.reset() }
        let recordedDimension = try width.step() ? Int(width.string(at: 0)) : nil
        if recorded != adopted || recordedDimension != dimension {
            throw KnowledgeStoreError.embeddingModelChanged(recorded: recorded ?? "none", dimension: recordedDimension ?? 0,
                                                            path: path)
        }
    }
}

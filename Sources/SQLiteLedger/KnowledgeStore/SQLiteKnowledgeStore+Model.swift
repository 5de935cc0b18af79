extension SQLiteKnowledgeStore {
    /// What made the stored vectors: the embedding model's fingerprint, recorded when the store first
    /// met a model; nil before.
    public func embeddingModel() throws -> String? {
        try reader.withLock { try KnowledgeStoreSchema.metaValue("embedding_model", on: $0) }
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
                let recorded = try KnowledgeStoreSchema.metaValue("embedding_model", on: connection) ?? fingerprint
                if recorded == fingerprint { adoptedModel.withLock { $0 = fingerprint } }
                return recorded
            }
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

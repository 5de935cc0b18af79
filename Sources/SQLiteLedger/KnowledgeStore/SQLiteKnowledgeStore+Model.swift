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

    /// Records `fingerprint` as what made the stored vectors, unless a model is recorded already;
    /// the one recorded (this one, or the one before).
    public func adoptEmbeddingModel(_ fingerprint: String) throws -> String {
        try writer.withLock { connection in
            try connection.transaction {
                let insert = try connection.cached("INSERT OR IGNORE INTO meta(key, value) VALUES ('embedding_model', ?1)")
                try insert.bind(fingerprint, at: 1)
                try insert.run()
                let select = try connection.cached("SELECT value FROM meta WHERE key = 'embedding_model'")
                defer { select.reset() }
                return try select.step() ? select.string(at: 0) : fingerprint
            }
        }
    }
}

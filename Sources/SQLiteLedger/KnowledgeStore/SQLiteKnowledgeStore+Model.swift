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
                let select = try connection.cached("SELECT value FROM meta WHERE key = 'embedding_model'")
                defer { select.reset() }
                return try select.step() ? select.string(at: 0) : fingerprint
            }
        }
    }
}

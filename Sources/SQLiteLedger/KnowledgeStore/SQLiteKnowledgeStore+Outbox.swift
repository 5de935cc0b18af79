import Foundation

/// One change a remote vector store has yet to receive.
public struct PendingVectorChange: Sendable, Equatable {
    public enum Operation: Sendable, Equatable {
        /// Write this vector and metadata (the chunk as it is now).
        case upsert(vector: [Float], source: String, technology: String)
        /// Remove the vector; also what an upsert turns into when the chunk is gone by now.
        case delete
    }

    /// Position in the outbox: changes must reach the remote store in this order.
    public var sequence: Int
    public var chunkID: String
    public var operation: Operation
}

extension SQLiteKnowledgeStore {
    /// Binds this data folder to the remote vector store named `target` (its URL, tenant, database
    /// and collection). When it was bound to another one, or to none, every stored chunk is queued
    /// for upload first, so a knowledge base filled before Chroma was configured (or for another
    /// collection) is complete there too. Returns how many chunks were queued that way.
    public func bindVectorTarget(_ target: String) throws -> Int {
        try writer.withLock { connection in
            try connection.transaction {
                let current = try connection.cached("SELECT value FROM meta WHERE key = 'vector_target'")
                let bound = try current.step() ? current.string(at: 0) : nil
                current.reset()
                guard bound != target else { return 0 }
                try connection.execute("""
                    DELETE FROM vector_outbox;
                    INSERT OR REPLACE INTO meta(key, value) VALUES ('vector_outbox', 'on');
                    INSERT INTO vector_outbox(chunk_id, op) SELECT id, 'upsert' FROM chunks ORDER BY rowid;
                    """)
                let bind = try connection.cached("INSERT OR REPLACE INTO meta(key, value) VALUES ('vector_target', ?1)")
                try bind.bind(target, at: 1)
                try bind.run()
                return try connection.scalarInt("SELECT count(*) FROM vector_outbox") ?? 0
            }
        }
    }

    /// The oldest `limit` changes not yet acknowledged, each upsert with the chunk's current vector
    /// and metadata.
    public func pendingVectorChanges(limit: Int) throws -> [PendingVectorChange] {
        try reader.withLock { connection in
            let select = try connection.cached("""
                SELECT o.seq, o.chunk_id, o.op, c.vector, c.source, c.technology
                FROM vector_outbox o LEFT JOIN chunks c ON c.id = o.chunk_id
                ORDER BY o.seq LIMIT ?1
                """)
            try select.bind(limit, at: 1)
            var changes: [PendingVectorChange] = []
            try select.forEachRow {
                let operation: PendingVectorChange.Operation =
                    select.string(at: 2) == "upsert" && !select.isNull(at: 3)
                    ? .upsert(vector: select.floats(at: 3), source: select.string(at: 4), technology: select.string(at: 5))
                    : .delete
                changes.append(PendingVectorChange(sequence: select.int(at: 0), chunkID: select.string(at: 1),
                                                   operation: operation))
            }
            return changes
        }
    }

    /// Forgets the changes up to and including `sequence`: the remote store has them.
    public func acknowledgeVectorChanges(through sequence: Int) throws {
        try writer.withLock { connection in
            let delete = try connection.cached("DELETE FROM vector_outbox WHERE seq <= ?1")
            try delete.bind(sequence, at: 1)
            try delete.run()
        }
    }

    /// Changes waiting for the remote store.
    public func pendingVectorChangeCount() throws -> Int {
        try reader.withLock { try $0.scalarInt("SELECT count(*) FROM vector_outbox") ?? 0 }
    }
}

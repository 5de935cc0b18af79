import Foundation
import Storage

/// One change a remote vector store has yet to receive.
public struct PendingVectorChange: Sendable, Equatable {
    public enum Operation: Sendable, Equatable {
        /// Write the chunk as it is now: its vector, its passage, and its source's hash and ingest time.
        case upsert(vector: [Float], chunk: StoredChunk, ordinal: Int, contentHash: String, ingestedAt: Date)
        /// Remove the chunk; also what an upsert turns into when the chunk is gone by now.
        case delete
        /// Write the manifest entry of the source `subject` as it is now: `record`, or nil when the
        /// source is gone (a removal every process must learn of).
        case source(SourceRecord?)
        /// Nothing to send: the chunk is here without its vector (it came from the remote store,
        /// which has it already).
        case nothingToSend
    }

    /// Position in the outbox: changes must reach the remote store in this order.
    public var sequence: Int
    /// The chunk's id, or for `.source` the source's path.
    public var subject: String
    public var operation: Operation
}

extension SQLiteKnowledgeStore {
    /// Binds this data folder to the remote vector store named `target` (its URL, tenant, database
    /// and collection). When it was bound to another one, or to none, every stored chunk is queued
    /// for upload first, so a knowledge base filled before Chroma was configured (or for another
    /// collection) is complete there too; until those are sent, `vectorBackfillRemaining` counts
    /// them. Returns how many chunks were queued that way.
    public func bindVectorTarget(_ target: String) throws -> Int {
        try writer.withLock { connection in
            try connection.transaction {
                guard try KnowledgeStoreSchema.metaValue("vector_target", on: connection) != target else { return 0 }
                // Passages copied from the previous target have no vector here to send the new
                // one: their sources are dropped (the cascade takes their chunks), and the new
                // target's own are copied in by the next catch-up.
                try connection.execute("""
                    UPDATE meta SET value = 'off' WHERE key = 'vector_outbox';
                    DELETE FROM sources WHERE source IN (SELECT source FROM chunks WHERE length(vector) = 0);
                    DELETE FROM meta WHERE key = 'replica_cursor';
                    DELETE FROM vector_outbox;
                    INSERT OR REPLACE INTO meta(key, value) VALUES ('vector_outbox', 'on');
                    INSERT INTO vector_outbox(chunk_id, op) SELECT id, 'upsert' FROM chunks ORDER BY rowid;
                    INSERT INTO vector_outbox(chunk_id, op) SELECT source, 'source' FROM sources ORDER BY source;
                    """)
                try KnowledgeStoreSchema.setMetaValue("vector_target", to: target, on: connection)
                try connection.execute("""
                    INSERT OR REPLACE INTO meta(key, value)
                    SELECT 'vector_backfill_through', coalesce(max(seq), 0) FROM vector_outbox
                    """)
                return try connection.scalarInt("SELECT count(*) FROM vector_outbox") ?? 0
            }
        }
    }

    /// Changes still to send of those `bindVectorTarget` queued when it bound the folder to its
    /// target: while any is left, the target holds only part of this folder's vectors.
    public func vectorBackfillRemaining() throws -> Int {
        try reader.withLock { connection in
            try connection.scalarInt("""
                SELECT count(*) FROM vector_outbox
                WHERE seq <= (SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'vector_backfill_through')
                """) ?? 0
        }
    }

    /// The oldest `limit` changes not yet acknowledged: each upsert with the chunk's current vector
    /// and passage, each source entry with the source's current record.
    public func pendingVectorChanges(limit: Int) throws -> [PendingVectorChange] {
        try reader.withLock { connection in
            let select = try connection.cached("""
                SELECT o.seq, o.chunk_id, o.op, c.vector, c.source, c.heading, c.technology, c.text, c.ordinal,
                       s.source, s.technology, s.content_hash, s.chunk_count, s.ingested_at, s.pages, c.page
                FROM vector_outbox o
                LEFT JOIN chunks c ON o.op = 'upsert' AND c.id = o.chunk_id
                LEFT JOIN sources s ON s.source = (CASE o.op WHEN 'source' THEN o.chunk_id ELSE c.source END)
                ORDER BY o.seq LIMIT ?1
                """)
            try select.bind(limit, at: 1)
            var changes: [PendingVectorChange] = []
            try select.forEachRow {
                let source = select.isNull(at: 9) ? nil : Self.sourceRecord(from: select, at: 9)
                let operation: PendingVectorChange.Operation
                switch select.string(at: 2) {
                case "source":
                    operation = .source(source)
                case "upsert" where !select.isNull(at: 3):
                    if select.byteCount(at: 3) == 0 {
                        operation = .nothingToSend
                    } else {
                        let chunk = StoredChunk(id: select.string(at: 1), source: select.string(at: 4), heading: select.string(at: 5),
                                                technology: select.string(at: 6), text: select.string(at: 7),
                                                page: select.optionalInt(at: 15))
                        operation = .upsert(vector: select.floats(at: 3), chunk: chunk, ordinal: select.int(at: 8),
                                            contentHash: source?.contentHash ?? "",
                                            ingestedAt: source?.ingestedAt ?? Date(timeIntervalSince1970: 0))
                    }
                default:
                    operation = .delete
                }
                changes.append(PendingVectorChange(sequence: select.int(at: 0), subject: select.string(at: 1),
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

    /// Leaves the entry of `source` in the outbox when it is on: the last step of a write
    /// transaction that changed the source, after its chunks' entries.
    static func queueSourceEntry(_ source: String, on connection: SQLiteConnection) throws {
        let queue = try connection.cached("""
            INSERT INTO vector_outbox(chunk_id, op)
            SELECT ?1, 'source' WHERE (SELECT value FROM meta WHERE key = 'vector_outbox') = 'on'
            """)
        try queue.bind(source, at: 1)
        try queue.run()
    }
}

import Foundation
import Storage

/// A passage copied from the remote store, without its vector (semantic search runs there).
public struct ReplicatedChunk: Sendable, Equatable {
    public var id: String
    public var heading: String
    public var text: String
    public var ordinal: Int
    public var page: Int?

    public init(id: String, heading: String, text: String, ordinal: Int, page: Int? = nil) {
        self.id = id
        self.heading = heading
        self.text = text
        self.ordinal = ordinal
        self.page = page
    }
}

/// In Chroma mode the data folder is this machine's copy of the collection (the passages' text for
/// keyword search, and the sources) plus the outbox of its own writes. These are the writes that
/// keep the copy in step with what other processes put in the collection: they never reach the
/// outbox, since the collection has them already.
extension SQLiteKnowledgeStore {
    /// Makes `chunks` (copied from the remote store) the stored chunks of `record.source`, as
    /// `replaceSource` would, but without vectors and without queueing anything for the remote
    /// store. Returns what changed; nil, changing nothing, while a change of this process's own to
    /// the source waits in the outbox (it is newer than the remote store's copy).
    public func applyReplicatedSource(_ record: SourceRecord, chunks: [ReplicatedChunk]) throws -> ReplaceOutcome? {
        let records = chunks.map {
            ChunkRecord(id: $0.id, source: record.source, heading: $0.heading, technology: record.technology, text: $0.text,
                        ordinal: $0.ordinal, vector: [], page: $0.page)
        }
        return try writer.withLock { connection in
            let written: (change: SourceChange, span: JournalSpan)? = try connection.transaction {
                guard try !Self.hasPendingChange(to: record.source, on: connection) else { return nil }
                let first = try Self.lastJournalEntry(on: connection)
                let change = try Self.withoutOutbox(on: connection) { try Self.write(record, records, on: connection) }
                return (change, try closeJournalSpan(from: first, on: connection))
            }
            guard let (change, span) = written else { return nil }
            if keepsVectorIndex { vectors.withLock { change.apply(to: $0) } }
            advanceJournal(over: span)
            return change.outcome
        }
    }

    /// Deletes `source` and its chunks, removed from the remote store by another process; returns
    /// how many chunks went, nil when `source` was not stored or a change of this process's own
    /// to it waits in the outbox.
    public func applyReplicatedRemoval(_ source: String) throws -> Int? {
        try writer.withLock { connection in
            let removal: (ids: [String], span: JournalSpan)? = try connection.transaction {
                guard try !Self.hasPendingChange(to: source, on: connection) else { return nil }
                let first = try Self.lastJournalEntry(on: connection)
                let ids = try Self.chunkIDs(of: source, on: connection)
                let delete = try connection.cached("DELETE FROM sources WHERE source = ?1")
                try delete.bind(source, at: 1)
                // The cascade takes the chunks.
                let deleted = try Self.withoutOutbox(on: connection) { () throws -> Int in
                    try delete.run()
                    return connection.changes
                }
                guard deleted > 0 else { return nil }
                return (ids, try closeJournalSpan(from: first, on: connection))
            }
            guard let removal else { return nil }
            if keepsVectorIndex {
                vectors.withLock { index in
                    for id in removal.ids { index.remove(id) }
                }
            }
            advanceJournal(over: removal.span)
            return removal.ids.count
        }
    }

    /// True while this process's own change to `source` waits in the outbox: the remote store's
    /// entry for it is older than what is here, and must not replace it.
    private static func hasPendingChange(to source: String, on connection: SQLiteConnection) throws -> Bool {
        let select = try connection.cached("SELECT 1 FROM vector_outbox WHERE chunk_id = ?1 AND op = 'source' LIMIT 1")
        try select.bind(source, at: 1)
        defer { select.reset() }
        return try select.step()
    }

    /// Where following the remote store's changes resumes: the newest change time seen (seconds
    /// since 1970, by the writers' clocks), nil before the first full copy.
    public func replicaCursor() throws -> Double? {
        try reader.withLock { connection in
            let select = try connection.cached("SELECT CAST(value AS REAL) FROM meta WHERE key = 'replica_cursor'")
            defer { select.reset() }
            return try select.step() ? select.double(at: 0) : nil
        }
    }

    public func setReplicaCursor(_ seconds: Double) throws {
        try writer.withLock { connection in
            try KnowledgeStoreSchema.setMetaValue("replica_cursor", to: String(seconds), on: connection)
        }
    }

    /// Runs `body` inside the caller's transaction with the outbox's triggers quiet: other
    /// connections only ever see the outbox on, since they see nothing before the commit.
    static func withoutOutbox<T>(on connection: SQLiteConnection, _ body: () throws -> T) throws -> T {
        guard try KnowledgeStoreSchema.metaValue("vector_outbox", on: connection) == "on" else { return try body() }
        try connection.execute("UPDATE meta SET value = 'off' WHERE key = 'vector_outbox'")
        let result = try body()
        try connection.execute("UPDATE meta SET value = 'on' WHERE key = 'vector_outbox'")
        return result
    }
}

import EmbeddedVectors
import Storage
extension SQLiteKnowledgeStore {
    /// Makes `chunks` the stored chunks of `record.source`, in one transaction: the source's ledger
    /// row is written (its chunk count set to `chunks.count`), stored chunks missing from `chunks`
    /// are deleted, new ones inserted, and those already stored are left as they are (only their
    /// technology label follows the source's). The in-memory vectors follow after the commit.
    ///
    /// Every chunk must name `record.source` and `record.technology`, have a `dimension`-value
    /// vector and a distinct id that no other source holds; otherwise this throws and nothing
    /// changes, on disk or in memory.
    public func replaceSource(_ record: SourceRecord, chunks: [ChunkRecord]) throws -> ReplaceOutcome {
        try validate(record, chunks)
        defer { scheduleSnapshotIfDue() }
        return try writer.withLock { connection in
            let (change, span) = try connection.transaction {
                try checkEmbeddingModel(on: connection)
                let first = try Self.lastJournalEntry(on: connection)
                let change = try Self.write(record, chunks, on: connection)
                try Self.queueSourceEntry(record.source, on: connection)
                return (change, try closeJournalSpan(from: first, on: connection))
            }
            // Under the writer lock still, so memory sees the commits in the order SQLite did.
            if keepsVectorIndex { vectors.withLock { change.apply(to: $0) } }
            advanceJournal(over: span)
            logger.debug("source replaced", metadata: [
                "rag.store.source": "\(record.source)", "rag.store.added": "\(change.outcome.added)",
                "rag.store.removed": "\(change.outcome.removed)",
                "rag.store.unchanged": "\(change.outcome.unchanged)",
            ])
            return change.outcome
        }
    }

    /// Deletes `source` and its chunks; returns how many chunks went, nil when `source` is unknown.
    public func removeSource(_ source: String) throws -> Int? {
        defer { scheduleSnapshotIfDue() }
        return try writer.withLock { connection in
            let removal: (ids: [String], span: JournalSpan)? = try connection.transaction {
                guard try Self.technology(of: source, on: connection) != nil else { return nil }
                let first = try Self.lastJournalEntry(on: connection)
                let ids = try Self.chunkIDs(of: source, on: connection)
                let deleteChunks = try connection.cached("DELETE FROM chunks WHERE source = ?1")
                try deleteChunks.bind(source, at: 1)
                try deleteChunks.run()
                let deleteSource = try connection.cached("DELETE FROM sources WHERE source = ?1")
                try deleteSource.bind(source, at: 1)
                try deleteSource.run()
                try Self.queueSourceEntry(source, on: connection)
                return (ids, try closeJournalSpan(from: first, on: connection))
            }
            guard let removal else { return nil }
            let removed = removal.ids
            if keepsVectorIndex {
                vectors.withLock { index in
                    for id in removed { index.remove(id) }
                }
            }
            advanceJournal(over: removal.span)
            logger.debug("source removed", metadata: [
                "rag.store.source": "\(source)", "rag.store.removed": "\(removed.count)",
            ])
            return removed.count
        }
    }

    // MARK: replacing, step by step

    /// What one committed `replaceSource` changed, to be applied to the vectors in memory.
    struct SourceChange {
        var technology: String
        var removedIDs: [String] = []
        var added: [ChunkRecord] = []
        /// Chunks kept whose technology label changed with their source's.
        var relabeledIDs: [String] = []
        var unchanged = 0

        var outcome: ReplaceOutcome {
            ReplaceOutcome(added: added.count, removed: removedIDs.count, unchanged: unchanged)
        }

        func apply(to index: VectorIndex) {
            for id in removedIDs { index.remove(id) }
            index.reserveCapacity(index.count + added.count)
            // A chunk copied from a remote store comes without its vector: semantic search is there.
            for chunk in added where !chunk.vector.isEmpty {
                index.upsert(id: chunk.id, technology: technology, vector: chunk.vector)
            }
            for id in relabeledIDs { index.setTechnology(technology, for: id) }
        }
    }

    /// The checks that need no database, made before any write.
    private func validate(_ record: SourceRecord, _ chunks: [ChunkRecord]) throws {
        var seen: Set<String> = []
        for chunk in chunks {
            guard seen.insert(chunk.id).inserted else {
                throw KnowledgeStoreError.duplicateChunk(id: chunk.id, source: record.source)
            }
            guard chunk.source == record.source else {
                throw KnowledgeStoreError.chunkFromAnotherSource(id: chunk.id, chunkSource: chunk.source,
                                                                 source: record.source)
            }
            guard chunk.technology == record.technology else {
                throw KnowledgeStoreError.chunkWithAnotherTechnology(id: chunk.id, chunkTechnology: chunk.technology,
                                                                     technology: record.technology)
            }
            guard chunk.vector.count == dimension else {
                throw KnowledgeStoreError.wrongVectorLength(chunk: chunk.id, count: chunk.vector.count,
                                                            expected: dimension)
            }
        }
    }

    /// The writes of `replaceSource`, run inside its transaction. A chunk with an empty vector is
    /// written without one (a copy from the remote store, which searches it).
    static func write(_ record: SourceRecord, _ chunks: [ChunkRecord],
                              on connection: SQLiteConnection) throws -> SourceChange {
        let previousTechnology = try technology(of: record.source, on: connection)
        // ON CONFLICT DO UPDATE, not INSERT OR REPLACE: a replace deletes the old row first, and the
        // cascade would take every chunk of the source with it.
        let upsert = try connection.cached("""
            INSERT INTO sources(source, technology, content_hash, chunk_count, ingested_at, pages)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6)
            ON CONFLICT(source) DO UPDATE SET technology = excluded.technology,
                content_hash = excluded.content_hash, chunk_count = excluded.chunk_count,
                ingested_at = excluded.ingested_at, pages = excluded.pages
            """)
        try upsert.bind(record.source, at: 1)
        try upsert.bind(record.technology, at: 2)
        try upsert.bind(record.contentHash, at: 3)
        try upsert.bind(chunks.count, at: 4)
        try upsert.bind(record.ingestedAt.timeIntervalSince1970, at: 5)
        try upsert.bind(record.pages, at: 6)
        try upsert.run()

        var change = SourceChange(technology: record.technology)
        let stored = Set(try chunkIDs(of: record.source, on: connection))
        let wanted = Set(chunks.map(\.id))
        let delete = try connection.cached("DELETE FROM chunks WHERE id = ?1")
        for id in stored.subtracting(wanted).sorted() {
            try delete.bind(id, at: 1)
            try delete.run()
            change.removedIDs.append(id)
        }
        // Chunks copied from the remote store without their vector get it when this write has it,
        // so that they can be sent again (relabelled, say).
        let withoutVector = Set(try chunkIDs(of: record.source, withoutVector: true, on: connection))
        let setVector = try connection.cached("UPDATE chunks SET vector = ?2 WHERE id = ?1")
        let setPage = try connection.cached("UPDATE chunks SET page = ?2 WHERE id = ?1 AND page IS NOT ?2")
        for chunk in chunks {
            if stored.contains(chunk.id) {
                change.unchanged += 1
                // Ids do not hold the page: text that moved to another page keeps its vector,
                // and its row learns the new page.
                try setPage.bind(chunk.id, at: 1)
                try setPage.bind(chunk.page, at: 2)
                try setPage.run()
                if withoutVector.contains(chunk.id) && !chunk.vector.isEmpty {
                    try setVector.bind(chunk.id, at: 1)
                    try setVector.bind(floats: chunk.vector, at: 2)
                    try setVector.run()
                }
                continue
            }
            // Ids hash the source too, so this should not happen; if it does, say so plainly rather
            // than let a UNIQUE failure (or a silent overwrite) stand for it.
            if let owner = try owner(of: chunk.id, on: connection) {
                throw KnowledgeStoreError.chunkOwnedByAnotherSource(id: chunk.id, owner: owner, source: record.source)
            }
            try insert(chunk, on: connection)
            change.added.append(chunk)
        }
        if let previousTechnology, previousTechnology != record.technology {
            let relabel = try connection.cached("UPDATE chunks SET technology = ?1 WHERE source = ?2")
            try relabel.bind(record.technology, at: 1)
            try relabel.bind(record.source, at: 2)
            try relabel.run()
            change.relabeledIDs = chunks.map(\.id).filter(stored.contains)
        }
        return change
    }

    private static func insert(_ chunk: ChunkRecord, on connection: SQLiteConnection) throws {
        let insert = try connection.cached("""
            INSERT INTO chunks(id, source, heading, technology, text, ordinal, vector, page)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
            """)
        try insert.bind(chunk.id, at: 1)
        try insert.bind(chunk.source, at: 2)
        try insert.bind(chunk.heading, at: 3)
        try insert.bind(chunk.technology, at: 4)
        try insert.bind(chunk.text, at: 5)
        try insert.bind(chunk.ordinal, at: 6)
        try insert.bind(floats: chunk.vector, at: 7)
        try insert.bind(chunk.page, at: 8)
        try insert.run()
    }

    /// The technology label of `source`, nil when the source is not stored.
    private static func technology(of source: String, on connection: SQLiteConnection) throws -> String? {
        let select = try connection.cached("SELECT technology FROM sources WHERE source = ?1")
        try select.bind(source, at: 1)
        defer { select.reset() }
        return try select.step() ? select.string(at: 0) : nil
    }

    /// The source holding chunk `id`, nil when no source does.
    private static func owner(of id: String, on connection: SQLiteConnection) throws -> String? {
        let select = try connection.cached("SELECT source FROM chunks WHERE id = ?1")
        try select.bind(id, at: 1)
        defer { select.reset() }
        return try select.step() ? select.string(at: 0) : nil
    }

    static func chunkIDs(of source: String, withoutVector: Bool = false,
                         on connection: SQLiteConnection) throws -> [String] {
        let select = try connection.cached(withoutVector ? "SELECT id FROM chunks WHERE source = ?1 AND length(vector) = 0"
                                                         : "SELECT id FROM chunks WHERE source = ?1")
        try select.bind(source, at: 1)
        var ids: [String] = []
        try select.forEachRow { ids.append(select.string(at: 0)) }
        return ids
    }
}

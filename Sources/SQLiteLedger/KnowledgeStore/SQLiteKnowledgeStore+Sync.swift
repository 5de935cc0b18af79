import EmbeddedVectors
import Foundation

/// How far into the chunk journal a store's vectors in memory are.
struct JournalPosition: Sendable {
    /// The sequence number of the last journal entry the vectors include.
    var seen: Int
    /// `PRAGMA data_version` on the watcher connection when last looked at: while it stays the
    /// same, no other connection has committed anything, so there is nothing to catch up on.
    var dataVersion: Int?
}

/// Chunks changed in a span of the journal, as they are now.
struct JournalChanges {
    var present: [(id: String, technology: String, vector: [Float])] = []
    var gone: [String] = []

    var count: Int { present.count + gone.count }

    func apply(to index: VectorIndex) {
        for id in gone { index.remove(id) }
        index.reserveCapacity(index.count + present.count)
        for chunk in present { index.upsert(id: chunk.id, technology: chunk.technology, vector: chunk.vector) }
    }
}

/// The journal entries one write transaction of this process added: `first` is the last entry
/// before it, `last` the last one after it.
struct JournalSpan {
    var first: Int
    var last: Int
}

extension SQLiteKnowledgeStore {
    /// True when another process (or connection) has changed chunks since the vectors in memory
    /// were last brought up to date, so `catchUpWithOtherWriters` has work to do.
    ///
    /// Cheap enough for every query: while nothing has committed, one `PRAGMA data_version` on a
    /// connection nothing else uses, otherwise also one indexed lookup of the journal's end.
    public func hasChangesFromOtherWriters() -> Bool {
        do {
            return try watcher.withLock { connection in
                let version = try connection.scalarInt("PRAGMA data_version")
                if let version, journal.withLock({ $0.dataVersion }) == version { return false }
                let last = try Self.lastJournalEntry(on: connection)
                return journal.withLock { position in
                    position.dataVersion = version
                    return last > position.seen
                }
            }
        } catch {
            // Unable to tell: say yes, and let the catch-up report what is wrong.
            return true
        }
    }

    /// Applies to the vectors in memory every chunk change in the journal after the last one they
    /// include, as the chunks are now; returns how many chunks changed. When the journal no
    /// longer reaches back that far (it is trimmed), reloads every vector instead.
    ///
    /// Runs under the writer lock, so no write of this process interleaves with it.
    @discardableResult
    public func catchUpWithOtherWriters() throws -> Int {
        let changed = try writer.withLock { connection in
            do {
                return try connection.readTransaction { try catchUp(on: connection) }
            } catch {
                // Look again next time rather than trust a data version whose changes were not applied.
                journal.withLock { $0.dataVersion = nil }
                throw error
            }
        }
        if changed > 0 { scheduleSnapshotIfDue() }
        return changed
    }

    private func catchUp(on connection: SQLiteConnection) throws -> Int {
        let seen = journal.withLock { $0.seen }
        let last = try Self.lastJournalEntry(on: connection)
        guard last > seen else { return 0 }
        // Re-embedded by another model since this process opened the store: its vectors would not
        // go with the ones in memory (nor fit them, at another width), nor with the collection
        // this process searches in Chroma.
        try checkEmbeddingModel(on: connection)
        guard keepsVectorIndex else {
            // Nothing in memory to update: what changed is only news for the result cache.
            journal.withLock { $0.seen = last }
            return last - seen
        }
        let first = try Self.firstJournalEntry(on: connection) ?? 0
        if first > seen + 1 {
            let loaded = try Self.openVectors(on: connection, dimension: dimension, storeID: storeID, snapshotPath: snapshotPath)
            vectors.withLock { $0 = loaded.index }
            journal.withLock { $0.seen = loaded.seen }
            logger.info("vectors reloaded: another process changed more chunks than the journal keeps",
                        metadata: ["rag.store.chunks": "\(loaded.index.count)", "rag.store.vectors_from": "\(loaded.origin)"])
            return loaded.index.count
        }
        // Read first, applied after: searches wait only for the updates, not for the reads.
        let changes = try Self.journalChanges(after: seen, upTo: last, on: connection)
        vectors.withLock { changes.apply(to: $0) }
        journal.withLock { $0.seen = last }
        logger.debug("vectors caught up with other writers", metadata: [
            "rag.store.changed": "\(changes.present.count)", "rag.store.removed": "\(changes.gone.count)",
        ])
        return changes.count
    }

    /// Counts every change other writers have made so far as seen, without applying any: for a
    /// process whose model no longer matches the store's (its catch-ups fail), so that only
    /// later changes count as new.
    public func skipChangesFromOtherWriters() throws {
        try watcher.withLock { connection in
            let version = try connection.scalarInt("PRAGMA data_version")
            let last = try Self.lastJournalEntry(on: connection)
            journal.withLock { position in
                position.seen = max(position.seen, last)
                position.dataVersion = version
            }
        }
    }

    /// The chunks changed by the journal entries after `seen` up to `last`, as they are now (a
    /// chunk changed twice is read once).
    static func journalChanges(after seen: Int, upTo last: Int, on connection: SQLiteConnection) throws -> JournalChanges {
        var changes = JournalChanges()
        guard last > seen else { return changes }
        let changedIDs = try connection.cached("SELECT DISTINCT chunk_id FROM chunk_journal WHERE seq > ?1 AND seq <= ?2")
        try changedIDs.bind(seen, at: 1)
        try changedIDs.bind(last, at: 2)
        var ids: [String] = []
        try changedIDs.forEachRow { ids.append(changedIDs.string(at: 0)) }
        // A chunk without its vector (copied from Chroma) is not searched here: gone, for the index.
        let current = try connection.cached("SELECT technology, vector FROM chunks WHERE id = ?1 AND length(vector) > 0")
        for id in ids {
            try current.bind(id, at: 1)
            defer { current.reset() }
            if try current.step() {
                changes.present.append((id, current.string(at: 0), current.floats(at: 1)))
            } else {
                changes.gone.append(id)
            }
        }
        return changes
    }

    /// The sequence number of the newest journal entry, 0 when there is none.
    static func lastJournalEntry(on connection: SQLiteConnection) throws -> Int {
        try connection.scalarInt("SELECT max(seq) FROM chunk_journal") ?? 0
    }

    /// The sequence number of the oldest journal entry still kept, nil when there is none.
    static func firstJournalEntry(on connection: SQLiteConnection) throws -> Int? {
        try connection.scalarInt("SELECT min(seq) FROM chunk_journal")
    }

    /// Ends a write transaction's part in the journal: trims it to its newest entries and returns
    /// the span the transaction added. Runs inside the transaction, `first` read at its start.
    func closeJournalSpan(from first: Int, on connection: SQLiteConnection) throws -> JournalSpan {
        let last = try Self.lastJournalEntry(on: connection)
        if last > journalKeep {
            let trim = try connection.cached("DELETE FROM chunk_journal WHERE seq <= ?1")
            try trim.bind(last - journalKeep, at: 1)
            try trim.run()
        }
        return JournalSpan(first: first, last: last)
    }

    /// Records that the vectors in memory now include a committed write of this process. Only when
    /// they were level with the journal when it began: otherwise others' changes lie before it, and
    /// the next catch-up applies them (and this write again, which changes nothing).
    func advanceJournal(over span: JournalSpan) {
        journal.withLock { position in
            if position.seen == span.first { position.seen = span.last }
        }
    }
}

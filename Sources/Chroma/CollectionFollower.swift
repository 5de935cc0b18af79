import Blocking
import Foundation
import Logging
import Resilience
import SQLiteLedger
import Storage
import Synchronization

/// Keeps this process's copy of the collection, its SQLite store, in step with what every process
/// writes to Chroma: the passages' text for keyword search, the sources for listing and removing.
///
/// Each catch-up reads the sources manifest's entries changed since the newest one it has seen
/// (less `overlap`: writers' clocks differ, and an entry may be written with a time just before
/// one already read), and for each entry that differs from the local copy reads the source's
/// passages (text and metadata, no vectors) or removes it. Every `fullReadInterval`, and on the
/// first catch-up of a data folder, it reads every entry instead, which repairs whatever a clock
/// further off than the overlap made it miss. A source with a change of this process's own still
/// in the outbox is left as it is: the collection's copy is the older one.
public final class CollectionFollower: Sendable {
    private let client: ChromaClient
    private let breaker: CircuitBreaker
    private let store: SQLiteKnowledgeStore
    private let logger: Logger
    /// One catch-up at a time: two would read and write the same sources.
    private let catchUps = SyncQueue()
    /// When the last full read began, and whether a catch-up has completed.
    private let progress = Mutex<(fullRead: ContinuousClock.Instant?, caughtUp: Bool)>((nil, false))

    /// How far before the newest change seen each catch-up reads again.
    static let overlap: TimeInterval = 60
    /// How often a catch-up reads the whole manifest.
    static let fullReadInterval: Duration = .seconds(600)
    /// Sources whose passages one request reads.
    static let sourcesPerRead = 64

    public init(client: ChromaClient, breaker: CircuitBreaker, store: SQLiteKnowledgeStore, logger: Logger) {
        self.client = client
        self.breaker = breaker
        self.store = store
        self.logger = logger
    }

    /// Brings the local copy level with the collection; returns how many sources changed here.
    /// Catch-ups run one at a time, so one asked for while another runs waits for it and then
    /// reads again: it sees every change acknowledged before it was asked for. Throws when Chroma
    /// cannot be read (the copy stays as it was, and serves).
    @discardableResult
    public func catchUp() async throws -> Int {
        try await catchUps.run { try await self.readChanges() }
    }

    /// True once a catch-up has completed in this process.
    public var hasCaughtUp: Bool { progress.withLock { $0.caughtUp } }

    private func readChanges() async throws -> Int {
        let started = ContinuousClock.now
        let store = self.store
        let cursor = try await BlockingExecutor.run { try store.replicaCursor() }
        let lastFullRead = progress.withLock { $0.fullRead }
        let full = cursor == nil || lastFullRead.map { started - $0 >= Self.fullReadInterval } ?? true
        let since = full ? nil : cursor.map { Date(timeIntervalSince1970: $0 - Self.overlap) }
        let entries = try await breaker.guardingChroma { try await client.sources(changedSince: since) }
        let stale = try await BlockingExecutor.run { try entries.filter { try Self.differs($0, from: store) } }
            .sorted { $0.changedAt < $1.changedAt }
        var changed = 0
        // The passages of several sources per request: a first start, or a large ingest elsewhere,
        // changes thousands.
        for start in stride(from: 0, to: stale.count, by: Self.sourcesPerRead) {
            let group = stale[start..<min(start + Self.sourcesPerRead, stale.count)]
            let wanted = group.filter { !$0.removed }.map(\.source)
            let read = wanted.isEmpty ? [:] : try await breaker.guardingChroma { try await client.passages(matching: .sources(wanted)) }
            let bySource = Dictionary(grouping: read, by: \.value.source)
            for entry in group {
                let passages = Dictionary(uniqueKeysWithValues: bySource[entry.source] ?? [])
                if try await apply(entry, passages: passages) { changed += 1 }
            }
        }
        let newest = entries.map(\.changedAt.timeIntervalSince1970).reduce(cursor) { max($0 ?? $1, $1) }
        if let newest, newest != cursor {
            try await BlockingExecutor.run { try store.setReplicaCursor(newest) }
        }
        progress.withLock { progress in
            if full { progress.fullRead = started }
            progress.caughtUp = true
        }
        if changed > 0 {
            logger.info("copied other processes' changes from Chroma", metadata: ["rag.chroma.sources_changed": "\(changed)"])
        }
        return changed
    }

    /// True when the local copy of `entry`'s source is not what the entry says. Blocking.
    private static func differs(_ entry: ChromaSourceEntry, from store: SQLiteKnowledgeStore) throws -> Bool {
        let local = try store.source(entry.source)
        guard !entry.removed else { return local != nil }
        guard let local else { return true }
        return local.contentHash != entry.contentHash || local.technology != entry.technology
            || local.chunkCount != entry.chunkCount
    }

    /// Makes the local copy of `entry`'s source match it and `passages` (the source's records in
    /// the collection); returns true when that changed anything.
    private func apply(_ entry: ChromaSourceEntry, passages: [String: ChromaPassage]) async throws -> Bool {
        let store = self.store
        if entry.removed {
            return try await BlockingExecutor.run { try store.applyReplicatedRemoval(entry.source) } != nil
        }
        let chunks = passages.map { ReplicatedChunk(id: $0.key, heading: $0.value.heading, text: $0.value.text,
                                                    ordinal: $0.value.ordinal, page: $0.value.page) }
            .sorted { ($0.ordinal, $0.id) < ($1.ordinal, $1.id) }
        // Fewer or more passages than the entry counts: a writer is still sending a newer version.
        // The copy is taken as it is, without the entry's hash, so that the next catch-up that
        // sees the entry reads the source again.
        let complete = chunks.count == entry.chunkCount
        if !complete {
            logger.debug("a source in Chroma is still being written", metadata: [
                "rag.chroma.source": "\(entry.source)", "rag.chroma.expected": "\(entry.chunkCount)",
                "rag.chroma.found": "\(chunks.count)",
            ])
        }
        let record = SourceRecord(source: entry.source, technology: entry.technology,
                                  contentHash: complete ? entry.contentHash : "", chunkCount: chunks.count,
                                  ingestedAt: entry.ingestedAt, pages: entry.pages)
        return try await BlockingExecutor.run { try store.applyReplicatedSource(record, chunks: chunks) } != nil
    }

}

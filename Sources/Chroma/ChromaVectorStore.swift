import Blocking
import Dispatch
import Foundation
import Logging
import Resilience
import SQLiteLedger
import Storage
import Synchronization

/// Semantic search in Chroma, and this process's writes sent there through the store's outbox.
///
/// The collection holds the knowledge every process shares: each passage with its vector, text,
/// source, heading, label, position, content hash and ingest time, and a manifest of sources (see
/// `ChromaSourceEntry`). Every change this process makes to its SQLite store leaves rows in the
/// store's outbox in the same transaction (the chunks' upserts and deletes, then the source's
/// entry); `sync` sends those rows to Chroma in order, deleting them once Chroma has them. A sync
/// that fails leaves them for the next one, so an ingest interrupted by Chroma going away completes
/// when it is run again, and nothing is lost or sent twice out of order. What other processes
/// write reaches this one through `CollectionFollower`.
///
/// Every call goes through one circuit breaker; `sync` also retries errors that pass on their own
/// (×2 backoff from 1 s, 3 attempts). Searches are not retried: a query falls back to keyword
/// search at once instead of waiting.
public final class ChromaVectorStore: VectorSearch {
    public let vectorBackend = VectorBackend.chroma
    public let client: ChromaClient
    public let breaker: CircuitBreaker
    private let store: SQLiteKnowledgeStore
    private let retry: RetryPolicy
    private let logger: Logger
    /// One sync at a time: two would send the same rows.
    private let syncs = SyncQueue()
    /// Set once the collection has every vector the folder held when it was bound to it.
    private let filled = Atomic(false)
    /// Changes sent, or vectors read, per round trip.
    static let batchSize = 256

    public init(client: ChromaClient, breaker: CircuitBreaker, store: SQLiteKnowledgeStore,
                retry: RetryPolicy = RetryPolicy(), logger: Logger) {
        self.client = client
        self.breaker = breaker
        self.store = store
        self.retry = retry
        self.logger = logger
    }

    /// What the data folder is bound to: the server, tenant, database and collection (its name
    /// holds the model), and the shape of the records. A folder bound before records carried their
    /// passages (and before the sources collection) is bound again, so everything it holds is sent
    /// again, whole.
    public var target: String {
        let configuration = client.configuration
        return "chroma \(configuration.baseURL)/\(configuration.tenant)/\(configuration.database)/\(configuration.name(of: .passages))"
            + " (passages and sources)"
    }

    /// The `limit` passages nearest `vector`. Throws `ChromaError.filling` while the collection is still
    /// being sent the vectors the folder held when it was bound to it (Chroma newly configured, or a
    /// re-embedding's new model): it would answer from part of them, as if the rest did not exist.
    public func nearest(to vector: [Float], limit: Int, technology: String?) async throws -> [ScoredChunk] {
        if !filled.load(ordering: .relaxed) {
            let store = self.store
            let remaining = try await BlockingExecutor.run { try store.vectorBackfillRemaining() }
            guard remaining == 0 else {
                throw ChromaError(kind: .filling, message: """
                    Chroma's collection \(client.configuration.name(of: .passages)) is still being sent this knowledge base's \
                    vectors (\(remaining) to go)
                    """)
            }
            filled.store(true, ordering: .relaxed)
        }
        let hits = try await breaker.guardingChroma { try await client.query(vector, limit: limit, filter: technology.map(ChromaFilter.technology)) }
        // Chroma's cosine distance is 1 − cosine similarity; scores are similarities, as the embedded store's.
        return hits.map { hit in
            let passage = hit.passage.map {
                StoredChunk(id: hit.id, source: $0.source, heading: $0.heading, technology: $0.technology, text: $0.text,
                            page: $0.page)
            }
            return ScoredChunk(id: hit.id, score: 1 - hit.distance, passage: passage)
        }
    }

    /// The vectors Chroma holds for those of `ids` it has: what spares an ingest from embedding
    /// passages another process embedded. Empty when Chroma cannot be asked (the ingest embeds).
    public func storedVectors(ids: [String]) async -> [String: [Float]] {
        var found: [String: [Float]] = [:]
        do {
            for start in stride(from: 0, to: ids.count, by: Self.batchSize) {
                let page = Array(ids[start..<min(start + Self.batchSize, ids.count)])
                found.merge(try await breaker.guardingChroma { try await client.embeddings(ids: page) }) { first, _ in first }
            }
        } catch {
            logger.debug("vectors could not be read from Chroma", metadata: ["rag.chroma.error": "\(error)"])
        }
        return found
    }

    /// Sends every pending change to Chroma; returns how many were sent. Throws when Chroma does not
    /// take them (they stay pending). A sync already running is waited for first. Cancelling stops
    /// it between batches (what was not acknowledged stays pending).
    @discardableResult
    public func sync() async throws -> Int {
        try await syncs.run { try await self.sendPending() }
    }

    private func sendPending() async throws -> Int {
        var sent = 0
        while true {
            try Task.checkCancellation()
            let store = self.store
            let (recorded, changes) = try await BlockingExecutor.run {
                (try store.embeddingModel(), try store.pendingVectorChanges(limit: Self.batchSize))
            }
            // Re-embedded by another model since this process bound its collection: what the
            // outbox reads now are that model's vectors, which must not reach this model's collection.
            if let model = client.configuration.model, let recorded, recorded != model {
                throw ChromaError(kind: .badRequest, message: """
                    the knowledge base was re-embedded by the model \(recorded); this process sends to the collection \
                    of \(model) and sends nothing more (restart it with the new model)
                    """)
            }
            guard let last = changes.last else { return sent }
            try await retry.run(isRetryable: { ($0 as? ChromaError)?.isTransient ?? false }) { _ in
                try await self.send(changes)
            }
            try await BlockingExecutor.run { try store.acknowledgeVectorChanges(through: last.sequence) }
            sent += changes.count
            logger.debug("vectors sent to Chroma", metadata: ["rag.chroma.sent": "\(sent)"])
        }
    }

    /// Changes waiting for Chroma.
    public func pendingCount() async -> Int {
        let store = self.store
        return (try? await BlockingExecutor.run { try store.pendingVectorChangeCount() }) ?? 0
    }

    /// Sends `changes` in order, each run of upserts, deletes or source entries as one request.
    private func send(_ changes: [PendingVectorChange]) async throws {
        var index = 0
        while index < changes.count {
            switch changes[index].operation {
            case .upsert:
                var records: [ChromaRecord] = []
                while index < changes.count,
                      case .upsert(let vector, let chunk, let ordinal, let contentHash, let ingestedAt) = changes[index].operation {
                    let passage = ChromaPassage(source: chunk.source, heading: chunk.heading, technology: chunk.technology,
                                                text: chunk.text, ordinal: ordinal, contentHash: contentHash, ingestedAt: ingestedAt,
                                                page: chunk.page)
                    records.append(ChromaRecord(id: chunk.id, embedding: vector, passage: passage))
                    index += 1
                }
                try await breaker.guardingChroma { try await client.upsert(records) }
            case .delete:
                var ids: [String] = []
                while index < changes.count, case .delete = changes[index].operation {
                    ids.append(changes[index].subject)
                    index += 1
                }
                try await breaker.guardingChroma { try await client.delete(ids: ids) }
            case .source:
                var entries: [ChromaSourceEntry] = []
                let now = Date()
                while index < changes.count, case .source(let record) = changes[index].operation {
                    entries.append(record.map {
                        ChromaSourceEntry(source: $0.source, technology: $0.technology, contentHash: $0.contentHash,
                                          chunkCount: $0.chunkCount, ingestedAt: $0.ingestedAt, removed: false, changedAt: now,
                                          pages: $0.pages)
                    } ?? .removal(of: changes[index].subject, at: now))
                    index += 1
                }
                try await breaker.guardingChroma { try await client.upsertSources(entries) }
            case .nothingToSend:
                index += 1
            }
        }
    }

    /// What `health_check` shows of Chroma.
    public struct Probe: Sendable {
        public var error: String?
        public var latencyMs: Double?
        public var version: String?
        public var count: Int?
        public var pending: Int
        public var breaker: CircuitBreaker.Snapshot
    }

    /// Asks Chroma its version and the collection's count, through the breaker.
    public func probe() async -> Probe {
        let start = DispatchTime.now().uptimeNanoseconds
        do {
            let (version, count) = try await breaker.guardingChroma { (try await client.version(), try await client.count()) }
            return Probe(error: nil, latencyMs: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6, version: version,
                         count: count, pending: await pendingCount(), breaker: breaker.snapshot)
        } catch {
            return Probe(error: String(describing: error), latencyMs: nil, version: nil, count: nil, pending: await pendingCount(),
                         breaker: breaker.snapshot)
        }
    }

}

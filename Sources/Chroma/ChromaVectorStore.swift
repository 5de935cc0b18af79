import Blocking
import Dispatch
import Foundation
import Logging
import Resilience
import SQLiteLedger
import Storage

/// Semantic search in Chroma, kept in step with the knowledge store through its vector outbox.
///
/// The SQLite store stays the ledger (sources, chunks, the keyword index, the vectors themselves);
/// every change to a chunk's vector leaves a row in its outbox in the same transaction, and `sync`
/// sends those rows to Chroma in order, deleting them once Chroma has them. A sync that fails
/// leaves them for the next one, so an ingest interrupted by Chroma going away completes when it
/// is run again, and nothing is lost or sent twice out of order.
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
    /// Changes sent per round trip.
    static let batchSize = 256

    public init(client: ChromaClient, breaker: CircuitBreaker, store: SQLiteKnowledgeStore,
                retry: RetryPolicy = RetryPolicy(), logger: Logger) {
        self.client = client
        self.breaker = breaker
        self.store = store
        self.retry = retry
        self.logger = logger
    }

    /// What the data folder is bound to: the server, tenant, database and collection.
    public var target: String {
        let configuration = client.configuration
        return "chroma \(configuration.baseURL)/\(configuration.tenant)/\(configuration.database)/\(configuration.collection)"
    }

    public func nearest(to vector: [Float], limit: Int, technology: String?) async throws -> [ScoredChunk] {
        let hits = try await guarded { try await client.query(vector, limit: limit, filter: technology.map(ChromaFilter.technology)) }
        // Chroma's cosine distance is 1 − cosine similarity; scores are similarities, as the embedded store's.
        return hits.map { ScoredChunk(id: $0.id, score: 1 - $0.distance) }
    }

    /// Sends every pending change to Chroma; returns how many were sent. Throws when Chroma does not
    /// take them (they stay pending). A sync already running is waited for first. Cancelling stops
    /// it between batches (what was not acknowledged stays pending).
    public func sync() async throws -> Int {
        try await syncs.run { try await self.sendPending() }
    }

    private func sendPending() async throws -> Int {
        var sent = 0
        while true {
            try Task.checkCancellation()
            let store = self.store
            let changes = try await BlockingExecutor.run { try store.pendingVectorChanges(limit: Self.batchSize) }
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

    /// Sends `changes` in order, each run of upserts or deletes as one request.
    private func send(_ changes: [PendingVectorChange]) async throws {
        var index = 0
        while index < changes.count {
            if case .upsert = changes[index].operation {
                var records: [ChromaRecord] = []
                while index < changes.count, case .upsert(let vector, let source, let technology) = changes[index].operation {
                    records.append(ChromaRecord(id: changes[index].chunkID, embedding: vector, source: source, technology: technology))
                    index += 1
                }
                try await guarded { try await client.upsert(records) }
            } else {
                var ids: [String] = []
                while index < changes.count, case .delete = changes[index].operation {
                    ids.append(changes[index].chunkID)
                    index += 1
                }
                try await guarded { try await client.delete(ids: ids) }
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
            let (version, count) = try await guarded { (try await client.version(), try await client.count()) }
            return Probe(error: nil, latencyMs: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6, version: version,
                         count: count, pending: await pendingCount(), breaker: breaker.snapshot)
        } catch {
            return Probe(error: String(describing: error), latencyMs: nil, version: nil, count: nil, pending: await pendingCount(),
                         breaker: breaker.snapshot)
        }
    }

    private func guarded<T>(_ body: () async throws -> T) async throws -> T {
        try await breaker.run(isFailure: { ($0 as? ChromaError)?.countsAsOutage ?? true }, body)
    }
}

/// Runs one operation at a time, in the order they were asked for.
private actor SyncQueue {
    private var running: Task<Int, any Error>?

    func run(_ operation: @escaping @Sendable () async throws -> Int) async throws -> Int {
        // Re-checked after every wait: another caller may have started in between.
        while let current = running { _ = try? await current.value }
        let task = Task { try await operation() }
        running = task
        defer { running = nil }
        return try await withTaskCancellationHandler { try await task.value } onCancel: { task.cancel() }
    }
}

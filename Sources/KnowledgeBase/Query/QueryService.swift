import Blocking
import Dispatch
import Embeddings
import Foundation
import Logging
import SQLiteLedger
import Storage
import Telemetry

/// Answers queries: cache, embedding, semantic and keyword search, fusion, tracking.
public final class QueryService: Sendable {
    private let store: SQLiteKnowledgeStore
    private let retriever: Retriever
    private let tracker: any QueryTracker
    private let cache: any ResultCache
    private let cacheEnabled: Bool
    private let logger: Logger
    /// Counts written in the background, for `countsWritten()`.
    private let countsInFlight = CountsInFlight()
    /// Names the model in cache keys, so results from another model are never served.
    private let modelKey: String
    private let metrics: RagMetrics

    package init(store: SQLiteKnowledgeStore, vectors: (any VectorSearch)? = nil, embeddings: EmbeddingService,
                tracker: any QueryTracker, cache: any ResultCache, cacheEnabled: Bool, modelKey: String,
                modelState: VectorModelState = VectorModelState(), metrics: RagMetrics = .disabled, logger: Logger) {
        self.store = store
        retriever = Retriever(store: store, vectors: vectors, embeddings: embeddings, modelState: modelState)
        self.tracker = tracker
        self.cache = cache
        self.cacheEnabled = cacheEnabled
        self.modelKey = modelKey
        self.metrics = metrics
        self.logger = logger
    }

    /// Candidates taken from each ranking before fusion: enough that a passage ranked well by one
    /// method but outside the other's top k still gets fused.
    static func candidateCount(limit: Int) -> Int { max(limit * 4, 50) }

    /// Checks `request` and returns it normalised (query trimmed, empty filter dropped).
    public static func validate(_ request: QueryRequest) throws -> QueryRequest {
        var request = request
        request.query = request.query.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !request.query.isEmpty else { throw InvalidRequest("query is empty: give the words or question to search for") }
        guard InputLength.fits(request.query, QueryRequest.maxQueryCharacters) else {
            throw InvalidRequest("query is \(InputLength.describe(request.query, limit: QueryRequest.maxQueryCharacters)) long; "
                + "the limit is \(QueryRequest.maxQueryCharacters)")
        }
        guard QueryRequest.resultLimitRange.contains(request.limit) else {
            throw InvalidRequest("n_results must be between \(QueryRequest.resultLimitRange.lowerBound) and \(QueryRequest.resultLimitRange.upperBound); got \(request.limit)")
        }
        if let technology = request.technology, !technology.allSatisfy(\.isWhitespace) {
            // A label that could never have been stored matches nothing: say so rather than answer empty.
            request.technology = try TechnologyLabel.validate(technology, field: "technology_filter")
        } else {
            request.technology = nil
        }
        return request
    }

    /// The answer to `request`. Throws `InvalidRequest` for bad input; a failing part (the model)
    /// degrades the answer instead of failing it.
    public func query(_ request: QueryRequest) async throws -> QueryResponse {
        let start = DispatchTime.now().uptimeNanoseconds
        let request = try Self.validate(request)
        let timings = StageTimings()
        await timings.measure("catch_up") { await followOtherWriters() }
        let key = cacheKey(request)
        if cacheEnabled && request.useCache, let cached = await cache.value(forKey: key, now: Date()),
           let results = CachedResults.decode(cached) {
            track(request)
            record(request, mode: request.mode, since: start, cacheHit: true, timings: nil)
            return QueryResponse(query: request.query, mode: request.mode, results: results,
                                 tookMs: Self.milliseconds(since: start), cacheHit: true, degraded: false, degradedReason: nil)
        }

        let (ranked, mode, degradedReason) = try await rank(request, timings: timings)
        let results = try await timings.measure("resolve") { try await resolve(ranked) }
        if degradedReason == nil && cacheEnabled {
            await cache.store(CachedResults.encode(results), forKey: key, now: Date())
        }
        track(request)
        let tookMs = Self.milliseconds(since: start)
        logger.debug("query answered", metadata: timings.metadata(total: tookMs, mode: mode))
        record(request, mode: mode, since: start, cacheHit: false, timings: timings)
        return QueryResponse(query: request.query, mode: mode, results: results, tookMs: tookMs,
                             cacheHit: false, degraded: degradedReason != nil, degradedReason: degradedReason)
    }

    /// The ranked chunks for `request`, the mode that produced them, and why it differs from the
    /// requested one, if it does.
    private func rank(_ request: QueryRequest, timings: StageTimings) async throws -> ([ScoredChunk], SearchMode, String?) {
        let depth = request.mode == .hybrid ? Self.candidateCount(limit: request.limit) : request.limit
        let ranking = try await retriever.rank(request.query, technology: request.technology, mode: request.mode,
                                               limit: request.limit, searchDepth: depth, timings: timings)
        return (ranking.hits, ranking.mode, ranking.degradedReason)
    }

    /// Brings the vectors in memory level with what other processes sharing the data folder have
    /// written, and drops the cached answers those writes made stale. A failure is logged and the
    /// query answered from what memory holds: a stale answer, not none.
    private func followOtherWriters() async {
        let store = self.store
        // A SQLite call, however short, stays off the cooperative pool.
        guard (try? await BlockingExecutor.run { store.hasChangesFromOtherWriters() }) ?? true else { return }
        do {
            let changed = try await BlockingExecutor.run { try store.catchUpWithOtherWriters() }
            if changed > 0 { await cache.removeAll() }
        } catch {
            let known = retriever.modelState.current?.reembeddedWhileRunning == true
            if retriever.modelState.note(error) {
                // Re-embedded by another model: no vector of it can be taken in, but its writes still
                // change the keyword answers. What changed so far counts as seen, and the cache goes;
                // the next change does the same.
                try? await BlockingExecutor.run { try store.skipChangesFromOtherWriters() }
                await cache.removeAll()
                if known { return }
            }
            logger.warning("could not read other processes' changes to the knowledge base",
                           metadata: ["rag.store.error": "\(error)"])
        }
    }

    /// Looks up the text and metadata of ranked ids, keeping the ranking's order. Hits that came
    /// with their passage (from Chroma) need no lookup.
    private func resolve(_ ranked: [ScoredChunk]) async throws -> [QueryResult] {
        guard !ranked.isEmpty else { return [] }
        let store = self.store
        let unresolved = ranked.filter { $0.passage == nil }.map(\.id)
        let chunks = unresolved.isEmpty ? [:] : try await BlockingExecutor.run { try store.chunks(ids: unresolved) }
        var results: [QueryResult] = []
        for hit in ranked {
            // A chunk removed between search and lookup is simply left out.
            guard let chunk = hit.passage ?? chunks[hit.id] else { continue }
            results.append(QueryResult(id: chunk.id, text: chunk.text, source: chunk.source, heading: chunk.heading,
                                       technology: chunk.technology, score: hit.score, rank: results.count + 1,
                                       page: chunk.page))
        }
        return results
    }

    /// Times the query and its stages in the metrics: a client's queries only (those it tracks),
    /// not the cache warmer's.
    private func record(_ request: QueryRequest, mode: SearchMode, since start: UInt64, cacheHit: Bool, timings: StageTimings?) {
        guard request.tracked else { return }
        metrics.query(mode: mode.rawValue, nanoseconds: DispatchTime.now().uptimeNanoseconds - start, cacheHit: cacheHit)
        for (stage, ms) in timings?.recorded ?? [] {
            if let name = MetricCatalog.stages[stage] { metrics.queryStage(name, nanoseconds: UInt64(ms * 1e6)) }
        }
    }

    /// Counts the query without making the caller wait; a tracking failure is logged, never raised.
    /// A tracker that only buffers is called inline, so the count is in before the answer goes
    /// out (a report asked for next sees it); one that writes is called on a thread of its own.
    private func track(_ request: QueryRequest) {
        guard request.tracked else { return }
        let tracker = self.tracker
        let logger = self.logger
        let record: @Sendable () -> Void = {
            do {
                try tracker.track(query: request.query, technologyFilter: request.technology, at: Date())
            } catch {
                logger.warning("query tracking failed", metadata: ["rag.tracker.error": "\(error)"])
            }
        }
        if tracker.tracksWithoutBlocking {
            record()
        } else {
            let counts = countsInFlight
            let ticket = counts.begin()
            BlockingExecutor.detach {
                record()
                counts.finish(ticket)
            }
        }
    }

    /// Returns once the counts of the queries answered so far are written, so that a report read
    /// next includes them.
    func countsWritten() async {
        await countsInFlight.settled()
        // A buffered tracker (Redis) has them once its writer has sent them.
        await tracker.waitForPendingUses()
    }

    /// The cache key: everything that changes the answer.
    func cacheKey(_ request: QueryRequest) -> String {
        [modelKey, request.mode.rawValue, String(request.limit), request.technology ?? "",
         QueryNormalizer.normalize(request.query)].joined(separator: "\u{1F}")
    }

    static func milliseconds(since start: UInt64) -> Double {
        Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
    }
}

import Dispatch
import Foundation
import KnowledgeBase
import Logging
import Redis
import Storage

/// What Redis costs a query: the tracking overhead and a cache hit's latency, measured in-process
/// through the real `QueryService` against the runtime's Redis.
public struct RedisQueryBenchmark: Sendable {
    public struct Latency: Sendable, Codable, Equatable {
        public var p50Ms: Double
        public var p99Ms: Double
        public var samples: Int

        init(_ nanoseconds: [UInt64]) {
            let sorted = nanoseconds.sorted().map { Double($0) / 1e6 }
            p50Ms = nearestRank(sorted, 0.5)
            p99Ms = nearestRank(sorted, 0.99)
            samples = sorted.count
        }

        enum CodingKeys: String, CodingKey {
            case p50Ms = "p50_ms"
            case p99Ms = "p99_ms"
            case samples
        }
    }

    public struct Report: Sendable, Codable, Equatable {
        public var endpoint: String
        public var serverVersion: String?
        public var mode: SearchMode
        public var chunks: Int
        /// PING round trip on loopback (or wherever the server is).
        public var roundTrip: Latency
        /// Queries without the cache, tracked and not, interleaved.
        public var untracked: Latency
        public var tracked: Latency
        /// tracked p50 − untracked p50.
        public var trackingOverheadP50Ms: Double
        /// Tracked uses Redis holds at the end, of those sent.
        public var trackedWritten: Int
        public var trackedSent: Int
        /// Repeated queries answered from the Redis cache, and from an in-process cache for comparison.
        public var redisCacheHit: Latency
        public var memoryCacheHit: Latency

        enum CodingKeys: String, CodingKey {
            case endpoint
            case serverVersion = "server_version"
            case mode, chunks
            case roundTrip = "round_trip"
            case untracked, tracked
            case trackingOverheadP50Ms = "tracking_overhead_p50_ms"
            case trackedWritten = "tracked_written"
            case trackedSent = "tracked_sent"
            case redisCacheHit = "redis_cache_hit"
            case memoryCacheHit = "memory_cache_hit"
        }
    }

    public var queries: Int
    public var mode: SearchMode

    public init(queries: Int = 400, mode: SearchMode = .hybrid) {
        self.queries = max(20, queries)
        self.mode = mode
    }

    /// The questions asked, varied enough that no two share a cache entry.
    public static func question(_ index: Int) -> String {
        let topics = ["storage", "network", "security", "memory", "scheduling", "logging", "caching", "parsing"]
        return "how does the \(topics[index % topics.count]) layer handle case \(index)"
    }

    /// Runs every measurement against `knowledgeBase`, whose tracker and cache must be in Redis,
    /// first filling it with generated notes when it is empty (files written to `scratch`). The
    /// benchmark's own Redis keys are deleted at the end.
    public func run(on knowledgeBase: KnowledgeBase, scratch: URL, logger: Logger) async throws -> Report {
        let runtime = try await knowledgeBase.engine()
        guard runtime.redis != nil, runtime.tracker is BufferedQueryTracker else {
            throw InvalidRequest("the Redis benchmark needs REDIS_URL (or --redis-url)")
        }
        if runtime.store.chunkCount() == 0 { try await fill(runtime, folder: scratch) }
        let report = try await measure(runtime, logger: logger)
        _ = await knowledgeBase.deleteSharedData()
        return report
    }

    /// Writes and ingests 200 short generated notes, so the searches have something to find.
    private func fill(_ runtime: KnowledgeBaseEngine, folder: URL) async throws {
        let notes = folder.appendingPathComponent("bench-notes")
        try FileManager.default.createDirectory(at: notes, withIntermediateDirectories: true)
        for index in 0..<200 {
            let text = "# Note \(index)\n\n" + (0..<4).map { "\(Self.question(index * 4 + $0)) with detail \($0)." }
                .joined(separator: " ")
            try text.write(to: notes.appendingPathComponent("note-\(index).md"), atomically: true, encoding: .utf8)
        }
        _ = try await runtime.ingestor.ingest(IngestRequest(paths: [notes.path], technology: "bench"))
    }

    private func measure(_ runtime: KnowledgeBaseEngine, logger: Logger) async throws -> Report {
        guard let redis = runtime.redis, let tracker = runtime.tracker as? BufferedQueryTracker else {
            throw InvalidRequest("the Redis benchmark needs REDIS_URL (or --redis-url)")
        }
        _ = try await runtime.embeddings.model()
        let probe = await redis.probe()
        if let error = probe.error { throw InvalidRequest("Redis does not answer: \(error)") }

        var pings: [UInt64] = []
        for _ in 0..<200 {
            let start = DispatchTime.now().uptimeNanoseconds
            _ = try await redis.run { try $0.send(["PING"]) }
            pings.append(DispatchTime.now().uptimeNanoseconds - start)
        }

        // Warm-up, then tracked and untracked queries interleaved, so drift affects both alike.
        for index in 0..<20 { _ = try await runtime.queries.query(request(index, tracked: false, cached: false)) }
        let before = try await tracker.reportTotals(now: Date()).total
        var untracked: [UInt64] = []
        var tracked: [UInt64] = []
        for index in 0..<queries {
            let track = index % 2 == 1
            let elapsed = try await time { _ = try await runtime.queries.query(request(index, tracked: track, cached: false)) }
            if track { tracked.append(elapsed) } else { untracked.append(elapsed) }
        }
        await tracker.flush(timeout: .seconds(10))
        let written = try await tracker.reportTotals(now: Date()).total - before

        let redisHits = try await cacheHits(runtime.queries)
        let memoryQueries = QueryService(store: runtime.store, embeddings: runtime.embeddings, tracker: runtime.tracker,
                                         cache: MemoryResultCache(), cacheEnabled: true, modelKey: "bench", logger: logger)
        let memoryHits = try await cacheHits(memoryQueries)

        let untrackedLatency = Latency(untracked)
        let trackedLatency = Latency(tracked)
        return Report(endpoint: redis.endpoint.description, serverVersion: probe.serverVersion, mode: mode,
                      chunks: runtime.store.chunkCount(), roundTrip: Latency(pings), untracked: untrackedLatency,
                      tracked: trackedLatency, trackingOverheadP50Ms: trackedLatency.p50Ms - untrackedLatency.p50Ms,
                      trackedWritten: written, trackedSent: tracked.count, redisCacheHit: Latency(redisHits),
                      memoryCacheHit: Latency(memoryHits))
    }

    /// Fills the cache with 20 answers, then times repeats of them (untracked, so only the cache is measured).
    private func cacheHits(_ service: QueryService) async throws -> [UInt64] {
        for index in 0..<20 { _ = try await service.query(request(index, tracked: false, cached: true)) }
        var hits: [UInt64] = []
        var missed = 0
        for index in 0..<queries {
            var hit = false
            let elapsed = try await time { hit = try await service.query(request(index % 20, tracked: false, cached: true)).cacheHit }
            if hit { hits.append(elapsed) } else { missed += 1 }
        }
        guard missed == 0 else { throw InvalidRequest("\(missed) of \(queries) repeated queries missed the cache") }
        return hits
    }

    private func request(_ index: Int, tracked: Bool, cached: Bool) -> QueryRequest {
        QueryRequest(query: Self.question(index), mode: mode, useCache: cached, tracked: tracked)
    }

    private func time(_ body: () async throws -> Void) async rethrows -> UInt64 {
        let start = DispatchTime.now().uptimeNanoseconds
        try await body()
        return DispatchTime.now().uptimeNanoseconds - start
    }
}

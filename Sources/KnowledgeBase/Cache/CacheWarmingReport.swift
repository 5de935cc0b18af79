import Foundation
import Storage

/// What `get_cache_warming_stats` returns: the most asked queries and how the cache does.
public struct CacheWarmingReport: Sendable, Codable, Equatable {
    public struct Query: Sendable, Codable, Equatable {
        public var query: String
        public var count: Int
        public var lastAccessed: Date
        public var technologyFilter: String?

        enum CodingKeys: String, CodingKey {
            case query, count
            case lastAccessed = "last_accessed"
            case technologyFilter = "technology_filter"
        }
    }

    public struct Cache: Sendable, Codable, Equatable {
        public var backend: String
        public var enabled: Bool
        public var entries: Int
        public var hits: Int
        public var misses: Int
        /// Lookups that skipped a cache that was unavailable (Redis down).
        public var bypassed: Int
        public var hitRate: Double
        /// Queries answered into the cache by the last warm-up.
        public var warmed: Int
        public var lastWarmAt: Date?
        public var warmMs: Double?

        enum CodingKeys: String, CodingKey {
            case backend, enabled, entries, hits, misses, bypassed
            case hitRate = "hit_rate"
            case warmed
            case lastWarmAt = "last_warm_at"
            case warmMs = "warm_ms"
        }
    }

    public var totalUniqueQueries: Int
    public var totalQueries: Int
    public var topQueries: [Query]
    public var cache: Cache
    /// Where the query statistics live ("sqlite" or "redis").
    public var backend: String
    /// Uses this process holds back because the tracker does not take them now.
    public var tracking: TrackingBacklog
    /// True when the statistics could not be read (the figures above are then zero).
    public var degraded: Bool
    public var degradedReason: String?
    /// Top queries left out to keep an assistant's answer small (`cappedForAnswer`); nil when none were.
    public var topQueriesOmitted: Int?

    enum CodingKeys: String, CodingKey {
        case totalUniqueQueries = "total_unique_queries"
        case totalQueries = "total_queries"
        case topQueries = "top_queries"
        case cache, backend, tracking, degraded
        case degradedReason = "degraded_reason"
        case topQueriesOmitted = "top_queries_omitted"
    }

    /// How many top queries a report may be asked for.
    public static let topRange = 1...1000

    /// The report with as many of the top queries, most asked first, as fit in the bytes the lists of
    /// an answer share (`AnswerBudget`): a thousand queries of up to 4 KB each would be megabytes.
    public func cappedForAnswer() -> CacheWarmingReport {
        let kept = AnswerBudget.prefix(topQueries, maxBytes: AnswerBudget.listBytes) {
            AnswerBudget.perCopy($0.query) + ($0.technologyFilter?.utf8.count ?? 0) + 100
        }
        guard kept.omitted > 0 else { return self }
        var capped = self
        capped.topQueries = kept.kept
        capped.topQueriesOmitted = kept.omitted
        return capped
    }
}

extension KnowledgeBaseEngine {
    /// The `top` most asked queries with totals and cache figures. A tracker that cannot be read
    /// degrades the report; it does not fail it.
    func cacheWarmingReport(top: Int) async -> CacheWarmingReport {
        let tracker = self.tracker
        await queries.countsWritten()
        let read = await Result(awaiting: {
            let now = Date()
            return (try await tracker.reportTopQueries(limit: top, now: now), try await tracker.reportTotals(now: now))
        })
        let (queries, totals) = (try? read.get()) ?? ([], (unique: 0, total: 0))
        let statistics = await cache.statistics()
        let warm = warmer.current
        return CacheWarmingReport(
            totalUniqueQueries: totals.unique, totalQueries: totals.total,
            topQueries: queries.map {
                .init(query: $0.query, count: $0.count, lastAccessed: $0.lastAccessed, technologyFilter: $0.technologyFilter)
            },
            cache: .init(backend: cache.backendName, enabled: configuration.cacheTimeToLive > 0, entries: statistics.entries,
                         hits: statistics.hits, misses: statistics.misses, bypassed: statistics.bypassed,
                         hitRate: statistics.hitRate, warmed: warm.warmed, lastWarmAt: warm.lastWarmAt, warmMs: warm.warmMs),
            backend: tracker.backendName, tracking: tracker.backlog,
            degraded: read.failure != nil,
            degradedReason: read.failure.map { "the \(tracker.backendName) query statistics cannot be read now: \($0)" })
    }
}

extension Result where Failure == any Error {
    /// Runs `body`, keeping its error.
    init(awaiting body: () async throws -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
    }

    var failure: (any Error)? {
        if case .failure(let error) = self { return error }
        return nil
    }
}

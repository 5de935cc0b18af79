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
        public var hitRate: Double
        /// Queries answered into the cache by the last warm-up.
        public var warmed: Int
        public var lastWarmAt: Date?
        public var warmMs: Double?

        enum CodingKeys: String, CodingKey {
            case backend, enabled, entries, hits, misses
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
    /// Where the query statistics live ("sqlite", later "redis").
    public var backend: String

    enum CodingKeys: String, CodingKey {
        case totalUniqueQueries = "total_unique_queries"
        case totalQueries = "total_queries"
        case topQueries = "top_queries"
        case cache, backend
    }
}

extension KnowledgeBaseRuntime {
    /// The `top` most asked queries with totals and cache figures.
    public func cacheWarmingReport(top: Int) async throws -> CacheWarmingReport {
        let tracker = self.tracker
        let (queries, totals) = try await BlockingExecutor.run {
            let now = Date()
            return (try tracker.topQueries(limit: top, now: now), try tracker.totals(now: now))
        }
        let statistics = cache.statistics()
        let warm = warmer.current
        return CacheWarmingReport(
            totalUniqueQueries: totals.unique, totalQueries: totals.total,
            topQueries: queries.map {
                .init(query: $0.query, count: $0.count, lastAccessed: $0.lastAccessed, technologyFilter: $0.technologyFilter)
            },
            cache: .init(backend: cache.backendName, enabled: configuration.cacheTimeToLive > 0, entries: statistics.entries,
                         hits: statistics.hits, misses: statistics.misses, hitRate: statistics.hitRate, warmed: warm.warmed,
                         lastWarmAt: warm.lastWarmAt, warmMs: warm.warmMs),
            backend: tracker.backendName)
    }
}

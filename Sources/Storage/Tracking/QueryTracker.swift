import Foundation

/// Counts the queries people ask, for `get_cache_warming_stats` and for warming the result cache.
///
/// Implementations are synchronous and thread-safe; callers run them off Swift's cooperative pool.
/// Entries not asked for `retention` (30 days by default) expire.
public protocol QueryTracker: Sendable {
    /// A short name for reports ("sqlite", "redis").
    var backendName: String { get }
    /// Records one use of `query` (any form; it is normalised with `QueryNormalizer`) at `date`.
    func track(query: String, technologyFilter: String?, at date: Date) throws
    /// The `limit` most asked queries not expired at `now`, most asked first (ties: most recent first).
    func topQueries(limit: Int, now: Date) throws -> [TrackedQuery]
    /// Unique queries and the sum of their counts, not expired at `now`.
    func totals(now: Date) throws -> (unique: Int, total: Int)
}

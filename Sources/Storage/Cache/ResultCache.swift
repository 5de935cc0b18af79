import Foundation

/// Figures a result cache reports in `get_cache_warming_stats` and `health_check`.
public struct ResultCacheStatistics: Sendable, Equatable, Codable {
    /// Entries held now (expired ones not yet evicted included).
    public var entries: Int
    /// Lookups answered from the cache.
    public var hits: Int
    /// Lookups that found nothing (or an expired entry), bypassed ones included.
    public var misses: Int
    /// Lookups that skipped the cache because it was unavailable (a remote cache that is down).
    public var bypassed: Int
    /// Bytes held by the cached values and keys in this process.
    public var bytes: Int

    /// hits / (hits + misses), 0 before the first lookup.
    public var hitRate: Double { hits + misses == 0 ? 0 : Double(hits) / Double(hits + misses) }

    public init(entries: Int, hits: Int, misses: Int, bypassed: Int = 0, bytes: Int) {
        self.entries = entries
        self.hits = hits
        self.misses = misses
        self.bypassed = bypassed
        self.bytes = bytes
    }
}

/// Holds encoded query results by key for a limited time.
///
/// Implementations are thread-safe and never throw: a cache that cannot answer is a miss. Values
/// are opaque bytes so that a remote cache (Redis) holds exactly what the in-process one does. The
/// calls are async because a remote cache waits on the network (off Swift's cooperative pool).
public protocol ResultCache: Sendable {
    /// A short name for reports ("memory", "redis").
    var backendName: String { get }
    /// The value stored under `key`, unless it has expired at `now`.
    func value(forKey key: String, now: Date) async -> Data?
    /// Stores `value` under `key` until `now + timeToLive`.
    func store(_ value: Data, forKey key: String, now: Date) async
    /// Drops every entry (after the knowledge base changed, say).
    func removeAll() async
    /// Current figures.
    func statistics() async -> ResultCacheStatistics
}

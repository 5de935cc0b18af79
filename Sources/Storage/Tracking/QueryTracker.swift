import Foundation

/// Counts the queries people ask, for `get_cache_warming_stats` and for warming the result cache.
///
/// Implementations are thread-safe. `track` may block (a local file); callers run it off Swift's
/// cooperative pool unless `tracksWithoutBlocking`. Reports are async: a tracker does its blocking
/// reads on the blocking executor, a network one only once it holds a connection. Entries not
/// asked for `retention` (30 days by default) expire.
public protocol QueryTracker: Sendable {
    /// A short name for reports ("sqlite", "redis").
    var backendName: String { get }
    /// Records one use of `query` (any form; it is normalised with `QueryNormalizer`) at `date`.
    func track(query: String, technologyFilter: String?, at date: Date) throws
    /// Uses accepted but not yet recorded where reports read them; nothing for a local tracker.
    var backlog: TrackingBacklog { get }
    /// True when `track` only hands the use over (it never waits on a disk or a network), so a
    /// caller may call it inline instead of on a thread of its own.
    var tracksWithoutBlocking: Bool { get }
    /// Returns once the uses handed over so far can be read by reports, or after the tracker's
    /// patience; at once for a tracker that records them as they come.
    func waitForPendingUses() async
    /// The `limit` most asked queries not expired at `now`, most asked first (ties: most recent first).
    func reportTopQueries(limit: Int, now: Date) async throws -> [TrackedQuery]
    /// Unique queries and the sum of their counts, not expired at `now`.
    func reportTotals(now: Date) async throws -> (unique: Int, total: Int)
}

extension QueryTracker {
    public var backlog: TrackingBacklog { TrackingBacklog() }
    public var tracksWithoutBlocking: Bool { false }
    public func waitForPendingUses() async {}
}

/// One use of a query, as a tracker records it.
public struct QueryUse: Sendable, Equatable {
    public var query: String
    public var technologyFilter: String?
    public var date: Date

    public init(query: String, technologyFilter: String?, date: Date) {
        self.query = query
        self.technologyFilter = technologyFilter
        self.date = date
    }
}

/// A tracker that records many uses in one call (one round trip to a server), each batch once:
/// what `BufferedQueryTracker` writes its buffer to.
public protocol BatchQueryTracker: Sendable {
    /// A short name for reports ("redis").
    var backendName: String { get }
    /// Records `uses` unless a batch of this `id` was recorded already: a batch sent again after a
    /// failure (its first sending may have been applied as the connection broke) counts once.
    /// Its blocking work runs on the blocking executor.
    func track(_ uses: [QueryUse], batch id: String) async throws
    /// As `QueryTracker.reportTopQueries`.
    func reportTopQueries(limit: Int, now: Date) async throws -> [TrackedQuery]
    /// As `QueryTracker.reportTotals`.
    func reportTotals(now: Date) async throws -> (unique: Int, total: Int)
}

/// Tracking work held back because the backend could not take it.
public struct TrackingBacklog: Sendable, Equatable, Codable {
    /// Uses waiting to be written.
    public var pending: Int
    /// Uses thrown away since start because the buffer was full (the oldest go first).
    public var dropped: Int
    /// Why the last write failed; nil once a write succeeds.
    public var lastError: String?

    public init(pending: Int = 0, dropped: Int = 0, lastError: String? = nil) {
        self.pending = pending
        self.dropped = dropped
        self.lastError = lastError
    }

    enum CodingKeys: String, CodingKey {
        case pending, dropped
        case lastError = "last_error"
    }
}

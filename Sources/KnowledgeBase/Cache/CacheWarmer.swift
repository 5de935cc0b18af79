import Dispatch
import Foundation
import Logging
import Redis
import Resilience
import Storage
import Synchronization

/// Runs the most asked queries once at startup so their answers are cached before anyone asks.
///
/// Warming uses the defaults a client would (5 results, the default mode) and the technology filter
/// each query was last asked with; it does not count as asking (the tracker is left alone).
public final class CacheWarmer: Sendable {
    /// What the last warm-up did.
    public struct Statistics: Sendable, Codable, Equatable {
        /// Queries answered into the cache.
        public var warmed: Int
        /// When the last warm-up finished; nil before the first.
        public var lastWarmAt: Date?
        /// How long it took, in milliseconds.
        public var warmMs: Double?
        /// Set while a warm-up is running.
        public var running: Bool
    }

    private let queries: QueryService
    private let tracker: any QueryTracker
    private let topQueries: Int
    private let retry: RetryPolicy
    private let logger: Logger
    private let statistics = Mutex(Statistics(warmed: 0, lastWarmAt: nil, warmMs: nil, running: false))

    public init(queries: QueryService, tracker: any QueryTracker, topQueries: Int, retry: RetryPolicy = RetryPolicy(),
                logger: Logger) {
        self.queries = queries
        self.retry = retry
        self.tracker = tracker
        self.topQueries = topQueries
        self.logger = logger
    }

    /// The figures of the last warm-up.
    public var current: Statistics { statistics.withLock { $0 } }

    /// Answers the top queries into the cache; failures are logged and skipped.
    public func warm() async {
        guard topQueries > 0 else { return }
        statistics.withLock { $0.running = true }
        let start = DispatchTime.now().uptimeNanoseconds
        let tracker = self.tracker
        let limit = topQueries
        // Warming runs in the background, so it can wait for a tracker that is restarting.
        let top: [TrackedQuery]
        do {
            top = try await retry.run(isRetryable: { ($0 as? RedisError)?.isTransient ?? false }) { _ in
                try await tracker.reportTopQueries(limit: limit, now: Date())
            }
        } catch {
            logger.warning("cache warming skipped: the top queries could not be read", metadata: ["rag.warm.error": "\(error)"])
            top = []
        }
        var warmed = 0
        for entry in top {
            if Task.isCancelled { break }
            let request = QueryRequest(query: entry.query, technology: entry.technologyFilter, tracked: false)
            do {
                let response = try await queries.query(request)
                if !response.degraded { warmed += 1 }
            } catch {
                logger.debug("cache warming skipped a query", metadata: ["rag.warm.error": "\(error)"])
            }
        }
        let milliseconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
        statistics.withLock { $0 = Statistics(warmed: warmed, lastWarmAt: Date(), warmMs: milliseconds, running: false) }
        logger.info("result cache warmed", metadata: ["rag.warm.queries": "\(warmed)", "rag.warm.ms": "\(Int(milliseconds))"])
    }
}

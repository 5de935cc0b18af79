import Blocking
import Foundation
import Logging
@testable import Redis
import Resilience
import Testing
import TestSupport

@Suite struct RedisResultCacheTests {
    private let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
    private let prefix = RedisTestServers.prefix()

    private func dependency(_ endpoint: RedisEndpoint, breaker: CircuitBreaker = CircuitBreaker(name: "redis")) -> RedisDependency {
        RedisDependency(pool: RedisConnectionPool(configuration: .init(endpoint: endpoint)), breaker: breaker)
    }

    private func cache(_ redis: RedisDependency, timeToLive: TimeInterval = 600) -> RedisResultCache {
        RedisResultCache(redis: redis, prefix: prefix, timeToLive: timeToLive, logger: logger)
    }

    /// Every byte value, a NUL, protocol-shaped text and a megabyte: the cache holds bytes, not text.
    private let awkwardValue = Data(Array(0...255) + Array("\r\n*3\r\n$3\r\nDEL\r\n".utf8) + [UInt8](repeating: 7, count: 1 << 20))

    @Test func aStoredValueComesBackByteForByte() async throws {
        let redis = dependency(try RedisTestServers.plain)
        let cache = cache(redis)
        let now = Date()
        #expect(await cache.value(forKey: "k\u{1F}query", now: now) == nil)
        let stored = Date()
        await cache.store(awkwardValue, forKey: "k\u{1F}query", now: now)
        #expect(await cache.value(forKey: "k\u{1F}query", now: now) == awkwardValue)
        let statistics = await cache.statistics()
        #expect(statistics.hits == 1 && statistics.misses == 1 && statistics.bypassed == 0)
        #expect(statistics.entries == 1)
        let ttl = try await redis.run { try $0.send(["TTL", cache.entryKey("k\u{1F}query")]) }.number
        // The entry expires 600 s after it was stored: less what has passed since (a loaded machine
        // can take seconds over this test).
        let passed = Date().timeIntervalSince(stored).rounded(.up)
        #expect(ttl.map { $0 >= 600 - passed - 1 && $0 <= 600 } == true, "\(String(describing: ttl)) after \(passed) s")
    }

    @Test func anotherProcessSharesEntriesAndClearingReachesEveryone() async throws {
        let first = cache(dependency(try RedisTestServers.plain))
        let second = cache(dependency(try RedisTestServers.plain))
        let now = Date()
        _ = await first.value(forKey: "shared", now: now)
        await first.store(Data("answer".utf8), forKey: "shared", now: now)
        #expect(await second.value(forKey: "shared", now: now) == Data("answer".utf8))
        await second.removeAll()
        #expect(await first.value(forKey: "shared", now: now) == nil)
        #expect(await first.statistics().entries == 0)
    }

    @Test func anAnswerComputedBeforeAClearIsNotServedAfterIt() async throws {
        let cache = cache(dependency(try RedisTestServers.plain))
        let now = Date()
        _ = await cache.value(forKey: "racing", now: now)  // the lookup, before the knowledge base changes
        await cache.removeAll()  // an ingest finishes while the query is being answered
        await cache.store(Data("stale".utf8), forKey: "racing", now: now)
        #expect(await cache.value(forKey: "racing", now: now) == nil)
        // A key never looked up has no known generation, so it is not stored at all.
        await cache.store(Data("unasked".utf8), forKey: "never looked up", now: now)
        #expect(await cache.value(forKey: "never looked up", now: now) == nil)
    }

    @Test func anUnreachableServerIsBypassedAndOpensTheBreaker() async throws {
        let breaker = CircuitBreaker(name: "redis", configuration: .init(failureThreshold: 3, openDuration: .seconds(60)))
        let cache = cache(dependency(try RedisEndpoint(url: "redis://127.0.0.1:1/0"), breaker: breaker))
        for _ in 0..<5 { #expect(await cache.value(forKey: "anything", now: Date()) == nil) }
        await cache.store(Data("x".utf8), forKey: "anything", now: Date())
        let statistics = await cache.statistics()
        #expect(statistics.bypassed == 5 && statistics.misses == 5 && statistics.hits == 0)
        #expect(breaker.snapshot.state == .open)
        #expect(breaker.snapshot.lastError?.contains("127.0.0.1:1") == true)
    }

    @Test func aClearThatCouldNotBeSentIsSentBeforeTheNextLookup() async throws {
        let breaker = CircuitBreaker(name: "redis", configuration: .init(failureThreshold: 1, openDuration: .milliseconds(20)))
        let cache = cache(dependency(try RedisTestServers.plain, breaker: breaker))
        let now = Date()
        _ = await cache.value(forKey: "before", now: now)
        await cache.store(Data("old".utf8), forKey: "before", now: now)
        // Open the breaker as a failing call would, so the clear is refused.
        _ = try? breaker.run { throw RedisError.connection("simulated outage") }
        await cache.removeAll()
        #expect(eventually { breaker.snapshot.state != .open })
        #expect(await cache.value(forKey: "before", now: now) == nil, "the pending clear went first")
    }
}

@Suite struct BufferedRedisTrackerTests {
    @Test func bufferedCountsReachRedisInBatches() async throws {
        let pool = RedisConnectionPool(configuration: .init(endpoint: try RedisTestServers.plain))
        let redis = RedisDependency(pool: pool, breaker: CircuitBreaker(name: "redis"))
        let inner = RedisQueryTracker(pool: pool, prefix: RedisTestServers.prefix())
        // Reads wait for the writer, a task, which other tests may keep waiting for its turn on the
        // cooperative pool (see BufferedQueryTrackerTests.patience).
        let tracker = BufferedQueryTracker(inner: inner, breaker: redis.breaker, readPatience: 120,
                                           logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        let now = Date()
        async let writer: Void = tracker.runWriter()
        for index in 0..<600 { try tracker.track(query: "Query \(index % 3)", technologyFilter: nil, at: now) }
        // Once this process's buffered uses are written, a report right after the queries shows them.
        await tracker.waitForPendingUses()
        let (totals, top) = (try await tracker.reportTotals(now: now), try await tracker.reportTopQueries(limit: 3, now: now))
        #expect(totals == (unique: 3, total: 600))
        #expect(top.map(\.count) == [200, 200, 200])
        await tracker.close(timeout: .seconds(1))
        await writer
    }
}

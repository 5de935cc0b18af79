import Digests
import Foundation
@testable import Redis
@testable import Storage
import Testing

@Suite struct RedisQueryTrackerTests {
    private let pool: RedisConnectionPool
    private let tracker: RedisQueryTracker
    private let day: TimeInterval = 86_400

    init() throws {
        pool = RedisConnectionPool(configuration: .init(endpoint: try RedisTestServers.plain))
        tracker = RedisQueryTracker(pool: pool, prefix: RedisTestServers.prefix(), retention: 30 * day)
    }

    private func send(_ command: [String]) async throws -> RedisReply { try await pool.run { try $0.send(command) } }

    /// One use of `query`, as a batch of its own (how the buffer writes them).
    private func track(_ query: String, _ filter: String?, at date: Date, on tracker: RedisQueryTracker? = nil) async throws {
        try await (tracker ?? self.tracker).track([QueryUse(query: query, technologyFilter: filter, date: date)], batch: UUID().uuidString)
    }

    @Test func countsOrderAndMetadataRoundTrip() async throws {
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        try await track("  How do I   INSTALL? ", "docs", at: start)
        try await track("quokka", nil, at: start.addingTimeInterval(1))
        try await track("how do i install?", nil, at: start.addingTimeInterval(2))
        try await track("zebra", "zoo", at: start.addingTimeInterval(3))
        let top = try await tracker.reportTopQueries(limit: 10, now: start)
        #expect(top.map(\.count) == [2, 1, 1])
        // The display form and filter of the latest use; ties broken by the most recent.
        #expect(top[0] == TrackedQuery(query: "how do i install?", count: 2, lastAccessed: start.addingTimeInterval(2),
                                       technologyFilter: nil))
        #expect(top.map(\.query) == ["how do i install?", "zebra", "quokka"])
        #expect(top[1].technologyFilter == "zoo")
        #expect(try await tracker.reportTopQueries(limit: 1, now: start).map(\.query) == ["how do i install?"])
        let totals = try await tracker.reportTotals(now: start)
        #expect(totals.unique == 3 && totals.total == 4)
    }

    @Test func aBatchSentAgainUnderItsIDCountsOnce() async throws {
        let uses = ["alpha", "beta", "alpha"].map { QueryUse(query: $0, technologyFilter: nil, date: Date()) }
        try await tracker.track(uses, batch: "b1")
        try await tracker.track(uses, batch: "b1")
        try await tracker.track(Array(uses.prefix(1)), batch: "b1")
        #expect(try await tracker.reportTotals(now: Date()) == (unique: 2, total: 3))
        #expect(try await tracker.reportTopQueries(limit: 1, now: Date()).first?.count == 2)
        // Another id is another batch; the mark expires after a day.
        try await tracker.track(Array(uses.prefix(1)), batch: "b2")
        #expect(try await tracker.reportTotals(now: Date()) == (unique: 2, total: 4))
        let ttl = try await send(["TTL", tracker.batchKey("b1")]).number ?? -1
        #expect(ttl > 0 && ttl <= RedisQueryTracker.batchMemory)
    }

    @Test func everyKeyGetsTheRetentionAsItsTTL() async throws {
        try await track("ttl please", nil, at: Date())
        let meta = tracker.metaKey(normalized: "ttl please")
        #expect(meta.hasSuffix(":query_meta:" + SHA1.hex(Array("ttl please".utf8))))
        for key in [tracker.frequencyKey, tracker.totalKey, meta] {
            let ttl = try #require(try await send(["TTL", key]).number, "\(key)")
            #expect(ttl > 30 * day - 60 && ttl <= 30 * day, "\(key): \(ttl)")
        }
        #expect(try await send(["HGET", meta, "query"]).text == "ttl please")
    }

    @Test func hostileTextIsStoredByteForByte() async throws {
        let now = Date()
        let hostile = ["ünïcødé 🦆 日本語", "\r\n*3\r\n$3\r\nDEL\r\n$19\r\nmcp-rag:query_total\r\n",
                       String(repeating: "long ", count: 1 << 18)]
        for text in hostile { try await track(text, "\r\nFLUSHALL\r\n", at: now) }
        try await track(" \n\t ", nil, at: now)  // empty once normalised: not counted
        let top = try await tracker.reportTopQueries(limit: 10, now: now)
        #expect(Set(top.map(\.query)) == Set(hostile.map(QueryNormalizer.displayForm)))
        #expect(top.allSatisfy { $0.technologyFilter == "\r\nFLUSHALL\r\n" })
        #expect(try await tracker.reportTotals(now: now) == (unique: 3, total: 3))
        #expect(try await send(["ZSCORE", tracker.frequencyKey, QueryNormalizer.normalize(hostile[1])]).number == 1)
    }

    @Test func aQueryWhoseHashExpiredIsLeftOutAndRemoved() async throws {
        let now = Date()
        for query in ["kept", "kept", "expired", "expired", "expired"] { try await track(query, nil, at: now) }
        // What Redis does when the hash's TTL runs out.
        _ = try await send(["DEL", tracker.metaKey(normalized: "expired")])
        #expect(try await tracker.reportTopQueries(limit: 5, now: now).map(\.query) == ["kept"])
        #expect(try await send(["ZSCORE", tracker.frequencyKey, "expired"]) == .null)
        #expect(try await tracker.reportTotals(now: now).unique == 1)
    }

    @Test func twoTrackersOnOneServerAddUp() async throws {
        let other = RedisQueryTracker(pool: RedisConnectionPool(configuration: .init(endpoint: try RedisTestServers.plain)),
                                      prefix: tracker.prefix)
        let (first, second) = (tracker, other)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<40 {
                group.addTask {
                    try await self.track("shared", nil, at: Date(), on: index.isMultiple(of: 2) ? first : second)
                }
            }
            try await group.waitForAll()
        }
        #expect(try await tracker.reportTopQueries(limit: 1, now: Date()).first?.count == 40)
        #expect(try await other.reportTotals(now: Date()) == (unique: 1, total: 40))
    }
}

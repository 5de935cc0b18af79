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

    private func send(_ command: [String]) throws -> RedisReply { try pool.withConnection { try $0.send(command) } }

    @Test func countsOrderAndMetadataRoundTrip() throws {
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        try tracker.track(query: "  How do I   INSTALL? ", technologyFilter: "docs", at: start)
        try tracker.track(query: "quokka", technologyFilter: nil, at: start.addingTimeInterval(1))
        try tracker.track(query: "how do i install?", technologyFilter: nil, at: start.addingTimeInterval(2))
        try tracker.track(query: "zebra", technologyFilter: "zoo", at: start.addingTimeInterval(3))
        let top = try tracker.topQueries(limit: 10, now: start)
        #expect(top.map(\.count) == [2, 1, 1])
        // The display form and filter of the latest use; ties broken by the most recent.
        #expect(top[0] == TrackedQuery(query: "how do i install?", count: 2, lastAccessed: start.addingTimeInterval(2),
                                       technologyFilter: nil))
        #expect(top.map(\.query) == ["how do i install?", "zebra", "quokka"])
        #expect(top[1].technologyFilter == "zoo")
        #expect(try tracker.topQueries(limit: 1, now: start).map(\.query) == ["how do i install?"])
        let totals = try tracker.totals(now: start)
        #expect(totals.unique == 3 && totals.total == 4)
    }

    @Test func aBatchSentAgainUnderItsIDCountsOnce() async throws {
        let uses = ["alpha", "beta", "alpha"].map { QueryUse(query: $0, technologyFilter: nil, date: Date()) }
        try await tracker.track(uses, batch: "b1")
        try await tracker.track(uses, batch: "b1")
        try await tracker.track(Array(uses.prefix(1)), batch: "b1")
        #expect(try tracker.totals(now: Date()) == (unique: 2, total: 3))
        #expect(try tracker.topQueries(limit: 1, now: Date()).first?.count == 2)
        // Another id is another batch; the mark expires after a day.
        try await tracker.track(Array(uses.prefix(1)), batch: "b2")
        #expect(try tracker.totals(now: Date()) == (unique: 2, total: 4))
        let ttl = try send(["TTL", tracker.batchKey("b1")]).number ?? -1
        #expect(ttl > 0 && ttl <= RedisQueryTracker.batchMemory)
    }

    @Test func everyKeyGetsTheRetentionAsItsTTL() throws {
        try tracker.track(query: "ttl please", technologyFilter: nil, at: Date())
        let meta = tracker.metaKey(normalized: "ttl please")
        #expect(meta.hasSuffix(":query_meta:" + SHA1.hex(Array("ttl please".utf8))))
        for key in [tracker.frequencyKey, tracker.totalKey, meta] {
            let ttl = try #require(try send(["TTL", key]).number, "\(key)")
            #expect(ttl > 30 * day - 60 && ttl <= 30 * day, "\(key): \(ttl)")
        }
        #expect(try send(["HGET", meta, "query"]).text == "ttl please")
    }

    @Test func hostileTextIsStoredByteForByte() throws {
        let now = Date()
        let hostile = ["ünïcødé 🦆 日本語", "\r\n*3\r\n$3\r\nDEL\r\n$19\r\nmcp-rag:query_total\r\n",
                       String(repeating: "long ", count: 1 << 18)]
        for text in hostile { try tracker.track(query: text, technologyFilter: "\r\nFLUSHALL\r\n", at: now) }
        try tracker.track(query: " \n\t ", technologyFilter: nil, at: now)  // empty once normalised: not counted
        let top = try tracker.topQueries(limit: 10, now: now)
        #expect(Set(top.map(\.query)) == Set(hostile.map(QueryNormalizer.displayForm)))
        #expect(top.allSatisfy { $0.technologyFilter == "\r\nFLUSHALL\r\n" })
        #expect(try tracker.totals(now: now) == (unique: 3, total: 3))
        #expect(try send(["ZSCORE", tracker.frequencyKey, QueryNormalizer.normalize(hostile[1])]).number == 1)
    }

    @Test func aQueryWhoseHashExpiredIsLeftOutAndRemoved() throws {
        let now = Date()
        for query in ["kept", "kept", "expired", "expired", "expired"] { try tracker.track(query: query, technologyFilter: nil, at: now) }
        // What Redis does when the hash's TTL runs out.
        _ = try send(["DEL", tracker.metaKey(normalized: "expired")])
        #expect(try tracker.topQueries(limit: 5, now: now).map(\.query) == ["kept"])
        #expect(try send(["ZSCORE", tracker.frequencyKey, "expired"]) == .null)
        #expect(try tracker.totals(now: now).unique == 1)
    }

    @Test func twoTrackersOnOneServerAddUp() async throws {
        let other = RedisQueryTracker(pool: RedisConnectionPool(configuration: .init(endpoint: try RedisTestServers.plain)),
                                      prefix: tracker.prefix)
        let (first, second) = (tracker, other)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<40 {
                group.addTask {
                    try (index.isMultiple(of: 2) ? first : second).track(query: "shared", technologyFilter: nil, at: Date())
                }
            }
            try await group.waitForAll()
        }
        #expect(try tracker.topQueries(limit: 1, now: Date()).first?.count == 40)
        #expect(try other.totals(now: Date()) == (unique: 1, total: 40))
    }
}

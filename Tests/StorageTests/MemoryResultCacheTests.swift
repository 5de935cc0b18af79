import Foundation
import Storage
import Testing

@Suite struct MemoryResultCacheTests {
    let start = Date(timeIntervalSince1970: 1_000_000)

    @Test func hitAfterStoreAndMissBefore() {
        let cache = MemoryResultCache(capacity: 4, timeToLive: 60)
        #expect(cache.value(forKey: "a", now: start) == nil)
        cache.store(Data("one".utf8), forKey: "a", now: start)
        #expect(cache.value(forKey: "a", now: start) == Data("one".utf8))
        let stats = cache.statistics()
        #expect(stats.hits == 1 && stats.misses == 1 && stats.entries == 1)
        #expect(stats.hitRate == 0.5)
    }

    @Test func entriesExpireAfterTheirTimeToLive() {
        let cache = MemoryResultCache(capacity: 4, timeToLive: 60)
        cache.store(Data("one".utf8), forKey: "a", now: start)
        #expect(cache.value(forKey: "a", now: start.addingTimeInterval(59)) != nil)
        #expect(cache.value(forKey: "a", now: start.addingTimeInterval(60)) == nil)
        #expect(cache.statistics().entries == 0)
    }

    @Test func evictsTheLeastRecentlyUsed() {
        let cache = MemoryResultCache(capacity: 3, timeToLive: 60)
        for key in ["a", "b", "c"] { cache.store(Data(key.utf8), forKey: key, now: start) }
        _ = cache.value(forKey: "a", now: start)  // a is now the most recent; b is the oldest
        cache.store(Data("d".utf8), forKey: "d", now: start)
        #expect(cache.value(forKey: "b", now: start) == nil)
        for key in ["a", "c", "d"] { #expect(cache.value(forKey: key, now: start) == Data(key.utf8)) }
        #expect(cache.statistics().entries == 3)
    }

    @Test func replacingAValueKeepsOneEntryAndCountsBytes() {
        let cache = MemoryResultCache(capacity: 3, timeToLive: 60)
        cache.store(Data(count: 10), forKey: "k", now: start)
        cache.store(Data(count: 30), forKey: "k", now: start)
        let stats = cache.statistics()
        #expect(stats.entries == 1)
        #expect(stats.bytes == 30 + 1)
    }

    @Test func manyOperationsKeepListAndMapInStep() {
        let cache = MemoryResultCache(capacity: 16, timeToLive: 60)
        var model: [String: Int] = [:]
        var generator = SystemRandomNumberGenerator()
        for step in 0..<5_000 {
            let key = "k\(Int.random(in: 0..<40, using: &generator))"
            if Bool.random(using: &generator) {
                cache.store(Data("\(step)".utf8), forKey: key, now: start)
                model[key] = step
            } else if let data = cache.value(forKey: key, now: start) {
                #expect(String(decoding: data, as: UTF8.self) == "\(model[key] ?? -1)")
            }
            #expect(cache.statistics().entries <= 16)
        }
    }

    @Test func removeAllEmptiesButKeepsCounters() {
        let cache = MemoryResultCache(capacity: 3, timeToLive: 60)
        cache.store(Data("x".utf8), forKey: "x", now: start)
        _ = cache.value(forKey: "x", now: start)
        cache.removeAll()
        #expect(cache.value(forKey: "x", now: start) == nil)
        let stats = cache.statistics()
        #expect(stats.entries == 0 && stats.hits == 1 && stats.bytes == 0)
    }
}

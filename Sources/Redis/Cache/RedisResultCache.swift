import Digests
import Foundation
import Logging
import Storage
import Synchronization

/// The result cache in Redis, shared by every mcp-rag process that uses the same server and prefix.
///
/// Keys, under `prefix` (default `mcp-rag:`):
/// - `{prefix}result:<sha1 of the cache key>`: the generation the entry was computed in (8 bytes,
///   big-endian) followed by the encoded results, written with `SET … EX timeToLive`;
/// - `{prefix}result_generation`: a counter. `removeAll` increments it, and an entry of another
///   generation is a miss: one command invalidates the whole cache, for every process, with no scan;
/// - `{prefix}result_index`: a sorted set of entry keys scored by expiry, so `entries` is a ZCOUNT.
///
/// A lookup reads the generation and the entry in one pipelined round trip. Every call goes through
/// the `RedisDependency`'s circuit breaker; while Redis is unavailable the cache is bypassed (a
/// miss, also counted in `bypassed`) and queries are answered from the search itself.
public final class RedisResultCache: ResultCache {
    public let backendName = "redis"
    public let prefix: String
    public let timeToLive: TimeInterval
    private let redis: RedisDependency
    private let logger: Logger
    private let state = Mutex(State())

    /// Generations remembered between a miss and the store that follows it; beyond this many
    /// (misses whose answers were never stored, degraded ones) they are forgotten.
    static let rememberedMisses = 4_096

    private struct State {
        var hits = 0
        var misses = 0
        var bypassed = 0
        /// The entry count last read, reported while Redis does not answer.
        var entries = 0
        /// The generation each missed key was looked up in: its answer is stored tagged with that
        /// one, so a result computed before an invalidation is never served after it.
        var missGenerations: [String: Int] = [:]
        /// `removeAll` could not reach Redis: the next lookup increments the generation first.
        var invalidationPending = false
    }

    public init(redis: RedisDependency, prefix: String = "mcp-rag:", timeToLive: TimeInterval, logger: Logger) {
        self.redis = redis
        self.prefix = prefix
        self.timeToLive = max(1, timeToLive)
        self.logger = logger
    }

    var generationKey: String { prefix + "result_generation" }
    var indexKey: String { prefix + "result_index" }
    func entryKey(_ key: String) -> String { prefix + "result:" + SHA1.hex(Array(key.utf8)) }

    public func value(forKey key: String, now: Date) async -> Data? {
        let entry = entryKey(key)
        let invalidate = state.withLock { $0.invalidationPending }
        let commands = (invalidate ? [["INCR", generationKey]] : []) + [["GET", generationKey], ["GET", entry]]
        let replies: [RedisReply]
        do {
            replies = try await redis.run { try $0.pipeline(commands) }
        } catch {
            state.withLock {
                $0.bypassed += 1
                $0.misses += 1
            }
            logger.debug("result cache bypassed", metadata: ["rag.cache.error": "\(error)"])
            return nil
        }
        let generation = Int(replies[replies.count - 2].number ?? 0)
        let found = Self.payload(of: replies[replies.count - 1], generation: generation)
        state.withLock { state in
            if invalidate, case .integer = replies[0] { state.invalidationPending = false }
            if found != nil {
                state.hits += 1
                return
            }
            state.misses += 1
            if state.missGenerations.count >= Self.rememberedMisses { state.missGenerations.removeAll() }
            state.missGenerations[key] = generation
        }
        return found
    }

    /// Stores `value` tagged with the generation its lookup saw; a key never looked up (so of
    /// unknown generation) is not stored.
    public func store(_ value: Data, forKey key: String, now: Date) async {
        guard let generation = state.withLock({ $0.missGenerations.removeValue(forKey: key) }) else { return }
        let entry = Array(entryKey(key).utf8)
        let seconds = Int(timeToLive.rounded(.up))
        let expiry = Int(now.timeIntervalSince1970) + seconds
        let commands: [[[UInt8]]] = [
            [Self.bytes("SET"), entry, Self.tag(generation) + Array(value), Self.bytes("EX"), Self.bytes(String(seconds))],
            [Self.bytes("ZADD"), Self.bytes(indexKey), Self.bytes(String(expiry)), entry],
            [Self.bytes("ZREMRANGEBYSCORE"), Self.bytes(indexKey), Self.bytes("-inf"),
             Self.bytes(String(Int(now.timeIntervalSince1970)))],
            [Self.bytes("EXPIRE"), Self.bytes(indexKey), Self.bytes(String(seconds))],
        ]
        do {
            _ = try await redis.run { try $0.pipeline(bytes: commands) }
        } catch {
            logger.debug("result not cached", metadata: ["rag.cache.error": "\(error)"])
        }
    }

    /// Starts a new generation, which every process then reads; if Redis cannot be reached, the
    /// next lookup that reaches it does this first.
    public func removeAll() async {
        state.withLock { $0.missGenerations.removeAll() }
        do {
            let replies = try await redis.run { [generationKey, indexKey] in
                try $0.pipeline([["INCR", generationKey], ["DEL", indexKey]])
            }
            guard case .integer = replies[0] else { throw RedisError.server("INCR answered \(replies[0])") }
            state.withLock { $0.invalidationPending = false }
        } catch {
            state.withLock { $0.invalidationPending = true }
            logger.warning("the Redis result cache could not be cleared now; it will be before its next use",
                           metadata: ["rag.cache.error": "\(error)"])
        }
    }

    /// This process's hits and misses; entries are the shared cache's (as last read, if Redis does
    /// not answer now).
    public func statistics() async -> ResultCacheStatistics {
        let now = String(Int(Date().timeIntervalSince1970))
        let indexKey = self.indexKey
        let live = try? await redis.run { try $0.send(["ZCOUNT", indexKey, now, "+inf"]) }.number
        return state.withLock { state in
            if let live { state.entries = Int(live) }
            return ResultCacheStatistics(entries: state.entries, hits: state.hits, misses: state.misses,
                                         bypassed: state.bypassed, bytes: 0)
        }
    }

    /// The results in `reply` if it holds an entry of `generation`.
    static func payload(of reply: RedisReply, generation: Int) -> Data? {
        guard case .string(let bytes) = reply, bytes.count >= 8 else { return nil }
        let stored = bytes.prefix(8).reduce(0) { $0 << 8 | Int($1) }
        return stored == generation ? Data(bytes.dropFirst(8)) : nil
    }

    /// `generation` as 8 bytes, big-endian.
    static func tag(_ generation: Int) -> [UInt8] {
        (0..<8).reversed().map { UInt8(truncatingIfNeeded: generation >> ($0 * 8)) }
    }

    private static func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }
}

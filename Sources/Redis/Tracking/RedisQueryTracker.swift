import Digests
import Foundation
import Storage

/// Query statistics in Redis, shared by every mcp-rag process pointed at the same server.
///
/// Keys, under `prefix` (default `mcp-rag:`):
/// - `{prefix}query_frequency`: a sorted set, member = the normalised query, score = its count;
/// - `{prefix}query_meta:<sha1 of the normalised query>`: a hash with `query` (as last typed, whitespace
///   collapsed), `last_accessed` (Unix seconds) and `technology_filter` (empty for none);
/// - `{prefix}query_total`: the count of every tracked query.
///
/// - `{prefix}tracking_batch:<id>`: the mark of a batch of uses recorded, kept a day (see `track`).
///
/// Every write refreshes a `retention` TTL (30 days) on the keys it touches, in the same atomic
/// script. A query's hash expires on its own when it has not been asked for that long; its
/// member in the sorted set is then left out of reports and removed by the next report that meets it.
public final class RedisQueryTracker: BatchQueryTracker {
    public let backendName = "redis"
    public let prefix: String
    public let retention: TimeInterval
    private let pool: RedisConnectionPool

    public init(pool: RedisConnectionPool, prefix: String = "mcp-rag:", retention: TimeInterval = 30 * 86_400) {
        self.pool = pool
        self.prefix = prefix
        self.retention = max(1, retention)
    }

    var frequencyKey: String { prefix + "query_frequency" }
    var totalKey: String { prefix + "query_total" }
    func metaKey(normalized: String) -> String { prefix + "query_meta:" + SHA1.hex(Array(normalized.utf8)) }

    /// Records every use in `uses` in one round trip, unless batch `id` was recorded in the last
    /// `batchMemory`; blank queries are ignored. The connection is taken before a blocking thread.
    ///
    /// One script does it all, atomically: it marks the batch as recorded (`SET NX`) and counts
    /// its uses only if the mark was not there, so a batch sent again after its reply was lost
    /// (applied, then the connection broke) changes nothing, and the counts every process shares
    /// are neither lost nor doubled.
    public func track(_ uses: [QueryUse], batch id: String) async throws {
        guard let command = recordingCommand(uses, batch: id) else { return }
        try Self.check([await pool.run { try $0.send(command) }])
    }

    /// The script call that records `uses` as batch `id`; nil when every query is blank.
    private func recordingCommand(_ uses: [QueryUse], batch id: String) -> [String]? {
        var keys = [batchKey(id), frequencyKey, totalKey]
        var arguments = [String(Int(retention.rounded(.up))), String(Int(Self.batchMemory))]
        for use in uses {
            let normalized = QueryNormalizer.normalize(use.query)
            guard !normalized.isEmpty else { continue }
            keys.append(metaKey(normalized: normalized))
            arguments += [normalized, QueryNormalizer.displayForm(use.query), Self.format(use.date), use.technologyFilter ?? ""]
        }
        guard keys.count > 3 else { return nil }
        return ["EVAL", Self.recordBatch, String(keys.count)] + keys + arguments
    }

    /// How long a recorded batch's id is remembered, in seconds. The buffer retries a failed batch
    /// at least every 30 s while Redis answers anyone; only a batch applied just before Redis
    /// became unreachable for more than a day could count twice.
    static let batchMemory: TimeInterval = 86_400

    func batchKey(_ id: String) -> String { prefix + "tracking_batch:" + id }

    /// KEYS: the batch's mark, the frequency set, the total, then one meta hash per use.
    /// ARGV: the retention TTL, the mark's TTL, then per use its normalised form, display form,
    /// date and filter. Every key touched gets its TTL refreshed. Returns the uses counted.
    static let recordBatch = """
        if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[2]) then return 0 end
        local uses = #KEYS - 3
        for i = 1, uses do
          local at = 2 + (i - 1) * 4
          redis.call('ZINCRBY', KEYS[2], 1, ARGV[at + 1])
          redis.call('HSET', KEYS[3 + i], 'query', ARGV[at + 2], 'last_accessed', ARGV[at + 3],
                     'technology_filter', ARGV[at + 4])
          redis.call('EXPIRE', KEYS[3 + i], ARGV[1])
        end
        redis.call('INCRBY', KEYS[3], uses)
        redis.call('EXPIRE', KEYS[2], ARGV[1])
        redis.call('EXPIRE', KEYS[3], ARGV[1])
        return uses
        """

    /// The `limit` most asked queries whose hashes have not expired, in two round trips.
    public func reportTopQueries(limit: Int, now: Date) async throws -> [TrackedQuery] {
        try await pool.run { try self.topQueries(limit: limit, on: $0) }
    }

    /// `reportTopQueries` on `connection`.
    private func topQueries(limit: Int, on connection: RedisConnection) throws -> [TrackedQuery] {
        guard limit > 0 else { return [] }
        var found: [TrackedQuery] = []
        var start = 0
        // Expired members are skipped, so read on until `limit` live ones are found or the set ends.
        while found.count < limit {
            let page = max(limit - found.count, 16)
            let ranked = try connection.send(["ZREVRANGE", frequencyKey, String(start), String(start + page - 1), "WITHSCORES"])
            try Self.check([ranked])
            let flat = ranked.elements ?? []
            let members = stride(from: 0, to: flat.count - 1, by: 2).compactMap { index -> (String, Int)? in
                guard let member = flat[index].text, let score = flat[index + 1].number else { return nil }
                return (member, Int(score))
            }
            guard !members.isEmpty else { break }
            let metas = try connection.pipeline(members.map { ["HMGET", metaKey(normalized: $0.0), "query", "last_accessed",
                                                               "technology_filter"] })
            try Self.check(metas)
            var expired: [String] = []
            for ((member, count), meta) in zip(members, metas) {
                let fields = meta.elements ?? []
                guard fields.count == 3, let shown = fields[0].text, let last = fields[1].text.flatMap(Double.init) else {
                    expired.append(member)
                    continue
                }
                let filter = fields[2].text.flatMap { $0.isEmpty ? nil : $0 }
                found.append(TrackedQuery(query: shown, count: count, lastAccessed: Date(timeIntervalSince1970: last),
                                          technologyFilter: filter))
            }
            if !expired.isEmpty { try Self.check([try connection.send(["ZREM", frequencyKey] + expired)]) }
            start += members.count - expired.count
            if members.count < page { break }
        }
        // Redis orders ties by member text; the protocol wants the most recent first.
        return Array(found.sorted { ($0.count, $0.lastAccessed) > ($1.count, $1.lastAccessed) }.prefix(limit))
    }

    /// Distinct queries (`ZCARD`) and the count of all tracked queries.
    public func reportTotals(now: Date) async throws -> (unique: Int, total: Int) {
        let commands = totalsCommands
        return try Self.totals(from: await pool.run { try $0.pipeline(commands) })
    }

    private var totalsCommands: [[String]] { [["ZCARD", frequencyKey], ["GET", totalKey]] }

    private static func totals(from replies: [RedisReply]) throws -> (unique: Int, total: Int) {
        try check(replies)
        return (Int(replies[0].number ?? 0), Int(replies[1].number ?? 0))
    }

    /// Unix seconds with millisecond precision, in a form any Redis client reads.
    private static func format(_ date: Date) -> String { String(format: "%.3f", date.timeIntervalSince1970) }

    /// Throws the first error reply, if any.
    private static func check(_ replies: [RedisReply]) throws {
        for reply in replies {
            if case .error(let message) = reply { throw RedisError.server("Redis refused a tracking command: \(message)") }
        }
    }
}

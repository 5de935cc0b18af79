import Dispatch
import Foundation
import Redaction
import Resilience
import Storage

/// One Redis server as a dependency: its connection pool and the single circuit breaker that every
/// part using it (query tracking, the result cache) goes through.
///
/// One breaker, because they share the server: when the result cache has seen it fail five times,
/// the tracker need not spend five more timeouts finding out.
public final class RedisDependency: Sendable {
    public let pool: RedisConnectionPool
    public let breaker: CircuitBreaker

    public init(pool: RedisConnectionPool, breaker: CircuitBreaker) {
        self.pool = pool
        self.breaker = breaker
    }

    /// The server, password masked.
    public var endpoint: RedisEndpoint { pool.configuration.endpoint }

    /// Runs `body` on a pooled connection, if the breaker lets it through: refused at once while
    /// it is open.
    public func run<T: Sendable>(_ body: @escaping @Sendable (RedisConnection) throws -> T) async throws -> T {
        try await breaker.run(isFailure: Self.countsAsOutage) { try await pool.run(body) }
    }

    /// Whether `error` says the server is in trouble (so it counts against the breaker); an error
    /// reply to one command does not.
    public static func countsAsOutage(_ error: any Error) -> Bool {
        (error as? RedisError)?.countsAsOutage ?? true
    }

    /// What `health_check` shows of the server.
    public struct Probe: Sendable {
        /// Nil when the server answered.
        public var error: String?
        public var latencyMs: Double?
        /// `redis_version` from `INFO server`, when it answered.
        public var serverVersion: String?
        public var breaker: CircuitBreaker.Snapshot
    }

    /// Pings the server through the breaker (an open breaker is reported, not bypassed: a health
    /// check must not be the call that hammers a server that is down).
    public func probe() async -> Probe {
        let start = DispatchTime.now().uptimeNanoseconds
        do {
            let replies = try await run { try $0.pipeline([["PING"], ["INFO", "server"]]) }
            let latency = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
            if case .error(let message) = replies[0] {
                return Probe(error: "PING answered \(message)", latencyMs: latency, breaker: breaker.snapshot)
            }
            return Probe(error: nil, latencyMs: latency, serverVersion: replies[1].text.flatMap(Self.version(inInfo:)),
                         breaker: breaker.snapshot)
        } catch {
            return Probe(error: String(describing: error), latencyMs: nil, breaker: breaker.snapshot)
        }
    }

    /// The `redis_version:` line of an `INFO` answer (the server's words, shown in reports: redacted
    /// and kept short).
    static func version(inInfo info: String) -> String? {
        for line in info.split(whereSeparator: \.isNewline) where line.hasPrefix("redis_version:") {
            let version = line.dropFirst("redis_version:".count).trimmingCharacters(in: .whitespaces)
            return SecretRedactor.redact(bytes: Array(version.utf8), limit: 100)
        }
        return nil
    }
}

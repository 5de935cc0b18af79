import Dispatch
import Synchronization

/// A few Redis connections, each lent to one thread at a time, with the blocking calls run on a
/// queue of their own, off Swift's cooperative pool.
///
/// Connections are opened when first needed and reused; one that failed is dropped, and the next
/// call opens a new one, so a restarted server is picked up without anyone noticing.
public final class RedisConnectionPool: Sendable {
    /// How to reach the server and how long to wait for it.
    public struct Configuration: Sendable, Equatable {
        public var endpoint: RedisEndpoint
        /// The most connections open at once: callers beyond it wait for one to come back.
        public var size: Int
        public var connectTimeout: Duration
        public var commandTimeout: Duration

        public init(endpoint: RedisEndpoint, size: Int = 4, connectTimeout: Duration = .milliseconds(500),
                    commandTimeout: Duration = .milliseconds(500)) {
            self.endpoint = endpoint
            self.size = max(1, size)
            self.connectTimeout = connectTimeout
            self.commandTimeout = commandTimeout
        }
    }

    public let configuration: Configuration
    private let idle = Mutex<[RedisConnection]>([])
    /// Counts the connections that may still be lent; waiting on it is what bounds the pool.
    private let available: DispatchSemaphore
    private let queue = DispatchQueue(label: "mcp-rag.redis", qos: .userInitiated, attributes: .concurrent)

    public init(configuration: Configuration) {
        self.configuration = configuration
        available = DispatchSemaphore(value: configuration.size)
    }

    /// Runs `body` with a connection on the pool's queue and returns its result.
    public func run<T: Sendable>(_ body: @escaping @Sendable (RedisConnection) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try self.withConnection(body) }) }
        }
    }

    /// Runs `body` with a connection on the calling thread (which must be allowed to block).
    public func withConnection<T>(_ body: (RedisConnection) throws -> T) throws -> T {
        // Waiting longer than a connect and a command would take means the pool is stuck behind a
        // dead server: give up as that server's timeout would.
        let patience = DispatchTime.now()
            + .nanoseconds(Int((configuration.connectTimeout + configuration.commandTimeout) / .nanoseconds(1)))
        guard available.wait(timeout: patience) == .success else {
            throw RedisError.timeout("every connection to \(configuration.endpoint) is busy")
        }
        defer { available.signal() }
        let connection = try idle.withLock { $0.popLast() } ?? RedisConnection(
            endpoint: configuration.endpoint, connectTimeout: configuration.connectTimeout,
            commandTimeout: configuration.commandTimeout)
        defer { if !connection.isBroken { idle.withLock { $0.append(connection) } } }
        return try body(connection)
    }

    /// Closes the idle connections (those lent out close when they come back broken or at deinit).
    public func closeIdle() {
        idle.withLock { $0.removeAll() }
    }
}

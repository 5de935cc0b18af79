import Blocking
import Redaction
/// A few Redis connections, each lent to one caller at a time; the blocking hiredis calls run on
/// threads the pool reserves in `BlockingExecutor` (see `BlockingPool`).
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
    private let pool: BlockingPool<RedisConnection>

    public init(configuration: Configuration) {
        self.configuration = configuration
        SecretRedactor.register(configuration.endpoint.secrets)
        // Waiting longer than a connect and a command would take means the pool is stuck behind a
        // dead server: give up as that server's timeout would.
        pool = BlockingPool(size: configuration.size,
                            patience: configuration.connectTimeout + configuration.commandTimeout,
                            open: {
                                try RedisConnection(endpoint: configuration.endpoint,
                                                    connectTimeout: configuration.connectTimeout,
                                                    commandTimeout: configuration.commandTimeout)
                            },
                            isReusable: { !$0.isBroken },
                            busy: { RedisError.timeout("every connection to \(configuration.endpoint) is busy") })
    }

    /// Runs `body` with a connection on one of the pool's threads and returns its result.
    public func run<T: Sendable>(_ body: @escaping @Sendable (RedisConnection) throws -> T) async throws -> T {
        try await pool.run(body)
    }

    /// Closes the idle connections (those lent out close when they come back broken or at deinit).
    public func closeIdle() {
        pool.closeIdle()
    }
}

import Blocking
import Dispatch
import Synchronization

/// A few connections of a blocking client library (hiredis, libcurl), each lent to one thread at a
/// time, with an async entry point that runs the blocking call on `BlockingExecutor`'s threads,
/// off Swift's cooperative pool.
///
/// Connections are opened when first needed and reused; one that `isReusable` rejects (it broke) is
/// dropped, and the next call opens a new one, so a restarted server is picked up without anyone
/// noticing.
public final class BlockingPool<Connection: Sendable>: Sendable {
    private let open: @Sendable () throws -> Connection
    private let isReusable: @Sendable (Connection) -> Bool
    private let busy: @Sendable () -> any Error
    private let patience: Duration
    private let idle = Mutex<[Connection]>([])
    /// Counts the connections that may still be lent; waiting on it is what bounds the pool.
    private let available: DispatchSemaphore

    /// - Parameters:
    ///   - size: the most connections open at once; callers beyond it wait up to `patience`, then
    ///     get `busy()`.
    public init(size: Int, patience: Duration, open: @escaping @Sendable () throws -> Connection,
                isReusable: @escaping @Sendable (Connection) -> Bool, busy: @escaping @Sendable () -> any Error) {
        self.open = open
        self.isReusable = isReusable
        self.busy = busy
        self.patience = patience
        available = DispatchSemaphore(value: max(1, size))
    }

    /// Runs `body` with a connection on `BlockingExecutor`'s threads and returns its result.
    public func run<T: Sendable>(_ body: @escaping @Sendable (Connection) throws -> T) async throws -> T {
        try await BlockingExecutor.run { try self.withConnection(body) }
    }

    /// Runs `body` with a connection on the calling thread (which must be allowed to block),
    /// waiting for one up to `patience` (the pool's own when nil).
    public func withConnection<T>(patience: Duration? = nil, _ body: (Connection) throws -> T) throws -> T {
        let patience = patience ?? self.patience
        guard available.wait(timeout: .now() + .nanoseconds(Int(patience / .nanoseconds(1)))) == .success else {
            throw busy()
        }
        defer { available.signal() }
        let connection = try idle.withLock { $0.popLast() } ?? open()
        defer { if isReusable(connection) { idle.withLock { $0.append(connection) } } }
        return try body(connection)
    }

    /// Closes the idle connections (those lent out close when they come back broken or at deinit).
    public func closeIdle() {
        idle.withLock { $0.removeAll() }
    }
}

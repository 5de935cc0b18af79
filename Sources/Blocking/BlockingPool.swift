import Synchronization

/// A few connections of a blocking client library (hiredis, libcurl), each lent to one caller at a
/// time.
///
/// `run` is the way in from async code: it waits for a connection without holding a thread
/// (`ConnectionSlots`), then makes the call on one of `BlockingExecutor`'s threads, of which the
/// pool reserves one per connection. So however long a server makes its callers wait, it holds
/// at most `size` threads, and those were added for it.
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
    /// The connections that may still be lent; waiting on them is what bounds the pool.
    private let slots: ConnectionSlots
    /// A thread for each connection, in the executor, while the pool lives.
    private let threads: ThreadReservation

    /// - Parameters:
    ///   - size: the most connections open at once; callers beyond it wait up to `patience`, then
    ///     get `busy()`.
    public init(size: Int, patience: Duration, open: @escaping @Sendable () throws -> Connection,
                isReusable: @escaping @Sendable (Connection) -> Bool, busy: @escaping @Sendable () -> any Error) {
        self.open = open
        self.isReusable = isReusable
        self.busy = busy
        self.patience = patience
        slots = ConnectionSlots(max(1, size))
        threads = BlockingExecutor.reserve(threads: max(1, size))
    }

    /// Runs `body` with a connection on `BlockingExecutor`'s threads and returns its result,
    /// waiting for a connection up to `patience` (the pool's own when nil).
    public func run<T: Sendable>(patience: Duration? = nil, _ body: @escaping @Sendable (Connection) throws -> T) async throws -> T {
        guard await slots.take(patience: patience ?? self.patience) else {
            try Task.checkCancellation()
            throw busy()
        }
        return try await BlockingExecutor.run {
            defer { self.slots.give() }
            return try self.lend(body)
        }
    }

    /// Callers waiting for a connection now.
    var waitingForConnection: Int { slots.waiting }
    /// The threads the pool added to the executor.
    var reservedThreads: Int { threads.threads }

    /// Closes the idle connections (those lent out close when they come back broken or at deinit).
    public func closeIdle() {
        idle.withLock { $0.removeAll() }
    }

    private func lend<T>(_ body: (Connection) throws -> T) throws -> T {
        let connection = try idle.withLock { $0.popLast() } ?? open()
        defer { if isReusable(connection) { idle.withLock { $0.append(connection) } } }
        return try body(connection)
    }
}

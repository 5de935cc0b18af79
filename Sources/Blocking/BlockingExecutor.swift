import Synchronization

/// Runs blocking work (SQLite, hiredis, libcurl, file reads) on a bounded set of threads of its
/// own and awaits it: the one place in the process where such calls run.
///
/// Swift's cooperative pool has one thread per core (two on the machines we target); a blocking
/// C call there stalls every task in the process, including the MCP message loop.
///
/// How many threads: `configure(threads:)` (from `MCP_RAG_BLOCKING_THREADS`) for local work, plus
/// one for each connection a network client may hold (its pool reserves them, `reserve(threads:)`).
/// A network call takes its connection before it takes a thread, and waits for a connection
/// without holding one (`ConnectionSlots`), so at most one thread per connection ever waits on a
/// server: a dependency that hangs until its timeouts holds its own threads, never those the
/// SQLite reads need. Jobs beyond the threads wait their turn in order.
public enum BlockingExecutor {
    /// Threads for local work when nothing is configured: enough for the SQLite reads of several
    /// concurrent queries to overlap (each spends much of its time waiting on a lock or the disk).
    public static let defaultThreads = 8
    public static let threadRange = 1...1024

    static let pool = ThreadPool(capacity: defaultThreads)
    /// The local share set by `configure`, so that a later call replaces it instead of adding.
    private static let localThreads = Mutex(defaultThreads)

    /// Sets the threads for local work (clamped to `threadRange`); the reserved ones come on top.
    public static func configure(threads: Int) {
        let threads = min(max(threads, threadRange.lowerBound), threadRange.upperBound)
        let change = localThreads.withLock { current in
            defer { current = threads }
            return threads - current
        }
        pool.adjustCapacity(by: change)
    }

    /// Adds `threads` to the pool for as long as the reservation lives (a connection pool holds
    /// one for its connections).
    public static func reserve(threads: Int) -> ThreadReservation {
        ThreadReservation(threads: threads)
    }

    /// The result of `body`, run on one of the pool's threads.
    public static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            pool.submit { continuation.resume(with: Result { try body() }) }
        }
    }

    /// Starts `body` on the pool without waiting for it (bookkeeping such as counting a query);
    /// `drain()` waits for it.
    public static func detach(_ body: @escaping @Sendable () -> Void) {
        pool.submit(body)
    }

    /// Returns once no job is left, those submitted before the call included: at shutdown, so that
    /// work started without waiting (a query's count, a snapshot file) is not lost when the process
    /// ends. Returns early when the task is cancelled (a shutdown out of time).
    public static func drain() async {
        await waitForCallback { pool.notifyWhenIdle($0) }
    }
}

/// Threads added to `BlockingExecutor` while this lives.
public final class ThreadReservation: Sendable {
    public let threads: Int

    init(threads: Int) {
        self.threads = max(0, threads)
        BlockingExecutor.pool.adjustCapacity(by: self.threads)
    }

    deinit {
        BlockingExecutor.pool.adjustCapacity(by: -threads)
    }
}

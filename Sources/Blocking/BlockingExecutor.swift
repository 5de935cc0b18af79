import Dispatch

/// Runs blocking work (SQLite, hiredis, libcurl, file reads) on Dispatch's threads and awaits it:
/// the one way the process runs such calls.
///
/// Swift's cooperative pool has one thread per core (two on the machines we target); a blocking
/// C call there stalls every task in the process, including the MCP message loop. Dispatch's
/// threads exist apart from it, so blocking there costs nothing but the thread.
///
/// Why not a fixed number of threads: network calls (Redis, Chroma) wait here too, up to their
/// timeouts, and with a fixed set a slow dependency would hold every thread and stall the SQLite
/// reads behind it (the test suite saw a Redis write wait 10 s behind other suites' timeouts).
/// Bounding needs those waits taken off the threads first (connection slots awaited, not blocked
/// on); until then Dispatch sizes the pool.
public enum BlockingExecutor {
    private static let queue = DispatchQueue(label: "mcp-rag.blocking", qos: .userInitiated, attributes: .concurrent)
    /// Every job submitted and not yet finished, for `drain()`.
    private static let outstanding = DispatchGroup()

    /// The result of `body`, run on a Dispatch thread.
    public static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async(group: outstanding) { continuation.resume(with: Result { try body() }) }
        }
    }

    /// Starts `body` on a Dispatch thread without waiting for it (bookkeeping such as counting a
    /// query); `drain()` waits for it.
    public static func detach(_ body: @escaping @Sendable () -> Void) {
        queue.async(group: outstanding, execute: body)
    }

    /// Returns once no job is left, those submitted before the call included: at shutdown, so that
    /// work started without waiting (a query's count) is not lost when the process ends.
    public static func drain() async {
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            outstanding.notify(queue: .global()) { done.resume() }
        }
    }
}

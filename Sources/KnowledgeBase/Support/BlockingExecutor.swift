import Dispatch

/// Runs blocking work (SQLite, BLAS, file reads) on Dispatch's threads and awaits it.
///
/// Swift's cooperative pool has one thread per core (two on the machines we target); a blocking
/// C call there stalls every task in the process, including the MCP message loop. Dispatch's
/// global queues own separate threads, so blocking there costs nothing but the thread.
public enum BlockingExecutor {
    private static let queue = DispatchQueue(label: "mcp-rag.blocking", qos: .userInitiated, attributes: .concurrent)

    /// The result of `body`, run on a Dispatch thread.
    public static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try body() }) }
        }
    }

    /// Starts `body` on a Dispatch thread without waiting for it (fire-and-forget bookkeeping).
    public static func detach(_ body: @escaping @Sendable () -> Void) {
        queue.async(execute: body)
    }
}

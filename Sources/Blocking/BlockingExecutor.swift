import Foundation
import Synchronization

/// Runs blocking work (SQLite, hiredis, libcurl, file reads) on a fixed set of threads of its own
/// and awaits it: the one place in the process where such calls run.
///
/// Swift's cooperative pool has one thread per core (two on the machines we target); a blocking
/// C call there stalls every task in the process, including the MCP message loop. These threads
/// exist for nothing else, and there are a bounded number of them (`configure(threads:)`, from
/// `MCP_RAG_BLOCKING_THREADS`): work beyond them waits its turn in order instead of making a
/// thread each, as a concurrent Dispatch queue would under load.
public enum BlockingExecutor {
    /// Threads when nothing is configured: enough for the calls of many concurrent queries to
    /// overlap (each spends most of its time waiting on a lock, the disk or the network).
    public static let defaultThreads = 16
    public static let threadRange = 1...1024

    private static let pool = ThreadPool(threads: defaultThreads)

    /// Sets the number of threads (clamped to `threadRange`). Must come before the first job: the
    /// threads start with it. Returns false, changing nothing, when they have started.
    @discardableResult
    public static func configure(threads: Int) -> Bool {
        pool.resize(min(max(threads, threadRange.lowerBound), threadRange.upperBound))
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
    /// work started without waiting (a query's count) is not lost when the process ends.
    public static func drain() async {
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            pool.notifyWhenIdle { done.resume() }
        }
    }
}

/// Threads that run submitted jobs in order, started on first use.
final class ThreadPool: Sendable {
    private struct State {
        var threads: Int
        var jobs: [@Sendable () -> Void] = []
        var head = 0
        /// Jobs submitted and not yet finished.
        var outstanding = 0
        var idleWaiters: [@Sendable () -> Void] = []
        var started = false
    }

    private let state: Mutex<State>
    private let jobsAvailable = DispatchSemaphore(value: 0)

    init(threads: Int) {
        state = Mutex(State(threads: threads))
    }

    var threads: Int { state.withLock { $0.threads } }

    /// Jobs waiting for a thread.
    var queued: Int { state.withLock { $0.jobs.count - $0.head } }

    /// Sets the number of threads before they start; false once they have.
    func resize(_ threads: Int) -> Bool {
        state.withLock { state in
            guard !state.started else { return false }
            state.threads = threads
            return true
        }
    }

    func submit(_ job: @escaping @Sendable () -> Void) {
        let start: Int? = state.withLock { state in
            state.jobs.append(job)
            state.outstanding += 1
            defer { state.started = true }
            return state.started ? nil : state.threads
        }
        if let start { startThreads(start) }
        jobsAvailable.signal()
    }

    /// Calls `body` once no job is outstanding: at once if none is.
    func notifyWhenIdle(_ body: @escaping @Sendable () -> Void) {
        let now = state.withLock { state in
            guard state.outstanding > 0 else { return true }
            state.idleWaiters.append(body)
            return false
        }
        if now { body() }
    }

    private func startThreads(_ count: Int) {
        for index in 0..<count {
            let thread = Thread { [self] in work() }
            thread.name = "mcp-rag.blocking.\(index)"
            thread.start()
        }
    }

    /// A worker: takes jobs in order, forever (the threads live as long as the process).
    private func work() {
        while true {
            jobsAvailable.wait()
            let job: (@Sendable () -> Void)? = state.withLock { state in
                guard state.head < state.jobs.count else { return nil }
                let job = state.jobs[state.head]
                state.head += 1
                // Compacts now and then, so the queue does not grow with every job ever run.
                if state.head > 1024 && state.head * 2 > state.jobs.count {
                    state.jobs.removeFirst(state.head)
                    state.head = 0
                }
                return job
            }
            guard let job else { continue }
            job()
            let waiters = state.withLock { state in
                state.outstanding -= 1
                guard state.outstanding == 0 else { return [@Sendable () -> Void]() }
                defer { state.idleWaiters = [] }
                return state.idleWaiters
            }
            waiters.forEach { $0() }
        }
    }
}

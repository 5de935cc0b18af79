import Foundation
import Synchronization

/// Threads that run submitted jobs in the order they came: started as the waiting jobs need them,
/// never more than `capacity` at once.
///
/// Capacity can change while jobs run (a connection pool reserves threads for its connections,
/// and gives them back when it goes); threads beyond a lowered capacity finish their job and end.
final class ThreadPool: Sendable {
    private struct State {
        var capacity: Int
        var jobs: [@Sendable () -> Void] = []
        var head = 0
        /// Threads alive, and those of them waiting for a job.
        var threads = 0
        var waiting = 0
        /// Jobs submitted and not yet finished.
        var outstanding = 0
        var idleWaiters: [@Sendable () -> Void] = []
        var named = 0

        var queued: Int { jobs.count - head }
    }

    private let state: Mutex<State>
    /// What a queue slot holds once its job was taken.
    private static let taken: @Sendable () -> Void = {}
    /// One signal per job submitted, and one per thread asked to end.
    private let wake = DispatchSemaphore(value: 0)

    init(capacity: Int) {
        state = Mutex(State(capacity: max(1, capacity)))
    }

    var capacity: Int { state.withLock { $0.capacity } }
    /// Threads alive now (running a job or waiting for one).
    var threads: Int { state.withLock { $0.threads } }
    /// Jobs waiting for a thread.
    var queued: Int { state.withLock { $0.queued } }

    /// Changes the capacity by `delta` (never below one thread).
    func adjustCapacity(by delta: Int) {
        let surplus = state.withLock { state in
            state.capacity = max(1, state.capacity + delta)
            return max(0, state.threads - state.capacity)
        }
        // Wakes threads that wait for work so that those beyond the capacity end now.
        for _ in 0..<surplus { wake.signal() }
    }

    func submit(_ job: @escaping @Sendable () -> Void) {
        let newThread: Int? = state.withLock { state in
            state.jobs.append(job)
            state.outstanding += 1
            guard state.queued > state.waiting, state.threads < state.capacity else { return nil }
            state.threads += 1
            state.waiting += 1
            state.named += 1
            return state.named
        }
        if let newThread {
            let thread = Thread { [self] in work() }
            thread.name = "mcp-rag.blocking.\(newThread)"
            thread.start()
        }
        wake.signal()
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

    /// A thread: takes jobs in order until there are more threads than the capacity allows.
    /// Counted as waiting from its start (`submit` counts it so), until it has a job.
    private func work() {
        while true {
            wake.wait()
            enum Next { case run(@Sendable () -> Void), end, waitAgain }
            let next: Next = state.withLock { state in
                if state.threads > state.capacity {
                    state.threads -= 1
                    state.waiting -= 1
                    return .end
                }
                // A signal that asked a thread to end, which another one already did.
                guard state.queued > 0 else { return .waitAgain }
                // The slot gives its job up at once: a job's closure can hold the last reference
                // to an object whose deinit calls back into this pool (a connection pool giving
                // its threads back), so it must never be released under the lock, as it would be
                // when the slot were dropped by a later compaction.
                let job = state.jobs[state.head]
                state.jobs[state.head] = Self.taken
                state.head += 1
                state.waiting -= 1
                // Compacts now and then, so the queue does not grow with every job ever run.
                if state.head > 1024 && state.head * 2 > state.jobs.count {
                    state.jobs.removeFirst(state.head)
                    state.head = 0
                }
                return .run(job)
            }
            switch next {
            case .waitAgain: continue
            case .end:
                // The signal may have been a job's: hand it on to a thread that stays.
                if queued > 0 { wake.signal() }
                return
            case .run(let job):
                job()
                let waiters = state.withLock { state in
                    state.outstanding -= 1
                    state.waiting += 1
                    guard state.outstanding == 0 else { return [@Sendable () -> Void]() }
                    defer { state.idleWaiters = [] }
                    return state.idleWaiters
                }
                waiters.forEach { $0() }
            }
        }
    }
}

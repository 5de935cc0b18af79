import Foundation
import Synchronization

/// A fixed set of threads that run the parts of a parallel loop, handing work over in well under
/// a microsecond.
///
/// A single query's forward pass is about thirty parallel steps of 20–100 µs each. Dispatch wakes a
/// parked thread for each step (tens of microseconds through the kernel), which cost more than a
/// millisecond per query. Here workers spin on an atomic word for a short while after each step,
/// so back-to-back steps find them awake, and park on a condition variable once the burst of work
/// is over, so an idle process uses no CPU.
///
/// Parts are claimed, not assigned: each thread, the caller's included, takes the next part left
/// until none is, so a step may have more parts than threads. On a busy machine (a server answering
/// many clients on two cores) a worker is often descheduled when a step is posted; the caller then
/// runs that worker's share itself instead of spinning until the worker gets a core back, which
/// under load cost an eighth of the process's CPU (measured with `perf`).
package final class WorkerPool: Sendable {
    /// Threads including the caller's.
    package let threadCount: Int
    private let state: WorkerPoolState

    /// A pool of `threadCount - 1` worker threads; the calling thread makes up the count.
    /// `workerParked` is called on a worker's thread each time it stops spinning and parks on the
    /// condition variable: tests wait on it to post a step that has to wake a parked worker.
    package init(threadCount: Int, workerParked: @escaping @Sendable () -> Void = {}) {
        self.threadCount = max(1, threadCount)
        state = WorkerPoolState(workerParked: workerParked)
        for index in 1..<self.threadCount {
            // Each thread holds the state, not the pool, so the pool's deinit can stop them.
            let thread = Thread { [state] in state.workerLoop(thread: index) }
            thread.name = "mcp-rag.embed.\(index)"
            thread.start()
        }
    }

    deinit {
        state.stop()
    }

    /// Runs `body(part, thread)` for every `part` in `0..<parts`, each exactly once, on the calling
    /// thread and the workers, and returns when all are done. `thread` (`0..<threadCount`, 0 the
    /// caller) says which thread runs the part, for per-thread scratch memory: two parts never run
    /// at once on one thread. A single part runs inline. Not reentrant: one caller at a time (the
    /// encoder's lock guarantees it), except for a pool of one thread, which runs every part
    /// inline, touches no shared state, and so may be called from several threads at once.
    package func run(parts: Int, _ body: (_ part: Int, _ thread: Int) -> Void) {
        if parts <= 1 || threadCount == 1 {
            for part in 0..<max(parts, 0) { body(part, 0) }
            return
        }
        withoutActuallyEscaping(body) { escapable in
            state.run(parts: parts, escapable)
        }
    }

    /// `run(parts:_:)` for bodies that do not need to know their thread.
    package func run(parts: Int, _ body: (_ part: Int) -> Void) {
        run(parts: parts) { part, _ in body(part) }
    }
}

/// The part of the pool the worker threads share.
///
/// `@unchecked Sendable`: `job` is written by the caller only between steps, before the step is
/// published in `ticket`, and read by a thread only after it has claimed a part of that step. The
/// caller writes the next job only once every part of the step has finished, so a claim (which
/// only succeeds while parts of the step are left) can never be followed by a read of another
/// step's job.
private final class WorkerPoolState: @unchecked Sendable {
    /// The current step's number (high 32 bits) and how many of its parts are still unclaimed (low
    /// 32 bits), in one word: a claim is one compare-and-exchange that succeeds only in the step
    /// its thread saw, so a thread that wakes late cannot take a part of a later step for its own.
    private let ticket = Atomic<UInt64>(0)
    /// Parts of the current step that have finished.
    private let finished = Atomic<Int>(0)
    private let parked = Atomic<Int>(0)
    private let stopping = Atomic<Bool>(false)
    private let wakeup = NSCondition()
    private var job: ((Int, Int) -> Void)?
    private let workerParked: @Sendable () -> Void
    /// Spin iterations before a worker parks: roughly 100 µs, longer than the gaps between the
    /// steps of one forward pass.
    private static let spinLimit = 100_000
    /// Spin iterations of the caller, waiting for a part another thread runs, before it offers its
    /// core (`sched_yield`): on an oversubscribed machine that thread may be waiting for one.
    private static let patience = 2_000
    private static let partsMask: UInt64 = 0xFFFF_FFFF

    init(workerParked: @escaping @Sendable () -> Void) {
        self.workerParked = workerParked
    }

    /// The number of the step after the one in `word`, wrapping around within 32 bits.
    private static func step(after word: UInt64) -> UInt64 {
        ((word >> 32) &+ 1) & partsMask
    }

    func run(parts: Int, _ body: @escaping (Int, Int) -> Void) {
        job = body
        finished.store(0, ordering: .relaxed)
        let step = Self.step(after: ticket.load(ordering: .relaxed))
        // Sequentially consistent with the workers' `parked` increment and step re-check: either
        // we see a parked worker and wake it, or it sees the new step and does not sleep. Also
        // publishes `job` to the threads that claim a part.
        ticket.store(step << 32 | UInt64(parts), ordering: .sequentiallyConsistent)
        if parked.load(ordering: .sequentiallyConsistent) > 0 {
            wakeup.lock()
            wakeup.broadcast()
            wakeup.unlock()
        }
        work(step: step, thread: 0)
        var spins = 0
        while finished.load(ordering: .acquiring) < parts {
            spins += 1
            if spins % Self.patience == 0 { sched_yield() }
        }
        job = nil
    }

    /// Claims and runs parts of step `step` until none is left.
    private func work(step: UInt64, thread: Int) {
        var word = ticket.load(ordering: .acquiring)
        while word >> 32 == step, word & Self.partsMask > 0 {
            let (claimed, seen) = ticket.compareExchange(expected: word, desired: word - 1, ordering: .acquiringAndReleasing)
            guard claimed else {
                word = seen
                continue
            }
            // Parts are handed out from the last down; the order does not matter.
            job?(Int(word & Self.partsMask) - 1, thread)
            finished.add(1, ordering: .releasing)
            word = ticket.load(ordering: .acquiring)
        }
    }

    func stop() {
        stopping.store(true, ordering: .sequentiallyConsistent)
        wakeup.lock()
        let step = Self.step(after: ticket.load(ordering: .relaxed))
        ticket.store(step << 32, ordering: .sequentiallyConsistent)
        wakeup.broadcast()
        wakeup.unlock()
    }

    func workerLoop(thread: Int) {
        // Step 0 is the pool's initial state, not what the ticket reads when this thread gets
        // going: a step may already have been posted by then, and must not be missed.
        var seen: UInt64 = 0
        while true {
            var current = ticket.load(ordering: .acquiring) >> 32
            var spins = 0
            while current == seen && spins < Self.spinLimit {
                spins += 1
                current = ticket.load(ordering: .acquiring) >> 32
            }
            if current == seen {
                wakeup.lock()
                parked.add(1, ordering: .sequentiallyConsistent)
                workerParked()
                while ticket.load(ordering: .sequentiallyConsistent) >> 32 == seen {
                    wakeup.wait()
                }
                parked.subtract(1, ordering: .relaxed)
                wakeup.unlock()
                current = ticket.load(ordering: .acquiring) >> 32
            }
            seen = current
            if stopping.load(ordering: .acquiring) { return }
            work(step: seen, thread: thread)
        }
    }
}

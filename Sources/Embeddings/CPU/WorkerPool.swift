import Foundation
import Synchronization

/// A fixed set of threads that run the parts of a parallel loop, handing work over in well under
/// a microsecond.
///
/// A single query's forward pass is about thirty parallel steps of 20–100 µs each. Dispatch wakes a
/// parked thread for each step (tens of microseconds through the kernel), which cost more than a
/// millisecond per query. Here workers spin on an atomic generation counter for a short while after
/// each step, so back-to-back steps find them awake, and park on a condition variable once the burst
/// of work is over, so an idle process uses no CPU.
package final class WorkerPool: Sendable {
    /// Threads including the caller's.
    package let threadCount: Int
    private let state: WorkerPoolState

    /// A pool of `threadCount - 1` worker threads; the calling thread makes up the count.
    /// `workerParked` is called on a worker's thread each time it stops spinning and parks on the
    /// condition variable: tests wait on it to post a step that has to wake a parked worker.
    package init(threadCount: Int, workerParked: @escaping @Sendable () -> Void = {}) {
        self.threadCount = max(1, threadCount)
        state = WorkerPoolState(workerCount: self.threadCount - 1, workerParked: workerParked)
        for index in 1..<self.threadCount {
            // Each thread holds the state, not the pool, so the pool's deinit can stop them.
            let thread = Thread { [state] in state.workerLoop(part: index) }
            thread.name = "mcp-rag.embed.\(index)"
            thread.start()
        }
    }

    deinit {
        state.stop()
    }

    /// Runs `body(0)` … `body(parts - 1)`, part 0 on the calling thread, and returns when all are
    /// done. `parts` is capped at `threadCount`; a single part runs inline. Not reentrant: one
    /// caller at a time (the encoder's lock guarantees it).
    package func run(parts requested: Int, _ body: (Int) -> Void) {
        let parts = min(requested, threadCount)
        if parts <= 1 {
            if parts == 1 { body(0) }
            return
        }
        withoutActuallyEscaping(body) { escapable in
            state.run(parts: parts, escapable)
        }
    }
}

/// The part of the pool the worker threads share.
///
/// `@unchecked Sendable`: `job` and `jobParts` are written by the caller only while no step is in
/// flight, before `generation` is bumped, and read by workers only after they observe the bump.
/// Every worker takes part in every step (those without a part just check in), and `run` returns
/// only once all have decremented `pending`, so nothing reads the job while the next one is written.
private final class WorkerPoolState: @unchecked Sendable {
    private let workerCount: Int
    private let generation = Atomic<Int>(0)
    private let pending = Atomic<Int>(0)
    private let parked = Atomic<Int>(0)
    private let stopping = Atomic<Bool>(false)
    private let wakeup = NSCondition()
    private var job: ((Int) -> Void)?
    private var jobParts = 0
    private let workerParked: @Sendable () -> Void
    /// Spin iterations before a worker parks: roughly 100 µs, longer than the gaps between the
    /// steps of one forward pass.
    private static let spinLimit = 100_000

    init(workerCount: Int, workerParked: @escaping @Sendable () -> Void) {
        self.workerCount = workerCount
        self.workerParked = workerParked
    }

    func run(parts: Int, _ body: @escaping (Int) -> Void) {
        job = body
        jobParts = parts
        pending.store(workerCount, ordering: .relaxed)
        // Sequentially consistent with the workers' `parked` increment and generation re-check:
        // either we see a parked worker and wake it, or it sees the new generation and does not sleep.
        generation.add(1, ordering: .sequentiallyConsistent)
        if parked.load(ordering: .sequentiallyConsistent) > 0 {
            wakeup.lock()
            wakeup.broadcast()
            wakeup.unlock()
        }
        body(0)
        while pending.load(ordering: .acquiring) > 0 {}
        job = nil
    }

    func stop() {
        stopping.store(true, ordering: .sequentiallyConsistent)
        wakeup.lock()
        generation.add(1, ordering: .sequentiallyConsistent)
        wakeup.broadcast()
        wakeup.unlock()
    }

    func workerLoop(part: Int) {
        // Generation 0 is the pool's initial state, not what the counter reads when this thread
        // gets going: a step may already have been posted by then, and must not be missed.
        var seen = 0
        while true {
            var current = generation.load(ordering: .acquiring)
            var spins = 0
            while current == seen && spins < Self.spinLimit {
                spins += 1
                current = generation.load(ordering: .acquiring)
            }
            if current == seen {
                wakeup.lock()
                parked.add(1, ordering: .sequentiallyConsistent)
                workerParked()
                while generation.load(ordering: .sequentiallyConsistent) == seen {
                    wakeup.wait()
                }
                parked.subtract(1, ordering: .relaxed)
                wakeup.unlock()
                current = generation.load(ordering: .acquiring)
            }
            seen = current
            if stopping.load(ordering: .acquiring) { return }
            if part < jobParts { job?(part) }
            pending.subtract(1, ordering: .releasing)
        }
    }
}

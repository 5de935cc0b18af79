@testable import Blocking
import Dispatch
import Synchronization
import Testing

/// The pool every blocking call runs on: bounded, in order, drained at shutdown, its capacity
/// following reservations. Each test has a pool of its own; jobs block on semaphores the test
/// opens, so nothing waits on time.
@Suite struct ThreadPoolTests {
    /// What the gated jobs report: how many run now, the most at once, how many finished.
    private final class Running: Sendable {
        let counts = Mutex((now: 0, most: 0, done: 0))
        func withLock<T: Sendable>(_ body: (inout (now: Int, most: Int, done: Int)) -> T) -> T { counts.withLock { body(&$0) } }
    }

    /// Submits `count` jobs that each signal `started` and then wait for `gate`.
    private func gatedJobs(_ count: Int, on pool: ThreadPool, gate: DispatchSemaphore, started: DispatchSemaphore,
                           running: Running) {
        for _ in 0..<count {
            pool.submit {
                running.withLock { $0.now += 1; $0.most = max($0.most, $0.now) }
                started.signal()
                gate.wait()
                running.withLock { $0.now -= 1; $0.done += 1 }
            }
        }
    }

    private func waitUntilIdle(_ pool: ThreadPool) -> Bool {
        let idle = DispatchSemaphore(value: 0)
        pool.notifyWhenIdle { idle.signal() }
        return idle.wait(timeout: .now() + 60) == .success
    }

    @Test func noMoreJobsRunAtOnceThanThePoolHasThreads() {
        let pool = ThreadPool(capacity: 2)
        let (gate, started) = (DispatchSemaphore(value: 0), DispatchSemaphore(value: 0))
        let running = Running()
        gatedJobs(6, on: pool, gate: gate, started: started, running: running)
        #expect(started.wait(timeout: .now() + 60) == .success)
        #expect(started.wait(timeout: .now() + 60) == .success)
        // Both threads are held by the gate: the other four must still be waiting in the queue.
        #expect(pool.queued == 4)
        #expect(pool.threads == 2)
        #expect(running.withLock { $0.now } == 2)
        for _ in 0..<6 { gate.signal() }
        #expect(waitUntilIdle(pool))
        #expect(running.withLock { $0 } == (now: 0, most: 2, done: 6))
        #expect(pool.threads == 2, "threads start as jobs need them, never past the capacity")
    }

    @Test func aReservationAddsThreadsAndTheyEndWhenItIsGiven() {
        let pool = ThreadPool(capacity: 1)
        let (gate, started) = (DispatchSemaphore(value: 0), DispatchSemaphore(value: 0))
        let running = Running()
        pool.adjustCapacity(by: 2)
        gatedJobs(5, on: pool, gate: gate, started: started, running: running)
        for _ in 0..<3 { #expect(started.wait(timeout: .now() + 60) == .success) }
        #expect(pool.threads == 3 && pool.queued == 2)
        // Given back while all three are busy: none ends in the middle of a job.
        pool.adjustCapacity(by: -2)
        #expect(pool.capacity == 1 && pool.threads == 3)
        for _ in 0..<5 { gate.signal() }
        #expect(waitUntilIdle(pool))
        #expect(running.withLock { $0.done } == 5)
        for _ in 0..<2 { #expect(started.wait(timeout: .now()) == .success, "the last two jobs' starts") }
        // The two beyond the capacity end; what runs next runs one at a time.
        gatedJobs(2, on: pool, gate: gate, started: started, running: running)
        #expect(started.wait(timeout: .now() + 60) == .success)
        #expect(running.withLock { $0.now } == 1 && pool.queued == 1)
        for _ in 0..<2 { gate.signal() }
        #expect(waitUntilIdle(pool))
        #expect(pool.threads == 1)
    }

    @Test func theCapacityNeverFallsBelowOneThread() {
        let pool = ThreadPool(capacity: 2)
        pool.adjustCapacity(by: -5)
        #expect(pool.capacity == 1)
        let ran = Atomic<Bool>(false)
        pool.submit { ran.store(true, ordering: .relaxed) }
        #expect(waitUntilIdle(pool))
        let didRun = ran.load(ordering: .relaxed)
        #expect(didRun)
    }

    @Test func jobsStartInTheOrderTheyCame() {
        let pool = ThreadPool(capacity: 1)
        let order = Mutex<[Int]>([])
        for index in 0..<2_000 { pool.submit { order.withLock { $0.append(index) } } }
        #expect(waitUntilIdle(pool))
        #expect(order.withLock { $0 } == Array(0..<2_000))
        #expect(pool.queued == 0)
    }

    @Test func idleIsReportedOnlyOnceEveryJobHasRun() {
        let pool = ThreadPool(capacity: 3)
        let gate = DispatchSemaphore(value: 0)
        let finished = Atomic<Int>(0)
        for _ in 0..<5 {
            pool.submit {
                gate.wait()
                finished.add(1, ordering: .relaxed)
            }
        }
        let idle = DispatchSemaphore(value: 0)
        pool.notifyWhenIdle { idle.signal() }
        // Every job is held by the gate (or queued behind it): idle cannot have been reported.
        #expect(idle.wait(timeout: .now()) == .timedOut)
        for _ in 0..<5 { gate.signal() }
        #expect(idle.wait(timeout: .now() + 60) == .success)
        let count = finished.load(ordering: .relaxed)
        #expect(count == 5)
    }

    @Test func anIdlePoolReportsIdleAtOnce() {
        let pool = ThreadPool(capacity: 1)
        let called = Atomic<Bool>(false)
        pool.notifyWhenIdle { called.store(true, ordering: .relaxed) }
        let wasCalled = called.load(ordering: .relaxed)
        #expect(wasCalled)
    }

    /// A job's closure may hold the last reference to something whose deinit calls back into the
    /// pool (a connection pool giving its threads back). Released under the pool's lock, as the
    /// queue's compaction once did after a thousand jobs, that deinit would lock again and crash.
    @Test func aJobHoldingWhatGivesThreadsBackIsReleasedOutsideTheLock() {
        final class GivesThreadsBack: Sendable {
            let pool: ThreadPool
            init(_ pool: ThreadPool) { self.pool = pool }
            deinit { pool.adjustCapacity(by: 0) }
        }
        let pool = ThreadPool(capacity: 2)
        let idle = DispatchSemaphore(value: 0)
        let ran = Atomic(0)
        for _ in 0..<3_000 {
            let holder = GivesThreadsBack(pool)
            pool.submit { withExtendedLifetime(holder) { _ = ran.add(1, ordering: .relaxed) } }
        }
        pool.notifyWhenIdle { idle.signal() }
        idle.wait()
        #expect(ran.load(ordering: .relaxed) == 3_000)
    }
}

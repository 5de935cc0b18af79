@testable import Blocking
import Dispatch
import Synchronization
import Testing

/// The pool every blocking call runs on: bounded, in order, and drained at shutdown. Each test
/// has a pool of its own; jobs block on semaphores the test opens, so nothing waits on time.
@Suite struct ThreadPoolTests {
    @Test func noMoreJobsRunAtOnceThanThePoolHasThreads() {
        let pool = ThreadPool(threads: 2)
        let gate = DispatchSemaphore(value: 0)
        let started = DispatchSemaphore(value: 0)
        let running = Mutex((now: 0, most: 0, done: 0))
        for _ in 0..<6 {
            pool.submit {
                running.withLock { $0.now += 1; $0.most = max($0.most, $0.now) }
                started.signal()
                gate.wait()
                running.withLock { $0.now -= 1; $0.done += 1 }
            }
        }
        #expect(started.wait(timeout: .now() + 60) == .success)
        #expect(started.wait(timeout: .now() + 60) == .success)
        // Both threads are held by the gate: the other four must still be waiting in the queue.
        #expect(pool.queued == 4)
        #expect(running.withLock { $0.now } == 2)
        let idle = DispatchSemaphore(value: 0)
        for _ in 0..<6 { gate.signal() }
        pool.notifyWhenIdle { idle.signal() }
        #expect(idle.wait(timeout: .now() + 60) == .success)
        #expect(running.withLock { $0 } == (now: 0, most: 2, done: 6))
    }

    @Test func jobsStartInTheOrderTheyCame() {
        let pool = ThreadPool(threads: 1)
        let order = Mutex<[Int]>([])
        for index in 0..<2_000 { pool.submit { order.withLock { $0.append(index) } } }
        let idle = DispatchSemaphore(value: 0)
        pool.notifyWhenIdle { idle.signal() }
        #expect(idle.wait(timeout: .now() + 60) == .success)
        #expect(order.withLock { $0 } == Array(0..<2_000))
        #expect(pool.queued == 0)
    }

    @Test func idleIsReportedOnlyOnceEveryJobHasRun() {
        let pool = ThreadPool(threads: 3)
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
        let pool = ThreadPool(threads: 1)
        let called = Atomic<Bool>(false)
        pool.notifyWhenIdle { called.store(true, ordering: .relaxed) }
        let wasCalled = called.load(ordering: .relaxed)
        #expect(wasCalled)
    }

    @Test func theSizeIsFixedOnceTheThreadsHaveStarted() {
        let pool = ThreadPool(threads: 4)
        #expect(pool.resize(2))
        #expect(pool.threads == 2)
        let idle = DispatchSemaphore(value: 0)
        pool.submit {}
        pool.notifyWhenIdle { idle.signal() }
        #expect(idle.wait(timeout: .now() + 60) == .success)
        #expect(!pool.resize(8))
        #expect(pool.threads == 2)
    }
}

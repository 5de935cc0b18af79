import Foundation
import Synchronization
import Testing

@testable import Embeddings

@Suite("Worker pool")
struct WorkerPoolTests {
    @Test("a step posted right after the pool starts is not missed", .timeLimit(.minutes(1)))
    func immediateRun() {
        // The first step races the worker threads' start-up; a lost step would hang here.
        for _ in 0..<200 {
            let pool = WorkerPool(threadCount: 3)
            let counter = Atomic<Int>(0)
            pool.run(parts: 3) { _ in counter.add(1, ordering: .relaxed) }
            #expect(counter.load(ordering: .relaxed) == 3)
        }
    }

    @Test("every part runs exactly once, for thousands of back-to-back steps", .timeLimit(.minutes(1)))
    func everyPartOnce() {
        let pool = WorkerPool(threadCount: 4)
        let hits = Mutex([Int](repeating: 0, count: 9))
        var expected = [Int](repeating: 0, count: 9)
        for step in 0..<20_000 {
            let parts = step % 10  // 0 … 9 parts: none, fewer than the threads, and more
            pool.run(parts: parts) { part in hits.withLock { $0[part] += 1 } }
            for part in 0..<parts { expected[part] += 1 }
        }
        #expect(hits.withLock { $0 } == expected)
    }

    @Test("no two parts run at once on one thread, and the thread numbers are the pool's", .timeLimit(.minutes(1)))
    func threadNumbers() {
        let pool = WorkerPool(threadCount: 3)
        // Per thread number: the parts running on it now, and the most that ever did at once.
        let running = Mutex([0, 0, 0])
        let most = Mutex(0)
        let outOfRange = Atomic<Int>(0)
        for _ in 0..<2_000 {
            pool.run(parts: 12) { (_: Int, thread: Int) in
                guard (0..<3).contains(thread) else {
                    outOfRange.add(1, ordering: .relaxed)
                    return
                }
                let now = running.withLock { counts in
                    counts[thread] += 1
                    return counts[thread]
                }
                most.withLock { $0 = max($0, now) }
                running.withLock { $0[thread] -= 1 }
            }
        }
        #expect(most.withLock { $0 } == 1)
        let strays = outOfRange.load(ordering: .relaxed)
        #expect(strays == 0)
    }

    @Test("a thread that gets no core leaves its parts to the others", .timeLimit(.minutes(1)))
    func partsAreClaimed() {
        let pool = WorkerPool(threadCount: 2)
        // The first part claimed blocks its thread until every other part has run: with parts
        // assigned to threads instead of claimed, the other thread's share would never run and
        // the step would not end (the test's time limit would fail it).
        let others = DispatchSemaphore(value: 0)
        let claimedFirst = Atomic<Bool>(false)
        let ran = Atomic<Int>(0)
        let parts = 8
        pool.run(parts: parts) { _ in
            if claimedFirst.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged {
                for _ in 1..<parts { others.wait() }
            } else {
                others.signal()
            }
            ran.add(1, ordering: .relaxed)
        }
        let done = ran.load(ordering: .relaxed)
        #expect(done == parts)
    }

    @Test("steps after the workers have parked still run")
    func afterParking() {
        // Signalled by each worker as it parks on the condition variable, once per idle spell.
        let parked = DispatchSemaphore(value: 0)
        let pool = WorkerPool(threadCount: 3, workerParked: { parked.signal() })
        let counter = PartCounter()
        for round in 1...3 {
            for _ in 0..<2 {
                guard parked.wait(timeout: .now() + 30) == .success else {
                    Issue.record("round \(round): a worker never parked")
                    return
                }
            }
            // Both workers are parked: the step has to wake them. It runs on a thread of its own,
            // so that a worker left asleep fails the test instead of hanging it.
            let done = DispatchSemaphore(value: 0)
            Thread {
                pool.run(parts: 3) { _ in counter.add() }
                done.signal()
            }.start()
            guard done.wait(timeout: .now() + 30) == .success else {
                Issue.record("round \(round): the step never finished: a parked worker was not woken")
                return
            }
            #expect(counter.value == 3 * round)
        }
    }
}

/// Parts run, counted from any thread (a class, so that a step's own thread can share it).
private final class PartCounter: Sendable {
    private let count = Atomic<Int>(0)

    var value: Int { count.load(ordering: .relaxed) }

    func add() { count.add(1, ordering: .relaxed) }
}

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
        let hits = Mutex([0, 0, 0, 0])
        var expected = [0, 0, 0, 0]
        for step in 0..<20_000 {
            let parts = step % 5  // 0 … 4 parts, including none
            pool.run(parts: parts) { part in hits.withLock { $0[part] += 1 } }
            for part in 0..<min(parts, 4) { expected[part] += 1 }
        }
        #expect(hits.withLock { $0 } == expected)
    }

    @Test("asking for more parts than threads runs only as many as there are threads")
    func cappedParts() {
        let pool = WorkerPool(threadCount: 2)
        let counter = Atomic<Int>(0)
        pool.run(parts: 10) { _ in counter.add(1, ordering: .relaxed) }
        #expect(counter.load(ordering: .relaxed) == 2)
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

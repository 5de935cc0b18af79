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

    @Test("steps after the workers have parked still run", .timeLimit(.minutes(1)))
    func afterParking() async throws {
        let pool = WorkerPool(threadCount: 2)
        let counter = Atomic<Int>(0)
        for _ in 0..<3 {
            pool.run(parts: 2) { _ in counter.add(1, ordering: .relaxed) }
            // Long enough for the worker to stop spinning and park on the condition variable.
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(counter.load(ordering: .relaxed) == 6)
    }
}

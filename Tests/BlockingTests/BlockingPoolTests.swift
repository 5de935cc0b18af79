@testable import Blocking
import Dispatch
import Synchronization
import Testing

private struct Busy: Error {}

/// A server that hangs until the test lets it answer: connecting to it takes as long as `gate`
/// stays shut.
private final class HangingServer: Sendable {
    let gate = DispatchSemaphore(value: 0)
    /// Callers that began connecting, and connections made.
    let connecting = Atomic<Int>(0)
    let connected = Atomic<Int>(0)

    func pool(size: Int) -> BlockingPool<Int> {
        BlockingPool(size: size, patience: .seconds(600),
                     open: {
                         self.connecting.add(1, ordering: .relaxed)
                         self.gate.wait()
                         self.gate.signal()
                         return self.connected.add(1, ordering: .relaxed).newValue
                     },
                     isReusable: { _ in true },
                     busy: { Busy() })
    }

    func answer() { gate.signal() }
}

/// A connection pool in front of a server that hangs: its callers wait for a connection without
/// holding threads, and the threads it does hold are its own.
@Suite struct BlockingPoolTests {
    @Test func callersBeyondTheConnectionsWaitWithoutAThreadAndLocalWorkGoesOn() async throws {
        let server = HangingServer()
        let pool = server.pool(size: 2)
        #expect(pool.reservedThreads == 2)
        let answers = Task {
            try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<6 { group.addTask { try await pool.run { $0 } } }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
        }
        // Two hang connecting, on the pool's two threads; the other four wait for a connection.
        while pool.waitingForConnection < 4 || server.connecting.load(ordering: .relaxed) < 2 { await Task.yield() }
        #expect(server.connecting.load(ordering: .relaxed) == 2)
        // The server's hang holds none of the threads local work runs on.
        #expect(try await BlockingExecutor.run { 42 } == 42)
        server.answer()
        let served = try await answers.value
        #expect(served.count == 6)
        #expect(server.connected.load(ordering: .relaxed) == 2, "two connections, each reused once it came back")
        #expect(Set(served) == [1, 2])
    }

    @Test func aCallerThatWaitsPastThePatienceGetsBusy() async throws {
        let server = HangingServer()
        let pool = server.pool(size: 1)
        let first = Task { try await pool.run { $0 } }
        while server.connecting.load(ordering: .relaxed) == 0 { await Task.yield() }
        await #expect(throws: Busy.self) { try await pool.run(patience: .milliseconds(50)) { $0 } }
        #expect(pool.waitingForConnection == 0)
        server.answer()
        #expect(try await first.value == 1)
    }
}

import Resilience
import Synchronization
import TestSupport
import Testing

private struct Down: Error, CustomStringConvertible {
    var description: String { "connection refused" }
}

private struct BadRequest: Error {}

@Suite struct CircuitBreakerTests {
    private let clock = ManualClock()

    private func breaker(threshold: Int = 5, open: Duration = .seconds(60)) -> CircuitBreaker {
        CircuitBreaker(name: "redis", configuration: .init(failureThreshold: threshold, openDuration: open), clock: clock)
    }

    /// Runs a failing call and returns the error it threw.
    private func fail(_ breaker: CircuitBreaker, with error: any Error = Down()) -> (any Error)? {
        do { try breaker.run { () throws -> Void in throw error } } catch { return error }
        return nil
    }

    @Test func opensAfterTheThresholdOfConsecutiveFailures() {
        let breaker = breaker()
        for failures in 1...4 {
            #expect(fail(breaker) is Down)
            #expect(breaker.snapshot.state == .closed)
            #expect(breaker.snapshot.consecutiveFailures == failures)
        }
        #expect(fail(breaker) is Down)
        let snapshot = breaker.snapshot
        #expect(snapshot.state == .open)
        #expect(snapshot.timesOpened == 1)
        #expect(snapshot.lastError == "connection refused")
        #expect(snapshot.nextTrialIn == .seconds(60))
    }

    @Test func aSuccessResetsTheCount() throws {
        let breaker = breaker()
        for _ in 1...4 { _ = fail(breaker) }
        try breaker.run {}
        for _ in 1...4 { _ = fail(breaker) }
        #expect(breaker.snapshot.state == .closed)
        #expect(breaker.snapshot.consecutiveFailures == 4)
    }

    @Test func anOpenBreakerRefusesWithoutCallingUntilThePauseIsOver() throws {
        let breaker = breaker(threshold: 2, open: .seconds(60))
        _ = fail(breaker)
        _ = fail(breaker)
        let calls = Mutex(0)
        clock.advance(by: .seconds(59))
        let refusal = try #require(throws: CircuitOpenError.self) { try breaker.run { calls.withLock { $0 += 1 } } }
        #expect(calls.withLock { $0 } == 0)
        #expect(refusal.retryIn == .seconds(1))
        #expect(refusal.description.contains("redis is unavailable"))
        #expect(refusal.description.contains("connection refused"))
        #expect(breaker.snapshot.nextTrialIn == .seconds(1))

        clock.advance(by: .seconds(1))
        #expect(breaker.snapshot.state == .halfOpen)
        try breaker.run { calls.withLock { $0 += 1 } }
        #expect(calls.withLock { $0 } == 1)
        #expect(breaker.snapshot.state == .closed)
        #expect(breaker.snapshot.consecutiveFailures == 0)
        #expect(breaker.snapshot.lastError == nil)
        // Each move counted once: opened, a trial let through, closed again.
        #expect(breaker.snapshot.timesOpened == 1 && breaker.snapshot.timesHalfOpened == 1 && breaker.snapshot.timesClosed == 1)
        try breaker.run {}
        #expect(breaker.snapshot.timesClosed == 1, "a success while closed is no transition")
    }

    @Test func aFailedTrialOpensItForAnotherPause() {
        let breaker = breaker(threshold: 3, open: .seconds(10))
        for _ in 1...3 { _ = fail(breaker) }
        clock.advance(by: .seconds(10))
        #expect(fail(breaker) is Down, "the trial reaches the dependency")
        #expect(breaker.snapshot.state == .open)
        #expect(breaker.snapshot.nextTrialIn == .seconds(10))
        #expect(breaker.snapshot.timesOpened == 2)
        #expect(breaker.snapshot.timesHalfOpened == 1 && breaker.snapshot.timesClosed == 0)
        #expect(fail(breaker) is CircuitOpenError)
    }

    @Test func onlyOneTrialRunsWhileHalfOpen() async throws {
        let breaker = breaker(threshold: 1, open: .seconds(1))
        _ = fail(breaker)
        clock.advance(by: .seconds(1))
        let (trialStarted, startedSignal) = AsyncStream<Void>.makeStream()
        let (release, releaseSignal) = AsyncStream<Void>.makeStream()
        let trial = Task {
            try await breaker.run {
                startedSignal.yield()
                for await _ in release { break }
            }
        }
        for await _ in trialStarted { break }
        let second = try #require(throws: CircuitOpenError.self) { try breaker.run {} }
        #expect(second.retryIn == .zero)
        #expect(second.description.contains("a trial call is under way"))
        releaseSignal.yield()
        try await trial.value
        #expect(breaker.snapshot.state == .closed)
    }

    @Test func errorsThatDoNotCountLeaveItClosed() {
        let breaker = breaker(threshold: 2)
        for _ in 1...5 {
            do {
                try breaker.run(isFailure: { !($0 is BadRequest) }) { () throws -> Void in throw BadRequest() }
            } catch {}
        }
        #expect(breaker.snapshot.state == .closed)
        #expect(breaker.snapshot.consecutiveFailures == 0)
    }

    @Test func aCancelledTrialLetsTheNextCallTry() async throws {
        let breaker = breaker(threshold: 1, open: .seconds(1))
        _ = fail(breaker)
        clock.advance(by: .seconds(1))
        await #expect(throws: CancellationError.self) {
            try await breaker.run { () async throws -> Void in throw CancellationError() }
        }
        #expect(breaker.snapshot.state == .halfOpen)
        try breaker.run {}
        #expect(breaker.snapshot.state == .closed)
    }
}

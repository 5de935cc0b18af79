import Resilience
import Synchronization
import TestSupport
import Testing

private struct Timeout: Error {}
private struct Refused: Error {}

@Suite struct RetryPolicyTests {
    @Test func delaysDoubleFromOneSecondUpToThirtyWithEqualJitter() {
        let policy = RetryPolicy(maxAttempts: 10)
        // The top of the jitter range is the schedule itself; the bottom is half of it.
        let top = (1...7).map { policy.delay(afterAttempt: $0, unit: 0.999_999_999_9) }
        #expect(top.map { ($0 / .milliseconds(1)).rounded() } == [1000, 2000, 4000, 8000, 16000, 30000, 30000])
        #expect(policy.delay(afterAttempt: 3, unit: 0) == .seconds(2))
        #expect(policy.delay(afterAttempt: 3, unit: 0.5) == .seconds(3))
        // No overflow for a silly attempt number.
        #expect(policy.delay(afterAttempt: 10_000, unit: 0) == .seconds(15))
    }

    @Test func retriesRetryableErrorsUpToTheAttemptLimit() async {
        let clock = ManualClock()
        let attempts = Mutex<[Int]>([])
        await #expect(throws: Timeout.self) {
            try await RetryPolicy().run(clock: clock, random: { 0 }, isRetryable: { $0 is Timeout }) { attempt in
                attempts.withLock { $0.append(attempt) }
                throw Timeout()
            }
        }
        #expect(attempts.withLock { $0 } == [1, 2, 3])
        #expect(clock.sleeps == [.milliseconds(500), .seconds(1)])
    }

    @Test func returnsTheFirstSuccess() async throws {
        let clock = ManualClock()
        let value = try await RetryPolicy().run(clock: clock, random: { 0.5 }, isRetryable: { _ in true }) { attempt in
            if attempt < 2 { throw Timeout() }
            return attempt
        }
        #expect(value == 2)
        #expect(clock.sleeps == [.milliseconds(750)])
    }

    @Test func doesNotRetryWhatCannotPass() async {
        let clock = ManualClock()
        let calls = Mutex(0)
        await #expect(throws: Refused.self) {
            try await RetryPolicy().run(clock: clock, isRetryable: { $0 is Timeout }) { _ in
                calls.withLock { $0 += 1 }
                throw Refused()
            }
        }
        // Nor a call refused by an open breaker.
        await #expect(throws: CircuitOpenError.self) {
            try await RetryPolicy().run(clock: clock, isRetryable: { _ in true }) { _ in
                calls.withLock { $0 += 1 }
                throw CircuitOpenError(dependency: "chroma", retryIn: .seconds(5), lastError: nil)
            }
        }
        #expect(calls.withLock { $0 } == 2)
        #expect(clock.sleeps.isEmpty)
    }

    @Test func theBreakerSeesEachAttempt() async {
        let clock = ManualClock()
        let breaker = CircuitBreaker(name: "chroma", configuration: .init(failureThreshold: 2), clock: clock)
        await #expect(throws: CircuitOpenError.self) {
            try await RetryPolicy(maxAttempts: 5).run(clock: clock, isRetryable: { _ in true }) { _ in
                try await breaker.run { () async throws -> Void in throw Timeout() }
            }
        }
        // Two attempts opened the breaker; the third was refused and ended the retries.
        #expect(breaker.snapshot.state == .open)
        #expect(clock.sleeps.count == 2)
    }
}

/// Tries an operation again after errors that may pass, waiting longer each time.
///
/// The n-th wait (n from 1) is `initialDelay × multiplier^(n-1)`, capped at `maxDelay`, and then
/// drawn uniformly from its upper half ("equal jitter"): processes that failed together do not all
/// come back at the same instant, and no wait is shorter than half the schedule.
public struct RetryPolicy: Sendable, Equatable {
    /// Calls in all, the first included.
    public var maxAttempts: Int
    public var initialDelay: Duration
    public var multiplier: Double
    public var maxDelay: Duration

    public init(maxAttempts: Int = 3, initialDelay: Duration = .seconds(1), multiplier: Double = 2,
                maxDelay: Duration = .seconds(30)) {
        self.maxAttempts = max(1, maxAttempts)
        self.initialDelay = max(.zero, initialDelay)
        self.multiplier = max(1, multiplier)
        self.maxDelay = max(self.initialDelay, maxDelay)
    }

    /// One attempt only: for callers that must not wait (a query's critical path).
    public static let none = RetryPolicy(maxAttempts: 1)

    /// The wait after failed attempt `attempt` (from 1), for `unit` in [0, 1) (the random draw).
    public func delay(afterAttempt attempt: Int, unit: Double) -> Duration {
        // Multiplied step by step and capped each time, so a large attempt number cannot overflow.
        var scheduled = initialDelay.seconds
        for _ in 1..<max(1, attempt) { scheduled = min(scheduled * multiplier, maxDelay.seconds) }
        scheduled = min(scheduled, maxDelay.seconds)
        let jittered = scheduled * (0.5 + 0.5 * min(max(unit, 0), 1))
        return .nanoseconds(Int64((jittered * 1e9).rounded()))
    }

    /// Runs `body` (given the attempt number, from 1) until it succeeds, fails with an error
    /// `isRetryable` rejects (only errors that can pass on their own: a refused connection, a
    /// timeout; never a bad request), or has failed `maxAttempts` times; then rethrows the last error.
    /// Cancellation stops it at once, during a wait too.
    public func run<T>(clock: any MonotonicClock = SystemClock(),
                       random: @Sendable () -> Double = { Double.random(in: 0..<1) },
                       isRetryable: (any Error) -> Bool,
                       _ body: (_ attempt: Int) async throws -> T) async throws -> T {
        var attempt = 1
        while true {
            do {
                return try await body(attempt)
            } catch {
                // A call the breaker refused is not retried: its pause outlasts any retry schedule.
                guard attempt < maxAttempts, !(error is CancellationError), !(error is CircuitOpenError),
                      isRetryable(error) else { throw error }
                try await clock.sleep(for: delay(afterAttempt: attempt, unit: random()))
                attempt += 1
            }
        }
    }
}

extension Duration {
    /// The duration in seconds, as a floating-point number.
    public var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

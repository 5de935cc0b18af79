/// The time source of the breaker and the retry policy: a monotonic clock that can also sleep.
///
/// A protocol rather than Swift's generic `Clock`, so that the types using it stay non-generic;
/// tests pass a manual clock, and no test sleeps.
public protocol MonotonicClock: Sendable {
    /// The time elapsed since a fixed point of this clock's choosing; only differences matter.
    func now() -> Duration
    /// Suspends the calling task for `duration` (a manual clock advances instead). Throws
    /// `CancellationError` when the task is cancelled.
    func sleep(for duration: Duration) async throws
}

/// The system's monotonic clock (`ContinuousClock`, which keeps counting while the machine sleeps).
public struct SystemClock: MonotonicClock {
    private static let origin = ContinuousClock.now

    public init() {}

    public func now() -> Duration { ContinuousClock.now - Self.origin }

    public func sleep(for duration: Duration) async throws {
        try await Task.sleep(for: duration, clock: .continuous)
    }
}

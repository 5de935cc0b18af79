import Resilience
import Synchronization

/// A clock that moves only when told to, so breaker and retry tests never sleep. `sleep(for:)`
/// advances it by the duration and records the duration.
public final class ManualClock: MonotonicClock {
    private let state = Mutex<(now: Duration, sleeps: [Duration])>((.zero, []))

    public init() {}

    public func now() -> Duration { state.withLock { $0.now } }

    public func sleep(for duration: Duration) async throws {
        try Task.checkCancellation()
        state.withLock {
            $0.now += duration
            $0.sleeps.append(duration)
        }
    }

    /// Moves the clock forward by `duration`.
    public func advance(by duration: Duration) {
        state.withLock { $0.now += duration }
    }

    /// Every duration slept, in order.
    public var sleeps: [Duration] { state.withLock { $0.sleeps } }
}

import Synchronization

/// Stops calling a dependency that keeps failing, and tries it again after a pause.
///
/// Closed: calls go through; `failureThreshold` failures in a row open it. Open: calls fail at once
/// with `CircuitOpenError`, without touching the dependency, until `openDuration` has passed. Then
/// half-open: one call goes through as a trial, and the others still fail fast; its success closes
/// the breaker, its failure opens it for another `openDuration`.
///
/// Why: a dependency that is down costs every caller a timeout, and callers retrying together keep it
/// down. Failing fast keeps queries quick (they degrade instead), and the single trial lets the
/// dependency come back without a stampede.
public final class CircuitBreaker: Sendable {
    /// The breaker's two numbers.
    public struct Configuration: Sendable, Equatable {
        /// Consecutive failures that open the breaker.
        public var failureThreshold: Int
        /// How long it stays open before a trial call.
        public var openDuration: Duration

        public init(failureThreshold: Int = 5, openDuration: Duration = .seconds(60)) {
            self.failureThreshold = max(1, failureThreshold)
            self.openDuration = max(.zero, openDuration)
        }
    }

    public enum State: String, Sendable, Codable, Equatable {
        case closed
        case open
        case halfOpen = "half_open"
    }

    /// What `health_check` shows of a breaker.
    public struct Snapshot: Sendable, Equatable {
        public var state: State
        public var consecutiveFailures: Int
        /// The last failure's description, nil when there has been none since the last success.
        public var lastError: String?
        /// While open: how long until the trial call is allowed.
        public var nextTrialIn: Duration?
        /// Times the breaker has opened since it was made.
        public var timesOpened: Int
        /// Times it let a trial call through after a pause (open → half-open), and times it closed
        /// again (the dependency answered after failures had opened it).
        public var timesHalfOpened = 0
        public var timesClosed = 0
    }

    /// The dependency's name, for error messages ("redis", "chroma").
    public let name: String
    public let configuration: Configuration
    private let clock: any MonotonicClock
    private let inner: Mutex<Inner>

    private struct Inner {
        var state = State.closed
        var consecutiveFailures = 0
        var openedAt = Duration.zero
        var trialInFlight = false
        var lastError: String?
        var timesOpened = 0
        var timesHalfOpened = 0
        var timesClosed = 0

        /// The dependency answered: calls go through again and the failure count starts over.
        mutating func close() {
            if state != .closed { timesClosed += 1 }
            state = .closed
            consecutiveFailures = 0
        }
    }

    public init(name: String, configuration: Configuration = Configuration(), clock: any MonotonicClock = SystemClock()) {
        self.name = name
        self.configuration = configuration
        self.clock = clock
        inner = Mutex(Inner())
    }

    /// The state now, moving an open breaker whose pause is over to half-open (as the next call would).
    public var snapshot: Snapshot {
        let now = clock.now()
        return inner.withLock { inner in
            var state = inner.state
            var nextTrialIn: Duration?
            if state == .open {
                let remaining = inner.openedAt + configuration.openDuration - now
                if remaining > .zero { nextTrialIn = remaining } else { state = .halfOpen }
            }
            return Snapshot(state: state, consecutiveFailures: inner.consecutiveFailures, lastError: inner.lastError,
                            nextTrialIn: nextTrialIn, timesOpened: inner.timesOpened, timesHalfOpened: inner.timesHalfOpened,
                            timesClosed: inner.timesClosed)
        }
    }

    /// Runs `body` if the breaker lets it through, and counts its outcome. `isFailure` says which
    /// errors count against the dependency (by default all but cancellation); an error that does not
    /// count (a bad request, say) passes through and counts as an answer.
    public func run<T>(isFailure: (any Error) -> Bool = { _ in true }, _ body: () async throws -> T) async throws -> T {
        let trial = try admit()
        do {
            let value = try await body()
            recordSuccess()
            return value
        } catch {
            record(error, trial: trial, counts: isFailure(error))
            throw error
        }
    }

    /// The same for blocking work, on a thread of its own (hiredis, libcurl).
    public func run<T>(isFailure: (any Error) -> Bool = { _ in true }, _ body: () throws -> T) throws -> T {
        let trial = try admit()
        do {
            let value = try body()
            recordSuccess()
            return value
        } catch {
            record(error, trial: trial, counts: isFailure(error))
            throw error
        }
    }

    /// Lets a call through or throws `CircuitOpenError`; returns true when the call is the trial.
    private func admit() throws(CircuitOpenError) -> Bool {
        enum Admission { case admitted(trial: Bool), refused(Duration, lastError: String?) }
        let now = clock.now()
        let admission: Admission = inner.withLock { inner in
            switch inner.state {
            case .closed:
                return .admitted(trial: false)
            case .open:
                let remaining = inner.openedAt + configuration.openDuration - now
                if remaining > .zero { return .refused(remaining, lastError: inner.lastError) }
                inner.state = .halfOpen
                inner.timesHalfOpened += 1
                inner.trialInFlight = true
                return .admitted(trial: true)
            case .halfOpen:
                if inner.trialInFlight { return .refused(.zero, lastError: inner.lastError) }
                inner.trialInFlight = true
                return .admitted(trial: true)
            }
        }
        switch admission {
        case .admitted(let trial): return trial
        case .refused(let wait, let lastError): throw CircuitOpenError(dependency: name, retryIn: wait, lastError: lastError)
        }
    }

    private func recordSuccess() {
        inner.withLock { inner in
            inner.trialInFlight = false
            inner.close()
            inner.lastError = nil
        }
    }

    private func record(_ error: any Error, trial: Bool, counts: Bool) {
        let now = clock.now()
        inner.withLock { inner in
            if trial { inner.trialInFlight = false }
            guard !(error is CancellationError) else { return }
            guard counts else {
                // The dependency answered, if only to refuse: it is up.
                inner.close()
                return
            }
            inner.consecutiveFailures += 1
            inner.lastError = String(describing: error)
            if trial || (inner.state == .closed && inner.consecutiveFailures >= configuration.failureThreshold) {
                if inner.state != .open { inner.timesOpened += 1 }
                inner.state = .open
                inner.openedAt = now
            }
        }
    }
}

/// A call refused because the dependency's breaker is open.
public struct CircuitOpenError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The dependency, as the breaker names it.
    public let dependency: String
    /// Until the next trial call; zero when a trial is already running.
    public let retryIn: Duration
    /// What made the breaker open.
    public let lastError: String?

    public init(dependency: String, retryIn: Duration, lastError: String?) {
        self.dependency = dependency
        self.retryIn = retryIn
        self.lastError = lastError
    }

    public var description: String {
        let when = retryIn > .zero ? "it is tried again in \(Int(retryIn.seconds.rounded(.up))) s" : "a trial call is under way"
        return "\(dependency) is unavailable after repeated failures (circuit breaker open; \(when))"
            + (lastError.map { "; last error: \($0)" } ?? "")
    }
}

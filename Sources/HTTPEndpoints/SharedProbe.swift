/// A probe whose answer callers share: while one runs, those who ask wait for it, and its answer
/// serves everyone who asks for `maxAge` after.
///
/// `/readyz` needs no token, and readiness asks the dependencies (a Redis PING, Chroma's
/// heartbeat, the SQLite ledger): without sharing, anyone who can reach the port could turn
/// each of their requests into requests to those servers.
actor SharedProbe<Value: Sendable> {
    private let maxAge: Duration
    private let probe: @Sendable () async -> Value
    private var last: (value: Value, at: ContinuousClock.Instant)?
    /// The probe that runs now. A task of its own, not the first caller's: a caller that goes away
    /// (its connection closed) must not cut short the answer the others wait for.
    private var running: Task<Value, Never>?

    init(maxAge: Duration, _ probe: @escaping @Sendable () async -> Value) {
        self.maxAge = maxAge
        self.probe = probe
    }

    /// The last answer while it is younger than `maxAge`, else the answer of the probe that runs
    /// now, or of one this call starts.
    func value() async -> Value {
        if let last, last.at.duration(to: .now) < maxAge { return last.value }
        if let running {
            waitingCallers += 1
            defer { waitingCallers -= 1 }
            return await running.value
        }
        let probe = self.probe
        let task = Task { await probe() }
        running = task
        let value = await task.value
        last = (value, .now)
        running = nil
        return value
    }

    /// Callers waiting for the probe another caller started (for tests).
    private(set) var waitingCallers = 0
}

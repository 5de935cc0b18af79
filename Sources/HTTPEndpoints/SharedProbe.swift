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
    /// Callers waiting for the probe that runs now; nil while none runs.
    private var waiting: [CheckedContinuation<Value, Never>]?

    init(maxAge: Duration, _ probe: @escaping @Sendable () async -> Value) {
        self.maxAge = maxAge
        self.probe = probe
    }

    /// The last answer while it is younger than `maxAge`, else the answer of the probe that runs
    /// now, or of one this call runs.
    func value() async -> Value {
        if let last, last.at.duration(to: .now) < maxAge { return last.value }
        if waiting != nil {
            return await withCheckedContinuation { waiting?.append($0) }
        }
        waiting = []
        let value = await probe()
        last = (value, .now)
        let callers = waiting ?? []
        waiting = nil
        callers.forEach { $0.resume(returning: value) }
        return value
    }

    /// Callers waiting for the probe that runs now (for tests).
    var waitingCallers: Int { waiting?.count ?? 0 }
}

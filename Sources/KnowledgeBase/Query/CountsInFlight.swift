import Synchronization

/// Query counts started in the background and not yet written, so that a report can wait for
/// those of the queries answered before it was asked (and only those: counts begun later do not
/// hold it up, however many queries keep arriving).
final class CountsInFlight: Sendable {
    private struct State {
        var lastTicket = 0
        var unfinished: Set<Int> = []
        var waiters: [(through: Int, resume: @Sendable () -> Void)] = []
    }

    private let state = Mutex(State())

    /// Reports waiting (for tests).
    var waiting: Int { state.withLock { $0.waiters.count } }

    /// Notes a count started; `finish` it with the ticket returned.
    func begin() -> Int {
        state.withLock { state in
            state.lastTicket += 1
            state.unfinished.insert(state.lastTicket)
            return state.lastTicket
        }
    }

    func finish(_ ticket: Int) {
        let ready: [@Sendable () -> Void] = state.withLock { state in
            state.unfinished.remove(ticket)
            let oldest = state.unfinished.min() ?? .max
            let ready = state.waiters.filter { $0.through < oldest }
            state.waiters.removeAll { $0.through < oldest }
            return ready.map(\.resume)
        }
        ready.forEach { $0() }
    }

    /// Returns once every count begun before the call has finished.
    func settled() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = state.withLock { state in
                guard !state.unfinished.isEmpty else { return true }
                state.waiters.append((through: state.lastTicket, resume: { continuation.resume() }))
                return false
            }
            if now { continuation.resume() }
        }
    }
}

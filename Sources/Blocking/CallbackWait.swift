import Synchronization

/// Waits until `start` calls the function it is handed (from any thread, at most once counts), or
/// until the task is cancelled, whichever comes first: a wait for work on threads of its own (the
/// blocking executor's, the embedding threads) that a shutdown running out of time can give up.
public func waitForCallback(_ start: (@escaping @Sendable () -> Void) -> Void) async {
    let signal = OnceSignal()
    await withTaskCancellationHandler {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            signal.wait(with: continuation)
            start { signal.fire() }
        }
    } onCancel: {
        signal.fire()
    }
}

/// Resumes one waiting continuation once, whether the wait or the firing comes first.
private final class OnceSignal: Sendable {
    private let state = Mutex<(waiter: CheckedContinuation<Void, Never>?, fired: Bool)>((nil, false))

    func wait(with continuation: CheckedContinuation<Void, Never>) {
        let fired = state.withLock { state in
            if !state.fired { state.waiter = continuation }
            return state.fired
        }
        if fired { continuation.resume() }
    }

    func fire() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard !state.fired else { return nil }
            state.fired = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }
}

import Synchronization

/// A result that one party settles once and any number of tasks await: the knowledge base's
/// opening, which `run()` performs and every call waits for; the embedding model's loading.
///
/// Not a `Task`: the work that settles it belongs to whoever runs it (a service's `run()`), so
/// it is cancelled and awaited with that, rather than living on by itself.
final class Settlement<Value: Sendable>: Sendable {
    private enum State {
        case waiting([UInt64: CheckedContinuation<Value, any Error>])
        case settled(Result<Value, any Error>)
    }

    private let state = Mutex<(state: State, lastID: UInt64)>((.waiting([:]), 0))

    init() {}

    /// Gives every waiter, and every later caller of `value`, `result`. Only the first call counts.
    func settle(_ result: Result<Value, any Error>) {
        let waiters = state.withLock { current -> [CheckedContinuation<Value, any Error>] in
            guard case .waiting(let waiters) = current.state else { return [] }
            current.state = .settled(result)
            return Array(waiters.values)
        }
        waiters.forEach { $0.resume(with: result) }
    }

    /// The settled result, waiting for it; `CancellationError` when the caller is cancelled first.
    var value: Value {
        get async throws {
            let id = state.withLock { current in
                current.lastID += 1
                return current.lastID
            }
            return try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { continuation in
                    let ready: Result<Value, any Error>? = state.withLock { current in
                        switch current.state {
                        case .settled(let result):
                            return result
                        case .waiting(var waiters):
                            // Checked under the lock the cancellation handler takes: a handler that ran
                            // before this found nothing to resume, and this sees the cancellation.
                            if Task.isCancelled { return .failure(CancellationError()) }
                            waiters[id] = continuation
                            current.state = .waiting(waiters)
                            return nil
                        }
                    }
                    if let ready { continuation.resume(with: ready) }
                }
            } onCancel: {
                let waiter = state.withLock { current -> CheckedContinuation<Value, any Error>? in
                    guard case .waiting(var waiters) = current.state, let waiter = waiters.removeValue(forKey: id) else { return nil }
                    current.state = .waiting(waiters)
                    return waiter
                }
                waiter?.resume(throwing: CancellationError())
            }
        }
    }
}

import Synchronization

/// A count of connections that may be lent, taken in the order asked for, with a limit on how long
/// to wait: from async code without holding any thread, or from a thread that may block.
///
/// Network calls take their slot here before they take one of `BlockingExecutor`'s threads, so a
/// call waiting for a busy connection costs no thread at all.
public final class ConnectionSlots: Sendable {
    private struct State {
        var free: Int
        var waiters: [Waiter] = []
    }

    private let state: Mutex<State>

    public init(_ count: Int) {
        state = Mutex(State(free: max(1, count)))
    }

    /// Slots not lent now.
    public var free: Int { state.withLock { $0.free } }
    /// Callers waiting for a slot.
    public var waiting: Int { state.withLock { $0.waiters.count } }

    /// Takes a slot, waiting up to `patience`; false when none came in time or the task was
    /// cancelled. A true answer must be matched by one `give()`.
    public func take(patience: Duration) async -> Bool {
        guard let waiter = queueUnlessFree() else { return true }
        return await withTaskGroup(of: Bool?.self) { group in
            group.addTask {
                await withTaskCancellationHandler {
                    await withCheckedContinuation { continuation in
                        waiter.listen { continuation.resume(returning: $0) }
                    }
                } onCancel: {
                    self.withdraw(waiter)
                }
            }
            group.addTask {
                // Cancelled once the answer came; otherwise the wait is over.
                try? await Task.sleep(for: patience)
                self.withdraw(waiter)
                return nil
            }
            var answer = false
            while let next = await group.next() {
                if let next {
                    answer = next
                    group.cancelAll()
                }
            }
            return answer
        }
    }

    /// Gives a slot back: to the longest waiting caller, or to the count.
    public func give() {
        let next: Waiter? = state.withLock { state in
            guard !state.waiters.isEmpty else {
                state.free += 1
                return nil
            }
            return state.waiters.removeFirst()
        }
        next?.answer(true)
    }

    /// Takes a free slot (nil), or queues a waiter for the next one given.
    private func queueUnlessFree() -> Waiter? {
        state.withLock { state in
            if state.free > 0 && state.waiters.isEmpty {
                state.free -= 1
                return nil
            }
            let waiter = Waiter()
            state.waiters.append(waiter)
            return waiter
        }
    }

    /// Takes `waiter` out of the queue and answers it false, if it is still waiting.
    private func withdraw(_ waiter: Waiter) {
        let withdrawn = state.withLock { state in
            guard let index = state.waiters.firstIndex(where: { $0 === waiter }) else { return false }
            state.waiters.remove(at: index)
            return true
        }
        if withdrawn { waiter.answer(false) }
    }
}

/// One caller waiting for a slot. Its answer may come before it listens (a slot given, or the
/// wait withdrawn, between queueing and listening): it is kept until then.
private final class Waiter: Sendable {
    private enum Phase {
        case waiting
        case answered(Bool)
        case listening(@Sendable (Bool) -> Void)
        case done
    }

    private let phase = Mutex(Phase.waiting)

    /// Gives the answer (once; later ones are ignored).
    func answer(_ granted: Bool) {
        let listener: (@Sendable (Bool) -> Void)? = phase.withLock { phase in
            switch phase {
            case .waiting:
                phase = .answered(granted)
                return nil
            case .listening(let listener):
                phase = .done
                return listener
            case .answered, .done:
                return nil
            }
        }
        listener?(granted)
    }

    /// Calls `listener` with the answer, now if it has come.
    func listen(_ listener: @escaping @Sendable (Bool) -> Void) {
        let answered: Bool? = phase.withLock { phase in
            switch phase {
            case .answered(let granted):
                phase = .done
                return granted
            case .waiting:
                phase = .listening(listener)
                return nil
            case .listening, .done:
                return nil
            }
        }
        if let answered { listener(answered) }
    }
}

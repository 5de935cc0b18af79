/// Runs one operation at a time, in the order they were asked for: each waits for the one asked
/// for before it, whatever that one's outcome.
///
/// The queue keeps only its tail: a new operation's task awaits the tail, then becomes the tail.
/// Reading and replacing the tail happen with no suspension in between, so no caller can slip in,
/// and no caller ever loops on a finished task (an `await` on one need not suspend, so a loop that
/// waits for "the running one" to be cleared can hold the actor forever).
actor SyncQueue {
    private var tail: Task<Void, Never>?

    func run(_ operation: @escaping @Sendable () async throws -> Int) async throws -> Int {
        let previous = tail
        let task = Task {
            await previous?.value
            return try await operation()
        }
        tail = Task { _ = try? await task.value }
        return try await withTaskCancellationHandler { try await task.value } onCancel: { task.cancel() }
    }
}

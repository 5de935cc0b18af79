/// Lets one change to the knowledge base (an ingest or a removal) run at a time, in the order they
/// came: two ingests of one folder never interleave their writes, and a change asked for after
/// another starts only once that one has ended, cancelled or not.
actor WriterTurns {
    private var held = false
    private var waiting: [CheckedContinuation<Void, Never>] = []

    /// Runs `body` in its turn.
    func run<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        if held {
            await withCheckedContinuation { waiting.append($0) }
        } else {
            held = true
        }
        defer { passTurn() }
        return try await body()
    }

    private func passTurn() {
        if waiting.isEmpty { held = false } else { waiting.removeFirst().resume() }
    }
}

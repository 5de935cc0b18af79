@testable import KnowledgeBase
import Synchronization
import Testing

/// Ingests and removals take turns: none starts while another runs, and a failing one passes
/// the turn on.
@Suite struct WriterTurnsTests {
    @Test func changesNeverOverlapAndAFailurePassesTheTurnOn() async {
        final class Log: Sendable {
            let entries = Mutex<[String]>([])
            func append(_ entry: String) { entries.withLock { $0.append(entry) } }
        }
        let turns = WriterTurns()
        let log = Log()
        struct Failure: Error {}
        await withTaskGroup(of: Void.self) { group in
            for index in 0..<20 {
                group.addTask {
                    _ = try? await turns.run {
                        log.append("enter")
                        // Gives every other task the chance to run while this one holds the turn.
                        for _ in 0..<20 { await Task.yield() }
                        log.append("exit")
                        if index % 3 == 0 { throw Failure() }
                    }
                }
            }
        }
        let entries = log.entries.withLock { $0 }
        #expect(entries.count == 40)
        #expect(entries == Array(repeating: ["enter", "exit"], count: 20).flatMap { $0 })
    }
}

import Dispatch
import Logging
import Synchronization

/// How long each stage of one query took, for the debug log (`--log-level debug`), so a slow
/// answer can be traced to the embedding, one of the searches or the lookup of the passages.
///
/// The stages run on different threads (Dispatch's and the embedder's), hence the lock.
final class StageTimings: Sendable {
    private let milliseconds = Mutex<[(stage: String, ms: Double)]>([])

    /// Records `stage` as having run from `start` (uptime nanoseconds) until now.
    func record(_ stage: String, since start: UInt64) {
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
        milliseconds.withLock { $0.append((stage, elapsed)) }
    }

    /// Awaits `body` and records its time as `stage`, whether it returns or throws.
    func measure<T>(_ stage: String, _ body: () async throws -> T) async rethrows -> T {
        let start = DispatchTime.now().uptimeNanoseconds
        defer { record(stage, since: start) }
        return try await body()
    }

    /// Each stage recorded and its time in milliseconds, in the order they ended.
    var recorded: [(stage: String, ms: Double)] {
        milliseconds.withLock { $0 }
    }

    /// Runs `body` and records its time as `stage`.
    func measureSync<T>(_ stage: String, _ body: () throws -> T) rethrows -> T {
        let start = DispatchTime.now().uptimeNanoseconds
        defer { record(stage, since: start) }
        return try body()
    }

    /// Log metadata: `rag.query.<stage>_ms` for each stage, the total and the mode.
    func metadata(total: Double, mode: SearchMode) -> Logger.Metadata {
        var metadata: Logger.Metadata = ["rag.query.ms": "\(Self.rounded(total))", "rag.query.mode": "\(mode.rawValue)"]
        for (stage, ms) in recorded {
            metadata["rag.query.\(stage)_ms"] = "\(Self.rounded(ms))"
        }
        return metadata
    }

    private static func rounded(_ ms: Double) -> Double { (ms * 1000).rounded() / 1000 }
}

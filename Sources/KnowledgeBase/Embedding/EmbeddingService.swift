import Dispatch
import Embeddings
import Foundation
import Logging
import Synchronization

/// The embedding model, loaded in the background, behind one thread that serves queries first.
///
/// Why one thread with two queues: the CPU backend already spreads a forward pass over every core,
/// so running two passes at once only makes both slower. What matters is order: a person's query
/// must not wait behind a queue of ingestion batches, so interactive jobs always go ahead of bulk
/// ones (a bulk batch already running finishes first; ingestion keeps its batches small for that).
public final class EmbeddingService: Sendable {
    /// Which queue a job joins.
    public enum Priority: Sendable {
        /// A query someone is waiting for.
        case interactive
        /// Ingestion, warming and benchmarks.
        case bulk
    }

    /// Where loading stands.
    public enum Status: Sendable {
        case loading
        case ready(SentenceEmbedder)
        case failed(String)
    }

    /// Work for the embedding thread: run with the model, or told why there is none.
    private struct Job {
        let run: @Sendable (SentenceEmbedder) -> Void
        let fail: @Sendable (any Error) -> Void
    }

    private struct State {
        var status: Status = .loading
        var interactive: [Job] = []
        var bulk: [Job] = []
        var loadWaiters: [CheckedContinuation<SentenceEmbedder, Error>] = []
        var started = false
    }

    private let state = Mutex(State())
    private let jobsAvailable = DispatchSemaphore(value: 0)
    private let load: @Sendable () throws -> SentenceEmbedder
    private let logger: Logger
    /// When loading began and ended (uptime nanoseconds), for health reports.
    private let loadTimes = Mutex<(start: UInt64, end: UInt64?)>((0, nil))

    /// A service that will run `load` on its own thread once `start()` is called.
    public init(logger: Logger, load: @escaping @Sendable () throws -> SentenceEmbedder) {
        self.load = load
        self.logger = logger
    }

    /// Starts loading the model and serving jobs; later calls do nothing.
    public func start() {
        let first = state.withLock { state in
            defer { state.started = true }
            return !state.started
        }
        guard first else { return }
        let thread = Thread { [self] in run() }
        thread.name = "mcp-rag.embedder"
        thread.stackSize = 8 << 20
        thread.start()
    }

    /// The current loading status.
    public var status: Status { state.withLock { $0.status } }

    /// Milliseconds loading took, or has taken so far.
    public var loadMilliseconds: Double {
        let times = loadTimes.withLock { $0 }
        guard times.start > 0 else { return 0 }
        let end = times.end ?? DispatchTime.now().uptimeNanoseconds
        return Double(end - times.start) / 1e6
    }

    /// The loaded model, waiting for loading to finish; throws the loading error if it failed.
    public func embedder() async throws -> SentenceEmbedder {
        try await withCheckedThrowingContinuation { continuation in
            let immediate: Result<SentenceEmbedder, Error>? = state.withLock { state in
                switch state.status {
                case .ready(let embedder): return .success(embedder)
                case .failed(let message): return .failure(EmbeddingUnavailable(reason: message))
                case .loading:
                    state.loadWaiters.append(continuation)
                    return nil
                }
            }
            if let immediate { continuation.resume(with: immediate) }
        }
    }

    /// Unit vectors for `texts`, computed in priority order on the service's thread.
    public func embed(_ texts: [String], priority: Priority) async throws -> [[Float]] {
        if texts.isEmpty { return [] }
        return try await onEmbeddingThread(priority: priority) { try $0.embedBlocking(texts) }
    }

    /// Runs `body` with the model on the service's thread, in `priority`'s queue: work that must
    /// not run beside the forward pass (the startup benchmark) waits its turn like a batch.
    public func onEmbeddingThread<T: Sendable>(priority: Priority, _ body: @escaping @Sendable (SentenceEmbedder) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let job = Job(run: { embedder in continuation.resume(with: Result { try body(embedder) }) },
                          fail: { continuation.resume(throwing: $0) })
            let failure: String? = state.withLock { state in
                if case .failed(let message) = state.status { return message }
                switch priority {
                case .interactive: state.interactive.append(job)
                case .bulk: state.bulk.append(job)
                }
                return nil
            }
            if let failure {
                continuation.resume(throwing: EmbeddingUnavailable(reason: failure))
            } else {
                jobsAvailable.signal()
            }
        }
    }

    private func run() {
        loadTimes.withLock { $0.start = DispatchTime.now().uptimeNanoseconds }
        let embedder: SentenceEmbedder
        do {
            embedder = try load()
        } catch {
            let message = String(describing: error)
            logger.error("embedding model failed to load", metadata: ["rag.model.error": "\(message)"])
            failEverything(message)
            return
        }
        loadTimes.withLock { $0.end = DispatchTime.now().uptimeNanoseconds }
        if let correction = BLASKernels.correction { logger.notice("\(correction)") }
        logger.info("embedding model ready", metadata: [
            "rag.model.path": "\(embedder.directory.path)", "rag.model.load_ms": "\(Int(loadMilliseconds))",
        ])
        let waiters = state.withLock { state in
            state.status = .ready(embedder)
            defer { state.loadWaiters = [] }
            return state.loadWaiters
        }
        waiters.forEach { $0.resume(returning: embedder) }
        while true {
            jobsAvailable.wait()
            let next: Job? = state.withLock { state in
                if !state.interactive.isEmpty { return state.interactive.removeFirst() }
                if !state.bulk.isEmpty { return state.bulk.removeFirst() }
                return nil
            }
            guard let job = next else { continue }
            job.run(embedder)
        }
    }

    private func failEverything(_ message: String) {
        loadTimes.withLock { $0.end = DispatchTime.now().uptimeNanoseconds }
        let (jobs, waiters) = state.withLock { state in
            state.status = .failed(message)
            defer {
                state.interactive = []
                state.bulk = []
                state.loadWaiters = []
            }
            return (state.interactive + state.bulk, state.loadWaiters)
        }
        let error = EmbeddingUnavailable(reason: message)
        jobs.forEach { $0.fail(error) }
        waiters.forEach { $0.resume(throwing: error) }
    }
}

/// The embedding model could not be loaded; `reason` says why and what to do.
public struct EmbeddingUnavailable: Error, CustomStringConvertible, Sendable {
    public let reason: String
    public init(reason: String) { self.reason = reason }
    public var description: String { "the embedding model is not available: \(reason)" }
}

import Dispatch
import Embeddings
import EmbeddingsAPI
import Foundation
import Logging
import Resilience
import Synchronization
import Telemetry

/// The embedding model (run here, or an embeddings API), loaded in the background, behind one
/// thread that serves queries first.
///
/// Why one thread with two queues: the CPU backend already spreads a forward pass over every core,
/// so running two passes at once only makes both slower. What matters is order: a person's query
/// must not wait behind a queue of ingestion batches, so interactive jobs always go ahead of bulk
/// ones (a bulk batch already running finishes first; ingestion keeps its batches small for that).
///
/// Queries waiting together share one forward pass. With many clients (the HTTP transport) a pass
/// per query would pay a whole pass's hand-offs between threads, about thirty, for each query; a
/// shared pass pays them once, and its products have more rows to keep the cores busy. A query's
/// vector does not change for it (``EmbeddingWork/queries``).
package final class EmbeddingService: Sendable {
    /// Which queue a job joins.
    package enum Priority: Sendable {
        /// A query someone is waiting for.
        case interactive
        /// Ingestion, warming and benchmarks.
        case bulk
    }

    /// Where loading stands.
    package enum Status: Sendable {
        case loading
        case ready(any EmbeddingModel)
        case failed(String)

        /// True while the model is still loading.
        package var isLoading: Bool {
            if case .loading = self { true } else { false }
        }
    }

    /// Work for the embedding thread: done with the model, or told why there is none.
    private struct Job {
        /// Finds the job again when its caller is cancelled.
        let id: UInt64
        let work: Work
        let fail: @Sendable (any Error) -> Void
    }

    private enum Work {
        /// Query texts to embed; jobs of this kind waiting together share one pass.
        case queries([String], deliver: @Sendable ([[Float]]) -> Void)
        /// Anything else that needs the model.
        case run(@Sendable (any EmbeddingModel) -> Void)

        var queryTexts: [String]? {
            if case .queries(let texts, _) = self { texts } else { nil }
        }
    }

    /// The most query texts one shared pass takes: enough for every client of a busy server, few
    /// enough that the pass stays a few tens of milliseconds.
    static let maxQueriesPerPass = 64

    private struct State {
        var status: Status = .loading
        var interactive: [Job] = []
        var bulk: [Job] = []
        var loadWaiters: [(id: UInt64, continuation: CheckedContinuation<any EmbeddingModel, Error>)] = []
        var started = false
        /// `stop()` was called: the thread ends once the queued jobs are done.
        var stopping = false
        var lastID: UInt64 = 0

        mutating func nextID() -> UInt64 {
            lastID += 1
            return lastID
        }

        /// Takes the interactive query jobs from the front of the queue, in order, until one of
        /// another kind or `limit` texts (at least the first job's, however many).
        mutating func takeQueries(limit: Int) -> [Job] {
            var taken: [Job] = []
            var texts = 0
            while let job = interactive.first, let own = job.work.queryTexts,
                  taken.isEmpty || texts + own.count <= limit {
                taken.append(interactive.removeFirst())
                texts += own.count
            }
            return taken
        }

        /// Takes the job `id` out of its queue, if it has not started.
        mutating func removeJob(_ id: UInt64) -> Job? {
            if let index = interactive.firstIndex(where: { $0.id == id }) { return interactive.remove(at: index) }
            if let index = bulk.firstIndex(where: { $0.id == id }) { return bulk.remove(at: index) }
            return nil
        }
    }

    private let state = Mutex(State())
    private let jobsAvailable = DispatchSemaphore(value: 0)
    private let load: @Sendable () throws -> any EmbeddingModel
    private let logger: Logger
    private let metrics: RagMetrics
    /// How passages are tried again when an embeddings API fails in a way that passes on its own.
    private let retry: RetryPolicy
    /// When loading began and ended (uptime nanoseconds), for health reports.
    private let loadTimes = Mutex<(start: UInt64, end: UInt64?)>((0, nil))

    /// A service that will run `load` on its own thread once `start()` is called; `metrics`
    /// counts the texts embedded and the time it took.
    package init(logger: Logger, metrics: RagMetrics = .disabled, retry: RetryPolicy = RetryPolicy(),
                load: @escaping @Sendable () throws -> any EmbeddingModel) {
        self.load = load
        self.retry = retry
        self.logger = logger
        self.metrics = metrics
    }

    /// Starts loading the model and serving jobs; later calls do nothing.
    package func start() {
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

    /// Lets the embedding thread end (and free the model) once the jobs already queued are done;
    /// jobs asked for afterwards fail. Called when the knowledge base closes.
    package func stop() {
        let running = state.withLock { state in
            state.stopping = true
            return state.started
        }
        if running { jobsAvailable.signal() }
    }

    /// The current loading status.
    package var status: Status { state.withLock { $0.status } }

    /// Milliseconds loading took, or has taken so far.
    package var loadMilliseconds: Double {
        let times = loadTimes.withLock { $0 }
        guard times.start > 0 else { return 0 }
        let end = times.end ?? DispatchTime.now().uptimeNanoseconds
        return Double(end - times.start) / 1e6
    }

    /// The loaded model, waiting for loading to finish; throws the loading error if it failed, and
    /// `CancellationError` when the caller is cancelled while waiting.
    package func model() async throws -> any EmbeddingModel {
        let id = state.withLock { $0.nextID() }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let immediate: Result<any EmbeddingModel, Error>? = state.withLock { state in
                    switch state.status {
                    case .ready(let embedder): return .success(embedder)
                    case .failed(let message): return .failure(EmbeddingUnavailable(reason: message))
                    case .loading:
                        // Checked under the lock the cancellation handler takes too: a handler that
                        // ran before this found nothing to remove, and this sees the cancellation.
                        if Task.isCancelled { return .failure(CancellationError()) }
                        state.loadWaiters.append((id, continuation))
                        return nil
                    }
                }
                if let immediate { continuation.resume(with: immediate) }
            }
        } onCancel: {
            let waiter = state.withLock { state in
                state.loadWaiters.firstIndex { $0.id == id }.map { state.loadWaiters.remove(at: $0) }
            }
            waiter?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Unit vectors for `texts`, computed in priority order on the service's thread. Interactive
    /// texts are embedded as queries, in one pass with the other queries waiting.
    package func embed(_ texts: [String], priority: Priority) async throws -> [[Float]] {
        if texts.isEmpty { return [] }
        switch priority {
        case .interactive:
            return try await enqueue(priority: .interactive) { continuation in
                .queries(texts, deliver: { continuation.resume(returning: $0) })
            }
        case .bulk:
            let metrics = self.metrics
            // One job per request of an API, so that a query waits for one request at most.
            let size = try await model().bulkJobSize ?? texts.count
            var vectors: [[Float]] = []
            vectors.reserveCapacity(texts.count)
            for offset in stride(from: 0, to: texts.count, by: max(size, 1)) {
                let part = Array(texts[offset..<min(offset + max(size, 1), texts.count)])
                // Waits between attempts here, off the embedding thread, so queries go on meanwhile.
                vectors += try await retry.run(isRetryable: { ($0 as? EmbeddingsAPIError)?.isTransient ?? false }) { _ in
                    try await onEmbeddingThread(priority: .bulk) { model in
                        let start = DispatchTime.now().uptimeNanoseconds
                        let vectors = try model.embed(part, work: .passages)
                        metrics.embedded(texts: part.count, nanoseconds: DispatchTime.now().uptimeNanoseconds - start,
                                         forQuery: false)
                        return vectors
                    }
                }
            }
            return vectors
        }
    }

    /// Runs `body` with the model on the service's thread, in `priority`'s queue: work that must
    /// not run beside the forward pass (the startup benchmark) waits its turn like a batch. A
    /// caller cancelled while its job waits gets `CancellationError` and the job never runs; one
    /// already running finishes.
    package func onEmbeddingThread<T: Sendable>(priority: Priority, _ body: @escaping @Sendable (any EmbeddingModel) throws -> T) async throws -> T {
        try await enqueue(priority: priority) { continuation in
            .run { embedder in continuation.resume(with: Result { try body(embedder) }) }
        }
    }

    /// Queues the work `makeWork` builds around the caller's continuation, and waits for it.
    private func enqueue<T: Sendable>(
        priority: Priority, _ makeWork: @escaping (CheckedContinuation<T, any Error>) -> Work
    ) async throws -> T {
        let id = state.withLock { $0.nextID() }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let job = Job(id: id, work: makeWork(continuation), fail: { continuation.resume(throwing: $0) })
                let refusal: (any Error)? = state.withLock { state in
                    if case .failed(let message) = state.status { return EmbeddingUnavailable(reason: message) }
                    if state.stopping { return EmbeddingUnavailable(reason: "the knowledge base is closing") }
                    if Task.isCancelled { return CancellationError() }
                    switch priority {
                    case .interactive: state.interactive.append(job)
                    case .bulk: state.bulk.append(job)
                    }
                    return nil
                }
                if let refusal {
                    continuation.resume(throwing: refusal)
                } else {
                    jobsAvailable.signal()
                }
            }
        } onCancel: {
            state.withLock { $0.removeJob(id) }?.fail(CancellationError())
        }
    }

    private func run() {
        loadTimes.withLock { $0.start = DispatchTime.now().uptimeNanoseconds }
        let embedder: any EmbeddingModel
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
        var ready: Logger.Metadata = [
            "rag.model.path": "\(embedder.location)", "rag.model.load_ms": "\(Int(loadMilliseconds))",
        ]
        // Just loaded, the server's passes run on the CPU (a GPU may take over later).
        if let cpu = embedder.local?.servingBackend as? CPUBackend {
            // What computes ingestion's matrix products: the figure to compare when one machine
            // ingests much faster than another.
            ready["rag.model.batch_kernel"] = "\(cpu.packedBatchKernel ?? "OpenBLAS \(BLASKernels.current)")"
        }
        logger.info("embedding model ready", metadata: ready)
        let waiters = state.withLock { state in
            state.status = .ready(embedder)
            defer { state.loadWaiters = [] }
            return state.loadWaiters
        }
        waiters.forEach { $0.continuation.resume(returning: embedder) }
        while true {
            jobsAvailable.wait()
            let next: (jobs: [Job], stop: Bool) = state.withLock { state in
                if let first = state.interactive.first {
                    guard first.work.queryTexts != nil else { return ([state.interactive.removeFirst()], false) }
                    return (state.takeQueries(limit: Self.maxQueriesPerPass), false)
                }
                if !state.bulk.isEmpty { return ([state.bulk.removeFirst()], false) }
                return ([], state.stopping)
            }
            if next.stop { return }
            if next.jobs.count == 1, case .run(let body) = next.jobs[0].work {
                body(embedder)
            } else if !next.jobs.isEmpty {
                embedQueries(next.jobs, with: embedder)
            }
        }
    }

    /// One pass for the texts of every job in `jobs` (all of them queries), each job handed its own
    /// vectors; a failure fails them all.
    private func embedQueries(_ jobs: [Job], with embedder: any EmbeddingModel) {
        let texts = jobs.flatMap { $0.work.queryTexts ?? [] }
        let start = DispatchTime.now().uptimeNanoseconds
        let vectors: [[Float]]
        do {
            vectors = try embedder.embed(texts, work: .queries)
        } catch {
            jobs.forEach { $0.fail(error) }
            return
        }
        metrics.embedded(texts: texts.count, nanoseconds: DispatchTime.now().uptimeNanoseconds - start, forQuery: true)
        var offset = 0
        for job in jobs {
            guard case .queries(let own, let deliver) = job.work else { continue }
            deliver(Array(vectors[offset..<offset + own.count]))
            offset += own.count
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
        waiters.forEach { $0.continuation.resume(throwing: error) }
    }
}

/// The embedding model could not be loaded; `reason` says why and what to do.
public struct EmbeddingUnavailable: Error, CustomStringConvertible, Sendable {
    public let reason: String
    public init(reason: String) { self.reason = reason }
    public var description: String { "the embedding model is not available: \(reason)" }
}

import Blocking
import Dispatch
import Embeddings
import EmbeddingsAPI
import Foundation
import Logging
import Resilience
import Synchronization
import Telemetry

/// The embedding model (run here, or an embeddings API), loaded in the background, behind threads
/// of its own that serve queries first.
///
/// Order: a person's query must not wait behind a queue of ingestion batches, so interactive jobs
/// always go ahead of bulk ones (a bulk batch already running finishes first; ingestion keeps its
/// batches small for that).
///
/// Queries waiting together share a forward pass: with many clients (the HTTP transport) a pass
/// per query would pay a whole pass's hand-offs between threads, about thirty, for each query; a
/// shared pass pays them once, and its products have more rows to keep the cores busy. A query's
/// vector does not change for it (``EmbeddingWork/queries``).
///
/// Where the model has several lanes (the CPU backend: one a core), the service has a thread a
/// lane. A query that comes alone has a pass spread over every core (the shortest wait for one
/// client), with nothing beside it. Once queries queue (two a lane, or more arriving while lane
/// passes run), each thread takes a share of them into a pass of its own on its own core: passes
/// hand nothing over between threads, and a thread that finishes takes what arrived meanwhile
/// without waiting for the others (``Schedule``). Bulk jobs and the rest need the model to
/// themselves, as does a pass over every core: they start once no lane runs.
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

    /// Work for the embedding threads: done with the model, or told why there is none.
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

    /// What a thread of the service does next, from what waits and what runs: pure, so that the
    /// policy is tested on its own.
    struct Schedule: Equatable {
        /// Threads in a lane pass now.
        var lanesRunning = 0
        /// A job that has the model to itself runs now: a pass over every thread, a bulk job, or
        /// another job (`onEmbeddingThread`).
        var aloneRunning = false

        /// What waits, as the schedule sees it.
        struct Waiting {
            /// Texts of the query jobs at the front of the interactive queue (before any job of
            /// another kind).
            var queryTexts = 0
            /// Those query jobs.
            var queryJobs = 0
            /// The interactive queue starts with a job that is not a query.
            var otherJobFirst = false
            /// The bulk queue holds a job.
            var bulk = false
            var stopping = false
        }

        enum Plan: Equatable {
            /// Query jobs from the front of the interactive queue, up to `texts` texts (at least the
            /// first job, however many it holds), in one pass: in `lane` on this thread alone, or,
            /// with `lane` nil, spread over every thread with nothing beside it.
            case queries(texts: Int, lane: Int?)
            /// The interactive queue's first job (not a query), alone.
            case interactiveJob
            /// The bulk queue's first job, alone.
            case bulkJob
            case wait
            /// Nothing waits and the service is stopping: the thread ends.
            case stop
        }

        /// A lane pass takes at least this many queries where that many wait for each lane.
        static let fewQueriesPerLanePass = 4

        /// The plan of thread `thread` (`0..<threads`) when the model offers `lanes` lanes now
        /// (fewer than threads once a GPU, with one, took over).
        func plan(thread: Int, lanes: Int, waiting: Waiting) -> Plan {
            if aloneRunning { return .wait }
            if waiting.otherJobFirst { return lanesRunning == 0 ? .interactiveJob : .wait }
            if waiting.queryJobs > 0 {
                // One job of many texts too: its pass is cut into one a thread (`CPUBertEncoder.split`).
                if lanesRunning == 0, lanes == 1 || waiting.queryTexts < 2 * lanes || waiting.queryJobs == 1 {
                    return .queries(texts: EmbeddingService.maxQueriesPerPass, lane: nil)
                }
                guard lanes > 1, thread < lanes, lanesRunning < lanes else { return .wait }
                // At most an even share for every lane, even where the others are busy: the rest
                // waits for the lane that frees up next, sooner than this pass would end with it
                // (shares of the lanes free now: 16 HTTP clients got 510 queries/s at p99 55–61 ms;
                // even shares of all lanes, 530 at 47–49). And at most half that where many wait,
                // though never below a few queries a pass: a query that arrives as the lanes take
                // theirs then waits for shorter passes, while a long queue still fills passes well
                // enough to keep the throughput (16 clients: p99 44.5–49.9 ms against 47.7–49.5;
                // 64 clients: 553 queries/s at p99 149–154 ms against 561 at 162–168; a bound of 4
                // a pass, whatever waits, cut 64 clients to 536).
                let even = (waiting.queryTexts + lanes - 1) / lanes
                let half = (waiting.queryTexts + 2 * lanes - 1) / (2 * lanes)
                let share = min(even, max(Self.fewQueriesPerLanePass, half))
                return .queries(texts: min(share, EmbeddingService.maxQueriesPerPass), lane: thread)
            }
            if waiting.bulk { return lanesRunning == 0 ? .bulkJob : .wait }
            return waiting.stopping ? .stop : .wait
        }

        /// Marks a plan's work as started (`starting`) or finished.
        mutating func mark(_ plan: Plan, starting: Bool) {
            switch plan {
            case .queries(_, lane: .some): lanesRunning += starting ? 1 : -1
            case .queries(_, lane: nil), .interactiveJob, .bulkJob: aloneRunning = starting
            case .wait, .stop: break
            }
        }
    }

    private struct State {
        var status: Status = .loading
        var interactive: [Job] = []
        var bulk: [Job] = []
        var started = false
        /// `stop()` was called: the threads end once the queued jobs are done.
        var stopping = false
        /// The service's threads that have not ended yet.
        var threadsRunning = 0
        /// `stop()` callers waiting for the threads to end.
        var stopWaiters: [@Sendable () -> Void] = []
        var lastID: UInt64 = 0
        var schedule = Schedule()
        /// One semaphore a serving thread, signalled when it waits and there may be work for it.
        var wakeups: [DispatchSemaphore] = []
        /// `waitingThreads[i]`: thread i waits on its semaphore (no signal sent since).
        var waitingThreads: [Bool] = []

        /// Signals the first thread that waits, if one does. A thread that does not wait plans
        /// again when it is done, so it needs no signal: one thread woken a job keeps the others
        /// (and the cores they would take from a pass over every thread) asleep.
        mutating func wakeOne() {
            guard let thread = waitingThreads.firstIndex(of: true) else { return }
            waitingThreads[thread] = false
            wakeups[thread].signal()
        }

        mutating func nextID() -> UInt64 {
            lastID += 1
            return lastID
        }

        var waiting: Schedule.Waiting {
            var waiting = Schedule.Waiting(bulk: !bulk.isEmpty, stopping: stopping)
            for job in interactive {
                guard let texts = job.work.queryTexts else {
                    waiting.otherJobFirst = waiting.queryTexts == 0
                    break
                }
                waiting.queryTexts += texts.count
                waiting.queryJobs += 1
            }
            return waiting
        }

        /// Thread `thread`'s plan and the jobs it takes for it, marked as started.
        mutating func next(thread: Int, lanes: Int) -> (plan: Schedule.Plan, jobs: [Job]) {
            let plan = schedule.plan(thread: thread, lanes: lanes, waiting: waiting)
            let jobs: [Job]
            switch plan {
            case .queries(let texts, _): jobs = takeQueries(limit: texts)
            case .interactiveJob: jobs = [interactive.removeFirst()]
            case .bulkJob: jobs = [bulk.removeFirst()]
            case .wait, .stop: jobs = []
            }
            schedule.mark(plan, starting: true)
            waitingThreads[thread] = plan == .wait
            switch plan {
            case .queries(_, lane: .some) where interactive.first?.work.queryTexts != nil:
                // Queries left beside a lane's share: another lane may take its own.
                wakeOne()
            case .stop:
                // Another thread may have gone back to waiting on stop()'s signal (a job ran alone
                // then): each thread that stops wakes the next, so that all end.
                wakeOne()
            default:
                break
            }
            return (plan, jobs)
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
    /// The model once loaded, or why it could not be: what `model()` waits for.
    private let loaded = Settlement<any EmbeddingModel>()
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
        startThread(named: "mcp-rag.embedder") { [self] in run() }
    }

    /// Starts a thread of the service, counted until it ends (`stop()` waits for that).
    private func startThread(named name: String, _ body: @escaping @Sendable () -> Void) {
        state.withLock { $0.threadsRunning += 1 }
        let thread = Thread { [self] in
            body()
            let waiters = state.withLock { state -> [@Sendable () -> Void] in
                state.threadsRunning -= 1
                guard state.threadsRunning == 0 else { return [] }
                defer { state.stopWaiters = [] }
                return state.stopWaiters
            }
            waiters.forEach { $0() }
        }
        thread.name = name
        thread.stackSize = 8 << 20
        thread.start()
    }

    /// Lets the embedding threads end once the jobs already queued are done (a model still
    /// loading finishes loading first), and returns when they have, or when the caller is
    /// cancelled; jobs asked for afterwards fail. Called when the knowledge base closes.
    package func stop() async {
        let wakeups = state.withLock { state in
            state.stopping = true
            return state.wakeups
        }
        wakeups.forEach { $0.signal() }
        await waitForCallback { ended in
            let running = state.withLock { state in
                if state.threadsRunning > 0 { state.stopWaiters.append(ended) }
                return state.threadsRunning > 0
            }
            if !running { ended() }
        }
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
        try await loaded.value
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
                // Waits between attempts here, off the embedding threads, so queries go on meanwhile.
                vectors += try await retry.run(isRetryable: { ($0 as? EmbeddingsAPIError)?.isTransient ?? false }) { _ in
                    try await onEmbeddingThread(priority: .bulk) { model in
                        let start = DispatchTime.now().uptimeNanoseconds
                        let vectors = Self.unitLength(try model.embed(part, work: .passages), from: model)
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
                    // While a job has the model to itself a woken thread could only wait again, on a
                    // core that job uses: the thread running it plans again when it is done.
                    if !state.schedule.aloneRunning { state.wakeOne() }
                    return nil
                }
                if let refusal { continuation.resume(throwing: refusal) }
            }
        } onCancel: {
            state.withLock { $0.removeJob(id) }?.fail(CancellationError())
        }
    }

    /// Loads the model, starts a thread for each further lane it has, and serves as thread 0.
    ///
    /// Until the threads have their semaphores none needs a signal: each plans before it first waits.
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
        let lanes = embedder.queryLanes
        let wakeups = (0..<max(lanes, 1)).map { _ in DispatchSemaphore(value: 0) }
        state.withLock { state in
            state.status = .ready(embedder)
            state.wakeups = wakeups
            state.waitingThreads = wakeups.map { _ in false }
        }
        loaded.settle(.success(embedder))
        for thread in wakeups.indices.dropFirst() {
            startThread(named: "mcp-rag.embedder.\(thread)") { [self] in
                serve(embedder, thread: thread, wakeup: wakeups[thread])
            }
        }
        serve(embedder, thread: 0, wakeup: wakeups[0])
    }

    /// Thread `thread`'s loop: does what the schedule gives it until the service stops.
    private func serve(_ embedder: any EmbeddingModel, thread: Int, wakeup: DispatchSemaphore) {
        while true {
            let (plan, jobs) = state.withLock { $0.next(thread: thread, lanes: max(embedder.queryLanes, 1)) }
            switch plan {
            case .stop: return
            case .wait:
                wakeup.wait()
                continue
            case .queries(_, let lane):
                embedQueries(jobs, lane: lane, with: embedder)
            case .interactiveJob, .bulkJob:
                if case .run(let body) = jobs.first?.work {
                    body(embedder)
                } else {
                    embedQueries(jobs, lane: nil, with: embedder)
                }
            }
            // This thread plans again at once: whatever waits for this work to end, it takes.
            state.withLock { $0.schedule.mark(plan, starting: false) }
        }
    }

    /// One pass for the texts of every job in `jobs` (all of them queries), in `lane` or (nil) over
    /// every thread, each job handed its own vectors; a failure fails them all.
    private func embedQueries(_ jobs: [Job], lane: Int?, with embedder: any EmbeddingModel) {
        let texts = jobs.flatMap { $0.work.queryTexts ?? [] }
        let start = DispatchTime.now().uptimeNanoseconds
        let vectors: [[Float]]
        do {
            vectors = Self.unitLength(try lane.map { try embedder.embedQueries(texts, lane: $0) } ?? embedder.embed(texts, work: .queries),
                                      from: embedder)
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

    /// `vectors` at unit length where `model` does not promise it (a folder without a Normalize
    /// module): the knowledge base ranks by cosine similarity computed as a dot product, in its own
    /// index and in Chroma's cosine space alike. A vector already of unit length to float precision is
    /// kept as it is, and a zero vector stays zero.
    static func unitLength(_ vectors: [[Float]], from model: any EmbeddingModel) -> [[Float]] {
        guard !model.normalizes else { return vectors }
        return vectors.map { vector in
            let squares = vector.reduce(0.0) { $0 + Double($1) * Double($1) }
            guard squares > 0, abs(squares - 1) > 1e-6 else { return vector }
            let scale = Float(1 / squares.squareRoot())
            return vector.map { $0 * scale }
        }
    }

    private func failEverything(_ message: String) {
        loadTimes.withLock { $0.end = DispatchTime.now().uptimeNanoseconds }
        let jobs = state.withLock { state in
            state.status = .failed(message)
            defer {
                state.interactive = []
                state.bulk = []
            }
            return state.interactive + state.bulk
        }
        let error = EmbeddingUnavailable(reason: message)
        jobs.forEach { $0.fail(error) }
        loaded.settle(.failure(error))
    }
}

/// The embedding model could not be loaded; `reason` says why and what to do.
public struct EmbeddingUnavailable: Error, CustomStringConvertible, Sendable {
    public let reason: String
    public init(reason: String) { self.reason = reason }
    public var description: String { "the embedding model is not available: \(reason)" }
}

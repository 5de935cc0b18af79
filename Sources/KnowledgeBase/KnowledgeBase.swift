import Blocking
import Dispatch
import Foundation
import Logging
import ServiceLifecycle
import Telemetry

/// A knowledge base: the one entrance for the MCP server, the command line and the self-test.
///
/// A `Service`: its `run()` opens the data folder (a server answers `initialize` meanwhile; every
/// call waits for the opening and throws a `ClientError` saying why when it failed), loads the
/// model, and owns the background work as child tasks (choosing CPU or GPU once the model has
/// loaded, sending Chroma its outbox, following its collection, warming the cache, writing query
/// counts to Redis, writing vector snapshots, keeping folders in sync). At a graceful shutdown it
/// closes: the blocking work started has run, a vector snapshot being written is finished,
/// buffered query counts are written, the embedding threads end. Run it in a `ServiceGroup` after
/// the transport that calls it, so it closes only once the calls in flight have answered;
/// one-shot commands use `withRunning`.
public final class KnowledgeBase: Service, Sendable {
    public let configuration: KnowledgeBaseConfiguration
    /// The process's start (uptime nanoseconds), for `uptime_s`.
    public let startedAt: UInt64
    private let logger: Logger
    /// The engine once `run()` has opened it, or why it could not.
    private let opened = Settlement<KnowledgeBaseEngine>()
    private let warmsCache: Bool
    /// Ingests and removals, one at a time.
    let writers = WriterTurns()
    /// Keeps the ingested folders in sync, when the configuration asks (`serve --watch`).
    let folderSync: FolderSync?
    /// What the knowledge base counts and times (queries, their stages, ingests).
    public let metrics: RagMetrics

    /// A knowledge base in `configuration.dataDirectory` (created if needed), opened by `run()`.
    /// When `warmCache`, `run()` answers the most asked queries into the result cache once the
    /// model is ready. `metrics` receives what it counts and times.
    public init(configuration: KnowledgeBaseConfiguration, logger: Logger,
                startedAt: UInt64 = DispatchTime.now().uptimeNanoseconds, warmCache: Bool = true,
                metrics: RagMetrics = .disabled) {
        self.configuration = configuration
        self.startedAt = startedAt
        self.logger = logger
        self.metrics = metrics
        warmsCache = warmCache
        folderSync = configuration.watchFolders
            ? FolderSync(lockPath: configuration.watchLockPath, folderLimit: configuration.watchFolderLimit, logger: logger) : nil
        BlockingExecutor.configure(threads: configuration.blockingThreads)
    }

    /// Opens `configuration`'s knowledge base, runs `body` with it while its background work runs,
    /// then shuts it down gracefully: for commands that do one thing and end. Throws a
    /// `ClientError` when the knowledge base cannot be opened.
    public static func withRunning<T: Sendable>(configuration: KnowledgeBaseConfiguration, logger: Logger,
                                                _ body: @Sendable (KnowledgeBase) async throws -> T) async throws -> T {
        let knowledgeBase = KnowledgeBase(configuration: configuration, logger: logger, warmCache: false)
        // A group of its own, so that the end of `body` is a graceful shutdown, as a signal is to a server.
        var lifecycleLogger = logger
        lifecycleLogger.logLevel = max(logger.logLevel, .notice)
        let group = ServiceGroup(services: [knowledgeBase], logger: lifecycleLogger)
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            let result: Result<T, Error>
            do {
                _ = try await knowledgeBase.engine()
                result = .success(try await body(knowledgeBase))
            } catch {
                result = .failure(error)
            }
            await group.triggerGracefulShutdown()
            try? await tasks.waitForAll()
            return try result.get()
        }
    }

    /// The open engine, waiting for `run()` to open it; throws a `ClientError` saying why the
    /// knowledge base could not be opened.
    package func engine() async throws -> KnowledgeBaseEngine {
        do {
            return try await opened.value
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw ClientError(.unavailable, "the knowledge base could not be opened: \(ClientError(error).message)")
        }
    }

    // MARK: - Lifecycle

    /// Opens the knowledge base and runs its background work until a graceful shutdown, then
    /// closes it. Cancelled instead (a group that gave up waiting), it stops at once: what was
    /// being written may be lost, as on a crash, and the next opening recovers.
    public func run() async throws {
        let engine: KnowledgeBaseEngine
        do {
            let (configuration, logger, startedAt, metrics) = (configuration, logger, startedAt, metrics)
            engine = try await BlockingExecutor.run {
                try KnowledgeBaseEngine(configuration: configuration, logger: logger, startedAt: startedAt, metrics: metrics)
            }
            opened.settle(.success(engine))
        } catch {
            logger.error("the knowledge base could not be opened", metadata: ["rag.store.error": "\(error)"])
            opened.settle(.failure(error))
            // Nothing to run; the calls keep answering why it could not be opened.
            try? await gracefulShutdown()
            return
        }
        engine.embeddings.start()
        let warmsCache = self.warmsCache && engine.configuration.warmTopQueries > 0
        await withDiscardingTaskGroup { owned in
            // Work that ends when `close()` tells it to, having written what it holds: not
            // cancelled at shutdown, so that nothing buffered is lost.
            owned.addTask { await engine.writeInBackground() }
            await withDiscardingTaskGroup { group in
                group.addTask { await engine.selectAccelerator() }
                group.addTask { await engine.sendOutbox() }
                group.addTask { await engine.followCollection() }
                if warmsCache { group.addTask { await engine.warmCache() } }
                if let folderSync { group.addTask { await self.watchFolders(folderSync, engine: engine) } }
                try? await gracefulShutdown()
                group.cancelAll()
            }
            await engine.close()
        }
    }

    // MARK: - Reading

    /// The passages that best answer `request`. A failing dependency degrades the answer (see
    /// `QueryResponse.degraded`); invalid input throws `InvalidRequest`.
    public func query(_ request: QueryRequest) async throws -> QueryResponse {
        let engine = try await engine()
        // Keyword search reads the copy of the collection: a process just started on an empty
        // folder fills it first. Later, the background catch-ups keep it current.
        if engine.awaitsFirstCatchUp { await engine.catchUpWithCollection() }
        return try await engine.queries.query(request)
    }

    /// What the knowledge base holds: totals and summaries per label and folder, then one page of
    /// sources (see `SourceListing`).
    public func listSources(_ request: SourceListRequest) async throws -> SourceListing {
        let engine = try await engine()
        await engine.catchUpWithCollection()
        let store = engine.store
        let records = try await BlockingExecutor.run { try store.listSources() }
        return try SourceListing.make(records, request: request)
    }

    /// The state of the knowledge base and each dependency at `level`. Never throws: a knowledge
    /// base that could not be opened is the report's subject, not an error.
    public func health(level: HealthLevel) async -> HealthReport {
        if level == .liveness { return HealthMonitor.liveness(startedAt: startedAt) }
        do {
            var report = try await engine().health.report(level: level)
            if let folderSync {
                let (dependency, folders) = folderSync.health()
                report.dependencies["folder_watch"] = dependency
                let listed = WatchedFolderHealth.listed(folders)
                report.watchedFolders = listed.kept
                report.watchedFoldersOmitted = listed.omitted > 0 ? listed.omitted : nil
                report.status = HealthStatus.overall(report.dependencies.values.map(\.status))
            }
            return report
        } catch {
            return await HealthMonitor.unopened(level: level, startedAt: startedAt, reason: ClientError(error).message)
        }
    }

    /// The `top` most asked queries (`CacheWarmingReport.topRange`), with totals and the result
    /// cache's figures.
    public func cacheWarmingReport(top: Int) async throws -> CacheWarmingReport {
        guard CacheWarmingReport.topRange.contains(top) else {
            throw InvalidRequest("top_n must be between \(CacheWarmingReport.topRange.lowerBound) and "
                + "\(CacheWarmingReport.topRange.upperBound); got \(top)")
        }
        return try await engine().cacheWarmingReport(top: top)
    }

    /// What the accelerator chose and why (once it has), and with `runBenchmark` the serving
    /// backend timed on a fixed batch. Throws `ClientError(.unavailable)` without a model.
    public func accelerationReport(runBenchmark: Bool) async throws -> AccelerationReport {
        do {
            return try await engine().accelerationReport(runBenchmark: runBenchmark)
        } catch let error as EmbeddingUnavailable {
            throw ClientError(.unavailable, "\(error); run tools/fetch-model or set MCP_RAG_MODEL_DIR")
        }
    }

    /// The embedding model once loaded; throws `EmbeddingUnavailable` saying why there is none.
    public func model() async throws -> ModelSummary {
        let embeddings = try await engine().embeddings
        let model = try await embeddings.model()
        return ModelSummary(name: model.name, dimension: model.dimension, backend: model.backendName,
                            loadMilliseconds: embeddings.loadMilliseconds)
    }

    /// A retrieval evaluation (BEIR-layout benchmarks) over this knowledge base: its store, or with
    /// Chroma, the collection (the local copy brought up to date first; throws when it cannot be).
    public func retrievalEvaluation() async throws -> RetrievalEvaluation {
        let engine = try await engine()
        if let follower = engine.follower {
            do {
                try await follower.catchUp()
            } catch {
                throw ClientError(.unavailable, "the Chroma collection could not be copied: \(ClientError(error).message)")
            }
        }
        return RetrievalEvaluation(store: engine.store, vectors: engine.remoteVectors, embeddings: engine.embeddings,
                                   modelFingerprint: engine.modelFingerprint, vectorsFromAnotherModel: engine.modelState.current)
    }

    // MARK: - Writing

    /// Which files a caller may touch.
    public enum Reach: Sendable {
        /// Only inside `configuration.allowedRoots`: a client of the server.
        case allowedRoots
        /// Every file the process can read: the command line's own user.
        case anywhere
    }

    /// Adds or updates `paths` (files and folders) under the label `technology`, reporting progress
    /// after each file; with `pruneMissing`, sources under a given folder whose files are gone are
    /// removed. Ingests and removals run one at a time, in the order they came. Cancelling stops it
    /// between files: what was written stays.
    public func ingest(paths: [String], technology: String, reach: Reach = .allowedRoots, pruneMissing: Bool = true,
                       progress: @escaping @Sendable (IngestProgress) async -> Void = { _ in }) async throws -> IngestReport {
        let engine = try await engine()
        let request: IngestRequest
        switch reach {
        case .allowedRoots:
            // Resolving a path reads the file system (symlinks, a network mount): off the cooperative pool.
            let roots = engine.allowedRoots
            let resolved = try await BlockingExecutor.run { try paths.map { try roots.check($0) } }
            request = IngestRequest(paths: resolved, technology: technology, pruneMissing: pruneMissing,
                                    allowedRoots: engine.allowedRoots)
        case .anywhere:
            request = IngestRequest(paths: paths, technology: technology, pruneMissing: pruneMissing)
        }
        let report: IngestReport
        do {
            report = try await writers.run {
                let report = try await engine.ingestor.ingest(request, progress: progress)
                try await Self.recordFolders(of: request, confined: reach == .allowedRoots, in: engine)
                return report
            }
            folderSync?.foldersChanged()
        } catch {
            // Another process re-embedded the store with another model: say so from now on.
            engine.modelState.note(error)
            throw error
        }
        metrics.ingested(files: report.filesWritten, passages: report.chunksAdded)
        return report
    }

    /// Embeds every passage again with the loaded model, the old vectors searched by every process
    /// until the new set is complete and swapped in at once; a run stopped half-way (even killed)
    /// resumes where it stopped. Afterwards the knowledge base records the loaded model, and
    /// processes that opened it with the old one answer by keywords until restarted with this one.
    ///
    /// For `mcp-rag reembed`: this object holds the store as it was opened and must not be used
    /// for anything else afterwards.
    public func reembed(progress: @escaping @Sendable (ReembedProgress) async -> Void = { _ in }) async throws -> ReembedReport {
        let engine = try await engine()
        let fingerprint: String
        do {
            _ = try await engine.embeddings.model()
            guard let known = engine.modelFingerprint else { throw EmbeddingUnavailable(reason: "its weights cannot be read") }
            fingerprint = known
        } catch let error as EmbeddingUnavailable {
            throw ClientError(.unavailable, "\(error); nothing can be embedded without the model")
        }
        let reembedder = Reembedder(store: engine.store, embeddings: engine.embeddings, fingerprint: fingerprint,
                                    weights: engine.modelWeights)
        return try await writers.run { try await reembedder.run(progress: progress) }
    }

    /// Forgets `source`: the file of that path, or every file under it when it is a folder. The
    /// files on disk are not touched. Throws `InvalidRequest` when nothing by that path is stored.
    public func remove(source: String, reach: Reach = .allowedRoots) async throws -> SourceRemoval {
        let engine = try await engine()
        let roots = engine.allowedRoots
        // Resolving a path reads the file system (symlinks, a network mount): off the cooperative pool.
        let path = reach == .allowedRoots ? try await BlockingExecutor.run { try roots.check(source, mustExist: false) } : source
        // What another process ingested a moment ago is removable here too.
        await engine.catchUpWithCollection()
        let store = engine.store
        let (removal, foldersForgotten) = try await writers.run {
            let removal = try await engine.ingestor.remove(path)
            // Its folder, or those inside it, are no longer kept in sync.
            return (removal, try await BlockingExecutor.run { try store.forgetFolders(under: path) })
        }
        if foldersForgotten > 0 { folderSync?.foldersChanged() }
        guard !removal.sources.isEmpty || foldersForgotten > 0 else {
            throw InvalidRequest("\(source) is not in the knowledge base; list_sources shows what is")
        }
        return SourceRemoval(sources: removal.sources, chunks: removal.chunks)
    }

    /// Sends Chroma every change still waiting in the outbox (none without Chroma); returns how
    /// many were sent. Throws when Chroma does not take them (they keep waiting).
    @discardableResult
    public func sendPendingChanges() async throws -> Int {
        guard let remote = try await engine().remoteVectors else { return 0 }
        do {
            return try await remote.sync()
        } catch {
            throw ClientError(.unavailable, "Chroma did not take the changes (\(await remote.pendingCount()) wait): \(ClientError(error).message)")
        }
    }

    /// Deletes everything this knowledge base keeps in the shared engines: the Redis keys under its
    /// prefix and its Chroma collection. Only for namespaces made to be thrown away (the
    /// self-test's); what each engine said is in the answer.
    public func deleteSharedData() async -> [SharedDataDeletion] {
        guard let engine = try? await engine() else { return [] }
        var deletions: [SharedDataDeletion] = []
        if let redis = engine.redis {
            let prefix = configuration.redisPrefix
            let probe = await redis.probe()
            var deletion = SharedDataDeletion(engine: "redis", endpoint: "\(redis.endpoint)", version: probe.serverVersion,
                                              latencyMs: probe.latencyMs, deleted: "", error: probe.error)
            if probe.error == nil {
                do {
                    let removed = try await redis.run { try $0.deleteKeys(prefix: prefix) }
                    deletion.deleted = "\(removed) keys under \(prefix)"
                } catch {
                    deletion.error = ClientError(error).message
                }
            }
            deletions.append(deletion)
        }
        if let remote = engine.remoteVectors {
            let probe = await remote.probe()
            let client = remote.client
            var deletion = SharedDataDeletion(engine: "chroma", endpoint: "\(client.configuration.baseURL)",
                                              version: probe.version, latencyMs: probe.latencyMs, deleted: "",
                                              error: probe.error)
            if deletion.error == nil {
                do {
                    try await client.deleteCollection()
                    deletion.deleted = "the collection \(client.configuration.name(of: .passages))"
                } catch {
                    deletion.error = ClientError(error).message
                }
            }
            deletions.append(deletion)
        }
        return deletions
    }
}

/// The embedding model serving a knowledge base.
public struct ModelSummary: Sendable, Equatable {
    /// The model's name: its Hugging Face repository or folder, or the embeddings API's model.
    public var name: String
    public var dimension: Int
    /// cpu, hip or cuda; api for an embeddings API.
    public var backend: String
    public var loadMilliseconds: Double
}

/// What a removal took out.
public struct SourceRemoval: Sendable, Equatable {
    /// The paths of the sources removed.
    public var sources: [String]
    /// Their passages.
    public var chunks: Int
}

/// One shared engine's answer to `KnowledgeBase.deleteSharedData()`.
public struct SharedDataDeletion: Sendable, Equatable {
    /// redis or chroma.
    public var engine: String
    /// Where it answers (without credentials).
    public var endpoint: String
    public var version: String?
    public var latencyMs: Double?
    /// What was deleted, in words; empty when nothing was.
    public var deleted: String
    /// Why it could not be reached or deleted from.
    public var error: String?
}

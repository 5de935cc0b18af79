import Blocking
import Chroma
import Dispatch
import Embeddings
import EmbeddingsAPI
import Foundation
import GPURuntime
import Logging
import Redis
import Resilience
import SQLiteLedger
import Storage
import Telemetry

/// The parts of an open knowledge base: store, tracker, cache, model, and the services over them.
///
/// Only `KnowledgeBase` (the entrance) and the benchmarks reach it. Opening is quick (the SQLite
/// file and its vectors; with an embeddings API, one request of at most 10 s for its width); the
/// model loads on its own thread once `embeddings.start()` is called.
package final class KnowledgeBaseEngine: Sendable {
    package let configuration: KnowledgeBaseConfiguration
    /// The process's start (uptime nanoseconds), for `uptime_s`.
    package let startedAt: UInt64
    package let store: SQLiteKnowledgeStore
    package let tracker: any QueryTracker
    package let cache: any ResultCache
    package let embeddings: EmbeddingService
    /// Chooses CPU or GPU once the model has loaded.
    package let accelerator: GPUAccelerator
    package let queries: QueryService
    package let ingestor: Ingestor
    package let health: HealthMonitor
    package let warmer: CacheWarmer
    package let allowedRoots: AllowedRoots
    /// The Redis server behind the tracker and the cache, when `REDIS_URL` names one.
    package let redis: RedisDependency?
    /// Chroma, when `CHROMA_URL` names it: semantic search goes there, fed from the store's outbox.
    package let remoteVectors: ChromaVectorStore?
    /// Copies what other processes write to Chroma into the store, when `CHROMA_URL` names it.
    package let follower: CollectionFollower?
    /// Whether the stored vectors are the loaded model's (set again when another process re-embeds them).
    let modelState: VectorModelState
    /// What the model's files compute (`ModelFingerprint`); nil without a model.
    package let modelFingerprint: String?
    /// The digest of every tensor of the model's weights; nil without a model, or for an API's.
    package let modelWeights: String?
    private let logger: Logger

    /// Opens the knowledge base in `configuration.dataDirectory`, creating it if needed.
    ///
    /// `startedAt` is the process's start (uptime nanoseconds), for `uptime_s`.
    package init(configuration: KnowledgeBaseConfiguration, logger: Logger,
                startedAt: UInt64 = DispatchTime.now().uptimeNanoseconds, metrics: RagMetrics = .disabled) throws {
        self.configuration = configuration
        self.startedAt = startedAt
        self.logger = logger
        let source = configuration.embeddingsAPI.map { Self.apiModel($0, configuration: configuration, logger: logger) }
            ?? Self.folderModel(configuration)
        // Without a model (or an API that did not say), MiniLM's width keeps the store usable for
        // keyword search.
        let dimension = source.dimension ?? 384
        var fingerprint = source.fingerprint
        let modelPath = source.location
        if source.dimension == nil, let api = configuration.embeddingsAPI,
           !FileManager.default.fileExists(atPath: configuration.databasePath) {
            // A new store would take a width that may not be the API's.
            throw EmbeddingUnavailable(reason: "the embeddings API \(api) gave no vector (\(source.problem ?? "")), and a new "
                + "knowledge base needs the width of its vectors: start mcp-rag again once it answers")
        }
        // With Chroma searching the vectors, holding them in memory too would only cost memory and
        // startup time (a million chunks: 400 MB and a full read of the table).
        func openStore(dimension: Int) throws -> SQLiteKnowledgeStore {
            try SQLiteKnowledgeStore(path: configuration.databasePath, dimension: dimension, logger: logger,
                                     snapshotPolicy: configuration.vectorSnapshots, keepsVectorIndex: configuration.chroma == nil)
        }
        let store: SQLiteKnowledgeStore
        var vectorsFromAnotherModel: VectorsFromAnotherModel?
        do {
            store = try openStore(dimension: dimension)
        } catch let error as KnowledgeStoreError {
            // Vectors of another width: opened at theirs, so keyword search still answers. Without
            // a model the width was a guess, and the missing model is what answers will say.
            guard let stored = error.storedDimension else { throw error }
            store = try openStore(dimension: stored)
            if let fingerprint {
                // The record names the model that made them (a store older than it does not).
                let recorded = try store.embeddingModel().map { VectorsFromAnotherModel.naming(try store.embeddingModelName(), fingerprint: $0) }
                vectorsFromAnotherModel = VectorsFromAnotherModel(
                    recorded: (recorded.map { "\($0), " } ?? "") + "vectors of \(stored) dimensions",
                    loaded: VectorsFromAnotherModel.naming(source.name, fingerprint: fingerprint) + ", \(dimension) dimensions",
                    modelPath: modelPath)
            }
        }
        // An API that did not answer at startup is known by the store's record, if it made its vectors.
        if source.dimension == nil, let api = configuration.embeddingsAPI {
            let candidate = api.fingerprint(dimension: store.dimension)
            if try store.embeddingModel() == candidate {
                fingerprint = candidate
                logger.warning("the embeddings API gave no vector; the knowledge base's record gives its width",
                               metadata: ["rag.embeddings.error": "\(source.problem ?? "")"])
            } else {
                let recordedName = try store.embeddingModelName()
                vectorsFromAnotherModel = VectorsFromAnotherModel(
                    recorded: try store.embeddingModel().map { VectorsFromAnotherModel.naming(recordedName, fingerprint: $0) }
                        ?? "none recorded",
                    loaded: "the API's model \(api.model), whose width is unknown as the API gave no vector", modelPath: modelPath)
            }
        }
        // A store that has met no model yet (new, or older than the record) takes this one's.
        if vectorsFromAnotherModel == nil, let fingerprint,
           case let recorded = try store.adoptEmbeddingModel(fingerprint, name: source.name), recorded != fingerprint {
            vectorsFromAnotherModel = VectorsFromAnotherModel(
                recorded: VectorsFromAnotherModel.naming(try store.embeddingModelName(), fingerprint: recorded),
                loaded: VectorsFromAnotherModel.naming(source.name, fingerprint: fingerprint), modelPath: modelPath)
        }
        // The same fingerprint, but other weights inside: a fine-tune merged into some layers leaves
        // the files the fingerprint samples as they were.
        if vectorsFromAnotherModel == nil, let fingerprint, let weights = source.weights,
           case let recorded = try store.adoptEmbeddingModelWeights(weights), recorded != weights {
            let name = VectorsFromAnotherModel.naming(try store.embeddingModelName(), fingerprint: fingerprint)
            var mismatch = VectorsFromAnotherModel(
                recorded: "\(name), weights \(recorded)",
                loaded: VectorsFromAnotherModel.naming(source.name, fingerprint: fingerprint)
                    + ", weights \(weights): the same settings, other weights (a fine-tune of it?)",
                modelPath: modelPath)
            mismatch.otherWeightsOnly = true
            vectorsFromAnotherModel = mismatch
        }
        // An earlier mcp-rag stored a model's vectors at their own length where the model has no
        // Normalize module; the embedding service now scales them, and the two would not rank alike
        // in the embedded index (Chroma compares directions alone).
        if vectorsFromAnotherModel == nil, let fingerprint, try !store.hasUnitVectors() {
            if source.normalizes != false || configuration.chroma != nil || store.chunkCount() == 0 {
                try store.markUnitVectors()
            } else {
                let name = VectorsFromAnotherModel.naming(source.name, fingerprint: fingerprint)
                vectorsFromAnotherModel = VectorsFromAnotherModel(
                    recorded: "\(name), its vectors stored at their own length by an earlier mcp-rag",
                    loaded: "\(name), its vectors scaled to unit length", modelPath: modelPath)
            }
        }
        if let vectorsFromAnotherModel {
            logger.warning("semantic search is off", metadata: ["rag.model.mismatch": "\(vectorsFromAnotherModel)"])
        }
        modelState = VectorModelState(vectorsFromAnotherModel, loaded: fingerprint, loadedName: source.name, modelPath: modelPath)
        modelFingerprint = fingerprint
        modelWeights = source.weights
        self.store = store
        // Chroma's collections are the recorded model's: the vectors this folder holds and sends are
        // that model's, even while another model is loaded (which searches none of them). Vectors
        // of another width and no record (a store older than the record) keep the plain name.
        let recorded = try store.embeddingModel()
        remoteVectors = try Self.chromaStore(configuration, model: recorded ?? (vectorsFromAnotherModel == nil ? fingerprint : nil),
                                             weights: try store.embeddingModelWeights(), store: store, logger: logger)
        follower = remoteVectors.map {
            CollectionFollower(client: $0.client, breaker: $0.breaker, store: store, logger: logger)
        }
        if let endpoint = configuration.redis {
            let redis = Self.redisDependency(endpoint, configuration)
            self.redis = redis
            let remote = RedisQueryTracker(pool: redis.pool, prefix: configuration.redisPrefix,
                                           retention: configuration.trackingRetention)
            tracker = BufferedQueryTracker(inner: remote, breaker: redis.breaker, logger: logger)
            cache = RedisResultCache(redis: redis, prefix: configuration.redisPrefix,
                                     timeToLive: max(configuration.cacheTimeToLive, 1), logger: logger)
            logger.info("query statistics and the result cache are in Redis", metadata: ["rag.redis": "\(endpoint)"])
        } else {
            redis = nil
            tracker = try SQLiteQueryTracker(path: configuration.queryStatisticsPath, movedFrom: configuration.databasePath,
                                             retention: configuration.trackingRetention, logger: logger)
            cache = MemoryResultCache(capacity: configuration.cacheCapacity, timeToLive: max(configuration.cacheTimeToLive, 1))
        }
        // An API's width is known from its answer or from the store's record of it.
        let knownWidth = fingerprint == nil ? nil : store.dimension
        embeddings = EmbeddingService(logger: logger, metrics: metrics) { try source.load(knownWidth) }
        accelerator = GPUAccelerator(preference: configuration.device, search: configuration.gpuLibrarySearch,
                                     kernelCache: configuration.kernelCache, logger: logger)
        let cacheEnabled = configuration.cacheTimeToLive > 0
        queries = QueryService(store: store, vectors: remoteVectors, embeddings: embeddings, tracker: tracker, cache: cache,
                               cacheEnabled: cacheEnabled, modelKey: fingerprint ?? "none",
                               modelState: modelState, metrics: metrics, logger: logger)
        ingestor = Ingestor(store: store, embeddings: embeddings, cache: cache, remoteVectors: remoteVectors,
                            maxFileBytes: configuration.maxFileBytes, maxFiles: configuration.maxFilesPerIngest,
                            modelState: modelState, logger: logger)
        health = HealthMonitor(store: store, tracker: tracker, cache: cache, cacheEnabled: cacheEnabled,
                               embeddings: embeddings, accelerator: accelerator, redis: redis, remoteVectors: remoteVectors,
                               startedAt: startedAt, modelState: modelState)
        warmer = CacheWarmer(queries: queries, tracker: tracker,
                             topQueries: cacheEnabled ? configuration.warmTopQueries : 0, logger: logger)
        allowedRoots = AllowedRoots(configuration.allowedRoots)
    }

    /// What embeds, as the engine needs to know it before it is loaded.
    private struct ModelSource {
        /// The width of its vectors; nil when it cannot be known yet.
        var dimension: Int?
        /// What it computes (`ModelFingerprint`, or the API's); nil when it cannot be known yet.
        var fingerprint: String?
        /// A digest of every tensor of its weights (`ModelFingerprint.weightsDigest`); nil for an API.
        var weights: String? = nil
        /// Its folder or endpoint, for messages.
        var location: String
        /// Its name for people (repository, folder or the API's model), recorded with its vectors.
        var name: String?
        /// Whether it gives unit vectors itself (nil: not known). The embedding service scales those
        /// of a model that does not.
        var normalizes: Bool?
        /// Why dimension and fingerprint are unknown, for an API.
        var problem: String?
        /// Loads it (on the embedding thread), given the width of its vectors where the store's record
        /// of an API that did not answer at startup told it.
        var load: @Sendable (_ recordedWidth: Int?) throws -> any EmbeddingModel
    }

    /// The model folder the configuration names or the search finds. The search includes the
    /// default data folder, so a knowledge base kept elsewhere still finds the quick start's model.
    private static func folderModel(_ configuration: KnowledgeBaseConfiguration) -> ModelSource {
        let directory = Result { try configuration.locateModel() }
        let threads = configuration.embeddingThreads
        // The store needs the vector width before the model is loaded; its settings files are tiny.
        // The fingerprint is what the files compute, not the folder's name: it keys cached answers
        // (two models never share them) and is recorded with the vectors the model makes.
        let folder = try? directory.get()
        let settings = folder.flatMap { try? ModelConfiguration(directory: $0) }
        return ModelSource(
            dimension: settings?.hiddenSize,
            fingerprint: folder.flatMap(ModelFingerprint.of(directory:)),
            weights: folder.flatMap(ModelFingerprint.weightsDigest(directory:)),
            location: folder?.path ?? "no model",
            name: folder.map(SentenceEmbedder.name(of:)),
            normalizes: settings?.normalize,
            load: { _ in
                // The CPU serves from the first query; the accelerator may install a GPU later.
                let embedder = try SentenceEmbedder(directory: directory.get(), threads: threads)
                return embedder.replacingBackend(AcceleratedBackend(initial: embedder.backend))
            })
    }

    /// The embeddings API, asked once for a vector to learn the width of its model's.
    private static func apiModel(_ api: EmbeddingsAPIConfiguration, configuration: KnowledgeBaseConfiguration,
                                 logger: Logger) -> ModelSource {
        let client = EmbeddingsAPIClient(configuration: api)
        let breaker = CircuitBreaker(name: "embeddings", configuration: .init(
            failureThreshold: configuration.breakerFailureThreshold, openDuration: configuration.breakerOpenDuration))
        // A short timeout of its own: the knowledge base waits for this before it opens, and a
        // server still loading its model should not hold keyword search back for a minute.
        let width = Result { try client.embed(["the width of this model's vectors"], for: .passage, timeout: .seconds(10))[0].count }
        switch width {
        case .success(let dimension):
            logger.info("embeddings come from an API", metadata: ["rag.embeddings": "\(api)", "rag.embeddings.dimension": "\(dimension)"])
            let model = APIEmbeddingModel(client: client, breaker: breaker, dimension: dimension)
            return ModelSource(dimension: dimension, fingerprint: api.fingerprint(dimension: dimension), location: api.description,
                               name: api.model, normalizes: true, load: { _ in model })
        case .failure(let error):
            logger.warning("the embeddings API gives no vector", metadata: ["rag.embeddings": "\(api)", "rag.embeddings.error": "\(error)"])
            return ModelSource(location: api.description, name: api.model, normalizes: true, problem: "\(error)", load: { recordedWidth in
                guard let recordedWidth else {
                    throw EmbeddingUnavailable(reason: "the embeddings API \(api) gave no vector when mcp-rag started (\(error)), "
                        + "so the width of its vectors is not known here: restart mcp-rag once it answers")
                }
                return APIEmbeddingModel(client: client, breaker: breaker, dimension: recordedWidth)
            })
        }
    }

    /// The Chroma store for `configuration`, with the data folder bound to its collection (which
    /// queues every stored chunk when the folder was not bound to it before).
    private static func chromaStore(_ configuration: KnowledgeBaseConfiguration, model: String?, weights: String?,
                                    store: SQLiteKnowledgeStore, logger: Logger) throws -> ChromaVectorStore? {
        guard var chroma = configuration.chroma else { return nil }
        if let model { chroma = try chroma.holding(model: model, weights: weights) }
        let breaker = CircuitBreaker(name: "chroma", configuration: .init(
            failureThreshold: configuration.breakerFailureThreshold, openDuration: configuration.breakerOpenDuration))
        let remote = ChromaVectorStore(client: ChromaClient(configuration: chroma), breaker: breaker, store: store, logger: logger)
        let queued = try store.bindVectorTarget(remote.target)
        logger.info("vectors are searched in Chroma", metadata: [
            "rag.chroma": "\(chroma)", "rag.chroma.queued": "\(queued)",
        ])
        return remote
    }

    /// One pool and one breaker for everything that talks to the server.
    private static func redisDependency(_ endpoint: RedisEndpoint, _ configuration: KnowledgeBaseConfiguration) -> RedisDependency {
        let pool = RedisConnectionPool(configuration: .init(endpoint: endpoint, connectTimeout: configuration.redisTimeout,
                                                            commandTimeout: configuration.redisTimeout))
        let breaker = CircuitBreaker(name: "redis", configuration: .init(
            failureThreshold: configuration.breakerFailureThreshold, openDuration: configuration.breakerOpenDuration))
        return RedisDependency(pool: pool, breaker: breaker)
    }

    /// Stops the engine's background work once nothing can be lost: the blocking work already
    /// started has run (a vector snapshot file being written included, so the next opening maps
    /// it rather than removing a partial one), what tracking still holds is written (waiting up to
    /// `timeout`), so the last queries' counts stay, and the embedding threads have ended.
    func close(timeout: Duration = .seconds(2)) async {
        // Counts started without waiting (see `QueryService`) are written before the tracker closes.
        await BlockingExecutor.drain()
        if let buffered = tracker as? BufferedQueryTracker {
            await buffered.close(timeout: timeout)
        }
        await embeddings.stop()
    }

    /// Work the engine does in the background until `close()`: writing buffered query counts to
    /// Redis. Ends once `close()` has written what they hold, or at once when cancelled.
    func writeInBackground() async {
        if let buffered = tracker as? BufferedQueryTracker {
            await buffered.runWriter()
        }
    }

    /// Once the model has loaded, lets the accelerator choose CPU or GPU: on the embedding thread at
    /// bulk priority, so queries asked meanwhile go first.
    func selectAccelerator() async {
        let accelerator = self.accelerator
        _ = try? await embeddings.onEmbeddingThread(priority: .bulk) { model in
            if let local = model.local { accelerator.select(embedder: local) }
        }
    }

    /// Sends Chroma what earlier processes left in the outbox (or a first binding queued).
    func sendOutbox() async {
        guard let remoteVectors else { return }
        do {
            let sent = try await remoteVectors.sync()
            if sent > 0 { logger.info("vectors sent to Chroma", metadata: ["rag.chroma.sent": "\(sent)"]) }
        } catch {
            logger.warning("vectors wait for Chroma", metadata: ["rag.chroma.error": "\(error)"])
        }
    }

    /// Follows what other processes write to Chroma until cancelled, one catch-up every
    /// `followInterval`, and sends what this process's outbox still holds (changes Chroma did not
    /// take when they were made); an outage is logged once, and the copy serves as it is meanwhile.
    func followCollection() async {
        guard let follower, let remoteVectors, let interval = configuration.chroma?.followInterval else { return }
        var failing = false
        while !Task.isCancelled {
            do {
                if await remoteVectors.pendingCount() > 0 { try await remoteVectors.sync() }
                try await copyCollectionChanges(follower)
                if failing { logger.info("following the Chroma collection again") }
                failing = false
            } catch {
                if !failing {
                    logger.warning("other processes' changes in Chroma cannot be read; this process answers from its copy",
                                   metadata: ["rag.chroma.error": "\(error)"])
                }
                failing = true
            }
            try? await Task.sleep(for: interval)
        }
    }

    /// Copies what other processes changed in the collection, and drops the cached answers that
    /// made stale.
    private func copyCollectionChanges(_ follower: CollectionFollower) async throws {
        if try await follower.catchUp() > 0 { await cache.removeAll() }
    }

    /// True while this process follows a Chroma collection and has not yet caught up with it once.
    var awaitsFirstCatchUp: Bool { follower.map { !$0.hasCaughtUp } ?? false }

    /// Brings the copy of the collection up to date before a caller reads it, so that it sees
    /// every change any process had acknowledged. A Chroma that cannot be read leaves the copy as
    /// it is.
    func catchUpWithCollection() async {
        guard let follower else { return }
        do {
            try await copyCollectionChanges(follower)
        } catch {
            logger.debug("the copy of the Chroma collection could not be brought up to date",
                         metadata: ["rag.chroma.error": "\(error)"])
        }
    }

    /// Answers the most asked queries into the cache once the model is ready.
    func warmCache() async {
        guard (try? await embeddings.model()) != nil, !Task.isCancelled else { return }
        await warmer.warm()
    }
}

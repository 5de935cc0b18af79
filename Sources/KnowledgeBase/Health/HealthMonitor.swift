import Blocking
import Chroma
import Dispatch
import Embeddings
import Foundation
import GPURuntime
import Redis
import Resilience
import SQLiteLedger
import Storage

/// Builds `health_check` reports: each dependency checked for real, never guessed.
public struct HealthMonitor: Sendable {
    let store: SQLiteKnowledgeStore
    let tracker: any QueryTracker
    let cache: any ResultCache
    let cacheEnabled: Bool
    let embeddings: EmbeddingService
    /// The CPU-or-GPU choice and its outcome.
    let accelerator: GPUAccelerator
    /// The Redis server behind the tracker and the cache, if there is one.
    let redis: RedisDependency?
    /// Chroma, when it holds the vectors.
    let remoteVectors: ChromaVectorStore?
    let startedAt: UInt64
    /// Whether the stored vectors belong to another model than the one loaded.
    let modelState: VectorModelState

    /// The text embedded by a deep check.
    static let probeText = "health check probe: is the knowledge base answering?"

    /// A report at `level`.
    public func report(level: HealthLevel) async -> HealthReport {
        let start = DispatchTime.now().uptimeNanoseconds
        let uptime = Double(start - startedAt) / 1e9
        guard level != .liveness else { return Self.liveness(startedAt: startedAt) }
        var dependencies: [String: DependencyHealth] = [:]
        let ledger = await vectorStore()
        // Readiness follows the ledger, which keyword answers read: Chroma failing only degrades them.
        let ledgerReads = ledger.status == .healthy
        dependencies["vector_store"] = ledger
        if let remoteVectors, ledgerReads {
            dependencies["vector_store"] = await chroma(remoteVectors)
        }
        if let redis {
            let probe = await redis.probe()
            dependencies["query_tracker"] = redisTracker(probe, endpoint: redis.endpoint)
            dependencies["result_cache"] = await redisCache(probe, endpoint: redis.endpoint)
        } else {
            dependencies["query_tracker"] = await queryTracker()
            dependencies["result_cache"] = await resultCache()
        }
        dependencies["embedding_model"] = await embeddingModel(deep: level == .deep)
        dependencies["gpu"] = gpu()
        if level == .deep, dependencies["vector_store"]?.status == .healthy {
            dependencies["search"] = await searchProbe()
        }
        let cacheStatistics = await cache.statistics()
        // Off the cooperative pool: the process's figures are read from /proc, and the vectors'
        // lock is held through a whole scan.
        let store = self.store
        let figures = try? await BlockingExecutor.run {
            (ProcessStatistics.current(), (store.vectorMemoryBytes, store.vectorMappedBytes))
        }
        // `run` throws only what its body throws: this never happens.
        let (process, vectorBytes) = figures ?? (.unread, (0, 0))
        return HealthReport(
            status: HealthStatus.overall(dependencies.values.map(\.status)), level: level, uptimeS: uptime,
            version: MCPRagVersion.current, durationMs: milliseconds(since: start), dependencies: dependencies,
            process: ProcessHealth(residentBytes: process.residentBytes, peakResidentBytes: process.peakResidentBytes,
                                   cpuSeconds: process.cpuSeconds, openFileDescriptors: process.openFileDescriptors,
                                   vectorBytes: vectorBytes.0, vectorMappedBytes: vectorBytes.1,
                                   cacheBytes: cacheStatistics.bytes),
            ready: ledgerReads && !embeddings.status.isLoading)
    }

    /// The liveness answer: the process runs; nothing else is looked at.
    public static func liveness(startedAt: UInt64) -> HealthReport {
        let now = DispatchTime.now().uptimeNanoseconds
        return HealthReport(status: .healthy, level: .liveness, uptimeS: Double(now - startedAt) / 1e9,
                            version: MCPRagVersion.current, durationMs: 0, dependencies: [:], process: nil)
    }

    /// The report when the knowledge base could not even be opened: unhealthy, with the reason.
    public static func unopened(level: HealthLevel, startedAt: UInt64, reason: String) async -> HealthReport {
        // /proc is read on the blocking executor, as every file is; `run` throws only what its
        // body throws, so the zeros are never used.
        let process = (try? await BlockingExecutor.run { ProcessStatistics.current() }) ?? .unread
        return HealthReport(
            status: .unhealthy, level: level, uptimeS: Double(DispatchTime.now().uptimeNanoseconds - startedAt) / 1e9,
            version: MCPRagVersion.current, durationMs: 0,
            dependencies: ["vector_store": DependencyHealth(status: .unhealthy, detail: reason)],
            process: ProcessHealth(residentBytes: process.residentBytes, peakResidentBytes: process.peakResidentBytes,
                                   cpuSeconds: process.cpuSeconds, openFileDescriptors: process.openFileDescriptors,
                                   vectorBytes: 0, vectorMappedBytes: 0, cacheBytes: 0),
            ready: false)
    }

    private func vectorStore() async -> DependencyHealth {
        let start = DispatchTime.now().uptimeNanoseconds
        let store = self.store
        do {
            let chunks = try await BlockingExecutor.run {
                try store.ping()
                return store.chunkCount()
            }
            return DependencyHealth(status: .healthy, latencyMs: milliseconds(since: start),
                                    detail: "SQLite at \(store.path)",
                                    facts: ["backend": "sqlite", "chunks": String(chunks)])
        } catch {
            return DependencyHealth(status: .unhealthy, latencyMs: milliseconds(since: start),
                                    detail: "SQLite at \(store.path) does not answer: \(ClientError(error).message)",
                                    facts: ["backend": "sqlite"])
        }
    }

    /// Chroma's answer, the breaker and the outbox; the SQLite ledger was checked before.
    private func chroma(_ remote: ChromaVectorStore) async -> DependencyHealth {
        let store = self.store
        async let ledgerChunks = (try? await BlockingExecutor.run { store.chunkCount() }) ?? 0
        let probe = await remote.probe()
        let configuration = remote.client.configuration
        var facts = Self.breakerFacts(probe.breaker)
        facts.merge(["backend": "chroma", "endpoint": configuration.description, "pending": String(probe.pending),
                     "collection": configuration.name(of: .passages), "ledger_chunks": String(await ledgerChunks)]) { $1 }
        facts["server_version"] = probe.version
        facts["count"] = probe.count.map(String.init)
        let detail: String
        if let error = probe.error {
            detail = "Chroma at \(configuration.baseURL) is unavailable, so queries answer from the keyword index "
                + "(marked degraded) and ingests keep their vectors for later (\(probe.pending) waiting): \(error)"
        } else {
            detail = "Chroma \(probe.version ?? "") at \(configuration.baseURL), collection \(configuration.name(of: .passages)): "
                + "\(probe.count ?? 0) vectors" + (probe.pending > 0 ? ", \(probe.pending) changes on their way" : "")
        }
        return DependencyHealth(status: probe.error == nil ? .healthy : .degraded, latencyMs: probe.latencyMs,
                                detail: detail, circuitBreaker: probe.breaker.state.rawValue, facts: facts)
    }

    private func queryTracker() async -> DependencyHealth {
        let start = DispatchTime.now().uptimeNanoseconds
        let tracker = self.tracker
        do {
            let totals = try await tracker.reportTotals(now: Date())
            return DependencyHealth(status: .healthy, latencyMs: milliseconds(since: start),
                                    detail: "\(tracker.backendName): \(totals.unique) distinct queries tracked",
                                    facts: ["backend": tracker.backendName])
        } catch {
            return DependencyHealth(status: .degraded, latencyMs: milliseconds(since: start),
                                    detail: "\(tracker.backendName) tracking fails (queries still answer): \(ClientError(error).message)",
                                    facts: ["backend": tracker.backendName])
        }
    }

    private func resultCache() async -> DependencyHealth {
        guard cacheEnabled else { return Self.cacheOff }
        let statistics = await cache.statistics()
        return DependencyHealth(
            status: .healthy, detail: "\(cache.backendName): \(statistics.entries) entries",
            facts: ["backend": cache.backendName, "hit_rate": String(format: "%.3f", statistics.hitRate)])
    }

    private static let cacheOff = DependencyHealth(status: .notConfigured,
                                                   detail: "the result cache is off (MCP_RAG_CACHE_TTL=0)")

    /// The Redis tracker: the server's answer, the breaker, and what is buffered meanwhile.
    private func redisTracker(_ probe: RedisDependency.Probe, endpoint: RedisEndpoint) -> DependencyHealth {
        let backlog = tracker.backlog
        var facts = Self.facts(probe, endpoint: endpoint)
        facts["pending"] = String(backlog.pending)
        facts["dropped"] = String(backlog.dropped)
        let detail: String
        if let error = probe.error {
            detail = "Redis at \(endpoint) is unavailable, so query counts are buffered in this process "
                + "(\(backlog.pending) waiting, \(backlog.dropped) dropped) and queries still answer: \(error)"
        } else if backlog.pending > 0 {
            detail = "Redis at \(endpoint) answers; \(backlog.pending) buffered query counts are being written"
        } else {
            detail = "Redis at \(endpoint)"
        }
        return DependencyHealth(status: probe.error == nil ? .healthy : .degraded, latencyMs: probe.latencyMs,
                                detail: detail, circuitBreaker: probe.breaker.state.rawValue, facts: facts)
    }

    /// The Redis result cache: bypassed while the server does not answer.
    private func redisCache(_ probe: RedisDependency.Probe, endpoint: RedisEndpoint) async -> DependencyHealth {
        guard cacheEnabled else { return Self.cacheOff }
        let statistics = await cache.statistics()
        var facts = Self.facts(probe, endpoint: endpoint)
        facts["hit_rate"] = String(format: "%.3f", statistics.hitRate)
        facts["bypassed"] = String(statistics.bypassed)
        let detail = probe.error.map { "Redis at \(endpoint) is unavailable, so the cache is bypassed: \($0)" }
            ?? "Redis at \(endpoint): \(statistics.entries) entries"
        return DependencyHealth(status: probe.error == nil ? .healthy : .degraded, latencyMs: probe.latencyMs,
                                detail: detail, circuitBreaker: probe.breaker.state.rawValue, facts: facts)
    }

    /// What both Redis entries show: the server, its version, and the breaker's last error and next trial.
    private static func facts(_ probe: RedisDependency.Probe, endpoint: RedisEndpoint) -> [String: String] {
        var facts = breakerFacts(probe.breaker)
        facts["backend"] = "redis"
        facts["endpoint"] = endpoint.description
        facts["server_version"] = probe.serverVersion
        return facts
    }

    /// A circuit breaker's count of failures and openings, its last error and its next trial.
    private static func breakerFacts(_ breaker: CircuitBreaker.Snapshot) -> [String: String] {
        var facts = ["breaker_failures": String(breaker.consecutiveFailures), "breaker_opened": String(breaker.timesOpened),
                     "breaker_half_opened": String(breaker.timesHalfOpened), "breaker_closed": String(breaker.timesClosed)]
        facts["last_error"] = breaker.lastError
        if let wait = breaker.nextTrialIn { facts["next_trial_in_s"] = String(format: "%.1f", wait.seconds) }
        return facts
    }

    /// The model's state; degraded, saying why, while the stored vectors belong to another model.
    private func embeddingModel(deep: Bool) async -> DependencyHealth {
        var health = await loadedModel(deep: deep)
        if let mismatch = modelState.current, health.status == .healthy {
            health.status = .degraded
            health.detail = mismatch.description
        }
        return health
    }

    private func loadedModel(deep: Bool) async -> DependencyHealth {
        switch embeddings.status {
        case .loading:
            return DependencyHealth(status: .degraded,
                                    detail: "loading (\(Int(embeddings.loadMilliseconds)) ms so far); queries wait for it")
        case .failed(let reason):
            return DependencyHealth(status: .unhealthy,
                                    detail: "not available, so queries fall back to keyword search: \(reason)")
        case .ready(let model):
            var facts = ["backend": model.backendName, "model": model.name, "dimension": String(model.dimension),
                         "load_ms": String(format: "%.1f", embeddings.loadMilliseconds)]
            let api = model as? APIEmbeddingModel
            // One snapshot for the facts and the status, so that they agree.
            let breaker = api?.breaker.snapshot
            if let breaker {
                facts["endpoint"] = model.location
                facts.merge(Self.breakerFacts(breaker)) { $1 }
            }
            let source = api == nil ? "loaded from \(model.location)" : "the embeddings API at \(model.location)"
            guard deep else {
                if let breaker, breaker.state == .open {
                    return DependencyHealth(status: .degraded, detail: "\(source) keeps failing, so queries fall back to keyword search "
                                            + "until its circuit breaker's next trial", circuitBreaker: breaker.state.rawValue, facts: facts)
                }
                return DependencyHealth(status: .healthy, detail: source, circuitBreaker: breaker?.state.rawValue, facts: facts)
            }
            let start = DispatchTime.now().uptimeNanoseconds
            do {
                let vector = try await embeddings.embed([Self.probeText], priority: .interactive)[0]
                let norm = vector.reduce(0) { $0 + $1 * $1 }.squareRoot()
                facts["probe_norm"] = String(format: "%.4f", norm)
                // The service scales every vector to unit length; finite and not zero either way.
                let unit = abs(norm - 1) < 1e-3
                let healthy = unit && norm > 0 && vector.allSatisfy(\.isFinite)
                return DependencyHealth(status: healthy ? .healthy : .unhealthy, latencyMs: milliseconds(since: start),
                                        detail: healthy ? "embedded a probe text (\(source))"
                                            : unit ? "the probe embedding is zero or not finite" : "the probe embedding is not a unit vector",
                                        circuitBreaker: api?.breaker.snapshot.state.rawValue, facts: facts)
            } catch {
                if let api { facts.merge(Self.breakerFacts(api.breaker.snapshot)) { $1 } }
                // An API that is away degrades answers to keywords, as Chroma does; a model here
                // that fails is a fault.
                return DependencyHealth(status: api == nil ? .unhealthy : .degraded, latencyMs: milliseconds(since: start),
                                        detail: "embedding a probe text failed, so queries fall back to keyword search: \(ClientError(error).message)",
                                        circuitBreaker: api?.breaker.snapshot.state.rawValue, facts: facts)
            }
        }
    }

    private func gpu() -> DependencyHealth {
        let state = accelerator.current
        var facts = ["device_preference": state.preference.rawValue]
        if let device = state.device {
            facts["device"] = device.summary
            facts["driver_version"] = device.driverVersion
        }
        if let error = state.error {
            return DependencyHealth(status: .unhealthy, detail: error, facts: facts)
        }
        if let failure = accelerator.gpuFailure {
            facts["failed_at"] = ISO8601DateFormatter().string(from: failure.at)
            return DependencyHealth(status: .degraded,
                                    detail: failure.summary, facts: facts)
        }
        guard state.settled, let device = state.device else {
            return DependencyHealth(status: .notConfigured, detail: state.reason, facts: facts)
        }
        return DependencyHealth(status: .healthy, detail: "embeddings run on \(device.summary): \(state.reason)", facts: facts)
    }

    /// A semantic search (where semantic searches run: the store's vectors or Chroma) and a keyword
    /// search for the probe text, timed together. Chroma not answering degrades the probe, as it
    /// degrades answers; the store failing fails it.
    private func searchProbe() async -> DependencyHealth {
        let start = DispatchTime.now().uptimeNanoseconds
        let store = self.store
        let vectors: any VectorSearch = remoteVectors ?? store
        do {
            let keyword = try await BlockingExecutor.run { try store.keywordSearch(Self.probeText, limit: 1, technology: nil) }
            // A model that cannot embed, or whose vectors are not the stored ones', is the
            // embedding_model check's to report.
            let vector = modelState.current != nil ? nil
                : try? await embeddings.embed([Self.probeText], priority: .interactive)[0]
            var semantic: [ScoredChunk] = []
            do {
                if let vector { semantic = try await vectors.nearest(to: vector, limit: 1, technology: nil) }
            } catch where vectors.vectorBackend.isRemote {
                return DependencyHealth(status: .degraded, latencyMs: milliseconds(since: start),
                                        detail: "keyword search answered; semantic search in Chroma did not: \(ClientError(error).message)")
            }
            return DependencyHealth(status: .healthy, latencyMs: milliseconds(since: start),
                                    detail: "semantic and keyword search answered (\(semantic.count + keyword.count) hits)")
        } catch {
            return DependencyHealth(status: .unhealthy, latencyMs: milliseconds(since: start),
                                    detail: "a probe search failed: \(ClientError(error).message)")
        }
    }

    private func milliseconds(since start: UInt64) -> Double {
        Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
    }
}

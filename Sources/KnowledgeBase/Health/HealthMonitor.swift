import Dispatch
import Embeddings
import Foundation
import Storage

/// Builds `health_check` reports: each dependency checked for real, never guessed.
public struct HealthMonitor: Sendable {
    let store: SQLiteKnowledgeStore
    let tracker: any QueryTracker
    let cache: any ResultCache
    let cacheEnabled: Bool
    let embeddings: EmbeddingService
    let startedAt: UInt64

    /// The text embedded by a deep check.
    static let probeText = "health check probe: is the knowledge base answering?"

    /// A report at `level`.
    public func report(level: HealthLevel) async -> HealthReport {
        let start = DispatchTime.now().uptimeNanoseconds
        let uptime = Double(start - startedAt) / 1e9
        guard level != .liveness else { return Self.liveness(startedAt: startedAt) }
        var dependencies: [String: DependencyHealth] = [:]
        dependencies["vector_store"] = await vectorStore()
        dependencies["query_tracker"] = await queryTracker()
        dependencies["result_cache"] = resultCache()
        dependencies["embedding_model"] = await embeddingModel(deep: level == .deep)
        dependencies["gpu"] = gpu()
        if level == .deep, dependencies["vector_store"]?.status == .healthy {
            dependencies["search"] = await searchProbe()
        }
        let process = ProcessStatistics.current()
        let cacheStatistics = cache.statistics()
        return HealthReport(
            status: HealthStatus.overall(dependencies.values.map(\.status)), level: level, uptimeS: uptime,
            version: MCPRagVersion.current, durationMs: milliseconds(since: start), dependencies: dependencies,
            process: ProcessHealth(residentBytes: process.residentBytes, peakResidentBytes: process.peakResidentBytes,
                                   cpuSeconds: process.cpuSeconds, openFileDescriptors: process.openFileDescriptors,
                                   vectorBytes: store.vectorMemoryBytes, cacheBytes: cacheStatistics.bytes))
    }

    /// The liveness answer: the process runs; nothing else is looked at.
    public static func liveness(startedAt: UInt64) -> HealthReport {
        let now = DispatchTime.now().uptimeNanoseconds
        return HealthReport(status: .healthy, level: .liveness, uptimeS: Double(now - startedAt) / 1e9,
                            version: MCPRagVersion.current, durationMs: 0, dependencies: [:], process: nil)
    }

    /// The report when the knowledge base could not even be opened: unhealthy, with the reason.
    public static func unopened(level: HealthLevel, startedAt: UInt64, reason: String) -> HealthReport {
        let process = ProcessStatistics.current()
        return HealthReport(
            status: .unhealthy, level: level, uptimeS: Double(DispatchTime.now().uptimeNanoseconds - startedAt) / 1e9,
            version: MCPRagVersion.current, durationMs: 0,
            dependencies: ["vector_store": DependencyHealth(status: .unhealthy, detail: reason)],
            process: ProcessHealth(residentBytes: process.residentBytes, peakResidentBytes: process.peakResidentBytes,
                                   cpuSeconds: process.cpuSeconds, openFileDescriptors: process.openFileDescriptors,
                                   vectorBytes: 0, cacheBytes: 0))
    }

    private func vectorStore() async -> DependencyHealth {
        let start = DispatchTime.now().uptimeNanoseconds
        let store = self.store
        do {
            try await BlockingExecutor.run { try store.ping() }
            return DependencyHealth(status: .healthy, latencyMs: milliseconds(since: start),
                                    detail: "SQLite at \(store.path)",
                                    facts: ["backend": "sqlite", "chunks": String(store.chunkCount())])
        } catch {
            return DependencyHealth(status: .unhealthy, latencyMs: milliseconds(since: start),
                                    detail: "SQLite at \(store.path) does not answer: \(error)", facts: ["backend": "sqlite"])
        }
    }

    private func queryTracker() async -> DependencyHealth {
        let start = DispatchTime.now().uptimeNanoseconds
        let tracker = self.tracker
        do {
            let totals = try await BlockingExecutor.run { try tracker.totals(now: Date()) }
            return DependencyHealth(status: .healthy, latencyMs: milliseconds(since: start),
                                    detail: "\(tracker.backendName): \(totals.unique) distinct queries tracked",
                                    facts: ["backend": tracker.backendName])
        } catch {
            return DependencyHealth(status: .degraded, latencyMs: milliseconds(since: start),
                                    detail: "\(tracker.backendName) tracking fails (queries still answer): \(error)",
                                    facts: ["backend": tracker.backendName])
        }
    }

    private func resultCache() -> DependencyHealth {
        guard cacheEnabled else {
            return DependencyHealth(status: .notConfigured, detail: "the result cache is off (MCP_RAG_CACHE_TTL=0)")
        }
        let statistics = cache.statistics()
        return DependencyHealth(
            status: .healthy, detail: "\(cache.backendName): \(statistics.entries) entries",
            facts: ["backend": cache.backendName, "hit_rate": String(format: "%.3f", statistics.hitRate)])
    }

    private func embeddingModel(deep: Bool) async -> DependencyHealth {
        switch embeddings.status {
        case .loading:
            return DependencyHealth(status: .degraded,
                                    detail: "loading (\(Int(embeddings.loadMilliseconds)) ms so far); queries wait for it")
        case .failed(let reason):
            return DependencyHealth(status: .unhealthy,
                                    detail: "not available, so queries fall back to keyword search: \(reason)")
        case .ready(let embedder):
            var facts = ["backend": embedder.backend.name, "model": embedder.directory.lastPathComponent,
                         "dimension": String(embedder.dimension),
                         "load_ms": String(format: "%.1f", embeddings.loadMilliseconds)]
            guard deep else {
                return DependencyHealth(status: .healthy, detail: "loaded from \(embedder.directory.path)", facts: facts)
            }
            let start = DispatchTime.now().uptimeNanoseconds
            do {
                let vector = try await embeddings.embed([Self.probeText], priority: .interactive)[0]
                let norm = vector.reduce(0) { $0 + $1 * $1 }.squareRoot()
                facts["probe_norm"] = String(format: "%.4f", norm)
                let healthy = abs(norm - 1) < 1e-3 && vector.allSatisfy(\.isFinite)
                return DependencyHealth(status: healthy ? .healthy : .unhealthy, latencyMs: milliseconds(since: start),
                                        detail: healthy ? "embedded a probe text" : "the probe embedding is not a unit vector",
                                        facts: facts)
            } catch {
                return DependencyHealth(status: .unhealthy, latencyMs: milliseconds(since: start),
                                        detail: "embedding a probe text failed: \(error)", facts: facts)
            }
        }
    }

    private func gpu() -> DependencyHealth {
        let runtimes = GPUProbe.probe()
        return DependencyHealth(status: .notConfigured,
                                detail: "embeddings run on the CPU; " + runtimes.map { "\($0.name): \($0.reason)" }.joined(separator: "; "))
    }

    /// A semantic and a keyword search for the probe text, timed together.
    private func searchProbe() async -> DependencyHealth {
        let start = DispatchTime.now().uptimeNanoseconds
        let store = self.store
        do {
            let vector = try? await embeddings.embed([Self.probeText], priority: .interactive)[0]
            let hits = try await BlockingExecutor.run {
                let semantic = try vector.map { try store.semanticSearch(vector: $0, limit: 1, technology: nil) } ?? []
                let keyword = try store.keywordSearch(Self.probeText, limit: 1, technology: nil)
                return semantic.count + keyword.count
            }
            return DependencyHealth(status: .healthy, latencyMs: milliseconds(since: start),
                                    detail: "semantic and keyword search answered (\(hits) hits)")
        } catch {
            return DependencyHealth(status: .unhealthy, latencyMs: milliseconds(since: start),
                                    detail: "a probe search failed: \(error)")
        }
    }

    private func milliseconds(since start: UInt64) -> Double {
        Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
    }
}

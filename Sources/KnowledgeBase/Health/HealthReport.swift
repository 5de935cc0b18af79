import Foundation

/// How much `health_check` looks at.
public enum HealthLevel: String, Sendable, Codable, CaseIterable {
    /// The process answers: uptime only.
    case liveness
    /// Every dependency, without doing real work.
    case readiness
    /// Also embeds a probe text and runs a search.
    case deep
}

/// The state of the whole or of one part.
public enum HealthStatus: String, Sendable, Codable, Comparable {
    case healthy
    case degraded
    case unhealthy
    /// An optional part the user has not set up (Redis, Chroma, a GPU): not a fault.
    case notConfigured = "not_configured"

    /// Severity order for combining parts: unhealthy beats degraded beats healthy.
    private var severity: Int {
        switch self {
        case .healthy, .notConfigured: 0
        case .degraded: 1
        case .unhealthy: 2
        }
    }

    public static func < (lhs: HealthStatus, rhs: HealthStatus) -> Bool { lhs.severity < rhs.severity }

    /// The state of a whole made of `parts`: its worst part; parts not configured do not count.
    public static func overall(_ parts: [HealthStatus]) -> HealthStatus {
        parts.filter { $0 != .notConfigured }.max() ?? .healthy
    }
}

/// One dependency's state.
public struct DependencyHealth: Sendable, Codable, Equatable {
    public var status: HealthStatus
    /// How long checking it took (a round trip, a probe), in milliseconds.
    public var latencyMs: Double?
    /// What a person should know, in words.
    public var detail: String
    /// "closed", "open" or "half_open" for parts behind a circuit breaker; nil otherwise.
    public var circuitBreaker: String?
    /// Further figures (entries, counts, backend names), as text.
    public var facts: [String: String]

    public init(status: HealthStatus, latencyMs: Double? = nil, detail: String, circuitBreaker: String? = nil,
                facts: [String: String] = [:]) {
        self.status = status
        self.latencyMs = latencyMs
        self.detail = detail
        self.circuitBreaker = circuitBreaker
        self.facts = facts
    }

    enum CodingKeys: String, CodingKey {
        case status
        case latencyMs = "latency_ms"
        case detail
        case circuitBreaker = "circuit_breaker"
        case facts
    }
}

/// Memory and time this process holds, as `health_check` reports it.
public struct ProcessHealth: Sendable, Codable, Equatable {
    public var residentBytes: Int
    public var peakResidentBytes: Int
    public var cpuSeconds: Double
    public var openFileDescriptors: Int
    /// Bytes the vectors take, in memory and mapped.
    public var vectorBytes: Int
    /// Of `vectorBytes`, those of the mapped snapshot file, which the processes sharing a data
    /// folder share (the page cache holds them once).
    public var vectorMappedBytes: Int
    /// Bytes of cached results.
    public var cacheBytes: Int

    enum CodingKeys: String, CodingKey {
        case residentBytes = "resident_bytes"
        case peakResidentBytes = "peak_resident_bytes"
        case cpuSeconds = "cpu_seconds"
        case openFileDescriptors = "open_file_descriptors"
        case vectorBytes = "vector_bytes"
        case vectorMappedBytes = "vector_mapped_bytes"
        case cacheBytes = "cache_bytes"
    }
}

/// What `health_check` returns.
public struct HealthReport: Sendable, Codable, Equatable {
    public var status: HealthStatus
    public var level: HealthLevel
    public var uptimeS: Double
    public var version: String
    public var durationMs: Double
    /// By name: vector_store, query_tracker, result_cache, embedding_model, gpu. Empty for liveness.
    public var dependencies: [String: DependencyHealth]
    /// Nil for liveness.
    public var process: ProcessHealth?
    /// Whether queries can be answered now: the store reads and the model is not still loading (a
    /// model that failed leaves keyword search, and a dependency that fails degrades the answers,
    /// so neither makes the server unready). Nil for liveness, which does not look.
    public var ready: Bool? = nil
    /// With `serve --watch`: the folders kept in sync and their states, those that need attention
    /// first, as many as fit in an answer (the `folder_watch` dependency has the totals). Nil otherwise.
    public var watchedFolders: [WatchedFolderHealth]? = nil
    /// Folders left out of `watchedFolders` to keep the answer short; nil when none were.
    public var watchedFoldersOmitted: Int? = nil

    enum CodingKeys: String, CodingKey {
        case status, level
        case uptimeS = "uptime_s"
        case version
        case durationMs = "duration_ms"
        case dependencies, process, ready
        case watchedFolders = "watched_folders"
        case watchedFoldersOmitted = "watched_folders_omitted"
    }
}

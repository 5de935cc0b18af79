import Blocking
import Chroma
import Embeddings
import EmbeddingsAPI
import Foundation
import GPURuntime
import Redaction
import Redis
import SQLiteLedger
import Storage

/// Everything a knowledge base needs to run, resolved once at startup.
///
/// Precedence: command-line flags (applied by the caller after `fromEnvironment`) over the
/// environment over these defaults.
public struct KnowledgeBaseConfiguration: Sendable {
    /// Where the SQLite file (and by default the model) lives.
    public var dataDirectory: URL
    /// A model folder named by `--model-dir`; nil searches the usual places (see `ModelLocator`).
    public var modelDirectory: String?
    /// Folders `ingest_documents` and `remove_source` may touch; none by default, so an MCP client
    /// cannot read files until the user says which.
    public var allowedRoots: [URL]
    /// Worker threads for the CPU embedding backend; nil uses every core.
    public var embeddingThreads: Int?
    /// Threads for local blocking calls (SQLite, file reads); network clients add one per connection.
    public var blockingThreads = BlockingExecutor.defaultThreads
    /// Result-cache entries kept in memory.
    public var cacheCapacity: Int
    /// How long a cached result stays valid, in seconds; 0 turns the cache off.
    public var cacheTimeToLive: TimeInterval
    /// How many of the most asked queries are run at startup to warm the cache.
    public var warmTopQueries: Int
    /// Files larger than this are skipped by ingestion.
    public var maxFileBytes: Int
    /// An ingest touching more files than this is refused before it starts.
    public var maxFilesPerIngest: Int
    /// The most bytes a query's answer to an assistant takes (see `QueryResponse.cappedForAnswer`).
    public var maxAnswerBytes = AnswerBudget.answerBytes
    /// Tracked queries not asked for this long are forgotten.
    public var trackingRetention: TimeInterval
    /// Where query statistics and the result cache live when they are shared (`REDIS_URL`); nil
    /// keeps both in this process and its SQLite file.
    public var redis: RedisEndpoint?
    /// Prefix of every Redis key mcp-rag writes, so several knowledge bases can share one server.
    public var redisPrefix: String
    /// Connect and command timeout for Redis.
    public var redisTimeout: Duration
    /// The Chroma server that holds the vectors (`CHROMA_URL` and companions); nil keeps them in
    /// the SQLite file and in memory.
    public var chroma: ChromaConfiguration?
    /// The embeddings API that embeds instead of a model run here (`MCP_RAG_EMBEDDINGS_URL` and
    /// companions); nil runs the model folder.
    public var embeddingsAPI: EmbeddingsAPIConfiguration?
    /// Consecutive failures that open a remote dependency's circuit breaker.
    public var breakerFailureThreshold: Int
    /// How long an open breaker waits before its trial call.
    public var breakerOpenDuration: Duration
    /// When the store writes its vectors to a snapshot file that later openings map
    /// (`MCP_RAG_SNAPSHOT_MIN_CHUNKS` sets the size from which it does).
    public var vectorSnapshots = VectorSnapshotPolicy()
    /// Which device embeds (`MCP_RAG_DEVICE`): auto lets the startup benchmark choose.
    public var device: DevicePreference = .auto
    /// Extra folders the GPU libraries are looked for in (`MCP_RAG_GPU_LIBRARY_PATH`).
    public var gpuLibrarySearch = LibrarySearch()
    /// Where compiled GPU kernels are kept between runs.
    public var kernelCache = KernelCache.standard()
    /// Whether a server keeps the ingested folders in sync while it runs (`serve --watch`, `MCP_RAG_WATCH`).
    public var watchFolders = false
    /// The most folders one process watches (`MCP_RAG_WATCH_FOLDER_LIMIT`); nil for as many as the
    /// system's inotify limit allows, which every program of the user shares.
    public var watchFolderLimit: Int?

    /// The lock file that lets one process of those sharing the data folder watch its folders.
    public var watchLockPath: String { dataDirectory.appendingPathComponent("watch.lock").path }

    /// The SQLite file inside the data folder.
    public var databasePath: String { dataDirectory.appendingPathComponent("knowledge.sqlite3").path }

    /// The SQLite file of the query statistics, when Redis does not keep them.
    public var queryStatisticsPath: String { dataDirectory.appendingPathComponent("queries.sqlite3").path }

    public init(dataDirectory: URL, modelDirectory: String? = nil, allowedRoots: [URL] = [],
                embeddingThreads: Int? = nil, cacheCapacity: Int = 1024, cacheTimeToLive: TimeInterval = 600,
                warmTopQueries: Int = 50, maxFileBytes: Int = 10 << 20, maxFilesPerIngest: Int = 10_000,
                trackingRetention: TimeInterval = 30 * 86_400, redis: RedisEndpoint? = nil, redisPrefix: String = "mcp-rag:",
                redisTimeout: Duration = .milliseconds(500), breakerFailureThreshold: Int = 5,
                breakerOpenDuration: Duration = .seconds(60)) {
        self.dataDirectory = dataDirectory
        self.modelDirectory = modelDirectory
        self.allowedRoots = allowedRoots
        self.embeddingThreads = embeddingThreads
        self.cacheCapacity = cacheCapacity
        self.cacheTimeToLive = cacheTimeToLive
        self.warmTopQueries = warmTopQueries
        self.maxFileBytes = maxFileBytes
        self.maxFilesPerIngest = maxFilesPerIngest
        self.trackingRetention = trackingRetention
        self.redis = redis
        self.redisPrefix = redisPrefix
        self.redisTimeout = redisTimeout
        self.breakerFailureThreshold = breakerFailureThreshold
        self.breakerOpenDuration = breakerOpenDuration
    }

    /// The configuration the environment describes (`MCP_RAG_*`), with defaults for the rest.
    ///
    /// A variable that is set but malformed is an error naming it: silently ignoring a typo in,
    /// say, `MCP_RAG_CACHE_TTL` would leave a person wondering why it has no effect.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws
        -> KnowledgeBaseConfiguration
    {
        let dataDirectory: URL
        do {
            dataDirectory = try DataDirectory.resolve(environment: environment)
        } catch {
            throw ConfigurationError(error.description)
        }
        var configuration = KnowledgeBaseConfiguration(dataDirectory: dataDirectory)
        let reader = EnvironmentReader(environment: environment)
        if let roots = reader.string("MCP_RAG_ALLOWED_ROOTS") {
            configuration.allowedRoots = roots.split(separator: ":").map { URL(fileURLWithPath: String($0)) }
        }
        configuration.embeddingThreads = try reader.integer("MCP_RAG_THREADS", in: 1...1024) ?? configuration.embeddingThreads
        configuration.blockingThreads = try reader.integer("MCP_RAG_BLOCKING_THREADS", in: BlockingExecutor.threadRange)
            ?? configuration.blockingThreads
        configuration.cacheCapacity = try reader.integer("MCP_RAG_CACHE_SIZE", in: 1...1_000_000) ?? configuration.cacheCapacity
        configuration.cacheTimeToLive = try reader.integer("MCP_RAG_CACHE_TTL", in: 0...86_400 * 30).map(TimeInterval.init)
            ?? configuration.cacheTimeToLive
        configuration.warmTopQueries = try reader.integer("MCP_RAG_WARM_TOP", in: 0...10_000) ?? configuration.warmTopQueries
        configuration.maxFileBytes = try reader.integer("MCP_RAG_MAX_FILE_BYTES", in: 1...(1 << 34)) ?? configuration.maxFileBytes
        configuration.maxFilesPerIngest = try reader.integer("MCP_RAG_MAX_FILES", in: 1...10_000_000)
            ?? configuration.maxFilesPerIngest
        configuration.maxAnswerBytes = try reader.integer("MCP_RAG_MAX_ANSWER_KB", in: 16...16_384).map { $0 * 1000 }
            ?? configuration.maxAnswerBytes
        configuration.vectorSnapshots.minimumRows = try reader.integer("MCP_RAG_SNAPSHOT_MIN_CHUNKS", in: 1...Int(Int32.max))
            ?? configuration.vectorSnapshots.minimumRows
        configuration.watchFolders = try reader.flag("MCP_RAG_WATCH") ?? configuration.watchFolders
        configuration.watchFolderLimit = try reader.integer("MCP_RAG_WATCH_FOLDER_LIMIT", in: 1...10_000_000)
        if let url = reader.string("REDIS_URL") { try configuration.useRedis(url: url) }
        if let prefix = environment["MCP_RAG_REDIS_PREFIX"] {
            guard prefix.utf8.count <= 128, !prefix.contains(where: { $0.isWhitespace || $0.isNewline }) else {
                throw ConfigurationError("MCP_RAG_REDIS_PREFIX must be at most 128 bytes with no whitespace")
            }
            configuration.redisPrefix = prefix
        }
        if let milliseconds = try reader.integer("MCP_RAG_REDIS_TIMEOUT_MS", in: 1...60_000) {
            configuration.redisTimeout = .milliseconds(milliseconds)
        }
        configuration.breakerFailureThreshold = try reader.integer("MCP_RAG_BREAKER_FAILURES", in: 1...1_000)
            ?? configuration.breakerFailureThreshold
        if let seconds = try reader.integer("MCP_RAG_BREAKER_OPEN_SECONDS", in: 1...86_400) {
            configuration.breakerOpenDuration = .seconds(seconds)
        }
        configuration.chroma = try chroma(reader)
        configuration.embeddingsAPI = try embeddingsAPI(reader)
        do {
            configuration.device = try DevicePreference(parsing: reader.string(DevicePreference.environmentVariable))
        } catch {
            throw ConfigurationError("\(DevicePreference.environmentVariable): \(error)")
        }
        configuration.gpuLibrarySearch = LibrarySearch.fromEnvironment(environment)
        configuration.kernelCache = KernelCache.standard(environment: environment)
        // From here on no message built from a remote answer can repeat a configured secret.
        SecretRedactor.register((configuration.redis?.secrets ?? []) + (configuration.chroma?.secrets ?? [])
            + (configuration.embeddingsAPI?.secrets ?? []))
        return configuration
    }
}

extension KnowledgeBaseConfiguration {
    /// The Chroma settings, nil when `CHROMA_URL` is not set; settings that cannot be used are errors.
    fileprivate static func chroma(_ reader: EnvironmentReader) throws -> ChromaConfiguration? {
        guard let url = reader.string("CHROMA_URL") else { return nil }
        let header: ChromaConfiguration.AuthHeader
        switch reader.string("CHROMA_AUTH_HEADER")?.lowercased() {
        case nil, "x-chroma-token": header = .chromaToken
        case "authorization": header = .authorization
        case let other?:
            throw ConfigurationError("CHROMA_AUTH_HEADER=\(other) is neither x-chroma-token nor authorization")
        }
        let writeMilliseconds = try reader.integer("MCP_RAG_CHROMA_TIMEOUT_MS", in: 100...3_600_000) ?? 30_000
        let readMilliseconds = try reader.integer("MCP_RAG_CHROMA_READ_TIMEOUT_MS", in: 50...600_000) ?? 2_000
        let followMilliseconds = try reader.integer("MCP_RAG_CHROMA_FOLLOW_MS", in: 100...600_000) ?? 1_000
        do {
            return try ChromaConfiguration(
                url: url, token: reader.string("CHROMA_TOKEN"), authHeader: header,
                tenant: reader.string("CHROMA_TENANT") ?? "default_tenant",
                database: reader.string("CHROMA_DATABASE") ?? "default_database",
                collection: reader.string("CHROMA_COLLECTION") ?? "mcp_rag",
                requestTimeout: .milliseconds(writeMilliseconds), readTimeout: .milliseconds(readMilliseconds),
                followInterval: .milliseconds(followMilliseconds))
        } catch {
            throw ConfigurationError(error.description)
        }
    }
}

extension KnowledgeBaseConfiguration {
    /// The embeddings API's settings, nil when `MCP_RAG_EMBEDDINGS_URL` is not set.
    fileprivate static func embeddingsAPI(_ reader: EnvironmentReader) throws -> EmbeddingsAPIConfiguration? {
        guard let url = reader.string("MCP_RAG_EMBEDDINGS_URL") else {
            for name in ["MCP_RAG_EMBEDDINGS_MODEL", "MCP_RAG_EMBEDDINGS_KEY"] where reader.string(name) != nil {
                throw ConfigurationError("\(name) is set but MCP_RAG_EMBEDDINGS_URL is not: set both, or neither")
            }
            return nil
        }
        guard let model = reader.string("MCP_RAG_EMBEDDINGS_MODEL") else {
            throw ConfigurationError("MCP_RAG_EMBEDDINGS_URL needs MCP_RAG_EMBEDDINGS_MODEL: the model's name on that server")
        }
        let sendsInputType: Bool
        switch reader.string("MCP_RAG_EMBEDDINGS_INPUT_TYPE")?.lowercased() {
        case nil, "0", "false", "no", "off": sendsInputType = false
        case "1", "true", "yes", "on": sendsInputType = true
        case let other?: throw ConfigurationError("MCP_RAG_EMBEDDINGS_INPUT_TYPE=\(other) is neither true nor false")
        }
        let batch = try reader.integer("MCP_RAG_EMBEDDINGS_BATCH", in: 1...2048) ?? 32
        let milliseconds = try reader.integer("MCP_RAG_EMBEDDINGS_TIMEOUT_MS", in: 100...3_600_000) ?? 60_000
        do {
            // The prefixes as written: their trailing space ("query: ") is part of them.
            return try EmbeddingsAPIConfiguration(
                url: url, model: model,
                key: reader.environment["MCP_RAG_EMBEDDINGS_KEY"]?.trimmingCharacters(in: .whitespacesAndNewlines).nonEmpty,
                queryPrefix: reader.environment["MCP_RAG_EMBEDDINGS_QUERY_PREFIX"] ?? "",
                passagePrefix: reader.environment["MCP_RAG_EMBEDDINGS_PASSAGE_PREFIX"] ?? "",
                sendsInputType: sendsInputType, batchSize: batch, requestTimeout: .milliseconds(milliseconds))
        } catch {
            throw ConfigurationError(error.description)
        }
    }
}

/// A configuration value that cannot be used, with the name of where it came from.
public struct ConfigurationError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

fileprivate struct EnvironmentReader {
    let environment: [String: String]

    func string(_ name: String) -> String? {
        guard let value = environment[name]?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
        return value
    }

    func integer(_ name: String, in range: ClosedRange<Int>) throws -> Int? {
        guard let text = string(name) else { return nil }
        guard let value = Int(text), range.contains(value) else {
            throw ConfigurationError("\(name)=\(text) is not a whole number between \(range.lowerBound) and \(range.upperBound)")
        }
        return value
    }

    func flag(_ name: String) throws -> Bool? {
        try KnowledgeBaseConfiguration.flag(name, in: environment)
    }
}

extension KnowledgeBaseConfiguration {
    /// The yes/no variable `name` of `environment`: 1, true or yes, or 0, false or no (any case,
    /// blanks around ignored); nil when unset or empty. Throws `ConfigurationError` naming it otherwise.
    public static func flag(_ name: String, in environment: [String: String]) throws -> Bool? {
        switch environment[name]?.trimmingCharacters(in: .whitespaces).lowercased() {
        case nil, "": nil
        case "1", "true", "yes", "on": true
        case "0", "false", "no", "off": false
        case let other?: throw ConfigurationError("\(name)=\(other) must be 1 or 0 (true or false, yes or no, on or off)")
        }
    }

    /// Keeps query statistics and the result cache in the Redis server at `url`
    /// (`redis://[:password@]host[:port][/db]`, `rediss://` or `unix://`); throws
    /// `ConfigurationError` saying what is wrong with it.
    public mutating func useRedis(url: String) throws {
        do {
            redis = try RedisEndpoint(url: url)
        } catch {
            throw ConfigurationError(error.description)
        }
    }
}

extension KnowledgeBaseConfiguration {
    /// The model folder this configuration serves: `modelDirectory`, else the data folder's, the
    /// default data folder's, the Hugging Face cache's (see `ModelLocator`); throws saying where
    /// it looked.
    public func locateModel() throws -> URL {
        try ModelLocator(explicitDirectory: modelDirectory, dataDirectory: dataDirectory).locate()
    }
}

extension String {
    /// The string, or nil when it is empty.
    fileprivate var nonEmpty: String? { isEmpty ? nil : self }
}

import ArgumentParser
import Dispatch
import Foundation
import KnowledgeBase
import Logging

/// Options of every command that opens the knowledge base; flags win over the environment.
struct KnowledgeBaseOptions: ParsableArguments {
    @Option(name: .customLong("data-dir"), help: "The data folder (default: MCP_RAG_DATA_DIR, then $XDG_DATA_HOME/mcp-rag, then ~/.local/share/mcp-rag).")
    var dataDirectory: String?

    @Option(name: .customLong("model-dir"), help: "A sentence-transformers model folder (default: MCP_RAG_MODEL_DIR, then the Hugging Face repository MCP_RAG_MODEL names, then <data>/models, then the Hugging Face cache).")
    var modelDirectory: String?

    @Option(help: "Worker threads for the CPU embedding backend (default: every core; MCP_RAG_THREADS).")
    var threads: Int?

    @Option(name: .customLong("allow-root"), help: "A folder MCP clients may ingest from (repeatable; added to MCP_RAG_ALLOWED_ROOTS).")
    var allowedRoots: [String] = []

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical (default: MCP_RAG_LOG_LEVEL, else info). Logs go to stderr.")
    var logLevel: String?

    func validate() throws {
        if let threads, !(1...1024).contains(threads) { throw ValidationError("--threads must be between 1 and 1024.") }
        if let logLevel, Logger.Level(rawValue: logLevel.lowercased()) == nil {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical.")
        }
        // A malformed variable stops the program as a malformed flag does, even where a flag
        // overrides it (as for every other MCP_RAG_* setting): a typo must not go unnoticed.
        _ = try Self.environmentLogLevel()
    }

    /// `MCP_RAG_LOG_LEVEL`, nil when unset or empty; any other value that is not a level is an error
    /// naming the variable.
    static func environmentLogLevel(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws
        -> Logger.Level?
    {
        guard let text = environment["MCP_RAG_LOG_LEVEL"]?.trimmingCharacters(in: .whitespaces), !text.isEmpty else {
            return nil
        }
        guard let level = Logger.Level(rawValue: text.lowercased()) else {
            throw CLIError("MCP_RAG_LOG_LEVEL=\(text) is not a log level; use trace, debug, info, notice, warning, error or critical")
        }
        return level
    }

    /// The configuration from the environment with these flags applied.
    func configuration() throws -> KnowledgeBaseConfiguration {
        var configuration: KnowledgeBaseConfiguration
        do {
            configuration = try KnowledgeBaseConfiguration.fromEnvironment()
        } catch let error as ConfigurationError {
            throw CLIError(error.description)
        }
        if let dataDirectory { configuration.dataDirectory = URL(fileURLWithPath: dataDirectory) }
        if let modelDirectory { configuration.modelDirectory = modelDirectory }
        if let threads { configuration.embeddingThreads = threads }
        configuration.allowedRoots += allowedRoots.map { URL(fileURLWithPath: $0) }
        return configuration
    }

    /// The configuration for a command that fills a knowledge base of its own: the folder named by
    /// `--data-dir` (unless `alwaysTemporary`), else a new temporary folder (returned too, for the
    /// caller to delete). The environment's data folder is never used.
    func scratchConfiguration(prefix: String, alwaysTemporary: Bool = false) throws
        -> (KnowledgeBaseConfiguration, temporary: URL?)
    {
        var configuration = try configuration()
        guard dataDirectory == nil || alwaysTemporary else { return (configuration, nil) }
        let temporary = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
        // The model stays where it is: find it before the data folder moves.
        if configuration.modelDirectory == nil, let found = try? configuration.locateModel() {
            configuration.modelDirectory = found.path
        }
        configuration.dataDirectory = temporary
        return (configuration, temporary)
    }

    /// A logger writing to stderr at the chosen level.
    func logger(label: String = "mcp-rag") -> Logger {
        // validate() has refused a malformed flag or variable already.
        let level = logLevel.flatMap { Logger.Level(rawValue: $0.lowercased()) } ?? (try? Self.environmentLogLevel()) ?? .info
        var logger = Logger(label: label) { StderrLogHandler(label: $0) }
        logger.logLevel = level
        return logger
    }

    /// The logger of a command whose report is its output: warnings and worse, unless
    /// `--log-level` asks for more.
    func reportLogger() -> Logger {
        var logger = logger()
        if logLevel == nil { logger.logLevel = .warning }
        return logger
    }

    /// Runs `body` with the knowledge base these options name (or `configuration`, a command's
    /// own) open, without cache warming, and closes it after (buffered counts written).
    func withKnowledgeBase<T: Sendable>(_ configuration: KnowledgeBaseConfiguration? = nil, logger: Logger,
                                        _ body: @Sendable (KnowledgeBase) async throws -> T) async throws -> T {
        try await KnowledgeBase.withRunning(configuration: try configuration ?? self.configuration(), logger: logger, body)
    }
}

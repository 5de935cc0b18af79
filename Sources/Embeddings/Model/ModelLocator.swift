import Foundation

/// Finds the model folder, in the order a user expects: an explicit `--model-dir`, then
/// `MCP_RAG_MODEL_DIR`, then the data folder's `models/all-MiniLM-L6-v2`, then the default data
/// folder's (where `tools/fetch-model` installs it when no data folder is set), then the Hugging
/// Face cache.
public struct ModelLocator: Sendable {
    /// The folder name of the default model under `<data folder>/models/`.
    public static let defaultModelName = "all-MiniLM-L6-v2"
    /// The command that puts the default model in the data folder.
    public static let fetchCommand = "tools/fetch-model"

    /// A `--model-dir` given on the command line, if any.
    public var explicitDirectory: String?
    /// The process environment (injectable for tests).
    public var environment: [String: String]
    /// The data folder whose `models/` is searched.
    public var dataDirectory: URL

    /// A locator over the given sources; every field defaults to the running process's. Throws when
    /// no `dataDirectory` is given and the environment's cannot be used (`DataDirectory.resolve`).
    public init(explicitDirectory: String? = nil, environment: [String: String] = ProcessInfo.processInfo.environment,
                dataDirectory: URL? = nil) throws(DataDirectoryError) {
        self.explicitDirectory = explicitDirectory
        self.environment = environment
        if let dataDirectory {
            self.dataDirectory = dataDirectory
        } else {
            self.dataDirectory = try DataDirectory.resolve(environment: environment)
        }
    }

    /// The first folder that holds a model.
    ///
    /// A folder named explicitly (flag or environment variable) must hold the model: it is not
    /// skipped in favour of a later one, so a typo is reported rather than silently ignored.
    public func locate() throws -> URL {
        if let explicit = explicitDirectory {
            return try requireModel(at: explicit, source: "--model-dir")
        }
        if let fromEnvironment = environment["MCP_RAG_MODEL_DIR"], !fromEnvironment.isEmpty {
            return try requireModel(at: fromEnvironment, source: "MCP_RAG_MODEL_DIR")
        }
        let candidates = implicitCandidates()
        if let found = candidates.first(where: Self.holdsModel) {
            return found
        }
        throw ModelLoadError.notFound(
            candidates.first?.path ?? dataDirectory.path,
            "no all-MiniLM-L6-v2 model found. Looked in: \(candidates.map(\.path).joined(separator: ", ")). "
                + "Fetch it with `\(Self.fetchCommand)` (puts it in \(dataDirectory.appendingPathComponent("models").path)), "
                + "or point --model-dir or MCP_RAG_MODEL_DIR at a sentence-transformers folder.")
    }

    /// The data folder's copy, the default data folder's, then every snapshot in the Hugging Face
    /// cache (newest first).
    ///
    /// The default folder matters to a user who ran the quick start (which installs the model there)
    /// and then kept a knowledge base elsewhere (`MCP_RAG_DATA_DIR` or `--data-dir`): without it the
    /// server would find no model and answer by keywords alone.
    func implicitCandidates() -> [URL] {
        var candidates = [Self.modelFolder(in: dataDirectory)]
        let standard = Self.modelFolder(in: DataDirectory.standard(environment: environment))
        if standard.standardizedFileURL.path != candidates[0].standardizedFileURL.path {
            candidates.append(standard)
        }
        let hub: URL
        if let hfHome = environment["HF_HOME"], !hfHome.isEmpty {
            hub = URL(fileURLWithPath: hfHome).appendingPathComponent("hub")
        } else {
            hub = homeDirectory().appendingPathComponent(".cache/huggingface/hub")
        }
        let snapshots = hub.appendingPathComponent("models--sentence-transformers--all-MiniLM-L6-v2/snapshots")
        let entries = (try? FileManager.default.contentsOfDirectory(
            at: snapshots, includingPropertiesForKeys: [.contentModificationDateKey])) ?? []
        let newestFirst = entries.sorted { a, b in
            let dateA = (try? a.resourceValues(forKeys: [.contentModificationDateKey]).contentModificationDate) ?? .distantPast
            let dateB = (try? b.resourceValues(forKeys: [.contentModificationDateKey]).contentModificationDate) ?? .distantPast
            return dateA > dateB
        }
        candidates.append(contentsOf: newestFirst.isEmpty ? [snapshots] : newestFirst)
        return candidates
    }

    private func requireModel(at path: String, source: String) throws -> URL {
        let url = URL(fileURLWithPath: path).standardizedFileURL
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ModelLoadError.notFound(url.path, "the model folder given by \(source) does not exist. "
                + "Fetch the model with `\(Self.fetchCommand)` or fix \(source).")
        }
        guard Self.holdsModel(url) else {
            throw ModelLoadError.notFound(url.appendingPathComponent("config.json").path,
                "the folder given by \(source) is not a sentence-transformers model folder (no config.json)")
        }
        return url
    }

    private static func modelFolder(in dataDirectory: URL) -> URL {
        dataDirectory.appendingPathComponent("models").appendingPathComponent(defaultModelName)
    }

    private static func holdsModel(_ url: URL) -> Bool {
        FileManager.default.fileExists(atPath: url.appendingPathComponent("config.json").path)
    }

    private func homeDirectory() -> URL {
        if let home = environment["HOME"], !home.isEmpty { return URL(fileURLWithPath: home) }
        return FileManager.default.homeDirectoryForCurrentUser
    }
}

/// The folder where mcp-rag keeps its models and data: `MCP_RAG_DATA_DIR`, else
/// `$XDG_DATA_HOME/mcp-rag`, else `~/.local/share/mcp-rag`.
public enum DataDirectory {
    /// The variable naming the data folder.
    public static let environmentVariable = "MCP_RAG_DATA_DIR"

    /// Resolves the data folder from `environment`; creates nothing.
    ///
    /// `MCP_RAG_DATA_DIR` set but empty (or blank) is an error, not the default: it is what a
    /// script's unset variable expands to, and the default folder would put the knowledge base
    /// somewhere its user did not ask for. (An empty `XDG_DATA_HOME` means the default, as the XDG
    /// specification says.)
    public static func resolve(environment: [String: String] = ProcessInfo.processInfo.environment) throws(DataDirectoryError)
        -> URL
    {
        if let explicit = environment[environmentVariable] {
            guard !explicit.allSatisfy(\.isWhitespace) else {
                throw DataDirectoryError(description: """
                    \(environmentVariable) is set but empty; give it a folder, or unset it to use the default \
                    ($XDG_DATA_HOME/mcp-rag, else ~/.local/share/mcp-rag)
                    """)
            }
            return URL(fileURLWithPath: explicit)
        }
        return standard(environment: environment)
    }

    /// The folder used when `MCP_RAG_DATA_DIR` is not set: `$XDG_DATA_HOME/mcp-rag`, else
    /// `~/.local/share/mcp-rag`.
    public static func standard(environment: [String: String] = ProcessInfo.processInfo.environment) -> URL {
        if let xdg = environment["XDG_DATA_HOME"], !xdg.isEmpty {
            return URL(fileURLWithPath: xdg).appendingPathComponent("mcp-rag")
        }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? FileManager.default.homeDirectoryForCurrentUser.path
        return URL(fileURLWithPath: home).appendingPathComponent(".local/share/mcp-rag")
    }
}

/// The data folder's setting cannot be used; the message names the variable.
public struct DataDirectoryError: Error, CustomStringConvertible, Sendable, Equatable {
    public let description: String
}

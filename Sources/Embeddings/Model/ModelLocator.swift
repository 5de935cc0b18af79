import Foundation

/// Finds the model folder, in the order a user expects: an explicit `--model-dir`, then
/// `MCP_RAG_MODEL_DIR`, then the model `MCP_RAG_MODEL` names by its Hugging Face repository (in the
/// Hugging Face cache), then the data folder's `models/all-MiniLM-L6-v2`, then the default data
/// folder's (where `tools/fetch-model` installs it when no data folder is set), then the Hugging
/// Face cache's all-MiniLM-L6-v2.
public struct ModelLocator: Sendable {
    /// The folder name of the default model under `<data folder>/models/`.
    public static let defaultModelName = "all-MiniLM-L6-v2"
    /// The default model's Hugging Face repository.
    public static let defaultRepository = "sentence-transformers/all-MiniLM-L6-v2"
    /// The variable that names a model by its Hugging Face repository.
    public static let repositoryVariable = "MCP_RAG_MODEL"
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
        if let repository = environment[Self.repositoryVariable], !repository.isEmpty {
            return try locate(repository: repository)
        }
        let candidates = implicitCandidates()
        if let found = candidates.first(where: Self.holdsModel) {
            return found
        }
        throw ModelLoadError.notFound(
            candidates.first?.path ?? dataDirectory.path,
            "no all-MiniLM-L6-v2 model found. Looked in: \(candidates.map(\.path).joined(separator: ", ")). "
                + "Fetch it with `\(Self.fetchCommand)` from mcp-rag's repository (puts it in "
                + "\(dataDirectory.appendingPathComponent("models").path)) or `mcp-rag model fetch \(Self.defaultRepository)` "
                + "(puts it in the Hugging Face cache), "
                + "or point --model-dir or MCP_RAG_MODEL_DIR at a sentence-transformers folder.")
    }

    /// The data folder's copy, the default data folder's, then every snapshot in the Hugging Face
    /// cache (newest first).
    ///
    /// The default folder matters to a user who ran the quick start (which installs the model there)
    /// and then kept a knowledge base elsewhere (`MCP_RAG_DATA_DIR` or `--data-dir`): without it the
    /// server would find no model and answer by keywords alone.
    func implicitCandidates() -> [URL] {
        let snapshots = hubSnapshots(of: Self.defaultRepository)
        return dataFolderCandidates()
            + (snapshots.isEmpty ? [hubFolder(of: Self.defaultRepository).appendingPathComponent("snapshots")] : snapshots)
    }

    /// The default model's folder in the data folder, then in the default data folder.
    func dataFolderCandidates() -> [URL] {
        var candidates = [Self.modelFolder(in: dataDirectory)]
        let standard = Self.modelFolder(in: DataDirectory.standard(environment: environment))
        if standard.standardizedFileURL.path != candidates[0].standardizedFileURL.path {
            candidates.append(standard)
        }
        return candidates
    }

    /// Hugging Face's own folder, as huggingface_hub finds it: `HF_HOME`, else
    /// `$XDG_CACHE_HOME/huggingface`, else `~/.cache/huggingface`.
    public var huggingFaceHome: URL {
        if let hfHome = setting("HF_HOME") { return URL(fileURLWithPath: hfHome) }
        if let cache = setting("XDG_CACHE_HOME") { return URL(fileURLWithPath: cache).appendingPathComponent("huggingface") }
        return homeDirectory().appendingPathComponent(".cache/huggingface")
    }

    /// The Hugging Face cache's `hub` folder, as huggingface_hub finds it: `HF_HUB_CACHE` (or its
    /// older name `HUGGINGFACE_HUB_CACHE`), else `hub` in `huggingFaceHome`.
    public var hubDirectory: URL {
        if let hub = setting("HF_HUB_CACHE") ?? setting("HUGGINGFACE_HUB_CACHE") { return URL(fileURLWithPath: hub) }
        return huggingFaceHome.appendingPathComponent("hub")
    }

    /// The variable `name`, unless unset or empty (as huggingface_hub treats an empty one).
    private func setting(_ name: String) -> String? {
        environment[name].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// Where the cache keeps `repository` (`owner/name`): `models--owner--name`.
    public func hubFolder(of repository: String) -> URL {
        hubDirectory.appendingPathComponent("models--" + repository.replacingOccurrences(of: "/", with: "--"))
    }

    /// The cache's snapshots of `repository`, best first: the one `refs/main` points at, then the
    /// others, newest first.
    func hubSnapshots(of repository: String) -> [URL] {
        let folder = hubFolder(of: repository)
        let snapshots = folder.appendingPathComponent("snapshots")
        let entries = (try? FileManager.default.contentsOfDirectory(
            at: snapshots, includingPropertiesForKeys: [.contentModificationDateKey])) ?? []
        let main = (try? String(contentsOf: folder.appendingPathComponent("refs/main"), encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines)
        func modified(_ url: URL) -> Date {
            (try? url.resourceValues(forKeys: [.contentModificationDateKey]).contentModificationDate) ?? .distantPast
        }
        return entries.sorted { a, b in
            let aIsMain = a.lastPathComponent == main, bIsMain = b.lastPathComponent == main
            if aIsMain != bIsMain { return aIsMain }
            return modified(a) > modified(b)
        }
    }

    /// The model `repository` names, from the Hugging Face cache (for the default model, the data
    /// folders' copies first, as without the variable).
    private func locate(repository: String) throws -> URL {
        // A bare name is a folder of the data folders' `models/`, as `mcp-rag model list` names them.
        if Self.isFolderName(repository) {
            let folders = dataFolderCandidates().map { $0.deletingLastPathComponent().appendingPathComponent(repository) }
            if let found = folders.first(where: Self.holdsModel) { return found }
            throw ModelLoadError.notFound(
                folders[0].path, "\(Self.repositoryVariable) names \(repository), which is no model folder in "
                    + folders.map { $0.deletingLastPathComponent().path }.joined(separator: " or ")
                    + "; a Hugging Face model is named owner/name (e.g. BAAI/bge-small-en-v1.5)")
        }
        guard Self.isRepositoryName(repository) else {
            throw ModelLoadError.notFound(repository, "\(Self.repositoryVariable) must name a Hugging Face repository as "
                + "owner/name (e.g. BAAI/bge-small-en-v1.5), or a model folder of the data folder's models/, "
                + "with letters, digits and . _ - only")
        }
        let candidates = (repository == Self.defaultRepository ? dataFolderCandidates() : []) + hubSnapshots(of: repository)
        if let found = candidates.first(where: Self.holdsModel) { return found }
        throw ModelLoadError.notFound(
            hubFolder(of: repository).path,
            "\(Self.repositoryVariable) names \(repository), which is not in the Hugging Face cache (\(hubDirectory.path)). "
                + "Download it there with `mcp-rag model fetch \(repository)` (or `hf download \(repository)`), or point "
                + "MCP_RAG_MODEL_DIR at its folder.")
    }

    /// Whether `text` is a repository name as the Hub writes it: `owner/name`, nothing that could
    /// step out of the cache folder.
    public static func isRepositoryName(_ text: String) -> Bool {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        return parts.count == 2 && parts.allSatisfy { part in isFolderName(part) && !part.contains("--") }
    }

    /// Whether `text` is one folder's name that cannot step out of the folder holding it.
    static func isFolderName(_ text: some StringProtocol) -> Bool {
        !text.isEmpty && text.count <= 96 && !text.hasPrefix(".")
            && text.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) }
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

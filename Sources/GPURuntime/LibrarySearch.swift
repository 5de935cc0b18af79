import Foundation

/// Where GPU libraries are looked for: the folders of `MCP_RAG_GPU_LIBRARY_PATH` first (for
/// installs outside the loader's path, such as /opt/rocm-6.2/lib or a Python wheel's lib folder),
/// then the system loader's own search (LD_LIBRARY_PATH, ld.so.cache).
public struct LibrarySearch: Sendable, Equatable {
    /// Folders tried, in order, before the loader's search.
    public var directories: [String]

    public init(directories: [String] = []) {
        self.directories = directories
    }

    /// The environment variable that names extra folders, colon-separated like PATH.
    public static let environmentVariable = "MCP_RAG_GPU_LIBRARY_PATH"

    /// The search `environment` describes. Empty entries are ignored, as PATH's are not: an empty
    /// entry here would mean the working directory, which no one intends for a library search.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> LibrarySearch {
        let folders = (environment[environmentVariable] ?? "").split(separator: ":").map(String.init)
        return LibrarySearch(directories: folders)
    }

    /// What to hand `dlopen`, in order: each name in each folder, then each bare name.
    func candidates(for names: [String]) -> [String] {
        directories.flatMap { folder in names.map { (folder as NSString).appendingPathComponent($0) } } + names
    }

    /// Files in the search folders whose names start with `prefix` (e.g. NVRTC's versioned
    /// builtins library, whose minor version is part of its name).
    func files(withPrefix prefix: String, besides library: String) -> [String] {
        let folders = [(library as NSString).deletingLastPathComponent].filter { !$0.isEmpty } + directories
        return folders.flatMap { folder in
            ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [])
                .filter { $0.hasPrefix(prefix) }.sorted().reversed()
                .map { (folder as NSString).appendingPathComponent($0) }
        }
    }
}

import Foundation

/// Lists the regular files under the paths given to an ingest, in a stable order.
///
/// Hidden entries (a name starting with ".") and dependency folders are skipped: they are rarely
/// documentation and can be huge. Symlinks are followed but every path is reported resolved, and
/// each folder is entered once, so a link cycle cannot loop.
public struct FileWalker: Sendable {
    /// Folder names never entered.
    public static let skippedFolders: Set<String> = ["node_modules", "__pycache__", ".build", "target", "venv", ".venv"]

    /// Refuse walks finding more files than this (before any work is done).
    public var maxFiles: Int

    public init(maxFiles: Int) {
        self.maxFiles = maxFiles
    }

    /// The files under `paths` (files given directly are kept even if hidden), resolved and
    /// without duplicates, sorted by path.
    public func files(under paths: [String]) throws -> [String] {
        var found = Set<String>()
        var visitedFolders = Set<String>()
        for path in paths {
            guard let resolved = AllowedRoots.resolve(path) else { throw InvalidRequest("\(path) does not exist") }
            switch Self.type(of: resolved) {
            case S_IFREG: found.insert(resolved)
            case S_IFDIR: try walk(resolved, into: &found, visited: &visitedFolders)
            default: throw InvalidRequest("\(path) is not a regular file or folder")
            }
            try checkCount(found.count)
        }
        return found.sorted()
    }

    private func walk(_ folder: String, into found: inout Set<String>, visited: inout Set<String>) throws {
        guard visited.insert(folder).inserted else { return }
        let entries: [String]
        do {
            entries = try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
        } catch {
            throw InvalidRequest("cannot read the folder \(folder): \(error.localizedDescription)")
        }
        for name in entries where !name.hasPrefix(".") && !Self.skippedFolders.contains(name) {
            guard let resolved = AllowedRoots.resolve((folder as NSString).appendingPathComponent(name)) else { continue }
            switch Self.type(of: resolved) {
            case S_IFREG:
                found.insert(resolved)
                try checkCount(found.count)
            case S_IFDIR:
                try walk(resolved, into: &found, visited: &visited)
            default:
                continue  // sockets, devices, FIFOs: never read
            }
        }
    }

    private func checkCount(_ count: Int) throws {
        guard count <= maxFiles else {
            throw InvalidRequest("more than \(maxFiles) files to ingest; ingest fewer at a time or raise MCP_RAG_MAX_FILES")
        }
    }

    /// The file type bits of `path` (symlinks followed), or 0 if it cannot be read.
    static func type(of path: String) -> mode_t {
        var status = stat()
        guard stat(path, &status) == 0 else { return 0 }
        return status.st_mode & S_IFMT
    }
}

import Foundation

/// The folders an MCP client may make mcp-rag read (ingest) or forget (remove).
///
/// A path is checked after resolving `..` and every symlink, so neither `root/../etc/passwd` nor a
/// symlink inside a root pointing outside it gets through. Special files (devices, sockets, FIFOs)
/// and anything under /proc, /sys or /dev are refused even inside a root.
public struct AllowedRoots: Sendable {
    /// The roots, resolved; empty means nothing is allowed.
    public let roots: [String]

    /// Roots as configured; ones that do not exist are dropped (nothing under them could be read).
    public init(_ urls: [URL]) {
        roots = urls.compactMap { AllowedRoots.resolve($0.path) }.map { $0 == "/" ? "/" : $0 }
    }

    /// How to allow a folder, for error messages.
    public static let howToAllow =
        "set MCP_RAG_ALLOWED_ROOTS to a colon-separated list of folders (or pass --allow-root) in the server's configuration"

    /// `path` resolved (absolute, `..` and symlinks gone), if it is inside a root and not a
    /// special file; otherwise an error a person can act on.
    public func check(_ path: String, mustExist: Bool = true) throws -> String {
        guard !roots.isEmpty else {
            throw InvalidRequest("no folders are allowed for ingestion: \(Self.howToAllow)")
        }
        guard !path.isEmpty, !path.contains("\0") else { throw InvalidRequest("the path is empty or holds a NUL byte") }
        let resolved: String
        if let existing = Self.resolve(path) {
            resolved = existing
        } else if mustExist {
            throw InvalidRequest("\(path) does not exist")
        } else {
            // A source that was deleted from disk: resolve its folder instead, then add the name.
            let url = URL(fileURLWithPath: path).standardizedFileURL
            guard let parent = Self.resolve(url.deletingLastPathComponent().path) else {
                throw InvalidRequest("\(path) does not exist")
            }
            resolved = (parent as NSString).appendingPathComponent(url.lastPathComponent)
        }
        for forbidden in ["/proc", "/sys", "/dev"] where Self.isInside(resolved, forbidden) {
            throw InvalidRequest("\(path) is under \(forbidden), which is never ingested")
        }
        guard roots.contains(where: { Self.isInside(resolved, $0) }) else {
            throw InvalidRequest("\(path) is outside the allowed folders (\(roots.joined(separator: ", "))); to allow another, \(Self.howToAllow)")
        }
        var status = stat()
        if lstat(resolved, &status) == 0 {
            let type = status.st_mode & S_IFMT
            guard type == S_IFREG || type == S_IFDIR else {
                throw InvalidRequest("\(path) is not a regular file or folder")
            }
        }
        return resolved
    }

    /// `path` made absolute with symlinks and `..` resolved, or nil if it does not exist.
    static func resolve(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// Whether `path` is `root` or below it (component-wise, so /data2 is not inside /data).
    static func isInside(_ path: String, _ root: String) -> Bool {
        if root == "/" { return true }
        return path == root || path.hasPrefix(root.hasSuffix("/") ? root : root + "/")
    }
}

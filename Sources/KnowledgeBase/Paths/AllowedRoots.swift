import BytePaths
import Foundation

/// The folders an MCP client may make mcp-rag read (ingest) or forget (remove).
///
/// A path is checked after resolving `..` and every symlink, and compared as bytes (`PathBytes`),
/// so neither `root/../etc/passwd`, a symlink inside a root pointing outside it, nor a folder whose
/// name is only canonically equivalent to a root's gets through. Special files (devices, sockets,
/// FIFOs) and anything under /proc, /sys or /dev are refused even inside a root.
///
/// A path outside the roots is refused with the same words whether it exists or not, so the check
/// cannot be used to learn what exists elsewhere. The check is advice about a name; what keeps a
/// file that is swapped after the check out is `ConfinedFile`, which checks the opened descriptor.
public struct AllowedRoots: Sendable {
    /// The roots, resolved; empty means nothing is allowed.
    public let roots: [String]

    /// Roots as configured; ones that do not exist are dropped (nothing under them could be read).
    public init(_ urls: [URL]) {
        roots = urls.compactMap { PathBytes.resolve($0.path) }
    }

    /// How to allow a folder, for error messages.
    public static let howToAllow =
        "set MCP_RAG_ALLOWED_ROOTS to a colon-separated list of folders (or pass --allow-root) in the server's configuration"

    /// Folders never read, whatever the roots say.
    static let forbidden = ["/proc", "/sys", "/dev"]

    /// `path` resolved (absolute, `..` and symlinks gone), if it is inside a root and not a
    /// special file; otherwise an error a person can act on.
    ///
    /// - Parameter mustExist: when false (removing a source whose file is gone), a path that does
    ///   not exist is allowed if the deepest folder of it that does exist is inside a root.
    public func check(_ path: String, mustExist: Bool = true) throws -> String {
        guard !roots.isEmpty else {
            throw InvalidRequest("no folders are allowed for ingestion: \(Self.howToAllow)")
        }
        guard !path.isEmpty, !path.utf8.contains(0) else { throw InvalidRequest("the path is empty or holds a NUL byte") }
        let spelled = PathBytes.lexicallyAbsolute(path)
        for folder in Self.forbidden where PathBytes.isInside(spelled, folder) {
            throw InvalidRequest("\(path) is under \(folder), which is never ingested")
        }
        let resolved = try resolveInside(path, mustExist: mustExist)
        var status = stat()
        if lstat(resolved, &status) == 0 {
            let type = status.st_mode & S_IFMT
            guard type == S_IFREG || type == S_IFDIR else {
                throw InvalidRequest("\(path) is not a regular file or folder")
            }
        }
        return resolved
    }

    /// Whether `resolvedPath` (already free of links and `..`) is inside a root and outside the
    /// forbidden folders.
    public func contains(_ resolvedPath: String) -> Bool {
        !Self.forbidden.contains(where: { PathBytes.isInside(resolvedPath, $0) })
            && roots.contains(where: { PathBytes.isInside(resolvedPath, $0) })
    }

    /// The resolved form of `path` when it lies inside a root.
    private func resolveInside(_ path: String, mustExist: Bool) throws -> String {
        if let resolved = PathBytes.resolve(path) {
            guard contains(resolved) else { throw refusal(path) }
            return resolved
        }
        // It cannot be resolved. Walk up its spelling to the deepest part that can: only when that
        // is inside a root may the caller learn that the rest is missing.
        var missing: [Substring] = []
        var candidate = PathBytes.lexicallyAbsolute(path)
        while true {
            var status = stat()
            // A name that exists but does not resolve is a broken or looping link, or a folder that
            // cannot be searched: its target is nobody's business.
            guard lstat(candidate, &status) != 0 else { throw refusal(path) }
            guard let (folder, name) = PathBytes.parent(candidate) else { throw refusal(path) }
            missing.insert(name, at: 0)
            candidate = folder
            guard let resolvedFolder = PathBytes.resolve(candidate) else { continue }
            guard contains(resolvedFolder) else { throw refusal(path) }
            guard !mustExist else { throw InvalidRequest("\(path) does not exist") }
            return missing.reduce(resolvedFolder) { PathBytes.join($0, $1) }
        }
    }

    /// The one answer for a path outside the roots, whether or not it exists.
    private func refusal(_ path: String) -> InvalidRequest {
        InvalidRequest("\(path) is outside the allowed folders (\(roots.joined(separator: ", "))); to allow another, \(Self.howToAllow)")
    }
}

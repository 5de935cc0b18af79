import BytePaths

/// The paths that changed under the watched folders since the last batch, each once.
///
/// A path is only named here; what happened to it is read from the disk when the batch is applied
/// (it may have changed again since), so a file written ten times is one entry, and a file created
/// and deleted within a batch is one entry that finds nothing.
///
/// Paths are told apart by their bytes, as the file system tells them: "café" precomposed and
/// decomposed are two files, although Swift's strings compare them equal.
public struct FolderChanges: Sendable {
    /// What kind of thing a path was when the event named it.
    public enum Kind: Sendable, Equatable {
        case file
        /// A folder created, deleted or moved: everything under it is read again.
        case folder
    }

    /// Each changed path, by its bytes, with its kind.
    private var entries: [PathKey: Kind] = [:]
    /// Renames seen, by the new path: the old path, so that a moved file's passages keep their vectors.
    private var renames: [PathKey: String] = [:]

    public init() {}

    public var isEmpty: Bool { entries.isEmpty }
    /// How many paths wait.
    public var count: Int { entries.count }

    /// What `path` was when it changed; nil when it did not.
    public func kind(of path: String) -> Kind? { entries[PathKey(path)] }

    /// Notes that `path` changed (a folder stays a folder when a file of its name is noted).
    public mutating func note(_ path: String, _ kind: Kind) {
        let key = PathKey(path)
        if entries[key] != .folder { entries[key] = kind }
    }

    /// Notes that `old` was renamed to `new` (both are noted as changed too).
    public mutating func noteRename(from old: String, to new: String, _ kind: Kind) {
        note(old, kind)
        note(new, kind)
        renames[PathKey(new)] = old
    }

    /// Adds `other`'s changes to these.
    public mutating func merge(_ other: FolderChanges) {
        for (key, kind) in other.entries { note(key.path, kind) }
        renames.merge(other.renames) { _, newer in newer }
    }

    /// The paths to look at: folders first, then files, each sorted by their bytes, without
    /// anything inside a changed folder (reading the folder again covers it).
    public func reduced() -> (folders: [String], files: [String]) {
        let folders = Set(entries.compactMap { $0.value == .folder ? $0.key : nil })
        var keptFolders: [String] = [], keptFiles: [String] = []
        for (key, kind) in entries where !Self.prefixes(of: key.bytes).contains(where: { folders.contains(PathKey($0)) }) {
            if kind == .folder { keptFolders.append(key.path) } else { keptFiles.append(key.path) }
        }
        let byBytes: (String, String) -> Bool = { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        return (keptFolders.sorted(by: byBytes), keptFiles.sorted(by: byBytes))
    }

    /// The path `path` had before the renames of this batch, if one of them moved it (or a folder
    /// above it).
    public func formerPath(of path: String) -> String? {
        let bytes = Array(path.utf8)
        if let old = renames[PathKey(bytes[...])] { return old }
        for prefix in Self.prefixes(of: bytes) {
            if let old = renames[PathKey(prefix)] { return String(decoding: Array(old.utf8) + bytes[prefix.count...], as: UTF8.self) }
        }
        return nil
    }

    /// The folders above `path`, innermost first ("/a/b/c" → "/a/b", "/a"), as byte slices.
    private static func prefixes(of path: [UInt8]) -> [ArraySlice<UInt8>] {
        var found: [ArraySlice<UInt8>] = []
        var end = path.endIndex
        while let slash = path[..<end].lastIndex(of: UInt8(ascii: "/")), slash > path.startIndex {
            found.append(path[..<slash])
            end = slash
        }
        return found
    }
}

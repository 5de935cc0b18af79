/// The paths that changed under the watched folders since the last batch, each once.
///
/// A path is only named here; what happened to it is read from the disk when the batch is applied
/// (it may have changed again since), so a file written ten times is one entry, and a file created
/// and deleted within a batch is one entry that finds nothing.
public struct FolderChanges: Sendable, Equatable {
    /// What kind of thing a path was when the event named it.
    public enum Kind: Sendable, Equatable {
        case file
        /// A folder created, deleted or moved: everything under it is read again.
        case folder
    }

    /// Each changed path, with its kind (a folder wins over a file of the same name).
    public private(set) var paths: [String: Kind] = [:]
    /// Renames seen (new path → old path), of files and folders, so that a moved file's passages
    /// keep their vectors.
    public private(set) var renames: [String: String] = [:]

    public init() {}

    public var isEmpty: Bool { paths.isEmpty }
    /// How many paths wait.
    public var count: Int { paths.count }

    /// Notes that `path` changed.
    public mutating func note(_ path: String, _ kind: Kind) {
        if paths[path] != .folder { paths[path] = kind }
    }

    /// Notes that `old` was renamed to `new` (both are noted as changed too).
    public mutating func noteRename(from old: String, to new: String, _ kind: Kind) {
        note(old, kind)
        note(new, kind)
        renames[new] = old
    }

    /// Adds `other`'s changes to these.
    public mutating func merge(_ other: FolderChanges) {
        for (path, kind) in other.paths { note(path, kind) }
        renames.merge(other.renames) { _, newer in newer }
    }

    /// The paths to look at: folders first, then files, each sorted, without anything inside a
    /// changed folder (reading the folder again covers it).
    public func reduced() -> (folders: [String], files: [String]) {
        let folders = Set(paths.compactMap { $0.value == .folder ? $0.key : nil })
        func coveredByAFolder(_ path: String) -> Bool {
            var bytes = Substring(path)
            while let slash = bytes.lastIndex(of: "/"), slash > bytes.startIndex {
                bytes = bytes[..<slash]
                if folders.contains(String(bytes)) { return true }
            }
            return false
        }
        var keptFolders: [String] = [], keptFiles: [String] = []
        for (path, kind) in paths where !coveredByAFolder(path) {
            if kind == .folder { keptFolders.append(path) } else { keptFiles.append(path) }
        }
        let byBytes: (String, String) -> Bool = { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        return (keptFolders.sorted(by: byBytes), keptFiles.sorted(by: byBytes))
    }

    /// The path `path` had before the renames of this batch, if one of them moved it (or a folder
    /// above it).
    public func formerPath(of path: String) -> String? {
        if let old = renames[path] { return old }
        var prefix = Substring(path)
        while let slash = prefix.lastIndex(of: "/"), slash > prefix.startIndex {
            prefix = prefix[..<slash]
            if let old = renames[String(prefix)] { return old + path.dropFirst(prefix.count) }
        }
        return nil
    }
}

import BytePaths
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Lists the regular files under the paths given to an ingest, in a stable order, and the entries
/// it left out with the reason for each.
///
/// Hidden entries (a name starting with ".") and dependency folders are skipped: they are rarely
/// documentation and can be huge. Each folder is opened once, without following a symlink, and its
/// entries are examined relative to that descriptor, so the cost is one pass over the tree however
/// deep it is. A symlink is resolved and followed when it stays inside the allowed roots (or when
/// there are none: the command line); otherwise it is listed as one skipped entry and never
/// entered. Every file is reported by its real path, and each folder is entered once, so a link
/// cycle cannot loop.
public struct FileWalker: Sendable {
    /// Folder names never entered.
    public static let skippedFolders: Set<[UInt8]> =
        Set(["node_modules", "__pycache__", ".build", "target", "venv", ".venv"].map { Array($0.utf8) })

    /// What a walk found.
    public struct Listing: Sendable, Equatable {
        /// Regular files, by real path, sorted by their bytes, without duplicates.
        public var files: [String] = []
        /// Entries left out, and why.
        public var skipped: [SkippedFile] = []
    }

    /// Refuse walks finding more entries than this (before any work is done).
    public var maxFiles: Int
    /// When set (MCP calls), symlinks leading outside these roots are not followed.
    public var roots: AllowedRoots?
    /// Folders (real paths) not entered: watched folders of their own inside the one walked. By
    /// their bytes: a folder whose name is only canonically equivalent is entered.
    public var excluded: Set<PathKey>

    public init(maxFiles: Int, roots: AllowedRoots? = nil, excluded: Set<PathKey> = []) {
        self.maxFiles = maxFiles
        self.roots = roots
        self.excluded = excluded
    }

    /// The files under `paths` (files given directly are kept even if hidden).
    public func walk(_ paths: [String]) throws -> Listing {
        var walk = Walk(walker: self)
        for path in paths {
            let resolved = try Self.resolved(path)
            guard walk.allows(resolved) else {
                walk.skip(path, "outside the allowed folders")
                continue
            }
            if try Self.walkableType(of: resolved, given: path) == S_IFREG {
                try walk.add(resolved)
            } else {
                try walk.enter(resolved, given: true)
            }
        }
        return walk.listing()
    }

    /// Throws the error a walk of `paths` (with no allowed roots) would stop at first, if one names
    /// nothing to walk: a path that does not exist, or that is neither a regular file nor a folder.
    /// For the command line, which checks its arguments before it opens (and so creates) a
    /// knowledge base.
    public static func checkGiven(_ paths: [String]) throws {
        for path in paths { _ = try walkableType(of: resolved(path), given: path) }
    }

    /// `path` with its links resolved, or the error that it does not exist.
    private static func resolved(_ path: String) throws -> String {
        guard let resolved = PathBytes.resolve(path) else { throw InvalidRequest("\(path) does not exist") }
        return resolved
    }

    /// The file type of `resolved` (`path` resolved): a regular file or a folder, or the error
    /// that it is neither.
    private static func walkableType(of resolved: String, given path: String) throws -> mode_t {
        let type = Self.type(of: resolved)
        guard type == S_IFREG || type == S_IFDIR else { throw InvalidRequest("\(path) is not a regular file or folder") }
        return type
    }

    /// The file type bits of `path` (symlinks followed), or 0 if it cannot be read.
    static func type(of path: String) -> mode_t {
        var status = stat()
        guard stat(path, &status) == 0 else { return 0 }
        return status.st_mode & S_IFMT
    }

    /// A folder's identity on disk, so one reached twice (through a link, a bind mount) is walked once.
    private struct FolderIdentity: Hashable {
        let device: UInt64
        let inode: UInt64
    }

    /// One walk's state.
    private struct Walk {
        let walker: FileWalker
        var files: [String] = []
        var seenFiles = Set<[UInt8]>()
        var skipped: [SkippedFile] = []
        var visited = Set<FolderIdentity>()

        init(walker: FileWalker) { self.walker = walker }

        func allows(_ resolved: String) -> Bool { walker.roots?.contains(resolved) ?? true }

        mutating func add(_ path: String) throws {
            if seenFiles.insert(Array(path.utf8)).inserted { files.append(path) }
            try checkCount()
        }

        mutating func skip(_ path: String, _ reason: String) {
            skipped.append(SkippedFile(path: path, reason: reason))
        }

        /// Walks the folder at the real path `start`, depth first, without recursion: a chain of
        /// thousands of nested folders needs no deep stack and holds one descriptor at a time.
        mutating func enter(_ start: String, given: Bool) throws {
            var pending = [start]
            var first = given
            while let folder = pending.popLast() {
                let subfolders = try list(folder, given: first)
                first = false
                pending.append(contentsOf: subfolders.reversed())
            }
        }

        /// Examines one folder's entries; returns the folders to enter next.
        private mutating func list(_ folder: String, given: Bool) throws -> [String] {
            let descriptor = open(folder, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard descriptor >= 0 else {
                let reason = "cannot read the folder: \(String(cString: strerror(errno)))"
                if given { throw InvalidRequest("\(folder): \(reason)") }
                skip(folder, reason)
                try checkCount()
                return []
            }
            defer { close(descriptor) }
            // What was opened is what is listed: a folder swapped for a link since it was found
            // would otherwise let the walk read elsewhere.
            if walker.roots != nil {
                guard let real = PathBytes.realPath(ofDescriptor: descriptor), PathBytes.same(real, folder), allows(real) else {
                    skip(folder, "changed while being read, or leads outside the allowed folders")
                    try checkCount()
                    return []
                }
            }
            var status = stat()
            guard fstat(descriptor, &status) == 0,
                  visited.insert(FolderIdentity(device: UInt64(status.st_dev), inode: UInt64(status.st_ino))).inserted
            else { return [] }

            var subfolders: [String] = []
            for name in try Self.entryNames(of: descriptor, folder: folder) {
                guard name.first != UInt8(ascii: "."), !FileWalker.skippedFolders.contains(name) else { continue }
                guard let text = String(validating: name, as: UTF8.self) else {
                    skip(PathBytes.join(folder, String(decoding: name, as: UTF8.self)),
                         "the name is not valid UTF-8, and the knowledge base names its sources in UTF-8")
                    try checkCount()
                    continue
                }
                let path = PathBytes.join(folder, text)
                var entry = stat()
                guard fstatat(descriptor, text, &entry, AT_SYMLINK_NOFOLLOW) == 0 else { continue }  // gone since listed
                switch entry.st_mode & S_IFMT {
                case S_IFREG: try add(path)
                case S_IFDIR where !walker.excluded.contains(PathKey(path)): subfolders.append(path)
                case S_IFDIR: continue
                case S_IFLNK: try follow(link: path, into: &subfolders)
                case let type:
                    skip(path, "not a regular file (\(Self.describe(type)))")
                    try checkCount()
                }
            }
            return subfolders
        }

        /// A symlink inside a walked folder: followed when its target is allowed, else one entry.
        private mutating func follow(link path: String, into subfolders: inout [String]) throws {
            guard let target = PathBytes.resolve(path), allows(target) else {
                skip(path, walker.roots == nil ? "a broken symlink"
                    : "a symlink leading outside the allowed folders, or to nothing: not followed")
                try checkCount()
                return
            }
            switch FileWalker.type(of: target) {
            case S_IFREG: try add(target)
            case S_IFDIR: subfolders.append(target)
            case let type:
                skip(path, "not a regular file (\(Self.describe(type)))")
                try checkCount()
            }
        }

        /// The names in the open folder, sorted by their bytes (without "." and "..").
        private static func entryNames(of descriptor: Int32, folder: String) throws -> [[UInt8]] {
            // fdopendir takes ownership of the descriptor it is given; the walk keeps its own.
            let copy = dup(descriptor)
            guard copy >= 0, let directory = fdopendir(copy) else {
                if copy >= 0 { close(copy) }
                throw InvalidRequest("cannot read the folder \(folder): \(String(cString: strerror(errno)))")
            }
            defer { closedir(directory) }
            var names: [[UInt8]] = []
            while let entry = readdir(directory) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                    Array(raw.prefix(while: { $0 != 0 }))
                }
                if name == [UInt8(ascii: ".")] || name == [UInt8(ascii: "."), UInt8(ascii: ".")] { continue }
                names.append(name)
            }
            return names.sorted { $0.lexicographicallyPrecedes($1) }
        }

        private static func describe(_ type: mode_t) -> String {
            switch type {
            case S_IFIFO: "a FIFO"
            case S_IFSOCK: "a socket"
            case S_IFCHR, S_IFBLK: "a device"
            default: "a special file"
            }
        }

        private func checkCount() throws {
            guard files.count + skipped.count <= walker.maxFiles else {
                throw InvalidRequest("more than \(walker.maxFiles) files to ingest; ingest fewer at a time or raise MCP_RAG_MAX_FILES")
            }
        }

        func listing() -> Listing {
            Listing(files: files.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }, skipped: skipped)
        }
    }
}

import BytePaths
import Dispatch
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Watches folder trees and leaves the paths that change in a `ChangeQueue`.
///
/// On Linux through inotify, one watch per folder (inotify does not watch a tree), on a thread of
/// its own that blocks in `poll`. A folder created or moved into a tree is watched at once and
/// named as changed, so the files written into it before its watch existed are read with it. A
/// root that disappears is named as changed (its files leave) and looked for every second; when it
/// is back, it is watched and read again. A root newly given is read in full once watched, which
/// is also how changes made while nothing watched are caught up. When the kernel's event queue
/// overflows, every root is read again. A file is named once written and closed, moved, or deleted.
///
/// Hidden names (starting with ".") and `ignoredFolderNames` are never watched or named, as the
/// ingest's walk never enters them. Links are not followed.
public final class TreeWatcher: Sendable {
    /// What to watch and how far.
    public struct Configuration: Sendable {
        /// Folder names never entered (besides hidden ones).
        public var ignoredFolderNames: Set<[UInt8]>
        /// The most folders this process watches; nil for as many as the kernel allows.
        public var folderLimit: Int?

        public init(ignoredFolderNames: Set<[UInt8]> = [], folderLimit: Int? = nil) {
            self.ignoredFolderNames = ignoredFolderNames
            self.folderLimit = folderLimit
        }
    }

    /// What the watcher covers now.
    public struct Status: Sendable, Equatable {
        /// Folders with a watch.
        public var watchedFolders = 0
        /// Roots that do not exist (looked for every second).
        public var missingRoots: [String] = []
        /// Folders left without a watch because a limit was reached: changes there are not seen.
        public var unwatchedFolders = 0
        /// Which limit, and what to do, in words; nil while every folder is watched.
        public var limitWarning: String?
        /// Times the kernel's event queue overflowed (each time, every root was read again).
        public var overflows = 0

        public init() {}

        init(watchedFolders: Int, missingRoots: [String], unwatchedFolders: Int, limitWarning: String?, overflows: Int) {
            self.watchedFolders = watchedFolders
            self.missingRoots = missingRoots
            self.unwatchedFolders = unwatchedFolders
            self.limitWarning = limitWarning
            self.overflows = overflows
        }
    }

    private struct Shared {
        /// Roots given and not yet taken up by the thread.
        var wantedRoots: [String]?
        var stopped = false
        var started = false
        var status = Status()
    }

    private let queue: ChangeQueue
    private let configuration: Configuration
    private let shared = Mutex(Shared())
    #if os(Linux)
    private let descriptor: Int32
    #endif

    /// A watcher leaving changes in `queue`; throws when the system gives no watcher (the limit
    /// of inotify instances reached, or a platform without one).
    public init(queue: ChangeQueue, configuration: Configuration) throws {
        self.queue = queue
        self.configuration = configuration
        #if os(Linux)
        descriptor = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard descriptor >= 0 else {
            let reason = errno == EMFILE
                ? "the limit of inotify instances is reached (fs.inotify.max_user_instances): raise it with sysctl, or close other watchers"
                : String(cString: strerror(errno))
            throw WatchUnavailable("inotify cannot be started: \(reason)")
        }
        #else
        throw WatchUnavailable("watching folders is only built for Linux (inotify) so far")
        #endif
    }

    deinit {
        #if os(Linux)
        if !shared.withLock({ $0.started }) { close(descriptor) }
        #endif
    }

    /// Watches exactly `roots` from now on (real paths of folders).
    public func watch(roots: [String]) {
        shared.withLock { $0.wantedRoots = roots }
    }

    /// What is watched now.
    public var status: Status { shared.withLock { $0.status } }

    /// Starts the watching thread.
    public func start() {
        #if os(Linux)
        let begin = shared.withLock { shared in
            defer { shared.started = true }
            return !shared.started
        }
        guard begin else { return }
        let thread = Thread { [self] in
            var table = WatchTable(descriptor: descriptor, configuration: configuration)
            run(&table)
            close(descriptor)
        }
        thread.name = "mcp-rag folder watch"
        thread.start()
        #endif
    }

    /// Stops the thread (within half a second), which closes the inotify descriptor.
    public func stop() {
        shared.withLock { $0.stopped = true }
    }

    #if os(Linux)
    private func run(_ table: inout WatchTable) {
        var lastTick = DispatchTime.now().uptimeNanoseconds
        while true {
            let (roots, stopped) = shared.withLock { shared in
                defer { shared.wantedRoots = nil }
                return (shared.wantedRoots, shared.stopped)
            }
            if stopped { return }
            if let roots { table.setRoots(roots) }
            let now = DispatchTime.now().uptimeNanoseconds
            let ticks = now - lastTick >= 1_000_000_000
            if ticks {
                lastTick = now
                table.lookForMissingRoots()
            }
            publish(&table)
            if ticks { queue.tick() }
            var entry = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            if poll(&entry, 1, 500) > 0 { table.readEvents() }
            publish(&table)
        }
    }

    /// Makes the table's status visible, then the changes it noted: whoever takes a batch sees
    /// the status as it was when the batch's changes were seen.
    private func publish(_ table: inout WatchTable) {
        let status = table.status
        shared.withLock { $0.status = status }
        guard !table.noted.isEmpty else { return }
        let noted = table.noted
        table.noted = FolderChanges()
        queue.add { $0.merge(noted) }
    }
    #endif
}

/// Why no watcher could be started.
public struct WatchUnavailable: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}

#if os(Linux)
/// The watches and the paths they stand for; only the watching thread touches it.
private struct WatchTable {
    let descriptor: Int32
    let configuration: TreeWatcher.Configuration
    // Paths are keyed by their bytes (`PathKey`): two folders whose names differ only in Unicode
    // form are two folders.
    var pathOfWatch: [Int32: PathKey] = [:]
    var watchOfPath: [PathKey: Int32] = [:]
    var roots: Set<PathKey> = []
    var missing: Set<PathKey> = []
    /// Each watched root's identity when it was watched: a root whose path now names another
    /// folder (its parent renamed, a mount over it) is watched again from its path.
    var rootIdentity: [PathKey: FolderIdentity] = [:]
    /// Folders left without a watch by a limit, and the first limit's words.
    var unwatched: Set<PathKey> = []
    var limitReason: String?
    /// Changes seen and not yet handed to the queue.
    var noted = FolderChanges()
    /// Times the kernel's event queue overflowed.
    var overflows = 0

    /// A file counts as changed once its writer closes it (or it is moved in or out, or deleted):
    /// not at its creation nor at each write, when it may be half written. `IN_CREATE` is for
    /// folders, which are watched as soon as they appear.
    static let mask = UInt32(IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_CLOSE_WRITE
        | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR | IN_DONT_FOLLOW | IN_EXCL_UNLINK)

    init(descriptor: Int32, configuration: TreeWatcher.Configuration) {
        self.descriptor = descriptor
        self.configuration = configuration
    }

    var status: TreeWatcher.Status {
        let warning = unwatched.min(by: { $0.bytes.lexicographicallyPrecedes($1.bytes) }).map { first in
            "\(limitReason ?? "a watch limit is reached"): changes in folders beyond it (the first: \(first)) are not seen "
                + "until mcp-rag restarts with room for them; an ingest of those folders still reads them"
        }
        return TreeWatcher.Status(watchedFolders: watchOfPath.count, missingRoots: Self.sorted(missing).map(\.path),
                                  unwatchedFolders: unwatched.count,
                                  limitWarning: warning, overflows: overflows)
    }

    /// A folder's device and inode.
    struct FolderIdentity: Equatable {
        let device: UInt64
        let inode: UInt64

        /// The identity of the folder at `path` itself (a link is not followed); nil when it is no folder.
        init?(_ path: String) {
            var status = stat()
            guard lstat(path, &status) == 0, status.st_mode & S_IFMT == S_IFDIR else { return nil }
            device = UInt64(status.st_dev)
            inode = UInt64(status.st_ino)
        }
    }

    /// Watches the new roots (and reads them in full), lets the ones no longer given go.
    mutating func setRoots(_ wanted: [String]) {
        let wanted = Set(wanted.map { PathKey($0) })
        let added = wanted.subtracting(roots)
        for gone in roots.subtracting(wanted) {
            missing.remove(gone)
            rootIdentity[gone] = nil
            for (path, watch) in watchOfPath where PathBytes.isInside(path.path, gone.path)
                && !wanted.contains(where: { PathBytes.isInside(path.path, $0.path) }) {
                inotify_rm_watch(descriptor, watch)
                forget(path: path, watch: watch)
            }
            unwatched = unwatched.filter { !PathBytes.isInside($0.path, gone.path) }
        }
        roots = wanted
        for root in Self.sorted(added) { watchRoot(root) }
    }

    /// `paths` in the order of their bytes.
    private static func sorted(_ paths: Set<PathKey>) -> [PathKey] {
        paths.sorted { $0.bytes.lexicographicallyPrecedes($1.bytes) }
    }

    /// Watches `root` and reads it in full; a root that is not a folder (or cannot be watched) is
    /// looked for again every second.
    private mutating func watchRoot(_ root: PathKey) {
        guard let identity = FolderIdentity(root.path), addTree(root.path) else {
            missing.insert(root)
            return
        }
        missing.remove(root)
        rootIdentity[root] = identity
        noted.note(root.path, .folder)
    }

    /// Once a second: roots missing and now back are watched and read in full; roots whose path
    /// names another folder than the one watched (or none) are dropped, read again and looked for.
    mutating func lookForMissingRoots() {
        for (root, identity) in rootIdentity where FolderIdentity(root.path) != identity {
            dropRoot(root)
        }
        for root in Self.sorted(missing) {
            watchRoot(root)
        }
    }

    /// `root` no longer names what is watched: its watches go, its files are read again (gone, they
    /// leave), and it is looked for.
    private mutating func dropRoot(_ root: PathKey) {
        removeTree(root.path)
        // Roots inside it lost their watches with it.
        for inner in rootIdentity.keys where PathBytes.isInside(inner.path, root.path) {
            rootIdentity[inner] = nil
            missing.insert(inner)
        }
        noted.note(root.path, .folder)
    }

    /// Watches `top` and every folder below it that is not hidden or ignored, without recursion;
    /// false when `top` itself could not be watched.
    @discardableResult
    mutating func addTree(_ top: String) -> Bool {
        guard watchFolder(top) else { return false }
        var pending = subfolders(of: top)
        while let folder = pending.popLast() {
            guard watchFolder(folder) else { continue }
            pending.append(contentsOf: subfolders(of: folder))
        }
        return true
    }

    /// Adds one folder's watch; false when it has none (gone, unreadable, or a limit reached).
    private mutating func watchFolder(_ path: String) -> Bool {
        let folder = PathKey(path)
        if let limit = configuration.folderLimit, watchOfPath[folder] == nil, watchOfPath.count >= limit {
            noteUnwatched(folder, "MCP_RAG_WATCH_FOLDER_LIMIT (\(limit) folders) is reached; raise it")
            return false
        }
        let watch = inotify_add_watch(descriptor, path, Self.mask)
        guard watch >= 0 else {
            if errno == ENOSPC {
                let limit = (try? String(contentsOfFile: "/proc/sys/fs/inotify/max_user_watches", encoding: .utf8))?
                    .trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
                noteUnwatched(folder, "the system's inotify watch limit (fs.inotify.max_user_watches = \(limit), shared by "
                    + "every program of this user) is reached; raise it (sudo sysctl fs.inotify.max_user_watches=524288)")
            }
            return false
        }
        unwatched.remove(folder)
        // The same folder under another path (its parent moved unseen): the live path wins.
        if let stale = pathOfWatch[watch], stale != folder { watchOfPath[stale] = nil }
        if let old = watchOfPath[folder], old != watch { pathOfWatch[old] = nil }
        pathOfWatch[watch] = folder
        watchOfPath[folder] = watch
        return true
    }

    private mutating func noteUnwatched(_ folder: PathKey, _ reason: String) {
        unwatched.insert(folder)
        if limitReason == nil { limitReason = reason }
    }

    /// The folders directly inside `folder` to watch.
    private func subfolders(of folder: String) -> [String] {
        guard let directory = opendir(folder) else { return [] }
        defer { closedir(directory) }
        var found: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { Array($0.prefix(while: { $0 != 0 })) }
            guard isWatchable(name), let text = String(validating: name, as: UTF8.self) else { continue }
            let path = PathBytes.join(folder, text)
            switch Int(entry.pointee.d_type) {
            case Int(DT_DIR): found.append(path)
            case Int(DT_UNKNOWN):
                var status = stat()
                if lstat(path, &status) == 0, status.st_mode & S_IFMT == S_IFDIR { found.append(path) }
            default: break
            }
        }
        return found
    }

    private func isWatchable(_ name: [UInt8]) -> Bool {
        !name.isEmpty && name.first != UInt8(ascii: ".") && !configuration.ignoredFolderNames.contains(name)
    }

    /// Reads what inotify has and notes the paths it names.
    mutating func readEvents() {
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        // The two halves of a rename are queued together, but a read may end between them.
        var movedAway: [UInt32: (path: String, kind: FolderChanges.Kind)] = [:]
        // A bounded number of reads, so that a stream of events that never pauses still lets the
        // thread hand over what it has and look at its roots.
        for _ in 0..<64 {
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            guard count > 0 else { return }
            var events: [(watch: Int32, mask: UInt32, cookie: UInt32, name: [UInt8])] = []
            buffer.withUnsafeBytes { raw in
                var offset = 0
                while offset + 16 <= count {
                    let watch = raw.loadUnaligned(fromByteOffset: offset, as: Int32.self)
                    let mask = raw.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self)
                    let cookie = raw.loadUnaligned(fromByteOffset: offset + 8, as: UInt32.self)
                    let length = Int(raw.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self))
                    let name = Array(raw[(offset + 16)..<min(offset + 16 + length, count)].prefix(while: { $0 != 0 }))
                    events.append((watch, mask, cookie, name))
                    offset += 16 + length
                }
            }
            for event in events { handle(event.watch, event.mask, event.cookie, event.name, movedAway: &movedAway) }
        }
    }

    private mutating func handle(_ watch: Int32, _ mask: UInt32, _ cookie: UInt32, _ name: [UInt8],
                                 movedAway: inout [UInt32: (path: String, kind: FolderChanges.Kind)]) {
        if mask & UInt32(IN_Q_OVERFLOW) != 0 {
            // Events were lost, folders created among them too: every tree is walked again (a folder
            // already watched keeps its watch, a new one gets one) and read again. No watch is
            // removed here: each removal queues an event of its own, and thousands of them could
            // overflow the queue again.
            overflows += 1
            for (path, watch) in watchOfPath where FolderIdentity(path.path) == nil { forget(path: path, watch: watch) }
            for root in Self.sorted(roots) where rootIdentity[root] != nil {
                addTree(root.path)
                noted.note(root.path, .folder)
            }
            return
        }
        guard let folderKey = pathOfWatch[watch] else { return }
        let folder = folderKey.path
        if mask & UInt32(IN_IGNORED) != 0 {
            forget(path: folderKey, watch: watch)
            // A root's watch gone (deleted, unmounted): its files are read again, and it is looked for.
            if rootIdentity[folderKey] != nil { dropRoot(folderKey) }
            return
        }
        if mask & UInt32(IN_DELETE_SELF | IN_MOVE_SELF) != 0 {
            // Inner folders are named by their parent's event; a root has no watched parent.
            if rootIdentity[folderKey] != nil { dropRoot(folderKey) }
            return
        }
        guard isWatchable(name), let text = String(validating: name, as: UTF8.self) else { return }
        let path = PathBytes.join(folder, text)
        let kind: FolderChanges.Kind = mask & UInt32(IN_ISDIR) != 0 ? .folder : .file
        // A file created is named when its writer closes it; a link made (`ln`, `ln -s`) is never
        // written, so it is named now.
        if kind == .file && mask & UInt32(IN_CREATE) != 0 {
            var status = stat()
            guard lstat(path, &status) == 0 else { return }
            switch status.st_mode & S_IFMT {
            case S_IFLNK: noted.note(path, Self.isFolder(path) ? .folder : .file)
            case S_IFREG where status.st_nlink > 1: noted.note(path, .file)
            default: break
            }
            return
        }
        if kind == .folder {
            if mask & UInt32(IN_MOVED_FROM) != 0 {
                // Its watches would go on naming the old paths.
                removeTree(path)
            } else if mask & UInt32(IN_CREATE | IN_MOVED_TO) != 0 {
                addTree(path)
            }
        }
        if mask & UInt32(IN_MOVED_FROM) != 0 { movedAway[cookie] = (path, kind) }
        if mask & UInt32(IN_MOVED_TO) != 0, let old = movedAway.removeValue(forKey: cookie) {
            noted.noteRename(from: old.path, to: path, kind)
        } else {
            noted.note(path, kind)
        }
    }

    /// Drops the watches of `top` and of every folder below it.
    private mutating func removeTree(_ top: String) {
        for (path, watch) in watchOfPath where PathBytes.isInside(path.path, top) {
            inotify_rm_watch(descriptor, watch)
            forget(path: path, watch: watch)
        }
        unwatched = unwatched.filter { !PathBytes.isInside($0.path, top) }
    }

    private mutating func forget(path: PathKey, watch: Int32) {
        if pathOfWatch[watch] == path { pathOfWatch[watch] = nil }
        if watchOfPath[path] == watch { watchOfPath[path] = nil }
    }

    static func isFolder(_ path: String) -> Bool {
        var status = stat()
        return stat(path, &status) == 0 && status.st_mode & S_IFMT == S_IFDIR
    }
}
#endif

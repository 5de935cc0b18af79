import Blocking
import BytePaths
import Dispatch
import FolderWatch
import Foundation
import Logging
import SQLiteLedger
import Synchronization

/// Keeps the ingested folders in sync while a server runs (`serve --watch`).
///
/// Of the processes sharing a data folder, the one holding its watch lock watches; the others
/// wait for the lock (a second apart) and meanwhile see the holder's writes as they see any other
/// process's. The holder watches every recorded folder (`FolderRecord`: each folder ingested),
/// reads them in full once at start (catching up on what changed while nothing watched: an
/// unchanged file costs one read), then applies each settled batch of changes through the
/// knowledge base in one writer's turn. A batch that fails for a reason that passes (the embeddings
/// API away) is put back and tried again, later and later, so nothing is lost; a path that cannot be
/// read is left out, with its reason in `health_check`, and the rest applies. The recorded folders
/// are read again after every ingest here and every two seconds (another process may have ingested
/// a folder).
final class FolderSync: Sendable {
    /// What one applied batch did.
    struct Outcome: Sendable {
        var filesWritten = 0
        var sourcesRemoved = 0
        var passagesAdded = 0
        /// Paths left out, each with why (a folder that cannot be read, one past the file limit).
        var problems: [String] = []

        mutating func add(_ report: IngestReport) {
            filesWritten += report.filesWritten
            passagesAdded += report.chunksAdded
            sourcesRemoved += report.sourcesRemoved.count
        }
    }

    /// The recorded folders, and those this process may not read, by path, with why.
    struct Folders: Sendable {
        var records: [FolderRecord] = []
        var refused: [PathKey: String] = [:]

        /// The folders this process watches.
        var usable: [FolderRecord] { records.filter { refused[PathKey($0.path)] == nil } }
    }

    /// Where the watching stands.
    enum Phase: Sendable, Equatable {
        case starting
        /// Another process holds the lock (its process id, when it wrote one).
        case waitingForLock(holder: Int32?)
        case watching
        /// No watcher could be made: why.
        case unavailable(String)
    }

    private struct State {
        var phase = Phase.starting
        var folders = Folders()
        /// Set once `run` has ended: nothing waits for a sync any more.
        var ended = false
        var watcher = TreeWatcher.Status()
        var syncs = 0
        var inFlight = 0
        var lastSync: (at: Date, outcome: Outcome, seconds: Double)?
        var lastError: String?
        var syncWaiters: [CheckedContinuation<Void, Never>] = []
    }

    let queue = ChangeQueue()
    private let lock: WatchLock
    private let watcherConfiguration: TreeWatcher.Configuration
    private let state = Mutex(State())
    private let reloadWanted = Atomic<Bool>(false)
    private let logger: Logger

    init(lockPath: String, folderLimit: Int?, logger: Logger) {
        lock = WatchLock(path: lockPath)
        watcherConfiguration = TreeWatcher.Configuration(ignoredFolderNames: FileWalker.skippedFolders, folderLimit: folderLimit)
        self.logger = logger
    }

    /// Asks for the recorded folders to be read again (an ingest recorded one).
    func foldersChanged() {
        reloadWanted.store(true, ordering: .relaxed)
        queue.tick()
    }

    /// Batches applied so far.
    var syncCount: Int { state.withLock { $0.syncs } }

    /// Returns once more than `count` batches have been applied (or at once if they have).
    func waitForSync(after count: Int) async {
        await withCheckedContinuation { continuation in
            let resumeNow = state.withLock { state in
                if state.syncs > count || state.ended { return true }
                state.syncWaiters.append(continuation)
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }

    /// Watches until cancelled. `folders` reads the recorded folders; `apply` applies a batch.
    func run(folders: @escaping @Sendable () async throws -> Folders,
             apply: @escaping @Sendable (FolderChanges) async throws -> Outcome) async {
        defer {
            let waiters = state.withLock { state in
                state.ended = true
                defer { state.syncWaiters.removeAll() }
                return state.syncWaiters
            }
            for waiter in waiters { waiter.resume() }
        }
        var announcedWait = false
        // The lock file's calls and the watcher's start read and write files: off the cooperative pool.
        let lock = self.lock
        while !((try? await BlockingExecutor.run { lock.tryAcquire() }) ?? false) {
            let holder = try? await BlockingExecutor.run { lock.holder() }
            // For health_check, which lists the folders and who watches them.
            let read = try? await folders()
            state.withLock { state in
                state.phase = .waitingForLock(holder: holder)
                if let read { state.folders = read }
            }
            if !announcedWait {
                logger.info("another process watches this data folder's folders; this one takes over if it ends",
                            metadata: ["rag.watch.holder": "\(holder.map(String.init) ?? "unknown")"])
                announcedWait = true
            }
            do { try await Task.sleep(for: .seconds(1)) } catch { return }
        }
        defer { lock.release() }
        let watcher: TreeWatcher
        do {
            let (queue, configuration) = (self.queue, watcherConfiguration)
            watcher = try await BlockingExecutor.run { try TreeWatcher(queue: queue, configuration: configuration) }
        } catch {
            state.withLock { $0.phase = .unavailable(ClientError(error).message) }
            logger.warning("folders cannot be watched", metadata: ["rag.watch.error": "\(error)"])
            return
        }
        watcher.start()
        defer { watcher.stop() }
        state.withLock { $0.phase = .watching }
        await reload(watcher, folders: folders)
        var lastReload = DispatchTime.now().uptimeNanoseconds
        var failures = 0
        var overflows = 0
        for await _ in queue.wakeups {
            let status = watcher.status
            state.withLock { $0.watcher = status }
            if status.overflows > overflows {
                overflows = status.overflows
                logger.notice("the kernel's queue of file events overflowed; the watched folders are read again",
                              metadata: ["rag.watch.overflows": "\(overflows)"])
            }
            let now = DispatchTime.now().uptimeNanoseconds
            if reloadWanted.exchange(false, ordering: .relaxed) || now - lastReload >= 2_000_000_000 {
                await reload(watcher, folders: folders)
                lastReload = now
            }
            guard let changes = await queue.settled() else { continue }
            state.withLock { $0.inFlight = changes.count }
            let start = DispatchTime.now().uptimeNanoseconds
            do {
                let outcome = try await apply(changes)
                failures = 0
                finished(outcome, seconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
            } catch {
                queue.putBack(changes)
                state.withLock {
                    $0.inFlight = 0
                    $0.lastError = ClientError(error).message
                }
                if Task.isCancelled { break }
                failures += 1
                let delay = min(60, 1 << min(failures - 1, 6))
                logger.warning("watched changes could not be applied; they are tried again", metadata: [
                    "rag.watch.error": "\(error)", "rag.watch.pending": "\(changes.count)", "rag.watch.retry_s": "\(delay)",
                ])
                do { try await Task.sleep(for: .seconds(delay)) } catch { break }
            }
        }
    }

    private func finished(_ outcome: Outcome, seconds: Double) {
        let waiters = state.withLock { state in
            state.inFlight = 0
            state.syncs += 1
            state.lastSync = (Date(), outcome, seconds)
            state.lastError = outcome.problems.first.map { first in
                "\(outcome.problems.count) path\(outcome.problems.count == 1 ? " was" : "s were") left out; the first: \(first)"
            }
            defer { state.syncWaiters.removeAll() }
            return state.syncWaiters
        }
        for waiter in waiters { waiter.resume() }
        for problem in outcome.problems {
            logger.warning("a watched path was left out", metadata: ["rag.watch.problem": "\(problem)"])
        }
        if outcome.filesWritten + outcome.sourcesRemoved > 0 {
            logger.info("watched folders synced", metadata: [
                "rag.watch.written": "\(outcome.filesWritten)", "rag.watch.removed": "\(outcome.sourcesRemoved)",
                "rag.watch.seconds": "\(seconds)",
            ])
        }
    }

    /// Reads the recorded folders and watches those this process may read (the last ones read
    /// stay watched when the store cannot be read).
    private func reload(_ watcher: TreeWatcher, folders: @Sendable () async throws -> Folders) async {
        guard let read = try? await folders() else { return }
        watcher.watch(roots: read.usable.map(\.path))
        state.withLock { $0.folders = read }
    }

    /// The watch's part of `health_check`: its state as a dependency, and each folder's.
    func health() -> (DependencyHealth, [WatchedFolderHealth]) {
        let pending = queue.count
        return state.withLock { state in
            var facts: [String: String] = [
                "folders": "\(state.folders.records.count)", "pending": "\(pending + state.inFlight)", "syncs": "\(state.syncs)",
                "watched_subfolders": "\(state.watcher.watchedFolders)", "event_overflows": "\(state.watcher.overflows)",
            ]
            if let last = state.lastSync {
                facts["last_sync"] = ISO8601DateFormatter().string(from: last.at)
                facts["last_sync_files_written"] = "\(last.outcome.filesWritten)"
                facts["last_sync_sources_removed"] = "\(last.outcome.sourcesRemoved)"
                facts["last_sync_seconds"] = String(format: "%.3f", last.seconds)
            }
            if let error = state.lastError { facts["last_error"] = error }
            let missing = Set(state.watcher.missingRoots.map { PathKey($0) })
            let folders = state.folders.records.map { record -> WatchedFolderHealth in
                let folderState = switch state.phase {
                case .watching:
                    state.folders.refused[PathKey(record.path)] ?? (missing.contains(PathKey(record.path))
                        ? "missing: its files left the knowledge base; it is read again when it is back" : WatchedFolderHealth.watching)
                case .waitingForLock(let holder): "watched by another process (\(holder.map { "pid \($0)" } ?? "unknown"))"
                case .starting: "starting"
                case .unavailable: "not watched"
                }
                return WatchedFolderHealth(path: record.path, label: record.technology, state: folderState)
            }
            let dependency: DependencyHealth
            switch state.phase {
            case .starting:
                facts["watching"] = "no"
                dependency = DependencyHealth(status: .healthy, detail: "starting to watch", facts: facts)
            case .waitingForLock(let holder):
                facts["watching"] = "no"
                dependency = DependencyHealth(status: .healthy, detail: "another process (\(holder.map { "pid \($0)" } ?? "unknown")) "
                    + "watches this data folder's folders; this one sees its writes, and takes over if it ends", facts: facts)
            case .unavailable(let reason):
                facts["watching"] = "no"
                dependency = DependencyHealth(status: .degraded, detail: "folders are not watched: \(reason)", facts: facts)
            case .watching:
                facts["watching"] = "yes"
                if let warning = state.watcher.limitWarning {
                    facts["unwatched_subfolders"] = "\(state.watcher.unwatchedFolders)"
                    dependency = DependencyHealth(status: .degraded, detail: warning, facts: facts)
                } else if let error = state.lastError {
                    dependency = DependencyHealth(status: .degraded, detail: "the last changes were not all applied: \(error)",
                                                  facts: facts)
                } else {
                    dependency = DependencyHealth(status: .healthy, detail: "\(state.folders.usable.count) folders kept in sync",
                                                  facts: facts)
                }
            }
            return (dependency, folders)
        }
    }
}

/// A recorded folder as `health_check` shows it.
public struct WatchedFolderHealth: Sendable, Codable, Equatable {
    public var path: String
    public var label: String
    /// "watching", "missing: …", "not watched: …", or who watches it.
    public var state: String

    static let watching = "watching"

    /// The folders a `health_check` answer lists: those that need attention first (so that what
    /// is left out, when the last one listed is watched, is watched too), as many as fit in the
    /// answer's share of `AnswerBudget`, and how many were left out. A data folder can record
    /// thousands of folders.
    static func listed(_ folders: [WatchedFolderHealth]) -> (kept: [WatchedFolderHealth], omitted: Int) {
        let needAttention = folders.filter { $0.state != watching }
        let ordered = needAttention + folders.filter { $0.state == watching }
        return AnswerBudget.prefix(ordered, maxBytes: AnswerBudget.listBytes) {
            AnswerBudget.perCopy($0.path) + AnswerBudget.perCopy($0.label) + AnswerBudget.perCopy($0.state) + 40
        }
    }
}

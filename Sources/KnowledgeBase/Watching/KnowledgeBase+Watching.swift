import Blocking
import BytePaths
import FolderWatch
import Foundation
import SQLiteLedger

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension KnowledgeBase {
    /// Files given to one ingest of a watched batch, at most: the walk refuses more than
    /// `MCP_RAG_MAX_FILES` entries, and a `git checkout` may touch more.
    static let filesPerWatchedIngest = 1_000

    /// Records the folders among `request`'s paths, so that `serve --watch` keeps them in sync.
    static func recordFolders(of request: IngestRequest, confined: Bool, in engine: KnowledgeBaseEngine) async throws {
        let store = engine.store
        let technology = try TechnologyLabel.validate(request.technology)
        try await BlockingExecutor.run {
            for path in request.paths where FileWalker.type(of: path) == S_IFDIR {
                guard let resolved = PathBytes.resolve(path) else { continue }
                try store.recordFolder(FolderRecord(path: resolved, technology: technology, confined: confined))
            }
        }
    }

    /// Watched batches applied so far; nil when this knowledge base does not watch (for `mcp-rag bench watch`).
    package var watchedSyncCount: Int? { folderSync?.syncCount }

    /// Returns once more than `count` watched batches have been applied (at once without a watch).
    package func waitForWatchedSync(after count: Int) async {
        await folderSync?.waitForSync(after: count)
    }

    /// Keeps the recorded folders in sync until cancelled (see `FolderSync`).
    func watchFolders(_ sync: FolderSync, engine: KnowledgeBaseEngine) async {
        await sync.run(folders: { try await Self.watchableFolders(engine) },
                       apply: { [self] changes in try await applyFolderChanges(changes, engine: engine) })
    }

    /// The recorded folders, and those of them this process may not read, with why: a folder a
    /// client ingested is read only while it is inside the allowed folders.
    static func watchableFolders(_ engine: KnowledgeBaseEngine) async throws -> FolderSync.Folders {
        let store = engine.store
        let records = try await BlockingExecutor.run { try store.folders() }
        var refused: [PathKey: String] = [:]
        for record in records where record.confined && !engine.allowedRoots.contains(record.path) {
            refused[PathKey(record.path)] = "not watched: a client ingested it, and it is outside the allowed folders now"
        }
        return FolderSync.Folders(records: records, refused: refused)
    }

    /// Applies one settled batch of changes in one writer's turn: the files and folders that are
    /// there are ingested under the label of the watched folder holding them (a renamed file keeps
    /// its vectors), those gone are forgotten. The folders are read inside the turn, so a removal or
    /// an ingest that came first is seen.
    ///
    /// A failure that passes (the embeddings API away, the model still loading) throws, and the batch
    /// is tried again; a path that cannot be read (a folder of another user, one past the file limit)
    /// is left out with its reason in the outcome, and the rest of the batch applies.
    func applyFolderChanges(_ changes: FolderChanges, engine: KnowledgeBaseEngine) async throws -> FolderSync.Outcome {
        let ingestor = engine.ingestor
        let allowedRoots = engine.allowedRoots
        let outcome = try await writers.run { () -> FolderSync.Outcome in
            let folders = try await Self.watchableFolders(engine).usable
            let plan = try await BlockingExecutor.run { FolderSyncPlan.make(changes, folders: folders) }
            var outcome = FolderSync.Outcome()
            for part in plan.parts {
                var request = IngestRequest(paths: [], technology: part.folder.technology, pruneMissing: true,
                                            allowedRoots: part.folder.confined ? allowedRoots : nil)
                request.excludedFolders = part.excluded
                request.sendsVectorsLater = true
                request.formerPath = { changes.formerPath(of: $0) }
                var start = 0
                while start < part.ingest.count {
                    let paths = Array(part.ingest[start..<min(start + Self.filesPerWatchedIngest, part.ingest.count)])
                    start += paths.count
                    do {
                        request.paths = paths
                        outcome.add(try await ingestor.ingest(request))
                    } catch where !Self.passesOnItsOwn(error) {
                        // One path at a time, so one that cannot be read holds none of the others back.
                        var vanished: [String] = []
                        for path in paths {
                            request.paths = [path]
                            do {
                                outcome.add(try await ingestor.ingest(request))
                            } catch where !Self.passesOnItsOwn(error) {
                                if try await BlockingExecutor.run({ FileWalker.type(of: path) }) == 0 {
                                    vanished.append(path)
                                } else {
                                    // A refusal in its own words: these are no tool call's arguments.
                                    let reason = (error as? InvalidRequest)?.description ?? ClientError(error).message
                                    outcome.problems.append("\(path): \(reason)")
                                }
                            }
                        }
                        // Gone since the batch was planned: forgotten as the plan forgets.
                        let folders = vanished.filter { changes.kind(of: $0) == .folder }
                        let files = vanished.filter { changes.kind(of: $0) != .folder }
                        outcome.sourcesRemoved += try await ingestor.forget(files: files, folders: folders).count
                    }
                }
                outcome.sourcesRemoved += try await ingestor.forget(files: part.forgetFiles, folders: part.forgetFolders).count
            }
            return outcome
        }
        metrics.ingested(files: outcome.filesWritten, passages: outcome.passagesAdded)
        return outcome
    }

    /// Whether `error` passes on its own, so the batch is worth trying again as it is: the
    /// embeddings API away, the model still loading, the store held by another process's writer
    /// past the busy timeout, shutting down.
    static func passesOnItsOwn(_ error: any Error) -> Bool {
        switch error {
        case let stopped as IngestStopped: stopped.passesOnItsOwn
        case let store as SQLiteError: store.isBusy
        case is EmbeddingUnavailable, is CancellationError: true
        default: false
        }
    }
}

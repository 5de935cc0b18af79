import Blocking
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
        let store = engine.store
        await sync.run(allowedRoots: engine.allowedRoots,
                       folders: { try await BlockingExecutor.run { try store.folders() } },
                       apply: { [self] changes, folders in try await applyFolderChanges(changes, folders: folders, engine: engine) })
    }

    /// Applies one settled batch of changes under the watched `folders` in one writer's turn: the
    /// files and folders that are there are ingested under their folder's label (a renamed file
    /// keeps its vectors), those gone are forgotten.
    func applyFolderChanges(_ changes: FolderChanges, folders: [FolderRecord],
                            engine: KnowledgeBaseEngine) async throws -> FolderSync.Outcome {
        let plan = try await BlockingExecutor.run { FolderSyncPlan.make(changes, folders: folders) }
        guard !plan.isEmpty else { return FolderSync.Outcome() }
        let ingestor = engine.ingestor
        let allowedRoots = engine.allowedRoots
        let outcome = try await writers.run { () -> FolderSync.Outcome in
            var outcome = FolderSync.Outcome()
            for part in plan.parts {
                var start = 0
                while start < part.ingest.count {
                    let paths = Array(part.ingest[start..<min(start + Self.filesPerWatchedIngest, part.ingest.count)])
                    start += paths.count
                    var request = IngestRequest(paths: paths, technology: part.folder.technology, pruneMissing: true,
                                                allowedRoots: part.folder.confined ? allowedRoots : nil)
                    request.excludedFolders = part.excluded
                    request.formerPath = { changes.formerPath(of: $0) }
                    let report = try await ingestor.ingest(request)
                    outcome.filesWritten += report.filesWritten
                    outcome.passagesAdded += report.chunksAdded
                    outcome.sourcesRemoved += report.sourcesRemoved.count
                }
                outcome.sourcesRemoved += try await ingestor.forget(files: part.forgetFiles, folders: part.forgetFolders).count
            }
            return outcome
        }
        metrics.ingested(files: outcome.filesWritten, passages: outcome.passagesAdded)
        return outcome
    }
}

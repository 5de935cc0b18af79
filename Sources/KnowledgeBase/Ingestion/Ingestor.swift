import Blocking
import BytePaths
import Chroma
import Dispatch
import Embeddings
import EmbeddingsAPI
import Foundation
import Logging
import Resilience
import SQLiteLedger
import Storage

/// Reads files into the knowledge base: load, chunk, embed what is new, write each file in one
/// transaction.
///
/// Unchanged files (same bytes, same label) are recognised by their hash and cost one read.
/// Chunks whose id is already stored reuse their vector, so editing one paragraph re-embeds one
/// chunk; with Chroma, so do chunks the collection holds, whoever embedded them. Embedding runs in
/// small bulk batches through `EmbeddingService` (see `PendingWrites`), so a query arriving
/// mid-ingest waits for at most one batch.
public final class Ingestor: Sendable {
    private let store: SQLiteKnowledgeStore
    private let embeddings: EmbeddingService
    private let cache: any ResultCache
    /// A remote vector store fed from the store's outbox after each write; nil for the embedded one.
    private let remoteVectors: ChromaVectorStore?
    private let maxFileBytes: Int
    private let maxFiles: Int
    private let logger: Logger

    /// Set when the stored vectors belong to another model: ingests are then refused.
    private let modelState: VectorModelState

    package init(store: SQLiteKnowledgeStore, embeddings: EmbeddingService, cache: any ResultCache,
                remoteVectors: ChromaVectorStore? = nil, maxFileBytes: Int, maxFiles: Int,
                modelState: VectorModelState = VectorModelState(), logger: Logger) {
        self.modelState = modelState
        self.store = store
        self.embeddings = embeddings
        self.cache = cache
        self.remoteVectors = remoteVectors
        self.maxFileBytes = maxFileBytes
        self.maxFiles = maxFiles
        self.logger = logger
    }

    /// Ingests `request`, reporting progress after each file. Cancelling the calling task stops
    /// it between batches: files already written stay written, the rest are untouched.
    public func ingest(_ request: IngestRequest,
                       progress: @escaping @Sendable (IngestProgress) async -> Void = { _ in }) async throws -> IngestReport {
        let start = DispatchTime.now().uptimeNanoseconds
        if let mismatch = modelState.current { throw mismatch }
        let technology = try TechnologyLabel.validate(request.technology)
        let walker = FileWalker(maxFiles: maxFiles, roots: request.allowedRoots, excluded: request.excludedFolders)
        let listing = try await BlockingExecutor.run { try walker.walk(request.paths) }
        let files = listing.files
        let preparer = FilePreparer(store: store, technology: technology, maxFileBytes: maxFileBytes,
                                    chunker: try await embeddings.model().passageChunker(fillingWindow: false))
        var report = IngestReport()
        report.filesScanned = files.count + listing.skipped.count
        for skipped in listing.skipped { skip(skipped, in: &report) }
        var pending = PendingWrites()
        var embedded = 0

        do {
            for (index, path) in files.enumerated() {
                try Task.checkCancellation()
                await progress(IngestProgress(filesDone: index, filesTotal: files.count, chunksEmbedded: embedded, currentFile: path))
                let cancellation = CancellationFlag()
                let outcome = try await withTaskCancellationHandler {
                    try await BlockingExecutor.run {
                        try preparer.prepare(path, confinedTo: request.allowedRoots, formerPath: request.formerPath(path),
                                             cancellation: cancellation)
                    }
                } onCancel: {
                    cancellation.set()
                }
                switch outcome {
                case .unchanged:
                    report.filesUnchanged += 1
                case .skipped(let reason):
                    skip(SkippedFile(path: path, reason: reason), in: &report)
                case .ready(let file):
                    pending.append(file)
                }
                if pending.isFull { embedded += try await flush(&pending, into: &report, sendsVectorsLater: request.sendsVectorsLater) }
            }
            embedded += try await flush(&pending, into: &report, sendsVectorsLater: request.sendsVectorsLater)
        } catch let error as EmbeddingsAPIError {
            throw IngestStopped(filesWritten: report.filesWritten, reason: error, passesOnItsOwn: error.isTransient)
        } catch let error as CircuitOpenError {
            throw IngestStopped(filesWritten: report.filesWritten, reason: error, passesOnItsOwn: true)
        }
        report.chunksEmbedded = embedded
        if request.pruneMissing {
            // File-system reads (a network mount may be slow): off the cooperative pool.
            let paths = request.paths
            let folders = try await BlockingExecutor.run {
                paths.filter { FileWalker.type(of: $0) == S_IFDIR }.map { PathBytes.resolve($0) ?? $0 }
            }
            if !folders.isEmpty {
                let removal = try await remove(under: folders, onlyMissing: true)
                report.sourcesRemoved += removal.sources
                report.chunksRemoved += removal.chunks
            }
        }
        await compactKeywordIndex()
        report.seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        await progress(IngestProgress(filesDone: files.count, filesTotal: files.count, chunksEmbedded: embedded, currentFile: nil))
        logger.info("ingest finished", metadata: [
            "rag.ingest.files": "\(report.filesScanned)", "rag.ingest.written": "\(report.filesWritten)",
            "rag.ingest.embedded": "\(embedded)", "rag.ingest.seconds": "\(report.seconds)",
        ])
        return report
    }

    private func skip(_ file: SkippedFile, in report: inout IngestReport) {
        report.filesSkipped.append(file)
        logger.warning("skipped a file", metadata: ["rag.ingest.path": "\(file.path)", "rag.ingest.reason": "\(file.reason)"])
    }

    /// Embeds and writes the pending files; returns chunks embedded. Cached answers are dropped
    /// after each write that changed a source (its chunks, their label or their pages), so none
    /// outlives what it came from, even when the ingest is cancelled or fails later.
    private func flush(_ pending: inout PendingWrites, into report: inout IngestReport,
                       sendsVectorsLater: Bool) async throws -> Int {
        let remoteVectors = self.remoteVectors
        let outcome = try await pending.flush(embeddings: embeddings, store: store,
                                              storedElsewhere: remoteVectors.map { remote in { await remote.storedVectors(ids: $0) } })
        if outcome.sourcesWritten > 0 { await cache.removeAll() }
        try await syncRemoteVectors(orLater: sendsVectorsLater)
        report.filesWritten += outcome.sourcesWritten
        report.chunksAdded += outcome.chunks.added
        report.chunksRemoved += outcome.chunks.removed
        report.chunksUnchanged += outcome.chunks.unchanged
        return outcome.chunksEmbedded
    }

    /// Forgets `path`: the source of that name, or every source under it when it is a folder.
    public func remove(_ path: String) async throws -> (sources: [String], chunks: Int) {
        let store = self.store
        if let removed = try await BlockingExecutor.run({ try store.removeSource(path) }) {
            try await afterRemoving([path])
            return ([path], removed)
        }
        return try await remove(under: [path], onlyMissing: false)
    }

    /// Forgets the sources of `files` (each by its name) and every source under `folders`, reading
    /// the list of sources once at most: a batch of thousands of deleted files must not read it
    /// thousands of times. Returns the sources removed.
    func forget(files: [String], folders: [String]) async throws -> [String] {
        let store = self.store
        var removed = try await BlockingExecutor.run {
            try files.filter { try store.removeSource($0) != nil }
        }
        if !folders.isEmpty { removed += try await removeSources(under: folders, onlyMissing: false).sources }
        try await afterRemoving(removed, sendingLater: true)
        return removed
    }

    /// Removes the sources below any of `folders` (only those whose files are gone, if asked).
    private func remove(under folders: [String], onlyMissing: Bool) async throws -> (sources: [String], chunks: Int) {
        let result = try await removeSources(under: folders, onlyMissing: onlyMissing)
        try await afterRemoving(result.sources)
        return result
    }

    /// The store's part of `remove(under:onlyMissing:)`: the sources removed and their chunks.
    private func removeSources(under folders: [String], onlyMissing: Bool) async throws -> (sources: [String], chunks: Int) {
        let store = self.store
        return try await BlockingExecutor.run { () -> (sources: [String], chunks: Int) in
            var removed: [String] = []
            var chunks = 0
            for source in try store.listSources() where folders.contains(where: { PathBytes.isInside(source.source, $0) }) {
                if onlyMissing && FileManager.default.fileExists(atPath: source.source) { continue }
                if let count = try store.removeSource(source.source) {
                    removed.append(source.source)
                    chunks += count
                }
            }
            return (removed, chunks)
        }
    }

    /// After sources were removed (none: nothing to do): cached answers are dropped and the remote
    /// vector store is told (see `syncRemoteVectors` for `sendingLater`).
    private func afterRemoving(_ sources: [String], sendingLater: Bool = false) async throws {
        guard !sources.isEmpty else { return }
        await cache.removeAll()
        // The remote store first: until it hears, its searches still find what was removed.
        try await syncRemoteVectors(orLater: sendingLater)
        await compactKeywordIndex()
    }

    /// Merges the keyword index when enough text changed (see `SQLiteKnowledgeStore.compactKeywordIndex`).
    /// The change itself is saved already: a failure costs only keyword search speed, so it is logged;
    /// cancelling stops the merge between steps, and the next change goes on with it.
    private func compactKeywordIndex() async {
        let store = self.store
        let cancellation = CancellationFlag()
        let start = DispatchTime.now().uptimeNanoseconds
        do {
            let outcome = try await withTaskCancellationHandler {
                try await BlockingExecutor.run { try store.compactKeywordIndex(shouldStop: { cancellation.isSet }) }
            } onCancel: {
                cancellation.set()
            }
            let seconds = "\(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)"
            switch outcome {
            case .notDue:
                break
            case .merged(let steps):
                logger.info("keyword index compacted", metadata: ["rag.fts.steps": "\(steps)", "rag.fts.seconds": "\(seconds)"])
            case .interrupted(let steps):
                logger.info("keyword index compaction stopped; the next change goes on with it",
                            metadata: ["rag.fts.steps": "\(steps)", "rag.fts.seconds": "\(seconds)"])
            }
        } catch {
            logger.warning("the keyword index was not compacted; searches stay correct, if slower", metadata: ["rag.fts.error": "\(error)"])
        }
    }

    /// Sends what the store's outbox holds to the remote vector store, if there is one; its failure
    /// says what was kept and how to finish, or with `orLater`, is logged: a running server sends
    /// what waits once the store answers.
    private func syncRemoteVectors(orLater: Bool = false) async throws {
        guard let remoteVectors else { return }
        do {
            _ = try await remoteVectors.sync()
        } catch {
            let unavailable = VectorStoreUnavailable(pending: await remoteVectors.pendingCount(), underlying: error)
            // The log has the whole error; the client, its words for it.
            logger.warning("vectors wait for the vector store", metadata: ["rag.chroma.error": "\(error)"])
            guard orLater else { throw unavailable }
        }
    }
}

/// An ingest stopped because the embeddings API failed: what was written before stays, the rest is
/// untouched, and the same ingest finishes it.
public struct IngestStopped: Error, CustomStringConvertible, Sendable {
    public let filesWritten: Int
    public let reason: String
    /// Whether the failure passes on its own (the API away, overloaded), so that the same ingest
    /// later finishes; else the API refused what it was sent and would refuse it again.
    public let passesOnItsOwn: Bool

    init(filesWritten: Int, reason: any Error, passesOnItsOwn: Bool) {
        self.filesWritten = filesWritten
        self.reason = String(describing: reason)
        self.passesOnItsOwn = passesOnItsOwn
    }

    public var description: String {
        let kept = "\(filesWritten) files were written before it did and the others are unchanged"
        if passesOnItsOwn {
            return "the ingest stopped: \(reason). \(kept); run the same ingest again once the API answers to finish it "
                + "(files already written cost one read)"
        }
        return "the ingest stopped: \(reason). \(kept); the API would refuse the same passages again: fix what it says "
            + "(its key, its model, or its input limit: a smaller MCP_RAG_EMBEDDINGS_BATCH, or a server that truncates long "
            + "input), then run the same ingest again"
    }
}

/// The knowledge base took a change, but the remote vector store did not take its vectors yet.
public struct VectorStoreUnavailable: Error, CustomStringConvertible, Sendable {
    public let pending: Int
    public let underlying: String

    init(pending: Int, underlying: any Error) {
        self.pending = pending
        // Its client's words: a SQLite failure of the outbox must not quote its statement.
        self.underlying = ClientError(underlying).message
    }

    public var description: String {
        "the change is saved in the knowledge base, but the vector store did not take its vectors (\(pending) changes wait; "
            + "until they arrive, keyword search finds the new passages and semantic search does not): \(underlying). "
            + "A running server sends them on its own once it answers; or run the same ingest again then: it sends what waits and completes"
    }
}

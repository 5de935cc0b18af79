import BytePaths
import Foundation

/// What to ingest.
public struct IngestRequest: Sendable {
    /// Files and folders; folders are walked (hidden entries and node_modules skipped).
    public var paths: [String]
    /// The label every chunk gets.
    public var technology: String
    /// When a folder is given, remove the sources under it whose files no longer exist.
    public var pruneMissing: Bool
    /// When set (MCP calls), every file found must resolve inside these roots: a symlink in an
    /// allowed folder pointing elsewhere is skipped, not followed out.
    public var allowedRoots: AllowedRoots?
    /// Folders (real paths) the walk does not enter: watched folders of their own, with their own label.
    public var excludedFolders: Set<PathKey> = []
    /// The path a file had before a rename, when known (a watched folder saw it move): its
    /// passages' vectors are taken from there rather than embedded again.
    public var formerPath: @Sendable (String) -> String? = { _ in nil }
    /// When the remote vector store does not take the vectors, go on: the changes are saved and a
    /// running server sends them once it answers. For a watched folder's ingest, which nobody
    /// waits on; an ingest someone asked for says instead that the vectors wait.
    public var sendsVectorsLater = false

    public init(paths: [String], technology: String, pruneMissing: Bool = true, allowedRoots: AllowedRoots? = nil) {
        self.paths = paths
        self.technology = technology
        self.pruneMissing = pruneMissing
        self.allowedRoots = allowedRoots
    }
}

/// How far an ingest has come, sent to progress callbacks.
public struct IngestProgress: Sendable, Equatable {
    /// Files looked at so far (written, unchanged or skipped).
    public var filesDone: Int
    /// Files found in all.
    public var filesTotal: Int
    /// Chunks embedded so far.
    public var chunksEmbedded: Int
    /// The file being read, if any.
    public var currentFile: String?
}

/// A file left out, and why.
public struct SkippedFile: Sendable, Codable, Equatable {
    public var path: String
    public var reason: String
}

/// What an ingest did.
public struct IngestReport: Sendable, Codable, Equatable {
    public var filesScanned = 0
    /// Files new or changed, whose chunks were written.
    public var filesWritten = 0
    /// Files whose bytes had not changed since the last ingest: nothing read further.
    public var filesUnchanged = 0
    public var filesSkipped: [SkippedFile] = []
    /// Sources removed because their files are gone (folders only).
    public var sourcesRemoved: [String] = []
    public var chunksAdded = 0
    public var chunksRemoved = 0
    public var chunksUnchanged = 0
    /// Chunks that went through the model (new text); reused vectors are not counted.
    public var chunksEmbedded = 0
    public var seconds = 0.0
    /// Skipped files and removed sources counted but left out of the lists (`cappedForAnswer`).
    public var filesSkippedOmitted = 0
    public var sourcesRemovedOmitted = 0

    enum CodingKeys: String, CodingKey {
        case filesScanned = "files_scanned"
        case filesWritten = "files_written"
        case filesUnchanged = "files_unchanged"
        case filesSkipped = "files_skipped"
        case sourcesRemoved = "sources_removed"
        case chunksAdded = "chunks_added"
        case chunksRemoved = "chunks_removed"
        case chunksUnchanged = "chunks_unchanged"
        case chunksEmbedded = "chunks_embedded"
        case seconds
        case filesSkippedOmitted = "files_skipped_omitted"
        case sourcesRemovedOmitted = "sources_removed_omitted"
    }

    public init() {}

    /// The report with its lists cut to what an assistant can take in (`AnswerBudget`): an
    /// ingest of a folder of thousands of binaries skips every one. What is cut is counted;
    /// `mcp-rag ingest --json`, and the server's log (a warning per skipped file), list them all.
    public func cappedForAnswer(maxItems: Int = 100) -> IngestReport {
        var capped = self
        // Paths count with their escaping: a name may hold quotes, backslashes or control characters.
        let skipped = AnswerBudget.prefix(filesSkipped, maxItems: maxItems, maxBytes: AnswerBudget.listBytes * 3 / 4) {
            AnswerBudget.perCopy($0.path) + $0.reason.utf8.count + 30
        }
        let removed = AnswerBudget.prefix(sourcesRemoved, maxItems: maxItems, maxBytes: AnswerBudget.listBytes / 4) {
            AnswerBudget.perCopy($0) + 4
        }
        capped.filesSkipped = skipped.kept
        capped.filesSkippedOmitted += skipped.omitted
        capped.sourcesRemoved = removed.kept
        capped.sourcesRemovedOmitted += removed.omitted
        return capped
    }
}

import Blocking
import SQLiteLedger
import Storage

/// Prepared sources waiting for their new chunks' vectors: gathered so that small sources share
/// embedding batches, then embedded together and written one transaction per source.
///
/// Both `Ingestor` (files) and `RetrievalEvaluation` (benchmark documents) write through it.
struct PendingWrites {
    /// Chunks per embedding job: small enough that a query waits little behind one, large enough
    /// that the matrix products stay efficient (16 × ~200 tokens is ~3,000 rows).
    static let embeddingBatch = 16
    /// Chunks gathered across sources before embedding.
    static let chunkTarget = 64

    /// What one flush wrote.
    struct Outcome {
        var sourcesWritten = 0
        var chunksEmbedded = 0
        var chunks = ReplaceOutcome(added: 0, removed: 0, unchanged: 0)
    }

    private var files: [PreparedFile] = []
    private var missingChunks = 0

    /// True once enough chunks wait that a flush makes full batches.
    var isFull: Bool { missingChunks >= Self.chunkTarget }

    mutating func append(_ file: PreparedFile) {
        files.append(file)
        missingChunks += file.missing.count
    }

    /// Embeds every waiting chunk, then writes each source. Cancelling the calling task stops it
    /// between batches, before anything is written.
    ///
    /// `storedElsewhere` gives the vectors a shared store already holds for some chunk ids (Chroma:
    /// another process embedded them); those chunks are not embedded again.
    mutating func flush(embeddings: EmbeddingService, store: SQLiteKnowledgeStore,
                        storedElsewhere: (([String]) async -> [String: [Float]])? = nil) async throws -> Outcome {
        var outcome = Outcome()
        guard !files.isEmpty else { return outcome }
        if let storedElsewhere {
            let wanted = files.flatMap { $0.missing.map(\.id) }
            let found = await storedElsewhere(wanted)
            for index in files.indices {
                for draft in files[index].missing {
                    if let vector = found[draft.id], vector.count == store.dimension { files[index].vectors[draft.id] = vector }
                }
            }
        }
        // Similar lengths together: the packed forward pass wastes nothing on padding, but the
        // attention and softmax passes run per sequence, so uniform batches balance its workers.
        let jobs = files.enumerated().flatMap { file in file.element.missing.map { (file: file.offset, chunk: $0) } }
            .sorted { $0.chunk.embeddingText.utf8.count < $1.chunk.embeddingText.utf8.count }
        var start = 0
        while start < jobs.count {
            try Task.checkCancellation()
            let batch = jobs[start..<min(start + Self.embeddingBatch, jobs.count)]
            let vectors = try await embeddings.embed(batch.map(\.chunk.embeddingText), priority: .bulk)
            for (job, vector) in zip(batch, vectors) {
                files[job.file].vectors[job.chunk.id] = vector
            }
            start += batch.count
        }
        try Task.checkCancellation()
        for file in files {
            let (record, chunks) = try file.records()
            let written = try await BlockingExecutor.run { try store.replaceSource(record, chunks: chunks) }
            outcome.sourcesWritten += 1
            outcome.chunks.added += written.added
            outcome.chunks.removed += written.removed
            outcome.chunks.unchanged += written.unchanged
        }
        outcome.chunksEmbedded = jobs.count
        files.removeAll()
        missingChunks = 0
        return outcome
    }
}

import Blocking
import Foundation
import SQLiteLedger
import Storage

/// How far `mcp-rag reembed` has come.
public struct ReembedProgress: Sendable, Equatable {
    public var embedded: Int
    public var total: Int
}

/// What a re-embedding did.
public struct ReembedReport: Sendable, Equatable, Codable {
    /// The model that embedded the passages now (its folder or repository name, and fingerprint).
    public var model: String
    public var modelFingerprint: String
    public var dimension: Int
    /// Passages re-embedded, and of those how many were staged by an earlier run that stopped.
    public var passages: Int
    public var resumed: Int
    /// Passages longer than the model's window: their ends are not in their vectors (their files,
    /// ingested again, are cut to fit).
    public var longerThanWindow: Int
    public var window: Int
    /// True when the store was already the model's: nothing was done.
    public var alreadyDone: Bool
    public var seconds: Double

    enum CodingKeys: String, CodingKey {
        case model, dimension, passages, resumed, window, seconds
        case modelFingerprint = "model_fingerprint"
        case longerThanWindow = "longer_than_window"
        case alreadyDone = "already_done"
    }
}

/// Embeds every passage of the store again with the loaded model (see
/// `SQLiteKnowledgeStore+Reembedding`): staged in batches, swapped in at once.
struct Reembedder {
    let store: SQLiteKnowledgeStore
    let embeddings: EmbeddingService
    let fingerprint: String
    /// The digest of the model's weights, recorded with its fingerprint; nil for an API's model.
    let weights: String?
    /// Passages embedded per batch: one committed transaction each.
    static let batchSize = 128

    func run(progress: @escaping @Sendable (ReembedProgress) async -> Void) async throws -> ReembedReport {
        let started = DispatchTime.now().uptimeNanoseconds
        let embedder = try await embeddings.model()
        let store = self.store, fingerprint = self.fingerprint, weights = self.weights, dimension = embedder.dimension
        let chunker = embedder.passageChunker(fillingWindow: false)
        var report = ReembedReport(model: embedder.name, modelFingerprint: fingerprint, dimension: dimension, passages: 0,
                                   resumed: 0, longerThanWindow: 0, window: embedder.passageWindow, alreadyDone: false,
                                   seconds: 0)
        let recorded = try await BlockingExecutor.run {
            (model: try store.embeddingModel(), weights: try store.embeddingModelWeights(), unitVectors: try store.hasUnitVectors())
        }
        // A model that shares the recorded fingerprint but not its weights: the store's Chroma
        // collections, its re-embedding run and the running servers' checks all go by the
        // fingerprint, so the new vectors could not be told from the old.
        if recorded.model == fingerprint, let recordedWeights = recorded.weights, let weights, recordedWeights != weights {
            throw ClientError(.invalidRequest, "the loaded model has the fingerprint \(fingerprint) of the model that made this "
                + "knowledge base's vectors, but other weights (weights \(weights), not \(recordedWeights)): re-embedding would "
                + "leave the two indistinguishable. Give the loaded model a knowledge base of its own (another data folder, "
                + "and another CHROMA_COLLECTION with Chroma), or go back to the model that made them")
        }
        // The same model, but vectors an earlier mcp-rag stored at their own length, are embedded again too.
        if recorded.model == fingerprint, recorded.weights == weights, recorded.unitVectors, store.dimension == dimension {
            // Staged vectors of a run for another model, abandoned, have nothing left to replace.
            if try await BlockingExecutor.run({ try store.reembeddingUnderWay() }) != nil {
                try await BlockingExecutor.run { try store.abandonReembedding() }
            }
            report.alreadyDone = true
            return report
        }
        let begun = try await BlockingExecutor.run { try store.beginReembedding(model: fingerprint, weights: weights, dimension: dimension) }
        report.resumed = begun.staged
        var embedded = begun.staged
        // Counted once: passages written meanwhile only ever raise it, and `embedded` says by how much.
        var total = begun.total
        while true {
            // Passages another process writes meanwhile are picked up by the next round; the swap
            // happens only once none is left without its new vector.
            var after = 0
            while true {
                try Task.checkCancellation()
                let batch = try await BlockingExecutor.run { [after] in try store.passagesToReembed(after: after, limit: Self.batchSize) }
                guard let last = batch.last else { break }
                after = last.rowid
                let passages = batch.map(\.passage)
                let texts = passages.map { passage in
                    FilePreparer.embeddingText(of: TextChunk(heading: passage.heading, text: passage.text, ordinal: 0),
                                               chunker: chunker)
                }
                report.longerThanWindow += texts.count { chunker.tokenCount($0) > chunker.maxTokens }
                let vectors = try await embeddings.embed(texts, priority: .bulk)
                let staged = zip(passages, vectors).map { (id: $0.id, vector: $1) }
                try await BlockingExecutor.run { try store.stage(staged, model: fingerprint, weights: weights, dimension: dimension) }
                embedded += passages.count
                total = max(total, embedded)
                await progress(ReembedProgress(embedded: embedded, total: total))
            }
            let name = embedder.name
            if try await BlockingExecutor.run({ try store.finishReembedding(model: fingerprint, name: name, weights: weights, dimension: dimension) }) {
                break
            }
        }
        report.passages = embedded
        report.seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        return report
    }
}

import Embeddings
import Foundation

/// What turns texts into vectors for a knowledge base: a sentence-transformers model run here
/// (`SentenceEmbedder`), or an embeddings API (`APIEmbeddingModel`). The embedding service calls
/// it on its own thread, which may block.
package protocol EmbeddingModel: Sendable {
    /// The model's name for reports: its Hugging Face repository or folder, or the API's model.
    var name: String { get }
    /// Where it comes from: its folder, or the API's endpoint (never a key).
    var location: String { get }
    /// Width of its vectors.
    var dimension: Int { get }
    /// What computes the vectors: `cpu`, `cuda`, `hip`, or `api`.
    var backendName: String { get }
    /// Whether its vectors have unit length (the service scales them where not).
    var normalizes: Bool { get }
    /// The most passages one job on the embedding thread takes (an API's request); nil: any number
    /// in one pass.
    var bulkJobSize: Int? { get }
    /// The longest passage it embeds whole, in the chunker's tokens.
    var passageWindow: Int { get }
    /// Cuts documents into passages it embeds whole; `fillingWindow` fills each up to the window
    /// (retrieval evaluations, whose documents are short).
    func passageChunker(fillingWindow: Bool) -> Chunker
    /// One vector per text, in order, each with `work`'s prompt.
    func embed(_ texts: [String], work: EmbeddingWork) throws -> [[Float]]
    /// How many calls of ``embedQueries(_:lane:)`` may run at once; 1 where calls take turns.
    var queryLanes: Int { get }
    /// `embed(texts, work: .queries)`'s vectors, computed in lane `lane` (`0..<queryLanes`):
    /// calls in different lanes run side by side.
    func embedQueries(_ texts: [String], lane: Int) throws -> [[Float]]
    /// The model run in this process, for what only it has (a GPU backend, its tokenizer); nil for an API.
    var local: SentenceEmbedder? { get }
}

extension EmbeddingModel {
    /// One lane: an API's requests take turns.
    package var queryLanes: Int { 1 }

    package func embedQueries(_ texts: [String], lane: Int) throws -> [[Float]] {
        try embed(texts, work: .queries)
    }
}

extension SentenceEmbedder: EmbeddingModel {
    package var location: String { directory.path }
    package var backendName: String { backend.name }
    package var normalizes: Bool { configuration.normalize }
    package var local: SentenceEmbedder? { self }
    package var bulkJobSize: Int? { nil }

    package func passageChunker(fillingWindow: Bool) -> Chunker {
        fillingWindow
            ? Chunker(tokenizer: tokenizer, windowTokens: passageWindow, targetTokens: configuration.maxSequenceLength)
            : Chunker(tokenizer: tokenizer, windowTokens: passageWindow)
    }

    package func embed(_ texts: [String], work: EmbeddingWork) throws -> [[Float]] {
        try embedBlocking(texts, work: work)
    }

    package func embedQueries(_ texts: [String], lane: Int) throws -> [[Float]] {
        try embedQueriesBlocking(texts, lane: lane)
    }
}

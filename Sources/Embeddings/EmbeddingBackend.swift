import Foundation

/// Something that turns tokenised sequences into sentence vectors: the CPU encoder today, a GPU one
/// where a runtime is found.
///
/// Calls block until the vectors are ready; ``SentenceEmbedder`` keeps them off Swift's cooperative
/// thread pool.
public protocol EmbeddingBackend: Sendable {
    /// A short name for reports (`cpu`, `cuda`, `hip`).
    var name: String { get }
    /// One vector per sequence, in order. Each sequence starts with `[CLS]`, ends with `[SEP]` and
    /// is no longer than the model's `maxSequenceLength`.
    func embed(tokenized sequences: [[Int32]]) throws -> [[Float]]
}

/// The OpenBLAS-backed CPU backend.
public struct CPUBackend: EmbeddingBackend {
    let encoder: CPUBertEncoder

    /// A CPU backend over `weights`, splitting work across `threads` workers (default: all cores).
    public init(weights: BertWeights, threads: Int? = nil, maxTokensPerPass: Int = 2048) {
        encoder = CPUBertEncoder(
            weights: weights, threadCount: threads ?? ProcessInfoCores.active, maxTokensPerPass: maxTokensPerPass)
    }

    public var name: String { "cpu" }

    /// The number of worker threads the matrix products are split across.
    public var threadCount: Int { encoder.threadCount }

    public func embed(tokenized sequences: [[Int32]]) throws -> [[Float]] {
        encoder.encode(sequences)
    }
}

enum ProcessInfoCores {
    static var active: Int { ProcessInfo.processInfo.activeProcessorCount }
}

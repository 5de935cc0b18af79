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
    func embed(tokenized sequences: [[Int32]], work: EmbeddingWork) throws -> [[Float]]
    /// How many calls of ``embedQueries(tokenized:lane:)`` may run at once, each in a lane of its
    /// own (`0..<queryLanes`); 1 where calls take turns.
    var queryLanes: Int { get }
    /// Vectors for queries, bit for bit those of `embed(tokenized:work: .queries)`, computed on the
    /// calling thread alone in `lane`'s memory, so that calls in different lanes run side by side.
    func embedQueries(tokenized sequences: [[Int32]], lane: Int) throws -> [[Float]]
}

extension EmbeddingBackend {
    /// One lane: a backend that runs one pass at a time (a GPU's) or spreads it over every core.
    public var queryLanes: Int { 1 }

    public func embedQueries(tokenized sequences: [[Int32]], lane: Int) throws -> [[Float]] {
        try embed(tokenized: sequences, work: .queries)
    }

    /// Vectors for passages (``EmbeddingWork/passages``).
    public func embed(tokenized sequences: [[Int32]]) throws -> [[Float]] {
        try embed(tokenized: sequences, work: .passages)
    }
}

/// What a batch of sequences is for, which decides how a backend may compute it.
public enum EmbeddingWork: Sendable {
    /// Queries someone is waiting for, possibly several clients' in one batch. Each query's vector
    /// must not depend on which other queries share its batch (bit for bit, on the CPU), so that an
    /// answer is the same whether one client asks or many.
    case queries
    /// Passages being ingested, and benchmarks: whatever computes the batch fastest.
    case passages
}

/// The OpenBLAS-backed CPU backend.
public struct CPUBackend: EmbeddingBackend {
    let encoder: CPUBertEncoder

    /// A CPU backend over `weights`, splitting work across `threads` workers (default: all cores).
    public init(weights: BertWeights, threads: Int? = nil, maxTokensPerPass: Int = 2048) {
        encoder = CPUBertEncoder(
            weights: weights, threadCount: threads ?? ProcessInfo.processInfo.activeProcessorCount,
            maxTokensPerPass: maxTokensPerPass)
    }

    public var name: String { "cpu" }

    /// The number of worker threads the matrix products are split across.
    public var threadCount: Int { encoder.threadCount }

    /// The packed kernel that computes the matrix products of batches (passages) as it does
    /// queries' ("packed AVX-512"), or nil where batches go through OpenBLAS.
    public var packedBatchKernel: String? { encoder.packedBatchKernel }

    public func embed(tokenized sequences: [[Int32]], work: EmbeddingWork) throws -> [[Float]] {
        try EmbeddingInputError.validate(sequences, configuration: encoder.weights.configuration)
        return encoder.encode(sequences, work: work)
    }

    /// One lane a thread (see ``CPUBertEncoder/encodeQueries(_:lane:)``).
    public var queryLanes: Int { encoder.lanes }

    public func embedQueries(tokenized sequences: [[Int32]], lane: Int) throws -> [[Float]] {
        try EmbeddingInputError.validate(sequences, configuration: encoder.weights.configuration)
        return encoder.encodeQueries(sequences, lane: lane)
    }
}

/// Token sequences a backend cannot run: empty, longer than the model reads, or holding ids outside
/// its vocabulary. Checked before any work, so bad input changes nothing and crashes nothing.
public struct EmbeddingInputError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Which sequence (its index in the batch) is at fault.
    public let index: Int
    /// What is wrong with it.
    public let problem: String

    public var description: String { "sequence \(index): \(problem)" }

    /// Throws for the first sequence that `configuration`'s model cannot encode.
    public static func validate(_ sequences: [[Int32]], configuration: ModelConfiguration) throws {
        for (index, sequence) in sequences.enumerated() {
            if sequence.isEmpty {
                throw EmbeddingInputError(index: index, problem: "no tokens (it needs at least [CLS] and [SEP])")
            }
            if sequence.count > configuration.maxSequenceLength {
                throw EmbeddingInputError(
                    index: index,
                    problem: "\(sequence.count) tokens, more than the model's \(configuration.maxSequenceLength)")
            }
            if let bad = sequence.first(where: { $0 < 0 || Int($0) >= configuration.vocabularySize }) {
                throw EmbeddingInputError(
                    index: index, problem: "token id \(bad) is outside the vocabulary (0..<\(configuration.vocabularySize))")
            }
        }
    }
}

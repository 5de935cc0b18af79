import Synchronization

/// The backend a running server embeds with: the CPU's from the start, replaced by a GPU one
/// (behind a ``FailoverBackend``) once the startup benchmark has chosen it.
///
/// The model is usable the moment it loads; the GPU is probed, compiled for and benchmarked
/// afterwards, so a slow driver or compiler never delays the first query.
public final class AcceleratedBackend: EmbeddingBackend, Sendable {
    private let current: Mutex<any EmbeddingBackend>

    public init(initial: any EmbeddingBackend) {
        current = Mutex(initial)
    }

    /// The backend serving now.
    public var serving: any EmbeddingBackend { current.withLock { $0 } }

    public var name: String { serving.name }

    /// Serves from `backend` from the next batch on.
    public func install(_ backend: any EmbeddingBackend) {
        current.withLock { $0 = backend }
    }

    public func embed(tokenized sequences: [[Int32]], work: EmbeddingWork) throws -> [[Float]] {
        try serving.embed(tokenized: sequences, work: work)
    }

    public var queryLanes: Int { serving.queryLanes }

    /// In the serving backend's lane, or through its `embed` where it has fewer lanes (a GPU
    /// installed since the caller counted them).
    public func embedQueries(tokenized sequences: [[Int32]], lane: Int) throws -> [[Float]] {
        let backend = serving
        return lane < backend.queryLanes
            ? try backend.embedQueries(tokenized: sequences, lane: lane)
            : try backend.embed(tokenized: sequences, work: .queries)
    }
}

extension SentenceEmbedder {
    /// The backend running its passes now: an ``AcceleratedBackend``'s current one, else its own.
    public var servingBackend: any EmbeddingBackend { (backend as? AcceleratedBackend)?.serving ?? backend }

    /// The same model and tokenizer with `backend` running the forward pass.
    public func replacingBackend(_ backend: any EmbeddingBackend) -> SentenceEmbedder {
        SentenceEmbedder(directory: directory, configuration: configuration, tokenizer: tokenizer, weights: weights,
                         backend: backend, loadSeconds: loadSeconds)
    }
}

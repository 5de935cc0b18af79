/// Where semantic search happens: the knowledge store's own vectors in memory, or a remote vector
/// store (Chroma) that the store keeps fed.
public protocol VectorSearch: Sendable {
    /// Which kind of store answers: a remote one that fails is an outage to degrade around, the
    /// embedded one failing is a fault.
    var vectorBackend: VectorBackend { get }
    /// The `limit` chunks nearest to `vector` (a unit vector), best first, scored by cosine
    /// similarity, among those labelled `technology` when one is given. Awaited off the cooperative
    /// pool: the embedded store scans on `BlockingExecutor`'s threads, a remote one waits on its server.
    func nearest(to vector: [Float], limit: Int, technology: String?) async throws -> [ScoredChunk]
}

/// The stores semantic search can run on.
public enum VectorBackend: String, Sendable {
    /// The int8 index in memory beside the SQLite file.
    case embedded = "sqlite"
    /// A Chroma server over HTTP.
    case chroma

    /// True for a store reached over the network, whose failures are outages rather than faults.
    public var isRemote: Bool { self != .embedded }
}

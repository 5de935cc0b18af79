/// Where semantic search happens: the knowledge store's own vectors in memory, or a remote vector
/// store (Chroma) that the store keeps fed.
public protocol VectorSearch: Sendable {
    /// "sqlite" or "chroma", for reports.
    var vectorBackendName: String { get }
    /// The `limit` chunks nearest to `vector` (a unit vector), best first, scored by cosine
    /// similarity, among those labelled `technology` when one is given. Blocking.
    func semanticSearch(vector: [Float], limit: Int, technology: String?) throws -> [ScoredChunk]
}

extension SQLiteKnowledgeStore: VectorSearch {
    public var vectorBackendName: String { "sqlite" }
}

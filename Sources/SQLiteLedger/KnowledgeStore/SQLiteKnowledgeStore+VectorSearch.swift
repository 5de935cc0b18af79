import Blocking
import Storage

extension SQLiteKnowledgeStore: VectorSearch {
    public var vectorBackend: VectorBackend { .embedded }

    public func nearest(to vector: [Float], limit: Int, technology: String?) async throws -> [ScoredChunk] {
        try await BlockingExecutor.run { try self.semanticSearch(vector: vector, limit: limit, technology: technology) }
    }
}

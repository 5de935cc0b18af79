import Storage

extension SQLiteKnowledgeStore: VectorSearch {
    public var vectorBackend: VectorBackend { .embedded }
}

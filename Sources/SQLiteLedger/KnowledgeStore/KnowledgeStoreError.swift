/// Why the knowledge store refused to open, to write, or to search.
public struct KnowledgeStoreError: Error, CustomStringConvertible, Equatable {
    private enum Code: Equatable {
        case dimensionMismatch(stored: Int, loaded: Int, path: String)
        case missingDimension(path: String)
        case newerSchema(version: Int, supported: Int, path: String)
        case corruptVector(chunk: String, bytes: Int, expected: Int)
        case wrongVectorLength(chunk: String?, count: Int, expected: Int)
        case duplicateChunk(id: String, source: String)
        case chunkFromAnotherSource(id: String, chunkSource: String, source: String)
        case chunkWithAnotherTechnology(id: String, chunkTechnology: String, technology: String)
        case chunkOwnedByAnotherSource(id: String, owner: String, source: String)
        case noVectorIndex(path: String)
        case embeddingModelChanged(recorded: String, dimension: Int, path: String)
        case reembeddingMismatch(detail: String)
    }

    private let code: Code

    private init(_ code: Code) {
        self.code = code
    }

    /// The store was built with `stored`-dimension vectors but was opened for `loaded`.
    public static func dimensionMismatch(stored: Int, loaded: Int, path: String) -> Self {
        Self(.dimensionMismatch(stored: stored, loaded: loaded, path: path))
    }

    /// The dimension the store was built with, when this is a `dimensionMismatch`.
    public var storedDimension: Int? {
        if case .dimensionMismatch(let stored, _, _) = code { stored } else { nil }
    }

    /// The store's `meta` table has no vector dimension: it was not made by this program.
    public static func missingDimension(path: String) -> Self {
        Self(.missingDimension(path: path))
    }

    /// The store's schema is `version`, newer than the `supported` one this build knows.
    public static func newerSchema(version: Int, supported: Int, path: String) -> Self {
        Self(.newerSchema(version: version, supported: supported, path: path))
    }

    /// A stored vector blob has `bytes` bytes where `expected` were due.
    public static func corruptVector(chunk: String, bytes: Int, expected: Int) -> Self {
        Self(.corruptVector(chunk: chunk, bytes: bytes, expected: expected))
    }

    /// A vector given to the store (a chunk's, or a query's when `chunk` is nil) has the wrong length.
    public static func wrongVectorLength(chunk: String?, count: Int, expected: Int) -> Self {
        Self(.wrongVectorLength(chunk: chunk, count: count, expected: expected))
    }

    /// The chunks given for `source` contain the id `id` twice.
    public static func duplicateChunk(id: String, source: String) -> Self {
        Self(.duplicateChunk(id: id, source: source))
    }

    /// A chunk given for `source` names another source, `chunkSource`.
    public static func chunkFromAnotherSource(id: String, chunkSource: String, source: String) -> Self {
        Self(.chunkFromAnotherSource(id: id, chunkSource: chunkSource, source: source))
    }

    /// A chunk carries a technology label other than its source's.
    public static func chunkWithAnotherTechnology(id: String, chunkTechnology: String, technology: String) -> Self {
        Self(.chunkWithAnotherTechnology(id: id, chunkTechnology: chunkTechnology, technology: technology))
    }

    /// A chunk id given for `source` is already stored under another source, `owner`.
    public static func chunkOwnedByAnotherSource(id: String, owner: String, source: String) -> Self {
        Self(.chunkOwnedByAnotherSource(id: id, owner: owner, source: source))
    }

    /// A semantic search asked of a store that keeps no vector index (another store, Chroma,
    /// searches its vectors).
    public static func noVectorIndex(path: String) -> Self {
        Self(.noVectorIndex(path: path))
    }

    /// Another process re-embedded the store with the model `recorded` (vectors of `dimension`)
    /// after this one opened it.
    public static func embeddingModelChanged(recorded: String, dimension: Int, path: String) -> Self {
        Self(.embeddingModelChanged(recorded: recorded, dimension: dimension, path: path))
    }

    /// The fingerprint of the model that re-embedded the store, for `embeddingModelChanged`.
    public var reembeddedBy: String? {
        if case .embeddingModelChanged(let recorded, _, _) = code { recorded } else { nil }
    }

    /// A re-embedding was given vectors it cannot take (another width than it was begun for).
    public static func reembeddingMismatch(_ detail: String) -> Self {
        Self(.reembeddingMismatch(detail: detail))
    }

    /// What went wrong and, where there is one, what to do about it.
    public var description: String {
        switch code {
        case let .dimensionMismatch(stored, loaded, path):
            "this knowledge base (\(path)) was built with \(stored)-dimension vectors; the loaded model makes "
                + "\(loaded). Use another --data-dir or re-ingest."
        case let .missingDimension(path):
            "\(path) has no recorded vector dimension; it was not created by mcp-rag. Use another --data-dir."
        case let .newerSchema(version, supported, path):
            "\(path) has schema version \(version), newer than the \(supported) this build understands. "
                + "Upgrade mcp-rag or use another --data-dir."
        case let .corruptVector(chunk, bytes, expected):
            "the stored vector of chunk \(chunk) has \(bytes) bytes, expected \(expected); the database is damaged. "
                + "Re-ingest its source."
        case let .wrongVectorLength(chunk?, count, expected):
            "chunk \(chunk) has a \(count)-value vector; this knowledge base stores \(expected)"
        case let .wrongVectorLength(nil, count, expected):
            "the query vector has \(count) values; this knowledge base stores \(expected)"
        case let .duplicateChunk(id, source):
            "chunk id \(id) appears twice among the chunks of \(source)"
        case let .chunkFromAnotherSource(id, chunkSource, source):
            "chunk \(id) names source \(chunkSource) but was given for \(source)"
        case let .chunkWithAnotherTechnology(id, chunkTechnology, technology):
            "chunk \(id) is labelled \(chunkTechnology) but its source is labelled \(technology)"
        case let .chunkOwnedByAnotherSource(id, owner, source):
            "chunk id \(id) given for \(source) is already stored for \(owner); nothing was written"
        case let .embeddingModelChanged(recorded, dimension, path):
            "\(path) was re-embedded by another model (fingerprint \(recorded), \(dimension) dimensions) after this process "
                + "opened it (or, still empty, taken by a process with that model); restart it with that model "
                + "(`mcp-rag model list` shows which one serves)"
        case let .reembeddingMismatch(detail):
            "the re-embedding cannot go on: \(detail)"
        case let .noVectorIndex(path):
            "\(path) is opened without its vector index (Chroma searches its vectors), so it cannot search them itself"
        }
    }
}

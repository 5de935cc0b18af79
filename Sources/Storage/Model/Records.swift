import Foundation

/// One chunk of a source document, ready to be stored: its text, where it came from, and its vector.
public struct ChunkRecord: Sendable, Equatable {
    /// Stable id derived from the content (see `ChunkID`): the same chunk of the same file always
    /// gets the same id, so re-ingesting unchanged text writes nothing.
    public var id: String
    /// The source's path (absolute, symlinks resolved) or another caller-chosen name.
    public var source: String
    /// The heading path above the chunk, e.g. "Install > Linux"; empty when there is none.
    public var heading: String
    /// The label given at ingestion ("swift", "postgres", …), used as a filter.
    public var technology: String
    /// The chunk's text as embedded and returned to clients.
    public var text: String
    /// Position of the chunk within its source, from 0.
    public var ordinal: Int
    /// The unit-length embedding of `text`.
    public var vector: [Float]
    /// The page it is on, from 1, in a paged document (PDF); nil in any other.
    public var page: Int?

    public init(id: String, source: String, heading: String, technology: String, text: String, ordinal: Int,
                vector: [Float], page: Int? = nil) {
        self.id = id
        self.source = source
        self.heading = heading
        self.technology = technology
        self.text = text
        self.ordinal = ordinal
        self.vector = vector
        self.page = page
    }
}

/// A source document as the ledger records it.
public struct SourceRecord: Sendable, Equatable {
    /// The source's path or name (the key).
    public var source: String
    /// The technology label its chunks carry.
    public var technology: String
    /// Hash of the file's bytes when it was ingested: an unchanged file is skipped without reading on.
    public var contentHash: String
    /// Number of chunks stored for it.
    public var chunkCount: Int
    /// When it was last (re)written.
    public var ingestedAt: Date
    /// Its number of pages when it is a paged document (PDF); nil otherwise.
    public var pages: Int?

    public init(source: String, technology: String, contentHash: String, chunkCount: Int, ingestedAt: Date,
                pages: Int? = nil) {
        self.source = source
        self.technology = technology
        self.contentHash = contentHash
        self.chunkCount = chunkCount
        self.ingestedAt = ingestedAt
        self.pages = pages
    }
}

/// A stored chunk without its vector: what a search result shows.
public struct StoredChunk: Sendable, Equatable {
    public var id: String
    public var source: String
    public var heading: String
    public var technology: String
    public var text: String
    /// Its page in a paged document (PDF), from 1; nil in any other.
    public var page: Int?

    public init(id: String, source: String, heading: String, technology: String, text: String, page: Int? = nil) {
        self.id = id
        self.source = source
        self.heading = heading
        self.technology = technology
        self.text = text
        self.page = page
    }
}

/// A chunk id with its score from one retrieval method (cosine similarity or BM25), best first.
public struct ScoredChunk: Sendable, Equatable {
    public var id: String
    public var score: Double
    /// The chunk itself, when the store that found it returned it (Chroma does, so a process
    /// that holds no copy of the chunk still answers with it); nil when it is to be looked up.
    public var passage: StoredChunk?

    public init(id: String, score: Double, passage: StoredChunk? = nil) {
        self.id = id
        self.score = score
        self.passage = passage
    }

    /// The order every ranking is listed in: best score first, ties by id, so results are
    /// reproducible.
    public static func ranksBefore(_ first: ScoredChunk, _ second: ScoredChunk) -> Bool {
        first.score > second.score || (first.score == second.score && first.id < second.id)
    }
}

/// What replacing a source's chunks changed.
public struct ReplaceOutcome: Sendable, Equatable {
    /// Chunks written that were not stored before.
    public var added: Int
    /// Chunks deleted because the new version no longer has them.
    public var removed: Int
    /// Chunks already stored with the same id, left untouched.
    public var unchanged: Int

    public init(added: Int, removed: Int, unchanged: Int) {
        self.added = added
        self.removed = removed
        self.unchanged = unchanged
    }
}

/// One tracked query: how often it was asked and when last.
public struct TrackedQuery: Sendable, Equatable, Codable {
    /// The query as most recently asked (whitespace collapsed, case kept), for display.
    public var query: String
    /// How many times its normalised form was asked within the retention window.
    public var count: Int
    /// When it was last asked.
    public var lastAccessed: Date
    /// The technology filter of its latest use, if any.
    public var technologyFilter: String?

    public init(query: String, count: Int, lastAccessed: Date, technologyFilter: String?) {
        self.query = query
        self.count = count
        self.lastAccessed = lastAccessed
        self.technologyFilter = technologyFilter
    }
}

import Digests
import Foundation

/// A passage as the collection keeps it: everything a search returns, beside its vector, so any
/// process reading the collection answers in full without the writer's SQLite file.
public struct ChromaPassage: Sendable, Equatable {
    public var source: String
    public var heading: String
    public var technology: String
    /// Stored as the record's document.
    public var text: String
    /// Position within its source, from 0.
    public var ordinal: Int
    /// SHA-256 of the source's bytes when this passage was written.
    public var contentHash: String
    /// When this passage was written.
    public var ingestedAt: Date
    /// Its page in a paged document (PDF); nil in any other (and then absent from the metadata).
    public var page: Int?

    public init(source: String, heading: String, technology: String, text: String, ordinal: Int, contentHash: String,
                ingestedAt: Date, page: Int? = nil) {
        self.source = source
        self.heading = heading
        self.technology = technology
        self.text = text
        self.ordinal = ordinal
        self.contentHash = contentHash
        self.ingestedAt = ingestedAt
        self.page = page
    }

    /// The record's metadata (the text travels as its document).
    var metadata: [String: Any] {
        var fields: [String: Any] = [
            "source": source, "heading": heading, "technology": technology, "ordinal": ordinal, "content_hash": contentHash,
            "ingested_at": ingestedAt.timeIntervalSince1970,
        ]
        if let page { fields["page"] = page }
        return fields
    }

    /// The passage of a record read back, nil when the record lacks any part of it (one written
    /// by an older mcp-rag, which kept only the source and label in Chroma).
    init?(document: Any?, metadata: Any?) {
        guard let text = document as? String, let fields = metadata as? [String: Any],
              let source = fields["source"] as? String, let heading = fields["heading"] as? String,
              let technology = fields["technology"] as? String, let ordinal = fields["ordinal"] as? Int,
              let contentHash = fields["content_hash"] as? String,
              let ingestedAt = (fields["ingested_at"] as? NSNumber)?.doubleValue else { return nil }
        self.init(source: source, heading: heading, technology: technology, text: text, ordinal: ordinal,
                  contentHash: contentHash, ingestedAt: Date(timeIntervalSince1970: ingestedAt), page: fields["page"] as? Int)
    }
}

/// One vector as Chroma stores it for us: our id, our embedding, and the passage.
public struct ChromaRecord: Sendable, Equatable {
    public var id: String
    public var embedding: [Float]
    public var passage: ChromaPassage

    public init(id: String, embedding: [Float], passage: ChromaPassage) {
        self.id = id
        self.embedding = embedding
        self.passage = passage
    }
}

/// One search result: the record's id, its cosine distance, and its passage when the record
/// carries one.
public struct ChromaHit: Sendable, Equatable {
    public var id: String
    public var distance: Double
    public var passage: ChromaPassage?
}

/// One source as the collection's manifest records it: what a process needs to know whether its
/// own copy of the source is current. The manifest is a second collection (see
/// `ChromaConfiguration.sourcesCollection`); a removed source stays in it as a tombstone, so that
/// every process learns of the removal.
public struct ChromaSourceEntry: Sendable, Equatable {
    public var source: String
    public var technology: String
    public var contentHash: String
    public var chunkCount: Int
    public var ingestedAt: Date
    /// A tombstone: the source was removed.
    public var removed: Bool
    /// When the entry was written, by the writer's clock: what followers ask for changes after.
    public var changedAt: Date
    /// Its page count when it is a paged document (PDF).
    public var pages: Int?

    public init(source: String, technology: String, contentHash: String, chunkCount: Int, ingestedAt: Date,
                removed: Bool, changedAt: Date, pages: Int? = nil) {
        self.source = source
        self.technology = technology
        self.contentHash = contentHash
        self.chunkCount = chunkCount
        self.ingestedAt = ingestedAt
        self.removed = removed
        self.changedAt = changedAt
        self.pages = pages
    }

    /// The tombstone of `source`, written at `changedAt`.
    public static func removal(of source: String, at changedAt: Date) -> ChromaSourceEntry {
        ChromaSourceEntry(source: source, technology: "", contentHash: "", chunkCount: 0, ingestedAt: changedAt,
                          removed: true, changedAt: changedAt)
    }

    /// The entry's record id: a digest of the path, so any path makes a short, valid id.
    var id: String { SHA256.hex(SHA256.hash(Array(source.utf8))) }

    var metadata: [String: Any] {
        var fields: [String: Any] = [
            "source": source, "technology": technology, "content_hash": contentHash, "chunk_count": chunkCount,
            "ingested_at": ingestedAt.timeIntervalSince1970, "removed": removed, "changed_at": changedAt.timeIntervalSince1970,
        ]
        if let pages { fields["pages"] = pages }
        return fields
    }

    init?(metadata: Any?) {
        guard let fields = metadata as? [String: Any], let source = fields["source"] as? String,
              let technology = fields["technology"] as? String, let contentHash = fields["content_hash"] as? String,
              let chunkCount = fields["chunk_count"] as? Int, let removed = fields["removed"] as? Bool,
              let ingestedAt = (fields["ingested_at"] as? NSNumber)?.doubleValue,
              let changedAt = (fields["changed_at"] as? NSNumber)?.doubleValue else { return nil }
        self.init(source: source, technology: technology, contentHash: contentHash, chunkCount: chunkCount,
                  ingestedAt: Date(timeIntervalSince1970: ingestedAt), removed: removed,
                  changedAt: Date(timeIntervalSince1970: changedAt), pages: fields["pages"] as? Int)
    }
}

/// A metadata condition Chroma evaluates (`where`).
public enum ChromaFilter: Sendable, Equatable {
    case technology(String)
    case source(String)
    /// Records of any of these sources.
    case sources([String])
    /// Manifest entries written at or after this time.
    case changedSince(Date)
    indirect case all([ChromaFilter])

    var json: [String: Any] {
        switch self {
        case .technology(let label): ["technology": ["$eq": label]]
        case .source(let source): ["source": ["$eq": source]]
        case .sources(let sources): ["source": ["$in": sources]]
        case .changedSince(let time): ["changed_at": ["$gte": time.timeIntervalSince1970]]
        case .all(let filters) where filters.count == 1: filters[0].json
        case .all(let filters): ["$and": filters.map(\.json)]
        }
    }
}

import Digests
import Embeddings
import Foundation
import SQLiteLedger
import Storage

/// A file read and chunked, waiting for its new chunks' vectors before it is written.
struct PreparedFile: Sendable {
    /// A chunk with its id and the text the model sees.
    struct Draft: Sendable {
        let id: String
        let chunk: TextChunk
        /// The heading path and the text (see `FilePreparer.embeddingText`): the heading often names
        /// what a passage is about when the passage itself does not ("Linux" above "run the installer").
        let embeddingText: String
    }

    let source: SourceRecord
    let drafts: [Draft]
    /// Vectors known so far: reused from the store, then filled in by embedding.
    var vectors: [String: [Float]]

    /// The drafts still without a vector.
    var missing: [Draft] { drafts.filter { vectors[$0.id] == nil } }

    /// The records to write; every draft must have its vector by now.
    func records() throws -> (SourceRecord, [ChunkRecord]) {
        let chunks = try drafts.map { draft in
            guard let vector = vectors[draft.id] else {
                throw IngestInconsistency("chunk \(draft.chunk.ordinal) of \(source.source) was never embedded")
            }
            return ChunkRecord(id: draft.id, source: source.source, heading: draft.chunk.heading, technology: source.technology,
                               text: draft.chunk.text, ordinal: draft.chunk.ordinal, vector: vector, page: draft.chunk.page)
        }
        return (source, chunks)
    }
}

/// An internal inconsistency during ingestion (a bug, not bad input).
struct IngestInconsistency: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Turns one path (or one text held in memory) into a `PreparedFile`, or says why there is
/// nothing to write.
struct FilePreparer: Sendable {
    enum Outcome: Sendable {
        /// Same bytes and label as the stored version.
        case unchanged
        case skipped(String)
        case ready(PreparedFile)
    }

    let store: SQLiteKnowledgeStore
    let technology: String
    let loader: DocumentLoader
    let chunker: Chunker

    init(store: SQLiteKnowledgeStore, technology: String, maxFileBytes: Int, chunker: Chunker) {
        self.store = store
        self.technology = technology
        loader = DocumentLoader(configuration: .init(maxFileBytes: maxFileBytes))
        self.chunker = chunker
    }

    /// The heading path and the text, as long as the model's window holds both; else the last
    /// heading alone, else the text alone: the passage itself must never be cut off.
    static func embeddingText(of chunk: TextChunk, chunker: Chunker) -> String {
        guard !chunk.heading.isEmpty else { return chunk.text }
        let textTokens = chunker.tokenCount(chunk.text)
        let lastHeading = chunk.heading.components(separatedBy: DocumentSection.headingSeparator).last ?? chunk.heading
        for heading in [chunk.heading, lastHeading] where textTokens + chunker.tokenCount(heading) <= chunker.maxTokens {
            return heading + "\n" + chunk.text
        }
        return chunk.text
    }

    /// Reads `path` (absolute and resolved) from one descriptor, confined to `roots` when given;
    /// a file renamed from `formerPath` takes the vectors of the passages it still shares with it.
    /// Blocking: call it off the cooperative pool.
    func prepare(_ path: String, confinedTo roots: AllowedRoots?, formerPath: String? = nil,
                 cancellation: CancellationFlag = CancellationFlag()) throws -> Outcome
    {
        let url = URL(fileURLWithPath: path)
        guard let kind = DocumentKind(url: url) else {
            return .skipped(SkipReason.unsupportedType(extension: url.pathExtension).description)
        }
        let bytes: [UInt8]
        switch try loader.read(path: path, confinedTo: roots) {
        case .skipped(let reason): return .skipped(reason.description)
        case .loaded(let read): bytes = read
        }
        // The hash comes before decoding, so an unchanged file costs one read and nothing more.
        let hash = SHA256.hex(SHA256.hash(bytes))
        if try isStored(path, contentHash: hash) { return .unchanged }
        let document: LoadedDocument
        switch loader.load(bytes: bytes, kind: kind, stopIf: { cancellation.isSet }) {
        case .skipped(.cancelled): throw CancellationError()
        case .skipped(let reason): return .skipped(reason.description)
        case .loaded(let loaded): document = loaded
        }
        // Code has no headings; the file name is what a reader would look for.
        let heading = if case .sourceCode = kind { url.lastPathComponent } else { "" }
        return try prepare(source: path, document: document, contentHash: hash, headingWhenNone: heading, formerSource: formerPath)
    }

    /// How a text held in memory becomes chunks.
    enum TextChunking: String, Sendable {
        /// Split by the chunker, as files are.
        case chunked
        /// One chunk holding the whole text; the model reads as much as its window holds (what MTEB
        /// does with a long document), the keyword index all of it.
        case whole
    }

    /// Prepares `text` as plain text under the source name `source` (no file is read). Blocking.
    func prepare(source: String, text: String, chunking: TextChunking = .chunked) throws -> Outcome {
        // The scheme is part of the hash: the same text chunked the other way is a change.
        var hasher = SHA256()
        hasher.update(chunking.rawValue.utf8)
        hasher.update(CollectionOfOne(0))
        hasher.update(text.utf8)
        let hash = SHA256.hex(hasher.finalize())
        if try isStored(source, contentHash: hash) { return .unchanged }
        let document = LoadedDocument(kind: .text, text: text)
        switch chunking {
        case .chunked:
            return try prepare(source: source, document: document, contentHash: hash, headingWhenNone: "")
        case .whole:
            let hasText = text.contains { !$0.isWhitespace }
            return try prepare(source: source, chunks: hasText ? [TextChunk(heading: "", text: text, ordinal: 0)] : [],
                               contentHash: hash)
        }
    }

    /// True when `source` is stored with these bytes and this label.
    private func isStored(_ source: String, contentHash: String) throws -> Bool {
        guard let stored = try store.source(source) else { return false }
        return stored.contentHash == contentHash && stored.technology == technology
    }

    /// Chunks `document`, giving chunks without a heading `headingWhenNone`.
    private func prepare(source: String, document: LoadedDocument, contentHash: String,
                         headingWhenNone: String, formerSource: String? = nil) throws -> Outcome {
        var chunks = chunker.chunks(of: document)
        if !headingWhenNone.isEmpty {
            chunks = chunks.map { TextChunk(heading: $0.heading.isEmpty ? headingWhenNone : $0.heading, text: $0.text,
                                            ordinal: $0.ordinal, page: $0.page) }
        }
        let pages = document.kind == .pdf ? document.pages.count : nil
        return try prepare(source: source, chunks: chunks, contentHash: contentHash, pages: pages, formerSource: formerSource)
    }

    /// The drafts of `chunks`, with the vectors they already have: stored under their ids, or,
    /// for a file renamed from `formerSource`, under the ids the same passages had there (ids
    /// include the source's name; the text embedded, heading and passage, is the same).
    private func prepare(source: String, chunks: [TextChunk], contentHash: String, pages: Int? = nil,
                         formerSource: String? = nil) throws -> Outcome {
        guard !chunks.isEmpty else { return .skipped("no text to index") }
        let ids = ChunkID.make(source: source, chunks: chunks)
        let drafts = zip(ids, chunks).map { id, chunk in
            PreparedFile.Draft(id: id, chunk: chunk, embeddingText: Self.embeddingText(of: chunk, chunker: chunker))
        }
        // A label change keeps every chunk's text but not its id (ids do not include the label),
        // so vectors are reused and only the rows are rewritten.
        var known = try store.existingVectors(ids: ids)
        if let formerSource, known.count < ids.count {
            let formerIDs = ChunkID.make(source: formerSource, chunks: chunks)
            let former = try store.existingVectors(ids: formerIDs)
            for (id, formerID) in zip(ids, formerIDs) where known[id] == nil {
                if let vector = former[formerID] { known[id] = vector }
            }
        }
        let record = SourceRecord(source: source, technology: technology, contentHash: contentHash,
                                  chunkCount: drafts.count, ingestedAt: Date(), pages: pages)
        return .ready(PreparedFile(source: record, drafts: drafts, vectors: known))
    }
}

import Blocking
import Dispatch
import Foundation
import SQLiteLedger
import Storage

/// How well each search mode finds the judged documents of a benchmark (`mcp-rag eval`).
///
/// The corpus goes into a knowledge base of its own, one source per document, through the same
/// chunking, embedding and writing as files do; the queries then go through the same `Retriever` a
/// client's queries do. Two things differ from serving, both so the figures compare with published
/// ones: chunks fill the whole model window (a document that fits stays one chunk, close to MTEB's
/// truncation at 256 tokens), and each search's chunks are collapsed into documents before
/// fusion, a document ranking where its best chunk does.
public final class RetrievalEvaluation: Sendable {
    /// Documents ranked per query: as many as Recall@100 needs.
    public static let rankedDocuments = 100
    /// Chunks taken from each search: more than the documents wanted, because the chunks of one
    /// document collapse into one entry.
    static let searchDepth = 4 * rankedDocuments
    /// The label every benchmark document gets.
    static let technology = "benchmark"

    private let store: SQLiteKnowledgeStore
    /// Where semantic search runs: the store's own vectors when nil, or Chroma.
    private let vectors: (any VectorSearch)?
    private let embeddings: EmbeddingService
    /// The engine's fingerprint of its model, for the report.
    private let modelFingerprint: String?
    /// Set when a kept store's vectors were made by another model: scores would be noise.
    private let vectorsFromAnotherModel: VectorsFromAnotherModel?

    /// Evaluates against `store`, which should hold nothing but benchmark documents (see `ingest`),
    /// searching vectors in `vectors` when given.
    init(store: SQLiteKnowledgeStore, vectors: (any VectorSearch)? = nil, embeddings: EmbeddingService,
         modelFingerprint: String? = nil, vectorsFromAnotherModel: VectorsFromAnotherModel? = nil) {
        self.modelFingerprint = modelFingerprint
        self.store = store
        self.vectors = vectors
        self.embeddings = embeddings
        self.vectorsFromAnotherModel = vectorsFromAnotherModel
    }

    /// Writes `dataset`'s documents into the store; documents already stored with the same text
    /// are left as they are, so a kept store makes a second run quick.
    ///
    /// Throws without writing anything when the store holds sources that are not documents of
    /// `dataset`: they would take part in the rankings, and the store may be someone's real
    /// knowledge base given by mistake.
    ///
    /// With `truncate`, each document is one passage of which the model reads what its window holds,
    /// as MTEB does, instead of chunks scored by the best one: for comparing with published figures.
    public func ingest(_ dataset: BEIRDataset, truncate: Bool = false,
                       progress: @escaping @Sendable (_ done: Int, _ total: Int) async -> Void = { _, _ in }) async throws
        -> EvaluationIngest {
        let start = DispatchTime.now().uptimeNanoseconds
        let store = self.store
        if let vectorsFromAnotherModel { throw vectorsFromAnotherModel }
        try await checkHoldsOnly(dataset, name: "the evaluation store", remedy: "give a new folder")
        let embedder = try await embeddings.model()
        let chunker = embedder.passageChunker(fillingWindow: true)
        let preparer = FilePreparer(store: store, technology: Self.technology, maxFileBytes: .max, chunker: chunker)
        let chunking: FilePreparer.TextChunking = truncate ? .whole : .chunked
        var figures = EvaluationIngest(documents: dataset.documents.count)
        figures.model = embedder.name
        figures.modelFingerprint = modelFingerprint ?? "unknown"
        var pending = PendingWrites()
        func flush() async throws {
            let outcome = try await pending.flush(embeddings: embeddings, store: store)
            figures.documentsWritten += outcome.sourcesWritten
            figures.chunksEmbedded += outcome.chunksEmbedded
        }
        for (index, document) in dataset.documents.enumerated() {
            try Task.checkCancellation()
            if index % 64 == 0 { await progress(index, dataset.documents.count) }
            let prepared = try await BlockingExecutor.run {
                try preparer.prepare(source: document.id, text: document.indexedText, chunking: chunking)
            }
            switch prepared {
            case .unchanged: figures.documentsUnchanged += 1
            case .skipped: figures.documentsEmpty += 1
            case .ready(let file): pending.append(file)
            }
            if pending.isFull { try await flush() }
        }
        try await flush()
        await progress(dataset.documents.count, dataset.documents.count)
        figures.chunks = try await BlockingExecutor.run { [store] in store.chunkCount() }
        figures.seconds = Self.seconds(since: start)
        return figures
    }

    /// Throws when the knowledge base (with Chroma, the collection, as copied) holds sources that
    /// are not documents of `dataset`: they would take part in the rankings, and it may be
    /// someone's real knowledge base given by mistake. `name` and `remedy` word the refusal.
    public func checkHoldsOnly(_ dataset: BEIRDataset, name: String, remedy: String) async throws {
        let store = self.store
        let documentIDs = Set(dataset.documents.map(\.id))
        let foreign = try await BlockingExecutor.run { try store.listSources().filter { !documentIDs.contains($0.source) } }
        if let first = foreign.first {
            throw InvalidRequest("""
                \(name) holds \(foreign.count) sources that are not documents of this dataset \
                (\"\(first.source)\" is one); \(remedy), or one an earlier mcp-rag eval of this dataset filled
                """)
        }
    }

    /// Runs every judged query of `dataset` in each of `modes` and scores the rankings; `starting`
    /// is told as each mode begins.
    public func evaluate(_ dataset: BEIRDataset, modes: [SearchMode] = SearchMode.allCases,
                         starting: @Sendable (SearchMode) async -> Void = { _ in }) async throws -> [ModeEvaluation] {
        let store = self.store
        if let vectorsFromAnotherModel { throw vectorsFromAnotherModel }
        let sourceOfChunk = try await BlockingExecutor.run { try store.sourcesByChunk() }
        let retriever = Retriever(store: store, vectors: vectors, embeddings: embeddings, modelState: VectorModelState())
        let documents: @Sendable ([ScoredChunk]) -> [ScoredChunk] = { Self.bestChunkPerDocument($0, sourceOfChunk) }
        var results: [ModeEvaluation] = []
        for mode in modes {
            await starting(mode)
            var rankings: [String: [ScoredChunk]] = [:]
            var milliseconds: [Double] = []
            let start = DispatchTime.now().uptimeNanoseconds
            for query in dataset.queries {
                try Task.checkCancellation()
                let started = DispatchTime.now().uptimeNanoseconds
                let ranking = try await retriever.rank(query.text, technology: nil, mode: mode, limit: Self.rankedDocuments,
                                                       searchDepth: Self.searchDepth, unit: documents)
                milliseconds.append(Double(DispatchTime.now().uptimeNanoseconds - started) / 1e6)
                // A degraded ranking would score another mode under this one's name.
                if let reason = ranking.degradedReason { throw EmbeddingUnavailable(reason: reason) }
                rankings[query.id] = ranking.hits
            }
            let scores = RetrievalScores(rankings: rankings.mapValues { $0.map(\.id) }, judgements: dataset.judgements)
            results.append(ModeEvaluation(mode: mode, scores: scores, seconds: Self.seconds(since: start),
                                          queryMilliseconds: milliseconds, rankings: rankings))
        }
        return results
    }

    /// `ranking` with each chunk replaced by its document, keeping a document's first (best) place
    /// and score. Chunks removed since the map was read are left out.
    static func bestChunkPerDocument(_ ranking: [ScoredChunk], _ sourceOfChunk: [String: String]) -> [ScoredChunk] {
        var seen = Set<String>()
        return ranking.compactMap { hit in
            guard let document = sourceOfChunk[hit.id], seen.insert(document).inserted else { return nil }
            return ScoredChunk(id: document, score: hit.score)
        }
    }

    private static func seconds(since start: UInt64) -> Double {
        Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }
}

/// What writing a benchmark corpus did.
public struct EvaluationIngest: Sendable, Codable, Equatable {
    /// The model that embedded the passages (and the queries): its name and fingerprint.
    public var model = ""
    public var modelFingerprint = ""
    public var documents: Int
    /// Documents new or changed since a kept store was filled.
    public var documentsWritten = 0
    public var documentsUnchanged = 0
    /// Documents with no text to index (neither title nor body).
    public var documentsEmpty = 0
    /// Chunks in the store afterwards.
    public var chunks = 0
    public var chunksEmbedded = 0
    public var seconds = 0.0

    enum CodingKeys: String, CodingKey {
        case model, documents, chunks, seconds
        case modelFingerprint = "model_fingerprint"
        case documentsWritten = "documents_written"
        case documentsUnchanged = "documents_unchanged"
        case documentsEmpty = "documents_empty"
        case chunksEmbedded = "chunks_embedded"
    }
}

/// One mode's figures on a benchmark.
public struct ModeEvaluation: Sendable, Codable, Equatable {
    public var mode: SearchMode
    public var scores: RetrievalScores
    /// All queries, one after the other.
    public var seconds: Double
    /// Median time of one query, embedding included.
    public var p50Milliseconds: Double
    /// The 99th percentile of the same.
    public var p99Milliseconds: Double
    /// Query id → documents, best first, with the score of the ranking that placed them (not
    /// encoded: `trecRun` writes them in the format evaluation tools read).
    public var rankings: [String: [ScoredChunk]] = [:]

    init(mode: SearchMode, scores: RetrievalScores, seconds: Double, queryMilliseconds: [Double],
         rankings: [String: [ScoredChunk]]) {
        self.mode = mode
        self.scores = scores
        self.seconds = seconds
        let sorted = queryMilliseconds.sorted()
        p50Milliseconds = sorted.isEmpty ? 0 : sorted[sorted.count / 2]
        p99Milliseconds = sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, sorted.count * 99 / 100)]
        self.rankings = rankings
    }

    /// The rankings as a TREC run (`query-id Q0 doc-id rank score tag`, one line per document,
    /// queries in id order), which trec_eval, pytrec_eval and ranx read.
    public var trecRun: String {
        var lines: [String] = []
        for query in rankings.keys.sorted() {
            for (index, hit) in rankings[query, default: []].enumerated() {
                lines.append("\(query) Q0 \(hit.id) \(index + 1) \(hit.score) mcp-rag-\(mode.rawValue)")
            }
        }
        return lines.map { $0 + "\n" }.joined()
    }

    enum CodingKeys: String, CodingKey {
        case mode, scores, seconds
        case p50Milliseconds = "p50_ms"
        case p99Milliseconds = "p99_ms"
    }
}

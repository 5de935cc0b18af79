import Blocking
import Dispatch
import SQLiteLedger
import Storage

/// Ranks the stored chunks for one query in one of the three modes: the search itself, without
/// validation, cache or tracking. `QueryService` answers clients with it; `RetrievalEvaluation`
/// measures it.
struct Retriever: Sendable {
    /// A ranking, the mode that produced it, and why that differs from the requested one, if it does.
    struct Ranking: Sendable {
        var hits: [ScoredChunk]
        var mode: SearchMode
        var degradedReason: String?
    }

    let store: SQLiteKnowledgeStore
    /// Where semantic search happens: the store's own vectors, or Chroma.
    let vectors: any VectorSearch
    let embeddings: EmbeddingService

    /// Set when the stored vectors belong to another model: semantic search is then skipped.
    let modelState: VectorModelState

    init(store: SQLiteKnowledgeStore, vectors: (any VectorSearch)? = nil, embeddings: EmbeddingService,
         modelState: VectorModelState) {
        self.store = store
        self.vectors = vectors ?? store
        self.embeddings = embeddings
        self.modelState = modelState
    }

    /// The best `limit` hits for `query`.
    ///
    /// - Parameters:
    ///   - searchDepth: chunks taken from each search (semantic, keyword); in hybrid mode it should
    ///     exceed `limit`, so that a passage ranked well by one method but outside the other's top
    ///     `limit` still gets fused.
    ///   - unit: turns each search's chunk ranking into a ranking of what is being retrieved, before
    ///     fusion. Chunks themselves for a client; a benchmark that judges whole documents maps each
    ///     chunk to its document, which then ranks where its best chunk does.
    ///   - timings: gets the time of each stage.
    ///
    /// In hybrid mode the embedding comes first, alone: the CPU encoder already spreads one query
    /// over every core, and a keyword search competing with it for a core slowed it down by more
    /// than the search itself took; right after a keyword search it was slower too (at a million
    /// chunks, 6.9–8.7 ms against 4.5–5.1 ms, modes interleaved on one server), as though the
    /// search's reads had pushed what the encoder reads out of the CPU caches. The keyword search
    /// then runs beside the vector search: the scan is bound by memory bandwidth, the keyword
    /// search by the latency of its reads, and side by side they took 3–4 ms less than one after
    /// the other at a million chunks (hybrid p50 28.6–29.4 ms against 31.7–37.8 through the client).
    ///
    /// `technology` matches the stored labels equal to it ignoring case (see `LabelFilter`).
    func rank(_ query: String, technology: String?, mode: SearchMode, limit: Int, searchDepth: Int,
              unit: @Sendable ([ScoredChunk]) -> [ScoredChunk] = { $0 },
              timings: StageTimings = StageTimings()) async throws -> Ranking {
        let store = self.store
        // The labels sit beside the vectors, under the lock a scan holds: read them off the
        // cooperative pool, and only when there is a filter.
        let filter = technology == nil ? LabelFilter(nil, known: [])
            : try await BlockingExecutor.run { LabelFilter(technology, known: store.knownTechnologyLabels()) }
        // A filter no stored label answers finds nothing: no need to embed the query.
        guard !filter.matchesNothing else { return Ranking(hits: [], mode: mode) }
        @Sendable func keywordRanking() async throws -> [ScoredChunk] {
            unit(try await timings.measure("keyword") {
                try await filter.search(limit: searchDepth) { label in
                    try await BlockingExecutor.run { try store.keywordSearch(query, limit: searchDepth, technology: label) }
                }
            })
        }
        guard mode != .keyword else { return Ranking(hits: Array(try await keywordRanking().prefix(limit)), mode: .keyword) }
        /// The answer when semantic search cannot be had: keyword search alone, saying why.
        func keywordOnly(_ error: any Error, keyword: [ScoredChunk]?) async throws -> Ranking {
            let reason = "semantic search is unavailable (\(ClientError(error).message)); these results come from keyword search alone"
            let keyword = if let keyword { keyword } else { try await keywordRanking() }
            return Ranking(hits: Array(keyword.prefix(limit)), mode: .keyword, degradedReason: reason)
        }
        if let mismatch = modelState.current { return try await keywordOnly(mismatch, keyword: nil) }
        let vector: [Float]
        do {
            let started = DispatchTime.now().uptimeNanoseconds
            vector = try await embeddings.embed([query], priority: .interactive)[0]
            timings.record("embed", since: started)
        } catch {
            return try await keywordOnly(error, keyword: nil)
        }
        async let keyword = mode == .hybrid ? try await keywordRanking() : []
        let vectors = self.vectors
        let semanticRanking: [ScoredChunk]
        do {
            semanticRanking = unit(try await timings.measure("semantic") {
                try await filter.search(limit: searchDepth) { try await vectors.nearest(to: vector, limit: searchDepth, technology: $0) }
            })
        } catch {
            // A remote vector store that is down degrades the answer; the local one failing is a fault.
            guard vectors.vectorBackend.isRemote else { throw error }
            return try await keywordOnly(error, keyword: mode == .hybrid ? try await keyword : nil)
        }
        guard mode == .hybrid else { return Ranking(hits: Array(semanticRanking.prefix(limit)), mode: .semantic) }
        let keywordRanking = try await keyword
        let fused = timings.measureSync("fusion") { RankFusion.reciprocalRank([semanticRanking, keywordRanking]) }
        return Ranking(hits: Array(fused.prefix(limit)), mode: .hybrid)
    }
}

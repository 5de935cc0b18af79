@testable import KnowledgeBase
import Storage
import Testing

/// The pure parts of `RetrievalEvaluation`: chunks collapsed into documents, and the TREC run.
@Suite struct RetrievalEvaluationTests {
    @Test func aDocumentRanksWhereItsBestChunkDoes() {
        let sources = ["a#0": "a", "a#1": "a", "b#0": "b", "c#0": "c"]
        let ranking = [ScoredChunk(id: "a#1", score: 0.9), ScoredChunk(id: "b#0", score: 0.8),
                       ScoredChunk(id: "a#0", score: 0.7), ScoredChunk(id: "gone", score: 0.6),
                       ScoredChunk(id: "c#0", score: 0.5)]
        let documents = RetrievalEvaluation.bestChunkPerDocument(ranking, sources)
        // a keeps its first place and its best chunk's score; a chunk no longer stored is left out.
        #expect(documents == [ScoredChunk(id: "a", score: 0.9), ScoredChunk(id: "b", score: 0.8),
                              ScoredChunk(id: "c", score: 0.5)])
    }

    @Test func theTrecRunListsQueriesInOrderWithRanksFromOne() {
        let scores = RetrievalScores(rankings: [:], judgements: [:])
        let evaluation = ModeEvaluation(
            mode: .keyword, scores: scores, seconds: 1, queryMilliseconds: [3, 1, 2],
            rankings: ["q2": [ScoredChunk(id: "d9", score: 1.5)],
                       "q1": [ScoredChunk(id: "d1", score: 2.25), ScoredChunk(id: "d2", score: 0.5)]])
        #expect(evaluation.trecRun == """
            q1 Q0 d1 1 2.25 mcp-rag-keyword
            q1 Q0 d2 2 0.5 mcp-rag-keyword
            q2 Q0 d9 1 1.5 mcp-rag-keyword

            """)
        #expect(evaluation.p50Milliseconds == 2)
    }
}

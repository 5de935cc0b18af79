import Foundation
@testable import KnowledgeBase
import Testing

/// Hand-made rankings whose figures are worked out from the definitions (trec_eval's, as BEIR uses).
@Suite struct RetrievalMetricsTests {
    /// b is highly relevant, a relevant, c judged not relevant; x is unjudged.
    private let graded: RelevanceJudgements = ["a": 1, "b": 2, "c": 0]
    private let ranking = ["c", "b", "x", "a"]

    @Test func ndcgUsesLinearGainAndLogDiscount() {
        // DCG = 0/log2(2) + 2/log2(3) + 0/log2(4) + 1/log2(5); ideal order b, a: 2/log2(2) + 1/log2(3).
        let expected = (2 / log2(3.0) + 1 / log2(5.0)) / (2 + 1 / log2(3.0))
        #expect(abs(RetrievalMetrics.ndcg(ranking, judgements: graded, cutoff: 10) - expected) < 1e-12)
        #expect(abs(RetrievalMetrics.ndcg(ranking, judgements: graded, cutoff: 10) - 0.6433224) < 1e-6)
    }

    @Test func ndcgCutsBothTheRankingAndTheIdealAtK() {
        // At k = 2, a (rank 4) no longer counts, and the ideal is cut to b, a.
        let expected = (2 / log2(3.0)) / (2 + 1 / log2(3.0))
        #expect(abs(RetrievalMetrics.ndcg(ranking, judgements: graded, cutoff: 2) - expected) < 1e-12)
        // At k = 1 the ideal is b alone, and rank 1 (c) gains nothing.
        #expect(RetrievalMetrics.ndcg(ranking, judgements: graded, cutoff: 1) == 0)
        #expect(RetrievalMetrics.ndcg(["b", "a"], judgements: graded, cutoff: 1) == 1)
    }

    @Test func aPerfectRankingScoresOneAndNothingRelevantScoresZero() {
        #expect(abs(RetrievalMetrics.ndcg(["b", "a", "c"], judgements: graded, cutoff: 10) - 1) < 1e-12)
        // The wrong order of two relevant grades is not perfect.
        #expect(RetrievalMetrics.ndcg(["a", "b"], judgements: graded, cutoff: 10) < 1)
        #expect(RetrievalMetrics.ndcg(["a"], judgements: ["a": 0], cutoff: 10) == 0)
        #expect(RetrievalMetrics.ndcg([], judgements: graded, cutoff: 10) == 0)
    }

    @Test func recallCountsRelevantDocumentsInTheTopK() {
        #expect(RetrievalMetrics.recall(ranking, judgements: graded, cutoff: 2) == 0.5)
        #expect(RetrievalMetrics.recall(ranking, judgements: graded, cutoff: 3) == 0.5)
        #expect(RetrievalMetrics.recall(ranking, judgements: graded, cutoff: 100) == 1)
        #expect(RetrievalMetrics.recall(["c", "x"], judgements: graded, cutoff: 10) == 0)
    }

    @Test func reciprocalRankIsThatOfTheFirstRelevantDocumentWithinK() {
        #expect(RetrievalMetrics.reciprocalRank(ranking, judgements: graded, cutoff: 10) == 0.5)
        #expect(RetrievalMetrics.reciprocalRank(ranking, judgements: graded, cutoff: 1) == 0)
        #expect(RetrievalMetrics.reciprocalRank(["x", "y", "a"], judgements: graded, cutoff: 10) == 1.0 / 3)
    }

    @Test func scoresAverageOverJudgedQueriesAndCountUnansweredOnesAsZero() {
        let judgements: [String: RelevanceJudgements] = [
            "answered": ["d1": 1],
            "unanswered": ["d2": 1],
            "nothing relevant": ["d3": 0],
        ]
        let scores = RetrievalScores(rankings: ["answered": ["d1", "d9"], "nothing relevant": ["d3"]],
                                     judgements: judgements)
        #expect(scores.queries == 2)
        #expect(scores.ndcgAt10 == 0.5)
        #expect(scores.recallAt10 == 0.5)
        #expect(scores.recallAt100 == 0.5)
        #expect(scores.mrrAt10 == 0.5)
    }

    @Test func recallAt100SeesPastTheTopTen() {
        let ranking = (0..<50).map { "miss\($0)" } + ["hit"]
        let scores = RetrievalScores(rankings: ["q": ranking], judgements: ["q": ["hit": 1]])
        #expect(scores.recallAt10 == 0)
        #expect(scores.recallAt100 == 1)
        #expect(scores.ndcgAt10 == 0)
    }
}

@Suite struct BEIRDatasetTests {
    private func folder(corpus: String, queries: String, qrels: String) throws -> TemporaryFolder {
        let folder = try TemporaryFolder()
        try folder.write("corpus.jsonl", corpus)
        try folder.write("queries.jsonl", queries)
        try FileManager.default.createDirectory(at: folder.url.appendingPathComponent("qrels"), withIntermediateDirectories: true)
        try folder.write("qrels/test.tsv", qrels)
        return folder
    }

    @Test func readsTheThreeFilesAndIgnoresQueryLabels() throws {
        let folder = try folder(
            corpus: """
            {"_id": "d1", "title": "Vitamin D", "text": "Bones need it."}
            {"_id": 7, "text": "No title here.", "metadata": {}}

            """,
            queries: """
            {"_id": "q1", "text": "what do bones need", "metadata": {"d1": [{"label": "SUPPORT"}]}}
            {"_id": "q2", "text": "a query without judgements"}
            """,
            qrels: "query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\t7\t0\n")
        let dataset = try BEIRDataset(folder: folder.url)
        #expect(dataset.documents.map(\.id) == ["d1", "7"])
        #expect(dataset.documents.map(\.indexedText) == ["Vitamin D Bones need it.", "No title here."])
        // Only judged queries are kept, and only their id and text.
        #expect(dataset.queries == [BEIRDataset.Query(id: "q1", text: "what do bones need")])
        #expect(dataset.judgements == ["q1": ["d1": 1, "7": 0]])
    }

    @Test func aBadLineIsNamedByFileAndLine() throws {
        let folder = try folder(corpus: "{\"_id\": \"d1\", \"text\": \"fine\"}\n{\"_id\": \"d2\", \"text\": 3}\n",
                                queries: "{\"_id\": \"q1\", \"text\": \"q\"}\n", qrels: "q1\td1\t1\n")
        let error = try #require(throws: BEIRDatasetError.self) { try BEIRDataset(folder: folder.url) }
        #expect(error.description.contains("corpus.jsonl:2"))
        #expect(error.description.contains("\"text\" is a number"))
    }

    @Test func windowsLineEndsReadAsSeparateLines() throws {
        let folder = try folder(corpus: "{\"_id\": \"d1\", \"text\": \"one\u{2028}line\"}\r\n{\"_id\": \"d2\", \"text\": \"two\"}\r\n",
                                queries: "{\"_id\": \"q1\", \"text\": \"q\"}\r\n",
                                qrels: "query-id\tcorpus-id\tscore\r\nq1\td1\t1\r\nq1\td2\t2\r\n")
        let dataset = try BEIRDataset(folder: folder.url)
        #expect(dataset.documents.map(\.id) == ["d1", "d2"])
        // A Unicode line separator inside a JSON string is text, not a line end.
        #expect(dataset.documents[0].text == "one\u{2028}line")
        #expect(dataset.judgements == ["q1": ["d1": 1, "d2": 2]])
    }

    @Test func aRepeatedDocumentIdIsAnError() throws {
        let folder = try folder(corpus: "{\"_id\": \"d1\", \"text\": \"a\"}\n{\"_id\": \"d1\", \"text\": \"b\"}\n",
                                queries: "{\"_id\": \"q1\", \"text\": \"q\"}\n", qrels: "q1\td1\t1\n")
        let error = try #require(throws: BEIRDatasetError.self) { try BEIRDataset(folder: folder.url) }
        #expect(error.description.contains("corpus.jsonl:2"))
        #expect(error.description.contains("corpus.jsonl:1"))
    }

    @Test func malformedQrelsAndMissingFilesAreClearErrors() throws {
        let badGrade = try folder(corpus: "", queries: "", qrels: "query-id\tcorpus-id\tscore\nq1\td1\thigh\n")
        let gradeError = try #require(throws: BEIRDatasetError.self) { try BEIRDataset(folder: badGrade.url) }
        #expect(gradeError.description.contains("test.tsv:2"))

        let missing = try TemporaryFolder()
        let missingError = try #require(throws: BEIRDatasetError.self) { try BEIRDataset(folder: missing.url) }
        #expect(missingError.description.contains("qrels/test.tsv"))
    }
}

@testable import KnowledgeBase
import Storage
import Testing

@Suite struct RankFusionTests {
    private func ranking(_ ids: [String]) -> [ScoredChunk] {
        ids.enumerated().map { ScoredChunk(id: $0.element, score: Double(100 - $0.offset)) }
    }

    @Test func scoresAreSumsOfReciprocalRanks() throws {
        let fused = RankFusion.reciprocalRank([ranking(["a", "b", "c"]), ranking(["c", "a"])], k: 60)
        let scores = Dictionary(uniqueKeysWithValues: fused.map { ($0.id, $0.score) })
        let expected: [String: Double] = ["a": 1.0 / 61 + 1.0 / 62, "b": 1.0 / 62, "c": 1.0 / 63 + 1.0 / 61]
        for (id, score) in expected {
            let fusedScore: Double = try #require(scores[id])
            #expect(abs(fusedScore - score) < 1e-12)
        }
        #expect(fused.map(\.id) == ["a", "c", "b"])
    }

    @Test func agreementBeatsOneHighRank() {
        // Second in both lists beats first in one list only.
        let fused = RankFusion.reciprocalRank([ranking(["x", "both"]), ranking(["y", "both"])])
        #expect(fused.first?.id == "both")
    }

    @Test func tiesAreBrokenByIDAndEmptyListsAreFine() {
        let fused = RankFusion.reciprocalRank([ranking(["b"]), ranking(["a"]), []])
        #expect(fused.map(\.id) == ["a", "b"])
        #expect(RankFusion.reciprocalRank([]).isEmpty)
    }
}

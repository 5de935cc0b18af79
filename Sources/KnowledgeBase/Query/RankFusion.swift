import Storage

/// Reciprocal rank fusion (Cormack, Clarke and Büttcher, SIGIR 2009): each ranking gives a
/// document 1 / (k + rank), and the sums order the fused list.
///
/// Why RRF: cosine similarities and BM25 scores live on unrelated scales (BM25 is unbounded and
/// depends on the corpus), so blending raw scores needs per-corpus tuning; ranks need none. k = 60 is
/// the value from the paper, chosen there on other collections, and damps the influence of the very
/// top ranks so one list cannot dominate.
public enum RankFusion {
    /// The constant from the original paper.
    public static let defaultK = 60.0

    /// `rankings` fused, best first, with the fused score; ties go to the smaller id so results
    /// are deterministic.
    public static func reciprocalRank(_ rankings: [[ScoredChunk]], k: Double = defaultK) -> [ScoredChunk] {
        var scores: [String: Double] = [:]
        var passages: [String: StoredChunk] = [:]
        for ranking in rankings {
            for (index, hit) in ranking.enumerated() {
                scores[hit.id, default: 0] += 1 / (k + Double(index + 1))
                if let passage = hit.passage { passages[hit.id] = passage }
            }
        }
        return scores.map { ScoredChunk(id: $0.key, score: $0.value, passage: passages[$0.key]) }
            .sorted(by: ScoredChunk.ranksBefore)
    }
}

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
        // One entry per chunk, found by id; sorted in place, so no chunk (with its passage, when it
        // came with one) is copied after it is taken in.
        var fused: [ScoredChunk] = []
        var entry: [String: Int] = [:]
        let count = rankings.reduce(0) { $0 + $1.count }
        fused.reserveCapacity(count)
        entry.reserveCapacity(count)
        for ranking in rankings {
            for (index, hit) in ranking.enumerated() {
                let share = 1 / (k + Double(index + 1))
                guard let at = entry[hit.id] else {
                    entry[hit.id] = fused.count
                    fused.append(ScoredChunk(id: hit.id, score: share, passage: hit.passage))
                    continue
                }
                fused[at].score += share
                if let passage = hit.passage { fused[at].passage = passage }
            }
        }
        fused.sort(by: ScoredChunk.ranksBefore)
        return fused
    }
}

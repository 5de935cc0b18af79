import Foundation

/// The relevance judgements of one query: document id → graded relevance (qrels). Only grades
/// above zero count as relevant, as in trec_eval; a grade of zero is a judged non-relevant document.
public typealias RelevanceJudgements = [String: Int]

/// Ranked-retrieval metrics computed as BEIR computes them through pytrec_eval, so our figures can
/// be set beside published ones:
/// - nDCG@k: linear gain (the grade itself), discount log2(rank + 1), ideal ranking from the
///   judged grades sorted best first and cut at k (trec_eval's `ndcg_cut`);
/// - Recall@k: relevant documents in the top k over all relevant documents;
/// - MRR@k: 1 / rank of the first relevant document in the top k, 0 when there is none.
///
/// `ranking` is document ids best first, each at most once (callers deduplicate chunk hits into
/// documents before scoring).
public enum RetrievalMetrics {
    public static func ndcg(_ ranking: [String], judgements: RelevanceJudgements, cutoff: Int) -> Double {
        let ideal = judgements.values.filter(isRelevant).sorted(by: >).prefix(cutoff)
        let idealGain = discountedGain(ideal)
        guard idealGain > 0 else { return 0 }
        let gains = ranking.prefix(cutoff).map { max(judgements[$0] ?? 0, 0) }
        return discountedGain(gains) / idealGain
    }

    public static func recall(_ ranking: [String], judgements: RelevanceJudgements, cutoff: Int) -> Double {
        let relevant = judgements.values.filter(isRelevant).count
        guard relevant > 0 else { return 0 }
        let found = ranking.prefix(cutoff).filter { isRelevant(judgements[$0] ?? 0) }.count
        return Double(found) / Double(relevant)
    }

    public static func reciprocalRank(_ ranking: [String], judgements: RelevanceJudgements, cutoff: Int) -> Double {
        guard let index = ranking.prefix(cutoff).firstIndex(where: { isRelevant(judgements[$0] ?? 0) }) else { return 0 }
        return 1 / Double(index + 1)
    }

    /// trec_eval's rule: a grade above zero; zero (or below) is judged not relevant.
    static func isRelevant(_ grade: Int) -> Bool { grade > 0 }

    /// Σ gainᵢ / log2(i + 1) over 1-based ranks i.
    private static func discountedGain<Gains: Sequence<Int>>(_ gains: Gains) -> Double {
        var total = 0.0
        for (index, gain) in gains.enumerated() where gain > 0 {
            total += Double(gain) / log2(Double(index + 2))
        }
        return total
    }
}

/// The four figures `mcp-rag eval` reports, averaged over queries.
public struct RetrievalScores: Sendable, Equatable, Codable {
    public var ndcgAt10: Double
    public var recallAt10: Double
    public var recallAt100: Double
    public var mrrAt10: Double
    /// The queries averaged over.
    public var queries: Int

    enum CodingKeys: String, CodingKey {
        case ndcgAt10 = "ndcg@10", recallAt10 = "recall@10", recallAt100 = "recall@100", mrrAt10 = "mrr@10", queries
    }

    /// The mean of each metric over `rankings` (query id → document ids, best first), taken over every
    /// query that has at least one relevant document. A judged query with no ranking scores zero: unlike
    /// pytrec_eval, which leaves such a query out, a query we failed to answer counts against us.
    public init(rankings: [String: [String]], judgements: [String: RelevanceJudgements]) {
        let judged = judgements.filter { $0.value.values.contains(where: RetrievalMetrics.isRelevant) }
        var sums = (ndcg: 0.0, recall10: 0.0, recall100: 0.0, mrr: 0.0)
        for (query, relevant) in judged {
            let ranking = rankings[query] ?? []
            sums.ndcg += RetrievalMetrics.ndcg(ranking, judgements: relevant, cutoff: 10)
            sums.recall10 += RetrievalMetrics.recall(ranking, judgements: relevant, cutoff: 10)
            sums.recall100 += RetrievalMetrics.recall(ranking, judgements: relevant, cutoff: 100)
            sums.mrr += RetrievalMetrics.reciprocalRank(ranking, judgements: relevant, cutoff: 10)
        }
        let count = Double(max(judged.count, 1))
        ndcgAt10 = sums.ndcg / count
        recallAt10 = sums.recall10 / count
        recallAt100 = sums.recall100 / count
        mrrAt10 = sums.mrr / count
        queries = judged.count
    }
}

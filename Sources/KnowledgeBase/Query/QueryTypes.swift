import Foundation

/// How a query finds passages.
public enum SearchMode: String, Sendable, Codable, CaseIterable {
    /// Semantic and keyword rankings fused with reciprocal rank fusion.
    case hybrid
    /// Cosine similarity of embeddings only.
    case semantic
    /// BM25 over the full-text index only.
    case keyword

    /// The mode used when a client names none.
    public static let `default` = SearchMode.hybrid
}

/// A question for the knowledge base.
public struct QueryRequest: Sendable, Equatable {
    /// Longest query text accepted, in characters: the model reads about 256 word pieces anyway.
    public static let maxQueryCharacters = 4_096
    /// The most results one query may ask for.
    public static let resultLimitRange = 1...50

    public var query: String
    public var limit: Int
    public var technology: String?
    public var mode: SearchMode
    /// False skips the result cache (benchmarks measure the full path this way).
    public var useCache: Bool
    /// False leaves the query out of the statistics (cache warming is not someone asking).
    public var tracked: Bool

    public init(query: String, limit: Int = 5, technology: String? = nil, mode: SearchMode = .default,
                useCache: Bool = true, tracked: Bool = true) {
        self.query = query
        self.limit = limit
        self.technology = technology
        self.mode = mode
        self.useCache = useCache
        self.tracked = tracked
    }
}

/// One passage in an answer.
public struct QueryResult: Sendable, Codable, Equatable {
    public var id: String
    public var text: String
    public var source: String
    public var heading: String
    public var technology: String
    /// The score of the ranking that produced the list: cosine similarity (semantic), BM25
    /// (keyword) or the fused reciprocal-rank score (hybrid).
    public var score: Double
    /// Position in the answer, from 1.
    public var rank: Int
    /// The page it is on, from 1, when its source is a PDF; absent otherwise.
    public var page: Int?
}

/// An answer, as `query_knowledge_base` returns it.
public struct QueryResponse: Sendable, Codable, Equatable {
    public var query: String
    public var mode: SearchMode
    public var results: [QueryResult]
    public var tookMs: Double
    public var cacheHit: Bool
    /// True when a part of the search was unavailable and the answer comes from what was left.
    public var degraded: Bool
    /// Why the answer is degraded; nil when it is not.
    public var degradedReason: String?
    /// Passages found but left out to keep an assistant's answer small (`cappedForAnswer`); nil
    /// when none were.
    public var resultsOmitted: Int?

    enum CodingKeys: String, CodingKey {
        case query, mode, results
        case tookMs = "took_ms"
        case cacheHit = "cache_hit"
        case degraded
        case degradedReason = "degraded_reason"
        case resultsOmitted = "results_omitted"
    }

    /// The answer with as many passages, best first, as fit in `AnswerBudget.answerBytes` once it is
    /// written twice (structured content, and its text escaped inside the message), and the count
    /// of those left out: fifty passages of 4 KB would be 400 KB. The first passage is always kept.
    public func cappedForAnswer(maxBytes: Int = AnswerBudget.answerBytes) -> QueryResponse {
        // The rest of the answer (the JSON-RPC envelope and its id, the other fields, an event
        // stream's framing), and per passage its field names, numbers and punctuation.
        let fixed = AnswerBudget.twiceWritten(query) + AnswerBudget.twiceWritten(degradedReason ?? "") + 700
        let kept = AnswerBudget.prefix(results, maxBytes: maxBytes - fixed) { result in
            AnswerBudget.twiceWritten(result.text) + AnswerBudget.twiceWritten(result.heading)
                + AnswerBudget.twiceWritten(result.source) + AnswerBudget.twiceWritten(result.technology)
                + AnswerBudget.twiceWritten(result.id) + 260
        }
        guard kept.omitted > 0 else { return self }
        var capped = self
        capped.results = kept.kept
        capped.resultsOmitted = kept.omitted
        return capped
    }
}

/// A request that cannot be served as given; the message says what to change.
public struct InvalidRequest: Error, CustomStringConvertible, Sendable, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

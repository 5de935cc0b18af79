import Foundation

/// Turns arbitrary user text into an FTS5 query that cannot fail to parse.
///
/// FTS5 has its own query syntax (`"phrases"`, `NEAR(…)`, `prefix*`, `-`, `column:`, AND/OR/NOT), in
/// which ordinary questions ("what's C++'s NOT operator?") are syntax errors. Only runs of letters
/// and digits are kept, each becomes a quoted string (where the syntax has no operators), and the
/// terms are joined with OR: any document with any term matches, ranked by BM25, as in BEIR's BM25
/// baseline. The text also travels as a bound parameter, so it never reaches the SQL itself.
enum FTSQuery {
    /// More terms add little to the ranking and make each query slower.
    static let maximumTerms = 64

    /// English function words left out of queries (Lucene's default English stop set, which
    /// BEIR's BM25 baseline uses through Elasticsearch).
    ///
    /// BM25 gives them almost no weight, since nearly every passage has them, but FTS5 still scores
    /// every passage they match: dropping them makes a query several times faster and changes
    /// the ranking very little. A query made only of them is searched as it is.
    static let stopWords: Set<String> = [
        "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it", "no", "not",
        "of", "on", "or", "such", "that", "the", "their", "then", "there", "these", "they", "this", "to", "was",
        "will", "with",
    ]

    /// The distinct lower-cased letter-and-digit runs of `text` that are not stop words (all of
    /// them if every one is), in order of first appearance, at most `maximumTerms`.
    static func terms(in text: String) -> [String] {
        var seen: Set<String> = []
        var terms: [String] = []
        var stopped: [String] = []
        for run in text.split(whereSeparator: { !($0.isLetter || $0.isNumber) }) {
            let term = run.lowercased()
            guard seen.insert(term).inserted else { continue }
            if stopWords.contains(term) {
                stopped.append(term)
                continue
            }
            terms.append(term)
            if terms.count == maximumTerms { break }
        }
        return terms.isEmpty ? Array(stopped.prefix(maximumTerms)) : terms
    }

    /// The FTS5 MATCH expression for `text`, nil when it has no letters or digits.
    static func matchExpression(for text: String) -> String? {
        let terms = terms(in: text)
        guard !terms.isEmpty else { return nil }
        // Terms hold no quotes, but doubling them is FTS5's escape and keeps this safe on its own.
        return terms.map { "\"" + $0.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }
            .joined(separator: " OR ")
    }
}

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

    /// The distinct lower-cased letter-and-digit runs of `text`, in order of first appearance, at most `maximumTerms`.
    static func terms(in text: String) -> [String] {
        var seen: Set<String> = []
        var terms: [String] = []
        for run in text.split(whereSeparator: { !($0.isLetter || $0.isNumber) }) {
            let term = run.lowercased()
            guard seen.insert(term).inserted else { continue }
            terms.append(term)
            if terms.count == maximumTerms { break }
        }
        return terms
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

/// A token that Hugging Face matches in the text before the model sees it ([CLS], [MASK], ...).
struct AddedToken: Sendable, Equatable {
    /// The literal text.
    var content: String
    /// When false the token is matched in the original text; when true, in the normalised text.
    var normalized: Bool
}

/// An added token with the id Hugging Face gives it.
struct ResolvedAddedToken: Sendable, Equatable {
    var content: String
    var id: Int32
    var normalized: Bool
}

/// Finds added tokens in a byte string with Hugging Face's rule: leftmost match first, and of the
/// matches starting there the longest (Aho-Corasick `LeftmostLongest`).
///
/// Special-token sets are tiny, so a first-byte filter and a direct comparison beat an automaton.
struct AddedTokenMatcher: Sendable {
    private struct Pattern: Sendable {
        let bytes: [UInt8]
        let id: Int32
    }

    /// Longest first, so the first hit at a position is the longest one.
    private let patterns: [Pattern]
    /// Which bytes can start a pattern.
    private let startsPattern: [Bool]

    /// True when there is nothing to match.
    var isEmpty: Bool { patterns.isEmpty }

    /// Builds the matcher; empty contents are ignored, and a content listed twice keeps its last id.
    init(_ tokens: [(content: [UInt8], id: Int32)]) {
        var byContent: [[UInt8]: Int32] = [:]
        var order: [[UInt8]] = []
        for token in tokens where !token.content.isEmpty {
            if byContent.updateValue(token.id, forKey: token.content) == nil { order.append(token.content) }
        }
        let patterns = order.map { Pattern(bytes: $0, id: byContent[$0] ?? 0) }
            .sorted { $0.bytes.count > $1.bytes.count }
        var starts = [Bool](repeating: false, count: 256)
        for pattern in patterns { starts[Int(pattern.bytes[0])] = true }
        self.patterns = patterns
        self.startsPattern = starts
    }

    /// The first match at or after `from`, before `end`.
    func firstMatch(in text: UnsafeBufferPointer<UInt8>, from: Int, end: Int) -> (start: Int, end: Int, id: Int32)? {
        guard !patterns.isEmpty else { return nil }
        return startsPattern.withUnsafeBufferPointer { starts in
            var i = from
            while i < end {
                if starts[Int(text[i])] {
                    for pattern in patterns where pattern.bytes.count <= end - i {
                        var equal = true
                        for k in 0..<pattern.bytes.count where text[i + k] != pattern.bytes[k] {
                            equal = false
                            break
                        }
                        if equal { return (i, i + pattern.bytes.count, pattern.id) }
                    }
                }
                i += 1
            }
            return nil
        }
    }
}

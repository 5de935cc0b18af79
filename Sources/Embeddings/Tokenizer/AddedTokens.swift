/// A token that Hugging Face matches in the text before the model sees it ([CLS], [MASK], ...).
struct AddedToken: Sendable, Equatable {
    /// The literal text.
    var content: String
    /// When false the token is matched in the original text; when true, in the normalised text.
    var normalized: Bool
    /// Whether a match takes the whitespace before it (RoBERTa's `<mask>`) and after it.
    var lstrip = false
    var rstrip = false
}

/// An added token with the id Hugging Face gives it.
struct ResolvedAddedToken: Sendable, Equatable {
    var content: String
    var id: Int32
    var normalized: Bool
    var lstrip = false
    var rstrip = false
}

/// Finds added tokens in a byte string with Hugging Face's rule: leftmost match first, and of the
/// matches starting there the longest (Aho-Corasick `LeftmostLongest`).
///
/// Special-token sets are tiny, so a first-byte filter and a direct comparison beat an automaton.
struct AddedTokenMatcher: Sendable {
    private struct Pattern: Sendable {
        let bytes: [UInt8]
        let id: Int32
        let lstrip: Bool
        let rstrip: Bool
    }

    /// Longest first, so the first hit at a position is the longest one.
    private let patterns: [Pattern]
    /// Which bytes can start a pattern.
    private let startsPattern: [Bool]

    /// True when there is nothing to match.
    var isEmpty: Bool { patterns.isEmpty }

    /// Builds the matcher; empty contents are ignored, and a content listed twice keeps its last
    /// id and stripping.
    init(_ tokens: [(content: [UInt8], id: Int32)]) {
        self.init(tokens.map { ($0.content, $0.id, false, false) })
    }

    /// A matcher whose tokens may take the whitespace around them (`lstrip`, `rstrip`).
    init(_ tokens: [(content: [UInt8], id: Int32, lstrip: Bool, rstrip: Bool)]) {
        var byContent: [[UInt8]: (id: Int32, lstrip: Bool, rstrip: Bool)] = [:]
        var order: [[UInt8]] = []
        for token in tokens where !token.content.isEmpty {
            if byContent.updateValue((token.id, token.lstrip, token.rstrip), forKey: token.content) == nil {
                order.append(token.content)
            }
        }
        let patterns = order.compactMap { content in
            byContent[content].map { Pattern(bytes: content, id: $0.id, lstrip: $0.lstrip, rstrip: $0.rstrip) }
        }
            .sorted { $0.bytes.count > $1.bytes.count }
        var starts = [Bool](repeating: false, count: 256)
        for pattern in patterns { starts[Int(pattern.bytes[0])] = true }
        self.patterns = patterns
        self.startsPattern = starts
    }

    /// The first match at or after `from`, before `end`; with the whitespace before it back to
    /// `from` for an `lstrip` token, and the whitespace after it up to `end` for an `rstrip` one.
    func firstMatch(in text: UnsafeBufferPointer<UInt8>, from: Int, end: Int) -> (start: Int, end: Int, id: Int32)? {
        guard let match = firstExactMatch(in: text, from: from, end: end) else { return nil }
        var start = match.start, stop = match.end
        if match.pattern.lstrip {
            while start > from, let previous = UTF8Scalars.scalar(endingAt: start, in: text, floor: from),
                  previous.scalar.properties.isWhitespace {
                start = previous.start
            }
        }
        if match.pattern.rstrip {
            while stop < end, let next = UTF8Scalars.scalar(at: stop, in: text, end: end), next.scalar.properties.isWhitespace {
                stop = next.end
            }
        }
        return (start, stop, match.pattern.id)
    }

    private func firstExactMatch(in text: UnsafeBufferPointer<UInt8>, from: Int, end: Int) -> (start: Int, end: Int, pattern: Pattern)? {
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
                        if equal { return (i, i + pattern.bytes.count, pattern) }
                    }
                }
                i += 1
            }
            return nil
        }
    }
}

/// Single scalars of valid UTF-8 (what Swift strings hold), read forward or backward.
enum UTF8Scalars {
    /// The scalar that starts at `index`, and where it ends.
    static func scalar(at index: Int, in text: UnsafeBufferPointer<UInt8>, end: Int) -> (scalar: Unicode.Scalar, end: Int)? {
        let lead = text[index]
        let length = lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4
        guard index + length <= end else { return nil }
        var value = length == 1 ? UInt32(lead) : UInt32(lead) & (0xFF >> (length + 1))
        if length > 1 {
            for offset in 1..<length { value = value << 6 | UInt32(text[index + offset] & 0x3F) }
        }
        return Unicode.Scalar(value).map { ($0, index + length) }
    }

    /// The scalar that ends at `index` (exclusive), and where it starts, not before `floor`.
    static func scalar(endingAt index: Int, in text: UnsafeBufferPointer<UInt8>, floor: Int) -> (scalar: Unicode.Scalar, start: Int)? {
        var start = index - 1
        while start > floor, text[start] & 0xC0 == 0x80 { start -= 1 }
        guard start >= floor, let decoded = scalar(at: start, in: text, end: index), decoded.end == index else { return nil }
        return (decoded.scalar, start)
    }
}

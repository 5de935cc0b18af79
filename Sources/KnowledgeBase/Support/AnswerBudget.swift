/// Keeps the lists in an answer to an assistant small: an answer is read into a model's context,
/// and clients pass on only so much (the design's rule: under 64 KB by default).
///
/// An answer goes out twice (as structured content and as its JSON text, escaped once more inside
/// the message, which adds a backslash before each quote), so the lists of one answer share
/// `listBytes`, under two fifths of the 64 KB.
public enum AnswerBudget {
    /// The most bytes one answer takes, both copies and the message around them.
    public static let answerBytes = 64_000
    /// Bytes that every capped list of one answer shares.
    public static let listBytes = 24_000

    /// The first items of `items` that fit in `maxBytes` (each item's size estimated by `bytes`)
    /// and number at most `maxItems`, and how many were left out. The first item is kept whatever
    /// its size, so that a page always moves on.
    public static func prefix<Item>(_ items: [Item], maxItems: Int = .max, maxBytes: Int,
                                    bytes: (Item) -> Int) -> (kept: [Item], omitted: Int) {
        var used = 0
        var kept = 0
        for item in items.prefix(maxItems) {
            let size = bytes(item)
            guard used + size <= maxBytes || kept == 0 else { break }
            used += size
            kept += 1
        }
        return (Array(items.prefix(kept)), items.count - kept)
    }

    /// The bytes `text` takes in an answer, at most: in the structured content a quote or backslash
    /// gains a backslash and a control character becomes up to six bytes; in the text copy, where
    /// that JSON is escaped once more, each of those backslashes and quotes gains one again.
    public static func twiceWritten(_ text: String) -> Int {
        var escaped = 0
        var control = 0
        for byte in text.utf8 where byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
            if byte < 0x20 { control += 1 } else { escaped += 1 }
        }
        return 2 * text.utf8.count + 4 * escaped + 12 * control
    }

    /// Half of `twiceWritten(text)`: what an item of a list takes of `listBytes`, which counts one
    /// copy of the answer.
    public static func perCopy(_ text: String) -> Int {
        twiceWritten(text) / 2
    }
}

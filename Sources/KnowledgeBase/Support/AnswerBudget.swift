/// Keeps the lists in an answer to an assistant small: an answer is read into a model's context,
/// and clients pass on only so much (the design's rule: under 64 KB by default).
///
/// An answer goes out twice (as structured content and as its JSON text, escaped once more inside
/// the message, which adds a backslash before each quote), so the lists of one answer share
/// `listBytes`, under two fifths of the 64 KB.
public enum AnswerBudget {
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
}

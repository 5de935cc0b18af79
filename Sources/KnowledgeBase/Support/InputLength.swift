/// Length limits on text a client sends, counted in Unicode scalars: what JSON Schema's
/// `maxLength` counts, and what bounds the bytes stored and the work done.
///
/// Never in `Character`s: "a" followed by a million combining marks is one `Character`, two
/// megabytes and a million scalars.
public enum InputLength {
    /// True when `text` holds at most `limit` Unicode scalars.
    public static func fits(_ text: some StringProtocol, _ limit: Int) -> Bool {
        // A scalar takes at most 4 bytes, so a longer text is refused without being counted.
        guard text.utf8.count <= limit * 4 else { return false }
        return text.unicodeScalars.count <= limit
    }

    /// "N characters" for a message, N counted in scalars (bounded work: a huge text says "more than").
    public static func describe(_ text: some StringProtocol, limit: Int) -> String {
        text.utf8.count > limit * 4 ? "more than \(limit) characters" : "\(text.unicodeScalars.count) characters"
    }
}

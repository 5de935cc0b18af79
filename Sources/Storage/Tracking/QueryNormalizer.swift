/// How queries are compared for tracking and caching: "  How do I  INSTALL?" and "how do i install?"
/// count as the same query.
///
/// The rule, which the Redis tracker must share so both backends agree: trim whitespace at both
/// ends, collapse every run of whitespace (spaces, tabs, newlines) to one space, and lower-case.
/// Punctuation is kept: "c++" and "c" are different questions.
public enum QueryNormalizer {
    /// `query` trimmed, with whitespace runs collapsed, but its case kept: the form shown to people.
    public static func displayForm(_ query: String) -> String {
        query.split(whereSeparator: \.isWhitespace).joined(separator: " ")
    }

    /// The key form: `displayForm` lower-cased.
    public static func normalize(_ query: String) -> String {
        displayForm(query).lowercased()
    }
}

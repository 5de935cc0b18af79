import Foundation

/// The label chunks carry ("swift", "React Docs", "postgres 16") and queries filter on.
public enum TechnologyLabel {
    /// Longest label accepted, in Unicode scalars.
    public static let maxLength = 64

    /// `label` trimmed, with each run of spaces made one space, or an error saying what is wrong.
    ///
    /// Labels are what people write ("React Docs", "Документация", "c++"): any letters, digits,
    /// punctuation, symbols and spaces, up to `maxLength` Unicode scalars. Refused are the
    /// characters that would hide or reorder what a person reads in a result or a log: control
    /// characters (tabs, line breaks, NUL), invisible format characters other than the zero-width
    /// joiners some scripts need (bidirectional overrides among them), and unassigned or private
    /// code points. Every store keeps labels as bound values (SQL parameters, JSON strings, hashed
    /// Redis keys), so no character needs escaping there. `field` names the argument in errors.
    public static func validate(_ label: String, field: String = "technology") throws -> String {
        if let refused = label.unicodeScalars.first(where: isRefused) {
            let code = "U+" + String(refused.value, radix: 16, uppercase: true).leftPadded(to: 4)
            throw InvalidRequest("\(field) may not hold control, invisible formatting or unassigned characters (found \(code))")
        }
        let words = label.split(whereSeparator: \.isWhitespace)
        let normalized = words.joined(separator: " ")
        guard !normalized.isEmpty else {
            throw InvalidRequest("\(field) is empty: give a short label such as \"swift\" or \"React Docs\"")
        }
        guard InputLength.fits(normalized, maxLength) else {
            throw InvalidRequest("\(field) \"\(normalized.unicodeScalars.prefix(20).map(String.init).joined())…\" is longer than \(maxLength) characters")
        }
        return normalized
    }

    /// True when a stored `label` answers the filter `filter`: equal ignoring case, and with
    /// canonically equivalent spellings (é as one code point or as e and an accent) equal.
    public static func matches(_ label: String, filter: String) -> Bool {
        label == filter || label.compare(filter, options: [.caseInsensitive]) == .orderedSame
    }

    private static func isRefused(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .control, .surrogate, .privateUse, .unassigned, .lineSeparator, .paragraphSeparator:
            // A tab or line break is whitespace, but not in a one-line label.
            true
        case .format:
            // Zero-width non-joiner and joiner shape words in Persian, Hindi and emoji sequences.
            scalar.value != 0x200C && scalar.value != 0x200D
        default:
            false
        }
    }
}

private extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}

/// The label chunks carry ("swift", "postgres-16", "c++") and queries filter on.
public enum TechnologyLabel {
    /// Longest label accepted.
    public static let maxLength = 64

    /// `label` trimmed, or an error saying what a label may hold.
    ///
    /// Labels are shown in results and typed by models into filters, so they are kept to short
    /// printable words: letters (with their combining marks), digits and `.`, `_`, `-`, `+`, `#`,
    /// at most `maxLength` Unicode scalars. `field` names the argument in errors.
    public static func validate(_ label: String, field: String = "technology") throws -> String {
        let trimmed = label.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty else {
            throw InvalidRequest("\(field) is empty: give a short label such as \"swift\" or \"postgres\"")
        }
        guard InputLength.fits(trimmed, maxLength) else {
            throw InvalidRequest("\(field) \"\(trimmed.unicodeScalars.prefix(20).map(String.init).joined())…\" is longer than \(maxLength) characters")
        }
        guard trimmed.unicodeScalars.allSatisfy(isAllowed) else {
            throw InvalidRequest("\(field) \"\(trimmed.debugDescription.dropFirst().dropLast())\" may hold only letters, digits and . _ - + #")
        }
        return trimmed
    }

    private static func isAllowed(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter,
             .nonspacingMark, .spacingMark, .decimalNumber, .letterNumber, .otherNumber:
            true
        default:
            "._-+#".unicodeScalars.contains(scalar)
        }
    }
}

/// The label chunks carry ("swift", "postgres-16", "c++") and queries filter on.
public enum TechnologyLabel {
    /// Longest label accepted.
    public static let maxLength = 64

    /// `label` trimmed, or an error saying what a label may hold.
    ///
    /// Labels are shown in results and typed by models into filters, so they are kept to short
    /// printable words: letters, digits and `.`, `_`, `-`, `+`, `#`.
    public static func validate(_ label: String) throws -> String {
        let trimmed = label.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty else {
            throw InvalidRequest("technology is empty: give a short label such as \"swift\" or \"postgres\"")
        }
        guard trimmed.count <= maxLength else {
            throw InvalidRequest("technology \"\(trimmed.prefix(20))…\" is longer than \(maxLength) characters")
        }
        let allowed = Set("._-+#")
        guard trimmed.allSatisfy({ $0.isLetter || $0.isNumber || allowed.contains($0) }) else {
            throw InvalidRequest("technology \"\(trimmed)\" may hold only letters, digits and . _ - + #")
        }
        return trimmed
    }
}

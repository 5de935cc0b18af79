import KnowledgeBase
import MCP

/// A tool call's arguments, read with the checks the tool's input schema promises.
///
/// Clients do not all validate against the schema before calling, and models make mistakes, so
/// every rule is enforced here too and broken ones become one sentence that says what to change.
struct ToolArguments {
    private let values: [String: Value]
    private let tool: String

    /// Arguments for `tool`; names not in `allowed` are refused (a typo such as `n_result` would
    /// otherwise be silently ignored).
    init(_ values: [String: Value]?, tool: String, allowed: Set<String>) throws {
        self.values = values ?? [:]
        self.tool = tool
        let unknown = self.values.keys.filter { !allowed.contains($0) }.sorted()
        guard unknown.isEmpty else {
            throw InvalidRequest("\(tool) has no argument \(Self.named(unknown)); it takes \(allowed.sorted().joined(separator: ", "))")
        }
    }

    /// The first few of `names`, each cut short, and how many more: a call may send thousands of
    /// long names, and the error goes back to the model that sent them.
    private static func named(_ names: [String]) -> String {
        let shown = names.prefix(3).map { name in
            "\"\(name.count > 64 ? name.prefix(64) + "…" : Substring(name))\""
        }.joined(separator: ", ")
        return names.count > 3 ? "\(shown) and \(names.count - 3) more" : shown
    }

    /// A string argument; nil when absent (or null) and not required. `maxLength` is for the
    /// arguments no request type of the knowledge base checks (paths); the others leave limits to
    /// their request's validation, so that each limit is checked in one place for every caller.
    func string(_ name: String, required: Bool = false, maxLength: Int = .max) throws -> String? {
        guard let value = present(name) else {
            if required { throw InvalidRequest("\(tool) needs \"\(name)\" (a string)") }
            return nil
        }
        guard case .string(let text) = value else { throw typeError(name, "a string", value) }
        guard maxLength == .max || InputLength.fits(text, maxLength) else {
            throw InvalidRequest("\"\(name)\" is \(InputLength.describe(text, limit: maxLength)) long; the limit is \(maxLength)")
        }
        return text
    }

    /// An integer argument, or `defaultValue` when absent; its range is the request's to check.
    func integer(_ name: String, default defaultValue: Int) throws -> Int {
        guard let value = present(name) else { return defaultValue }
        let number: Int
        switch value {
        case .int(let integer): number = integer
        // JSON has one number type: 5.0 is a fine 5, 5.5 is not.
        case .double(let double) where double.isFinite && double == double.rounded() && abs(double) < 1e15:
            number = Int(double)
        default: throw typeError(name, "a whole number", value)
        }
        return number
    }

    /// A boolean argument, or `defaultValue` when absent.
    func boolean(_ name: String, default defaultValue: Bool) throws -> Bool {
        guard let value = present(name) else { return defaultValue }
        guard case .bool(let flag) = value else { throw typeError(name, "true or false", value) }
        return flag
    }

    /// One of `E`'s raw values, or `defaultValue` when absent.
    func choice<E: RawRepresentable & CaseIterable>(_ name: String, default defaultValue: E) throws -> E
    where E.RawValue == String {
        guard let text = try string(name, maxLength: 64) else { return defaultValue }
        guard let choice = E(rawValue: text) else {
            throw InvalidRequest("\"\(name)\" must be one of \(E.allCases.map(\.rawValue).joined(separator: ", ")); got \"\(text.prefix(64))\"")
        }
        return choice
    }

    /// A non-empty array of strings, each at most `maxLength` characters.
    func strings(_ name: String, maxCount: Int, maxLength: Int) throws -> [String] {
        guard let value = present(name) else { throw InvalidRequest("\(tool) needs \"\(name)\" (a list of strings)") }
        guard case .array(let items) = value else { throw typeError(name, "a list of strings", value) }
        guard !items.isEmpty else { throw InvalidRequest("\"\(name)\" is empty: give at least one") }
        guard items.count <= maxCount else {
            throw InvalidRequest("\"\(name)\" has \(items.count) entries; the limit is \(maxCount)")
        }
        return try items.map { item in
            guard case .string(let text) = item else { throw typeError(name, "a list of strings", item) }
            guard !text.isEmpty, InputLength.fits(text, maxLength) else {
                throw InvalidRequest("each entry of \"\(name)\" must be 1 to \(maxLength) characters long")
            }
            return text
        }
    }

    private func present(_ name: String) -> Value? {
        guard let value = values[name], !value.isNull else { return nil }
        return value
    }

    private func typeError(_ name: String, _ expected: String, _ value: Value) -> InvalidRequest {
        InvalidRequest("\"\(name)\" must be \(expected), not \(Self.describe(value))")
    }

    private static func describe(_ value: Value) -> String {
        switch value {
        case .null: "null"
        case .bool: "a boolean"
        case .int, .double: "a number"
        case .string: "a string"
        case .data: "binary data"
        case .array: "a list"
        case .object: "an object"
        }
    }
}

import Foundation
import StrictJSON

/// A retrieval benchmark in the BEIR layout (Thakur et al., 2021): `corpus.jsonl` (`_id`, `title`,
/// `text`), `queries.jsonl` (`_id`, `text`) and `qrels/<split>.tsv` (`query-id`, `corpus-id`,
/// `score`, after a header line).
///
/// Of a query only `_id` and `text` are read: BEIR datasets keep other fields (SciFact's
/// `metadata`) that hold relevance labels, and reading them would leak the answers.
public struct BEIRDataset: Sendable {
    public struct Document: Sendable, Equatable {
        public var id: String
        public var title: String
        public var text: String

        /// The text that gets embedded and indexed: title and body joined by a space, as MTEB and
        /// BEIR's sentence-transformers runs do (just the body when there is no title).
        public var indexedText: String { title.isEmpty ? text : title + " " + text }
    }

    public struct Query: Sendable, Equatable {
        public var id: String
        public var text: String
    }

    public var documents: [Document]
    /// The queries that have judgements in the split, in file order.
    public var queries: [Query]
    /// Query id → document id → grade.
    public var judgements: [String: RelevanceJudgements]

    /// Reads `folder`; `split` names the qrels file (`test` for `qrels/test.tsv`).
    public init(folder: URL, split: String = "test") throws {
        let judgements = try Self.readJudgements(folder.appendingPathComponent("qrels/\(split).tsv"))
        var documents: [Document] = []
        var seen: [String: String] = [:]
        try Self.forEachLine(of: folder.appendingPathComponent("corpus.jsonl")) { object, location in
            let id = try Self.identifier(object, location)
            // Two documents under one id would make every judgement of it ambiguous.
            if let first = seen.updateValue(location, forKey: id) {
                throw BEIRDatasetError("\(location): document id \"\(id)\" was already used at \(first)")
            }
            documents.append(Document(id: id,
                                      title: try Self.optionalText(object, "title", location),
                                      text: try Self.optionalText(object, "text", location)))
        }
        var queries: [Query] = []
        try Self.forEachLine(of: folder.appendingPathComponent("queries.jsonl")) { object, location in
            let id = try Self.identifier(object, location)
            guard judgements[id] != nil else { return }
            queries.append(Query(id: id, text: try Self.optionalText(object, "text", location)))
        }
        self.documents = documents
        self.queries = queries
        self.judgements = judgements
    }

    // MARK: reading

    /// The non-blank lines of `file`, each with its 1-based line number.
    private static func numberedLines(of file: URL) throws -> [(number: Int, text: Substring)] {
        // "\r\n" is one Character in Swift, so a CRLF file must be split on it too. Other Unicode
        // line breaks (U+2028) may stand unescaped inside a JSON string and do not end a line.
        try read(file).split(omittingEmptySubsequences: false) { $0 == "\n" || $0 == "\r\n" }.enumerated()
            .filter { !$0.element.allSatisfy(\.isWhitespace) }
            .map { (number: $0.offset + 1, text: $0.element) }
    }

    /// Calls `body` with each non-blank line's JSON object and a "file:line" for error messages.
    private static func forEachLine(of file: URL, _ body: (JSONValue, String) throws -> Void) throws {
        for (number, line) in try numberedLines(of: file) {
            let location = "\(file.lastPathComponent):\(number)"
            let value: JSONValue
            do {
                value = try JSONReader.parse(Array(line.utf8))
            } catch {
                throw BEIRDatasetError("\(location): not JSON (\(error))")
            }
            guard case .object = value else { throw BEIRDatasetError("\(location): expected a JSON object, found \(value.typeName)") }
            try body(value, location)
        }
    }

    private static func readJudgements(_ file: URL) throws -> [String: RelevanceJudgements] {
        var judgements: [String: RelevanceJudgements] = [:]
        for (number, line) in try numberedLines(of: file) {
            let fields = line.split(separator: "\t").map { $0.trimmingCharacters(in: .whitespaces) }
            // The header line ("query-id corpus-id score") is the only one whose grade is not a number.
            if number == 1 && fields.last.flatMap({ Int($0) }) == nil { continue }
            guard fields.count == 3, let grade = Int(fields[2]), !fields[0].isEmpty, !fields[1].isEmpty else {
                throw BEIRDatasetError("\(file.lastPathComponent):\(number): expected query-id, corpus-id and an integer score separated by tabs")
            }
            judgements[fields[0], default: [:]][fields[1]] = grade
        }
        guard !judgements.isEmpty else { throw BEIRDatasetError("\(file.path) holds no relevance judgements") }
        return judgements
    }

    private static func read(_ file: URL) throws -> String {
        guard let data = FileManager.default.contents(atPath: file.path) else {
            throw BEIRDatasetError("cannot read \(file.path): a BEIR folder holds corpus.jsonl, queries.jsonl and qrels/<split>.tsv")
        }
        guard let text = String(validating: data, as: UTF8.self) else { throw BEIRDatasetError("\(file.path) is not UTF-8 text") }
        return text
    }

    /// `_id` as a string; some BEIR exports write numeric ids as numbers.
    private static func identifier(_ object: JSONValue, _ location: String) throws -> String {
        if let id = object["_id"]?.string, !id.isEmpty { return id }
        if let id = object["_id"]?.integer { return String(id) }
        throw BEIRDatasetError("\(location): missing \"_id\" (a string)")
    }

    private static func optionalText(_ object: JSONValue, _ key: String, _ location: String) throws -> String {
        guard let value = object[key], !value.isNull else { return "" }
        guard let text = value.string else { throw BEIRDatasetError("\(location): \"\(key)\" is \(value.typeName), not a string") }
        return text
    }
}

/// Why a BEIR folder cannot be read, naming the file and line.
public struct BEIRDatasetError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}

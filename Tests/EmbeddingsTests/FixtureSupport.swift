import Foundation
import Testing

@testable import Embeddings

/// One line of a fixture's `expected.jsonl` (tools/make_settings_fixtures.py,
/// tools/make_family_fixtures.py): a text, whether it was embedded as a query or a passage, and the
/// token ids and vector sentence-transformers gave it.
struct ExpectedEmbedding {
    let text: String
    let work: EmbeddingWork
    let inputIDs: [Int32]
    let embedding: [Float]

    /// Every line of `url`.
    static func read(_ url: URL) throws -> [ExpectedEmbedding] {
        let lines = try String(contentsOf: url, encoding: .utf8)
        return try lines.split(separator: "\n").map { line in
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            return ExpectedEmbedding(
                text: try #require(object["text"] as? String),
                work: try #require(object["work"] as? String) == "query" ? .queries : .passages,
                inputIDs: try #require(object["input_ids"] as? [Int]).map { Int32($0) },
                embedding: try #require(object["embedding"] as? [Double]).map { Float($0) })
        }
    }
}

/// `text` as a JSON string literal.
func jsonString(_ text: String) -> String {
    String(data: try! JSONSerialization.data(withJSONObject: text, options: .fragmentsAllowed), encoding: .utf8)!
}

/// The tokenizer of a folder that holds `json` as its tokenizer.json.
func tokenizer(fromJSON json: String) throws -> Tokenizer {
    let folder = try TemporaryFolder()
    try folder.write("tokenizer.json", json)
    return try Tokenizer(modelDirectory: folder.url)
}

/// Why such a folder's tokenizer is refused; nil when it loads.
func loadProblem(tokenizerJSON json: String) -> String? {
    do {
        _ = try tokenizer(fromJSON: json)
        return nil
    } catch let error as ModelLoadError {
        return error.problem
    } catch {
        return "\(error)"
    }
}

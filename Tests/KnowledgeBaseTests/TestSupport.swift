import Embeddings
import Foundation
import Testing

/// The real model folder, provided by `tools/test` through `MCP_RAG_MODEL_DIR`.
///
/// Tests that need it fail (rather than skip) when it is missing, as in EmbeddingsTests.
func realModelDirectory() throws -> URL {
    let path = try #require(
        ProcessInfo.processInfo.environment["MCP_RAG_MODEL_DIR"],
        "MCP_RAG_MODEL_DIR is not set: run the suite with tools/test, which fetches the model and sets it")
    let url = URL(fileURLWithPath: path)
    try #require(FileManager.default.fileExists(atPath: url.appendingPathComponent("vocab.txt").path)
                 || FileManager.default.fileExists(atPath: url.appendingPathComponent("tokenizer.json").path),
                 "no tokenizer in \(path): run tools/fetch-model")
    return url
}

/// A fresh empty folder under the system temporary directory, removed when released.
final class TemporaryFolder {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("mcp-rag-kb-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    deinit {
        try? FileManager.default.removeItem(at: url)
    }

    @discardableResult
    func write(_ name: String, _ bytes: [UInt8]) throws -> URL {
        let target = url.appendingPathComponent(name)
        try Data(bytes).write(to: target)
        return target
    }

    @discardableResult
    func write(_ name: String, _ text: String) throws -> URL {
        try write(name, Array(text.utf8))
    }
}

/// A stand-in for the BERT tokenizer's count: every run of letters and digits is one piece (plus one
/// more per further 8 characters, as long words become several word pieces), and every other
/// non-space character is a piece of its own. Like the real one, it adds up across whitespace.
@Sendable func simpleTokenCount(_ text: String) -> Int {
    var count = 0
    var wordLength = 0
    func endWord() {
        if wordLength > 0 { count += 1 + (wordLength - 1) / 8 }
        wordLength = 0
    }
    for character in text {
        if character.isLetter || character.isNumber {
            wordLength += 1
        } else {
            endWord()
            if !character.isWhitespace { count += 1 }
        }
    }
    endWord()
    return count
}

import Embeddings
import Foundation
import Testing

/// The real model folder, provided by `tools/test` through `MCP_RAG_MODEL_DIR`.
///
/// Tests that need it fail (rather than skip) when it is missing: a suite that silently skips its
/// most important checks would look green while proving nothing.
func realModelDirectory() throws -> URL {
    let path = try #require(
        ProcessInfo.processInfo.environment["MCP_RAG_MODEL_DIR"],
        "MCP_RAG_MODEL_DIR is not set: run the suite with tools/test, which fetches the model and sets it")
    let url = URL(fileURLWithPath: path)
    try #require(FileManager.default.fileExists(atPath: url.appendingPathComponent("model.safetensors").path),
                 "no model.safetensors in \(path): run tools/fetch-model")
    return url
}

/// One line of `Fixtures/golden.jsonl`: sentence-transformers' ids and embedding for a text.
struct GoldenCase: Sendable {
    let text: String
    let inputIDs: [Int32]
    let embedding: [Float]
}

/// The 80 golden cases, in file order.
func goldenCases() throws -> [GoldenCase] {
    let url = try #require(Bundle.module.url(forResource: "Fixtures/golden", withExtension: "jsonl"))
    let content = try String(contentsOf: url, encoding: .utf8)
    return try content.split(separator: "\n").map { line in
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        return GoldenCase(
            text: try #require(object["text"] as? String),
            inputIDs: try #require(object["input_ids"] as? [Int]).map { Int32($0) },
            embedding: try #require(object["embedding"] as? [Double]).map { Float($0) })
    }
}

func cosine(_ a: [Float], _ b: [Float]) -> Double {
    var dot = 0.0, na = 0.0, nb = 0.0
    for (x, y) in zip(a, b) {
        dot += Double(x) * Double(y)
        na += Double(x) * Double(x)
        nb += Double(y) * Double(y)
    }
    return dot / (na.squareRoot() * nb.squareRoot())
}

func maxAbsDifference(_ a: [Float], _ b: [Float]) -> Float {
    zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
}

/// A fresh empty folder under the system temporary directory, removed by `cleanup`.
final class TemporaryFolder {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("mcp-rag-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    deinit {
        try? FileManager.default.removeItem(at: url)
    }

    func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    func write(_ name: String, _ text: String) throws {
        let target = url.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(text.utf8).write(to: target)
    }

    func write(_ name: String, _ data: Data) throws {
        try data.write(to: url.appendingPathComponent(name))
    }

    /// Copies every file of the real model folder except `excluding` (small files are copied,
    /// the weights linked, so a test can then replace any one of them).
    func copyModel(from source: URL, excluding: Set<String> = []) throws {
        let manager = FileManager.default
        for name in ["config.json", "sentence_bert_config.json", "modules.json", "tokenizer.json", "vocab.txt",
                     "tokenizer_config.json", "special_tokens_map.json", "model.safetensors", "1_Pooling"]
            where !excluding.contains(name) {
            let from = source.appendingPathComponent(name)
            guard manager.fileExists(atPath: from.path) else { continue }
            let to = url.appendingPathComponent(name)
            if name == "model.safetensors" {
                try manager.createSymbolicLink(at: to, withDestinationURL: from)
            } else {
                try manager.copyItem(at: from, to: to)
            }
        }
    }
}

/// Writes a safetensors file: header JSON (8-byte length first), then each tensor's bytes.
func safetensorsData(_ tensors: [(name: String, dtype: String, shape: [Int], bytes: Data)]) -> Data {
    var header: [String] = []
    var offset = 0
    for tensor in tensors {
        let shape = tensor.shape.map(String.init).joined(separator: ",")
        header.append("\"\(tensor.name)\":{\"dtype\":\"\(tensor.dtype)\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(offset + tensor.bytes.count)]}")
        offset += tensor.bytes.count
    }
    var json = Data("{\(header.joined(separator: ","))}".utf8)
    // Pad to 8 bytes, as the reference writer does, so F32 data stays aligned.
    while (json.count + 8) % 8 != 0 { json.append(0x20) }
    var result = Data()
    withUnsafeBytes(of: UInt64(json.count).littleEndian) { result.append(contentsOf: $0) }
    result.append(json)
    for tensor in tensors { result.append(tensor.bytes) }
    return result
}

/// Little-endian bytes of `values` as F32, F16 or BF16.
func tensorBytes(_ values: [Float], dtype: String) -> Data {
    var data = Data()
    data.reserveCapacity(values.count * 4)
    for value in values {
        switch dtype {
        case "F16":
            withUnsafeBytes(of: Float16(value).bitPattern.littleEndian) { data.append(contentsOf: $0) }
        case "BF16":
            // Round to nearest even on the upper 16 bits.
            let bits = value.bitPattern
            let rounded = (bits &+ 0x7FFF &+ ((bits >> 16) & 1)) >> 16
            withUnsafeBytes(of: UInt16(truncatingIfNeeded: rounded).littleEndian) { data.append(contentsOf: $0) }
        default:
            withUnsafeBytes(of: value.bitPattern.littleEndian) { data.append(contentsOf: $0) }
        }
    }
    return data
}

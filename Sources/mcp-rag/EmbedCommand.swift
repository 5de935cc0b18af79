import ArgumentParser
import Foundation
import KnowledgeBase

/// `mcp-rag embed`: JSON strings in, one `{"input_ids", "embedding"}` object out per input line.
struct EmbedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed",
        abstract: "Embed texts: one JSON string per line on stdin (or --text), one JSON object per line on stdout.",
        discussion: """
            Each output line is {"input_ids": [...], "embedding": [...]} for the input line at the same position. \
            A line that is not a JSON string gets {"error": "..."} instead, and the command exits with status 1 \
            after the last line.
            """
    )

    @OptionGroup var model: ModelOptions

    @Option(name: .customLong("text"), help: "A text to embed (repeatable); stdin is not read when given.")
    var texts: [String] = []

    @Option(help: "Texts embedded per forward pass.")
    var batchSize: Int = 64

    @Flag(help: "Embed the texts as queries (with the model's query prompt, if it has one) rather than as passages.")
    var queries = false

    func validate() throws {
        guard (1...4096).contains(batchSize) else { throw ValidationError("--batch-size must be between 1 and 4096.") }
    }

    func run() throws {
        let embedder = try model.loadModel()
        let output = OutputBuffer()
        var failures = 0
        if !texts.isEmpty {
            try write(texts.map { .success($0) }, embedder: embedder, to: output)
        } else {
            var pending: [Result<String, CLIError>] = []
            var lineNumber = 0
            while let line = readLine(strippingNewline: true) {
                lineNumber += 1
                let parsed = Self.parse(line, lineNumber: lineNumber)
                if case .failure(let error) = parsed {
                    failures += 1
                    FileHandle.standardError.write(Data("mcp-rag embed: \(error.description)\n".utf8))
                }
                pending.append(parsed)
                if pending.count == batchSize {
                    try write(pending, embedder: embedder, to: output)
                    pending.removeAll(keepingCapacity: true)
                }
            }
            try write(pending, embedder: embedder, to: output)
        }
        output.flush()
        if failures > 0 { throw ExitCode(1) }
    }

    /// A line must hold one JSON string; anything else is reported for that line alone.
    static func parse(_ line: String, lineNumber: Int) -> Result<String, CLIError> {
        guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8), options: [.fragmentsAllowed]) else {
            return .failure(CLIError("line \(lineNumber): not valid JSON; expected a JSON string such as \"some text\""))
        }
        guard let text = object as? String else {
            return .failure(CLIError("line \(lineNumber): expected a JSON string, found \(type(of: object))"))
        }
        return .success(text)
    }

    private func write(_ lines: [Result<String, CLIError>], embedder: TextEmbedder, to output: OutputBuffer) throws {
        let embedded = try embedder.embed(lines.compactMap { try? $0.get() }, asQueries: queries)
        var next = 0
        for line in lines {
            switch line {
            case .success:
                output.append(Self.encode(ids: embedded[next].inputIDs, embedding: embedded[next].vector))
                next += 1
            case .failure(let error):
                output.append("{\"error\":\(JSONText.quote(error.description))}")
            }
        }
    }

    /// Floats printed with Swift's shortest round-tripping form, so the JSON holds the exact value.
    static func encode(ids: [Int32], embedding: [Float]) -> String {
        var text = "{\"input_ids\":["
        text += ids.map(String.init).joined(separator: ",")
        text += "],\"embedding\":["
        text += embedding.map { $0.description }.joined(separator: ",")
        text += "]}"
        return text
    }
}

/// Collects output lines and writes them in large blocks (one write per line would dominate
/// the cost of embedding short texts).
final class OutputBuffer {
    private var pending = ""

    func append(_ line: String) {
        pending += line
        pending += "\n"
        if pending.utf8.count > 1 << 16 { flush() }
    }

    func flush() {
        guard !pending.isEmpty else { return }
        FileHandle.standardOutput.write(Data(pending.utf8))
        pending = ""
    }
}

/// Minimal JSON string quoting for messages.
enum JSONText {
    static func quote(_ text: String) -> String {
        guard let data = try? JSONSerialization.data(withJSONObject: text, options: [.fragmentsAllowed]),
              let quoted = String(data: data, encoding: .utf8) else { return "\"\"" }
        return quoted
    }
}

import ArgumentParser
import Foundation
import KnowledgeBase

/// Options shared by every command that loads the embedding model.
struct ModelOptions: ParsableArguments {
    @Option(name: .customLong("model-dir"), help: "A sentence-transformers model folder (default: MCP_RAG_MODEL_DIR, then the Hugging Face repository MCP_RAG_MODEL names, then the data folder, then the Hugging Face cache).")
    var modelDirectory: String?

    @Option(help: "Worker threads for the CPU backend (default: MCP_RAG_THREADS, else every core).")
    var threads: Int?

    @Option(help: "cpu, or cuda / hip to run on that GPU (default: MCP_RAG_DEVICE; auto means the CPU here, as only the server benchmarks the two).")
    var device: String?

    func validate() throws {
        if let threads, threads < 1 || threads > 1024 {
            throw ValidationError("--threads must be between 1 and 1024.")
        }
        _ = try selection()
    }

    /// What these options name; --device wins over MCP_RAG_DEVICE.
    func selection() throws -> ModelSelection {
        let threads = try threadCount()
        do {
            return try ModelSelection(modelDirectory: modelDirectory, threads: threads,
                                      device: device ?? ProcessInfo.processInfo.environment[ModelSelection.deviceVariable])
        } catch {
            throw ValidationError(device == nil ? "\(ModelSelection.deviceVariable): \(error)" : "--device: \(error)")
        }
    }

    /// --threads, else MCP_RAG_THREADS, read as the server reads it.
    private func threadCount() throws -> Int? {
        if let threads { return threads }
        let environment = ProcessInfo.processInfo.environment
        guard let text = environment["MCP_RAG_THREADS"]?.trimmingCharacters(in: .whitespaces), !text.isEmpty else { return nil }
        guard let value = Int(text), (1...1024).contains(value) else {
            throw ValidationError("MCP_RAG_THREADS=\(text.prefix(40)) is not a whole number between 1 and 1024")
        }
        return value
    }

    /// Loads the model on the device asked for, turning what stops it into a message for the user.
    func loadModel() throws -> TextEmbedder {
        do {
            return try selection().load()
        } catch let error as ConfigurationError {
            throw CLIError(error.description)
        }
    }
}

/// An error whose message is printed as it is, with a non-zero exit status.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Prints `value` as the pretty, key-sorted JSON document a command's `--json` promises.
func printJSON(_ value: some Encodable) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

import ArgumentParser
import Embeddings
import Foundation

/// Options shared by every command that loads the embedding model.
struct ModelOptions: ParsableArguments {
    @Option(name: .customLong("model-dir"), help: "A sentence-transformers model folder (default: MCP_RAG_MODEL_DIR, then the data folder, then the Hugging Face cache).")
    var modelDirectory: String?

    @Option(help: "Worker threads for the CPU backend (default: every core).")
    var threads: Int?

    func validate() throws {
        if let threads, threads < 1 || threads > 1024 {
            throw ValidationError("--threads must be between 1 and 1024.")
        }
    }

    /// The model folder to use; throws with the folders searched when there is none.
    func locateModel() throws -> URL {
        try ModelLocator(explicitDirectory: modelDirectory).locate()
    }

    /// Loads the model, turning load errors into a message for the user.
    func loadEmbedder() throws -> SentenceEmbedder {
        do {
            return try SentenceEmbedder(directory: try locateModel(), threads: threads)
        } catch let error as ModelLoadError {
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

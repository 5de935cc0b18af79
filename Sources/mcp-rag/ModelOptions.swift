import ArgumentParser
import Embeddings
import Foundation
import GPURuntime
import KnowledgeBase

/// Options shared by every command that loads the embedding model.
struct ModelOptions: ParsableArguments {
    @Option(name: .customLong("model-dir"), help: "A sentence-transformers model folder (default: MCP_RAG_MODEL_DIR, then the data folder, then the Hugging Face cache).")
    var modelDirectory: String?

    @Option(help: "Worker threads for the CPU backend (default: every core).")
    var threads: Int?

    @Option(help: "cpu, or cuda / hip to run on that GPU (default: MCP_RAG_DEVICE; auto means the CPU here, as only the server benchmarks the two).")
    var device: String?

    func validate() throws {
        if let threads, threads < 1 || threads > 1024 {
            throw ValidationError("--threads must be between 1 and 1024.")
        }
        _ = try devicePreference()
    }

    /// --device, else MCP_RAG_DEVICE.
    func devicePreference() throws -> DevicePreference {
        do {
            return try DevicePreference(parsing: device ?? ProcessInfo.processInfo.environment[DevicePreference.environmentVariable])
        } catch {
            throw ValidationError(device == nil ? "\(DevicePreference.environmentVariable): \(error)" : "--device: \(error)")
        }
    }

    /// `embedder` on the GPU --device names (its kernels compiled or taken from the cache), or as it
    /// is for cpu and auto; a GPU that cannot serve is an error saying why, never a silent CPU run.
    func onRequestedDevice(_ embedder: SentenceEmbedder) throws -> SentenceEmbedder {
        guard let runtime = try devicePreference().requiredRuntime else { return embedder }
        let outcome = GPUProbe.probe(search: .fromEnvironment(), only: runtime).first
        guard let outcome, let loaded = outcome.loaded else {
            throw CLIError("--device \(runtime.rawValue): \(runtime.displayName) cannot serve: \(outcome?.runtime.reason ?? "it was not probed")")
        }
        do {
            let backends = try GPUAccelerator.backends(on: loaded, weights: embedder.weights, kernelCache: .standard(),
                                                       precisions: [.fp32])
            return embedder.replacingBackend(backends[0].backend)
        } catch {
            throw CLIError("--device \(runtime.rawValue): setting up \(loaded.device.summary) failed: \(error)")
        }
    }

    /// The model folder to use; throws with the folders searched when there is none.
    func locateModel() throws -> URL {
        try ModelLocator(explicitDirectory: modelDirectory).locate()
    }

    /// Loads the model, turning load errors into a message for the user.
    func loadEmbedder() throws -> SentenceEmbedder {
        do {
            return try onRequestedDevice(try SentenceEmbedder(directory: try locateModel(), threads: threads))
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

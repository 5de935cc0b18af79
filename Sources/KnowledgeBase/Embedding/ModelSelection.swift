import Embeddings
import Foundation
import GPURuntime

/// The embedding model a command names (its folder, CPU threads and device), loaded on its own,
/// outside any knowledge base: what `mcp-rag embed` and the embedding benchmark run.
public struct ModelSelection: Sendable {
    /// The variable that names the device when no flag does.
    public static let deviceVariable = DevicePreference.environmentVariable

    /// A model folder; nil searches as the server does (`MCP_RAG_MODEL_DIR`, the data folder, the
    /// Hugging Face cache).
    public var modelDirectory: String?
    /// CPU worker threads; nil uses every core.
    public var threads: Int?
    /// The data folder whose `models/` is searched; nil: the environment's, as the server finds it.
    public var dataDirectory: String?
    /// Where it runs: cpu, or cuda / hip for that GPU; auto means the CPU here, as only the server
    /// benchmarks the two.
    public var device: DevicePreference

    /// `device` as `--device` or `MCP_RAG_DEVICE` spell it (nil: auto); throws
    /// `ConfigurationError` naming the choices for anything else.
    public init(modelDirectory: String? = nil, threads: Int? = nil, device: String? = nil) throws {
        self.modelDirectory = modelDirectory
        self.threads = threads
        do {
            self.device = try DevicePreference(parsing: device)
        } catch {
            throw ConfigurationError("\(error)")
        }
    }

    /// The model folder; throws `ConfigurationError` listing the folders searched when none holds one.
    public func locate() throws -> URL {
        do {
            return try ModelLocator(explicitDirectory: modelDirectory,
                                    dataDirectory: dataDirectory.map { URL(fileURLWithPath: $0) }).locate()
        } catch let error as ModelLoadError {
            throw ConfigurationError(error.description)
        }
    }

    /// Every model folder on this machine (data folders, Hugging Face cache, the folder chosen),
    /// checked as the server would load it, and which one it would load: none when an embeddings
    /// API embeds instead (`servedByAPI`).
    public func installedModels(servedByAPI: Bool) throws -> [InstalledModel] {
        do {
            return try ModelLocator(explicitDirectory: modelDirectory).installedModels(localModelServes: !servedByAPI)
        } catch {
            throw ConfigurationError(error.description)
        }
    }

    /// The model folder `folder` (one just fetched), checked as the server would check it, under `name`.
    public static func inspect(_ folder: URL, name: String) -> InstalledModel {
        ModelLocator.inspect(folder, name: name)
    }

    /// The model, loaded and moved to the device asked for; a folder it cannot load or a GPU that
    /// cannot serve is a `ConfigurationError` saying why, never a silent CPU run.
    public func load() throws -> TextEmbedder {
        do {
            return TextEmbedder(embedder: try onDevice(try SentenceEmbedder(directory: try locate(), threads: threads)))
        } catch let error as ModelLoadError {
            throw ConfigurationError(error.description)
        }
    }

    /// `embedder` on the GPU `device` names (its kernels compiled or taken from the cache), or as
    /// it is for cpu and auto.
    package func onDevice(_ embedder: SentenceEmbedder) throws -> SentenceEmbedder {
        guard let runtime = device.requiredRuntime else { return embedder }
        let outcome = GPUProbe.probe(search: .fromEnvironment(), only: runtime).first
        guard let outcome, let loaded = outcome.loaded else {
            throw ConfigurationError("--device \(runtime.rawValue): \(runtime.displayName) cannot serve: "
                + (outcome?.runtime.reason ?? "it was not probed"))
        }
        do {
            let backends = try GPUAccelerator.backends(on: loaded, weights: embedder.weights, kernelCache: .standard(),
                                                       precisions: [.fp32])
            return embedder.replacingBackend(backends[0].backend)
        } catch {
            throw ConfigurationError("--device \(runtime.rawValue): setting up \(loaded.device.summary) failed: \(error)")
        }
    }
}

/// A model folder found on this machine (see `ModelLocator.installedModels`).
public typealias InstalledModel = Embeddings.InstalledModel

/// A loaded model that turns texts into their word-piece ids and unit vectors.
public struct TextEmbedder: Sendable {
    package let embedder: SentenceEmbedder

    /// Each text's word-piece ids (as the model reads them: its prompt for queries or for passages
    /// first, truncated to its window) and its vector.
    public func embed(_ texts: [String], asQueries: Bool = false) throws -> [(inputIDs: [Int32], vector: [Float])] {
        let work: EmbeddingWork = asQueries ? .queries : .passages
        let ids = embedder.tokenizeAll(texts, for: work)
        return Array(zip(ids, try embedder.embedBlocking(tokenized: ids, work: work)))
    }
}

import Foundation

/// A model folder found on this machine, and whether mcp-rag can run it.
public struct InstalledModel: Sendable, Equatable, Codable {
    /// The Hugging Face repository (`owner/name`) for the cache's models; the folder's name for
    /// those in a data folder.
    public let name: String
    public let path: String
    /// Where it was found: `data folder`, `default data folder`, `Hugging Face cache`, or `chosen
    /// folder` (`--model-dir`, `MCP_RAG_MODEL_DIR`).
    public let source: String
    /// Why mcp-rag cannot run it; nil when it can.
    public let problem: String?
    /// The vectors' width, pooling and longest input, for those it can run.
    public let dimension: Int?
    public let pooling: String?
    public let maxSequenceLength: Int?
    /// The prompts put before queries and passages ("" for none).
    public let queryPrompt: String?
    public let passagePrompt: String?
    /// Whether it is the model a server started now would load.
    public let serves: Bool
}

extension ModelLocator {
    /// Every model folder in the data folders' `models/` and in the Hugging Face cache, each checked
    /// as the server would check it (its settings read, its weights and tokenizer present), in
    /// the order the locator searches. With `localModelServes` false (an embeddings API serves)
    /// none of them is marked as serving.
    public func installedModels(localModelServes: Bool = true) -> [InstalledModel] {
        let serving = localModelServes ? (try? locate())?.standardizedFileURL.path : nil
        var found: [(name: String, url: URL, source: String)] = []
        for (folder, source) in zip(dataModelFolders(), ["data folder", "default data folder"]) {
            let entries = (try? FileManager.default.contentsOfDirectory(at: folder, includingPropertiesForKeys: nil)) ?? []
            for entry in entries.sorted(by: { $0.lastPathComponent < $1.lastPathComponent }) where Self.looksLikeModel(entry) {
                found.append((entry.lastPathComponent, entry, source))
            }
        }
        let repositories = ((try? FileManager.default.contentsOfDirectory(atPath: hubDirectory.path)) ?? [])
            .filter { $0.hasPrefix("models--") }.sorted()
        for folder in repositories {
            let parts = folder.dropFirst("models--".count).components(separatedBy: "--")
            guard parts.count == 2 else { continue }
            let repository = parts.joined(separator: "/")
            if let snapshot = hubSnapshots(of: repository).first(where: Self.looksLikeModel) {
                found.append((repository, snapshot, "Hugging Face cache"))
            }
        }
        // A folder chosen by --model-dir or MCP_RAG_MODEL_DIR may lie outside every place searched.
        if let serving, !found.contains(where: { $0.url.standardizedFileURL.path == serving }) {
            let url = URL(fileURLWithPath: serving)
            found.insert((url.lastPathComponent, url, "chosen folder"), at: 0)
        }
        return found.map { name, url, source in
            Self.inspect(url, name: name, source: source, serves: url.standardizedFileURL.path == serving)
        }
    }

    /// The `models/` folders of the data folder and of the default data folder (once if the same).
    private func dataModelFolders() -> [URL] {
        dataFolderCandidates().map { $0.deletingLastPathComponent() }
    }

    private static func looksLikeModel(_ url: URL) -> Bool {
        FileManager.default.fileExists(atPath: url.appendingPathComponent("config.json").path)
    }

    /// The model folder `url` checked as the server would load it: its settings, tokenizer and
    /// weights read, so a folder listed as runnable is one the server runs.
    public static func inspect(_ url: URL, name: String, source: String = "Hugging Face cache",
                               serves: Bool = false) -> InstalledModel {
        func entry(problem: String?, _ c: ModelConfiguration? = nil) -> InstalledModel {
            InstalledModel(name: name, path: url.path, source: source, problem: problem, dimension: c?.hiddenSize,
                           pooling: c?.pooling.rawValue, maxSequenceLength: c?.maxSequenceLength,
                           queryPrompt: c?.prompts.query, passagePrompt: c?.prompts.passage, serves: serves)
        }
        guard FileManager.default.fileExists(atPath: url.appendingPathComponent("model.safetensors").path) else {
            return entry(problem: "no model.safetensors (mcp-rag reads safetensors weights only)")
        }
        do {
            return entry(problem: nil, try SentenceEmbedder.parts(of: url).0)
        } catch let error as ModelLoadError {
            return entry(problem: error.description)
        } catch {
            return entry(problem: "\(error)")
        }
    }
}

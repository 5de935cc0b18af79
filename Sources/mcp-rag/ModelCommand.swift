import ArgumentParser
import Foundation
import KnowledgeBase

/// `mcp-rag model`: the embedding models on this machine.
struct ModelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "The embedding models on this machine.",
        subcommands: [ModelListCommand.self, ModelFetchCommand.self],
        defaultSubcommand: ModelListCommand.self
    )
}

/// `mcp-rag model list`: every model folder found, whether mcp-rag can run it, and which one serves.
struct ModelListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List the models in the data folders and the Hugging Face cache, and which one a server would load.",
        discussion: """
            The model that serves is chosen by --model-dir, else MCP_RAG_MODEL_DIR, else MCP_RAG_MODEL (a Hugging Face \
            repository such as BAAI/bge-small-en-v1.5, found in the Hugging Face cache: HF_HOME, else \
            ~/.cache/huggingface), else all-MiniLM-L6-v2 from the data folder or the cache.
            """
    )

    @Option(name: .customLong("model-dir"), help: "A model folder, as the other commands take it (it then serves).")
    var modelDirectory: String?

    @Flag(help: "Print the list as JSON.")
    var json = false

    func run() throws {
        let models: [InstalledModel]
        let selection: ModelSelection
        let api: (model: String, endpoint: String)?
        do {
            api = try KnowledgeBaseConfiguration.fromEnvironment().embeddingsAPI.map { ($0.model, $0.endpoint) }
            selection = try ModelSelection(modelDirectory: modelDirectory, threads: nil, device: nil)
            models = try selection.installedModels(servedByAPI: api != nil)
        } catch let error as ConfigurationError {
            throw CLIError(error.description)
        }
        if json {
            try printJSON(models)
            return
        }
        if let api {
            // The API embeds; the folders are what would serve without it.
            print("Served by the embeddings API: model \(api.model) at \(api.endpoint) (MCP_RAG_EMBEDDINGS_URL).")
            if !models.isEmpty { print("Without it, a server would load one of these:\n") }
        }
        guard !models.isEmpty else {
            if api == nil {
                print("No model found. Fetch all-MiniLM-L6-v2 with tools/fetch-model, or download one into the Hugging Face cache.")
            }
            return
        }
        for model in models {
            let marker = model.serves ? "*" : " "
            print("\(marker) \(model.name)  (\(model.source))")
            print("    \(model.path)")
            if let problem = model.problem {
                print("    cannot run: \(problem)")
            } else {
                var details = ["\(model.dimension ?? 0) dimensions", "\(model.pooling ?? "?") pooling",
                               "up to \(model.maxSequenceLength ?? 0) tokens"]
                if let prompt = model.queryPrompt, !prompt.isEmpty { details.append("query prompt \(prompt.debugDescription)") }
                if let prompt = model.passagePrompt, !prompt.isEmpty { details.append("passage prompt \(prompt.debugDescription)") }
                print("    " + details.joined(separator: ", "))
            }
        }
        if api != nil { return }
        if !models.contains(where: \.serves) {
            let reason: String
            do {
                reason = "it is in \(try selection.locate().path), which is not among them"
            } catch {
                reason = "\(error)"
            }
            // The reason may end a sentence of its own.
            print("\nNone of these would serve: \(reason.hasSuffix(".") ? String(reason.dropLast()) : reason).")
        } else {
            print("\n* serves")
        }
    }
}

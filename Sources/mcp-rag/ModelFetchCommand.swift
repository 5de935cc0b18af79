import ArgumentParser
import Foundation
import KnowledgeBase
import ModelHub
import Synchronization

/// `mcp-rag model fetch REPO`: downloads a model from the Hugging Face Hub into the Hugging Face cache.
struct ModelFetchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fetch",
        abstract: "Download a model from the Hugging Face Hub into the Hugging Face cache.",
        discussion: """
            Fetches the files mcp-rag needs (model.safetensors, the settings, the tokenizer) of REPO into the \
            cache's usual layout ($HF_HOME/hub, else ~/.cache/huggingface/hub), where mcp-rag and huggingface_hub \
            both find them; serve it with MCP_RAG_MODEL=REPO. Every file is checked against the Hub's checksum. \
            A download that breaks off is resumed by running the same command again. HF_ENDPOINT names another \
            hub or a mirror; HF_TOKEN (or the token file of `hf auth login`) is sent for private or gated models \
            and never shown.
            """
    )

    @Argument(help: "The repository, as owner/name (e.g. BAAI/bge-small-en-v1.5).")
    var repository: String

    @Option(help: "A branch, tag or commit of the repository.")
    var revision = "main"

    func run() throws {
        let fetched: FetchedModel
        let line = ProgressLine()
        do {
            let fetcher = ModelFetcher(settings: try HubSettings())
            let throttle = ProgressThrottle()
            fetched = try fetcher.fetch(repository: repository, revision: revision) { step in
                guard throttle.due(final: step.bytes == step.total) else { return }
                line.show("[\(step.index)/\(step.count)] \(step.file) \(Self.megabytes(step.bytes))/\(Self.megabytes(step.total)) MB")
            }
        } catch {
            line.finish()
            throw CLIError(error.description)
        }
        line.finish()
        let model = ModelSelection.inspect(fetched.folder, name: fetched.repository)
        let commit = String(fetched.commit.prefix(12))
        let fresh = fetched.downloadedBytes > 0 ? "\(Self.megabytes(fetched.downloadedBytes)) MB downloaded" : "all already in the cache"
        print("Fetched \(fetched.repository) at \(commit) (\(fetched.revision)): \(fetched.fileCount) files, "
            + "\(Self.megabytes(fetched.byteCount)) MB (\(fresh)), checksums verified.")
        print("  \(fetched.folder.path)")
        if let problem = model.problem {
            throw CLIError("\(fetched.repository) is in the cache, but mcp-rag cannot run it: \(problem)")
        }
        // MCP_RAG_MODEL serves the snapshot refs/main names; another revision is served by its folder.
        if fetched.revision == "main" {
            print("Serve it with MCP_RAG_MODEL=\(fetched.repository).")
        } else {
            print("Serve this revision with MCP_RAG_MODEL_DIR=\(fetched.folder.path).")
        }
    }

    private static func megabytes(_ bytes: Int64) -> String {
        String(format: "%.1f", Double(bytes) / 1_000_000)
    }
}

/// Lets a progress line be redrawn at most ten times a second.
private final class ProgressThrottle: Sendable {
    private let last = Mutex(ContinuousClock.now - .seconds(1))

    func due(final: Bool) -> Bool {
        last.withLock { last in
            let now = ContinuousClock.now
            guard final || now - last >= .milliseconds(100) else { return false }
            last = now
            return true
        }
    }
}

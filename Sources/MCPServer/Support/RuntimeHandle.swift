import Dispatch
import KnowledgeBase
import Logging

/// The knowledge base, opened off the MCP loop so that `initialize` is answered at once.
final class RuntimeHandle: Sendable {
    private let opening: Task<KnowledgeBaseRuntime, Error>

    /// Starts opening `configuration`'s knowledge base and, once open, loading its model.
    init(configuration: KnowledgeBaseConfiguration, logger: Logger, startedAt: UInt64, warmCache: Bool) {
        opening = Task.detached {
            do {
                let runtime = try await BlockingExecutor.run {
                    try KnowledgeBaseRuntime(configuration: configuration, logger: logger, startedAt: startedAt)
                }
                runtime.start(warmCache: warmCache)
                return runtime
            } catch {
                logger.error("the knowledge base could not be opened", metadata: ["rag.store.error": "\(error)"])
                throw error
            }
        }
    }

    /// Wraps a runtime that is already open (tests, the self-test).
    init(runtime: KnowledgeBaseRuntime) {
        opening = Task { runtime }
    }

    /// Lets the runtime write what it still holds (buffered query counts) before the process ends.
    func close() async {
        guard let runtime = try? await opening.value else { return }
        await runtime.close()
    }

    /// The open knowledge base; throws a `ClientError` saying why it could not be opened.
    func runtime() async throws -> KnowledgeBaseRuntime {
        do {
            return try await opening.value
        } catch {
            throw ClientError(.unavailable, "the knowledge base could not be opened: \(ClientError(error).message)")
        }
    }
}

import Dispatch
import Foundation
import KnowledgeBase
import Logging
import MCP
import ServiceLifecycle
import Telemetry

/// The mcp-rag MCP server: the tools over the official Swift SDK, on any transport.
public struct MCPRagServer: Sendable {
    /// What the model is told about when to use which tool (the `instructions` of `initialize`).
    public static let instructions = """
        mcp-rag searches the user's own ingested documents. Call query_knowledge_base to find passages that answer \
        a question about their documentation, code or notes, and cite the source of what you use; mode keyword suits \
        exact names and error codes. list_sources shows what has been ingested and its technology labels (use one as \
        technology_filter). ingest_documents and remove_source change the knowledge base (only inside folders the \
        user allowed). health_check, get_cache_warming_stats and verify_gpu_acceleration report on the server itself.
        """

    private let knowledgeBase: KnowledgeBase
    private let tools: [String: any RagTool]
    /// The tools that change the knowledge base, when the server was made read-only.
    private let withheld: Set<String>
    /// `tools/list`'s result, encoded once for every session.
    private let toolList: Data
    let logger: Logger

    /// The tools that may run for a long time (an ingest, a benchmark): at shutdown they stop and
    /// answer so, where the other calls in flight finish.
    static let stoppedAtShutdown: Set = [IngestDocumentsTool.name, VerifyGPUAccelerationTool.name]

    /// A server over `knowledgeBase` (which may still be opening). A `readOnly` server serves only
    /// the tools whose annotations say they change nothing (a shared server where nobody can
    /// ingest or remove).
    public init(knowledgeBase: KnowledgeBase, readOnly: Bool = false, logger: Logger) {
        self.knowledgeBase = knowledgeBase
        self.logger = logger
        let all: [any RagTool] = [
            QueryKnowledgeBaseTool(), HealthCheckTool(), CacheWarmingStatsTool(),
            VerifyGPUAccelerationTool(), ListSourcesTool(), IngestDocumentsTool(), RemoveSourceTool(),
        ]
        let (served, changing) = readOnly ? (all.filter(Self.readsOnly), all.filter { !Self.readsOnly($0) }) : (all, [])
        tools = Dictionary(uniqueKeysWithValues: served.map { ($0.definition.name, $0) })
        withheld = Set(changing.map(\.definition.name))
        toolList = ToolCallRouter.encodedToolList(Self.definitions(of: tools))
    }

    private static func readsOnly(_ tool: any RagTool) -> Bool {
        tool.definition.annotations.readOnlyHint == true
    }

    /// The tool definitions in a stable order (the four core tools first).
    var definitions: [Tool] {
        Self.definitions(of: tools)
    }

    private static func definitions(of tools: [String: any RagTool]) -> [Tool] {
        let order = [QueryKnowledgeBaseTool.name, HealthCheckTool.name, CacheWarmingStatsTool.name,
                     VerifyGPUAccelerationTool.name, ListSourcesTool.name, IngestDocumentsTool.name, RemoveSourceTool.name]
        return order.compactMap { tools[$0]?.definition }
    }

    /// Builds the SDK server with every handler registered; `start(transport:)` it to serve.
    public func makeServer() async -> Server {
        let server = Server(name: "mcp-rag", version: MCPRagVersion.current, title: "mcp-rag knowledge base",
                            instructions: Self.instructions,
                            capabilities: .init(tools: .init(listChanged: false)))
        let definitions = self.definitions
        await server.withMethodHandler(ListTools.self) { _ in ListTools.Result(tools: definitions) }
        // The server keeps its handlers, so they hold it weakly: a session's server must be freed
        // when the session ends.
        await server.withMethodHandler(CallTool.self) { [self, weak server] params in
            guard let server else { throw MCPError.internalError("the session has ended") }
            return try await call(params, server: server).result()
        }
        return server
    }

    /// Starts serving over `transport`: a `ToolCallRouter` in front of the SDK's server checks every
    /// frame and answers `tools/call` and `tools/list` (see there why), the SDK everything else; the
    /// SDK's own handlers for those two serve only a server made with `makeServer()` alone. Returns
    /// the running server.
    public func start(transport: any Transport) async throws -> Server {
        try await startRouted(transport).server
    }

    func startRouted(_ transport: any Transport) async throws -> (server: Server, router: ToolCallRouter) {
        let server = await makeServer()
        let router = ToolCallRouter(inner: transport, toolList: toolList, stoppedAtShutdown: Self.stoppedAtShutdown,
                                    logger: logger) { [self, weak server] params in
            guard let server else { throw MCPError.internalError("the session has ended") }
            return try await call(params, server: server)
        }
        try await server.start(transport: router)
        return (server, router)
    }

    /// Serves over `transport` until the client's input ends, or until a graceful shutdown of the
    /// service group: then no more requests are read, the calls in flight answer (long ones stop
    /// and say so) and this returns. The knowledge base is closed by its own service, after this.
    public func run(transport: any Transport) async throws {
        let (server, router) = try await startRouted(transport)
        await withGracefulShutdownHandler {
            await server.waitUntilCompleted()
        } onGracefulShutdown: {
            Task { await router.shutDown() }
        }
        await server.stop()
    }

    /// Runs one call: its answer, or the protocol error to answer with. Cancellation is thrown.
    private func call(_ params: CallTool.Parameters, server: Server) async throws -> ToolAnswer {
        let start = DispatchTime.now().uptimeNanoseconds
        guard let tool = tools[params.name] else {
            // Under one label: names a client made up must not each become a series.
            knowledgeBase.metrics.toolCall("unknown", outcome: .error, nanoseconds: DispatchTime.now().uptimeNanoseconds - start)
            // A protocol error, as the MCP specification asks for unknown tools.
            if withheld.contains(params.name) {
                throw MCPError.invalidParams("\(params.name) is not served: this server is read-only (--read-only or MCP_RAG_READ_ONLY), so nothing "
                    + "can be ingested or removed through it")
            }
            throw MCPError.invalidParams("Unknown tool: \(params.name.prefix(200)); tools/list shows the \(tools.count) tools")
        }
        let token = params._meta?.progressToken
        let context = ToolContext(knowledgeBase: knowledgeBase) { done, total, message in
            guard let token else { return }
            let notification = ProgressNotification.message(.init(progressToken: token, progress: done, total: total, message: message))
            try? await server.notify(notification)
        }
        let metrics = knowledgeBase.metrics
        do {
            let output = try await tool.call(params.arguments, context: context)
            let elapsed = DispatchTime.now().uptimeNanoseconds - start
            logger.debug("tool call", metadata: ["rag.tool": "\(params.name)", "rag.tool.ms": "\(Double(elapsed) / 1e6)"])
            metrics.toolCall(params.name, outcome: .ok, nanoseconds: elapsed)
            return .output(output)
        } catch is CancellationError {
            metrics.toolCall(params.name, outcome: .cancelled, nanoseconds: DispatchTime.now().uptimeNanoseconds - start)
            throw CancellationError()
        } catch {
            metrics.toolCall(params.name, outcome: .error, nanoseconds: DispatchTime.now().uptimeNanoseconds - start)
            let failure = ClientError(error)
            logger.info("tool call failed", metadata: ["rag.tool": "\(params.name)", "rag.tool.error": "\(error)",
                                                       "rag.tool.code": "\(failure.code.rawValue)"])
            return .failure(Self.message(for: failure), code: failure.code)
        }
    }

    /// A sentence for a person (see `ClientError`: our own errors say what to do, and nothing
    /// internal such as SQL reaches the client).
    static func message(for error: Error) -> String {
        sentence(ClientError(error).message)
    }

    /// `text` with a capital first letter and a full stop, unless it already ends a sentence.
    static func sentence(_ text: String) -> String {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        let capitalised = trimmed.prefix(1).uppercased() + trimmed.dropFirst()
        return [".", "!", "?"].contains(where: capitalised.hasSuffix) ? capitalised : capitalised + "."
    }
}

/// The MCP server on stdin/stdout, as a service of the process's `ServiceGroup`: it ends when the
/// client closes stdin or at a graceful shutdown. Nothing else may write to stdout.
public struct StdioServerService: Service {
    private let server: MCPRagServer

    public init(server: MCPRagServer) {
        self.server = server
    }

    public func run() async throws {
        // A client that goes away must end this process through EOF, not kill it with SIGPIPE
        // in the middle of a write to the database.
        signal(SIGPIPE, SIG_IGN)
        try await server.run(transport: StdioLineTransport(logger: server.logger))
    }
}

import ArgumentParser
import Dispatch
import KnowledgeBase
import MCPServer
import ServiceLifecycle

/// `mcp-rag serve` (the default): MCP over stdio. stdout carries MCP messages only.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the knowledge base over MCP on stdin/stdout (the default command)."
    )

    @OptionGroup var options: KnowledgeBaseOptions

    @Flag(help: "Run the self-test instead of serving (the same as `mcp-rag selftest`).")
    var selftest = false

    @Flag(help: "With --selftest: print the report as JSON.")
    var json = false

    /// How long a graceful shutdown may take before what still runs is cancelled: the calls in
    /// flight answer in milliseconds (long ones are stopped), then buffered counts are written
    /// (up to 2 s) and a vector snapshot being written is finished.
    static let shutdownLimit = Duration.seconds(30)

    func run() async throws {
        if selftest {
            try await SelftestCommand.run(options: options, json: json)
            return
        }
        let startedAt = DispatchTime.now().uptimeNanoseconds
        let logger = options.logger()
        let knowledgeBase = KnowledgeBase(configuration: try options.configuration(), logger: logger, startedAt: startedAt)
        let server = StdioServerService(server: MCPRagServer(knowledgeBase: knowledgeBase, logger: logger))
        // Shut down in the reverse order: the transport first (no new calls; those in flight
        // answer), then the knowledge base (counts written, snapshot finished). The end of stdin
        // ends the transport, and with it the group.
        var group = ServiceGroupConfiguration(
            services: [
                .init(service: knowledgeBase, serviceName: "knowledge base"),
                .init(service: server, successTerminationBehavior: .gracefullyShutdownGroup,
                      failureTerminationBehavior: .gracefullyShutdownGroup, serviceName: "MCP over stdio"),
            ],
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        group.maximumGracefulShutdownDuration = Self.shutdownLimit
        try await ServiceGroup(configuration: group).run()
    }
}

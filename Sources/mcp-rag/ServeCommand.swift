import ArgumentParser
import Dispatch
import MCPServer

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

    func run() async throws {
        if selftest {
            try await SelftestCommand.run(options: options, json: json)
            return
        }
        let startedAt = DispatchTime.now().uptimeNanoseconds
        let logger = options.logger()
        let server = MCPRagServer(configuration: try options.configuration(), logger: logger, startedAt: startedAt)
        try await server.runOverStdio()
    }
}

import ArgumentParser
import KnowledgeBase

/// The `mcp-rag` command line. With no subcommand it serves MCP over stdio.
@main
struct MCPRag: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mcp-rag",
        abstract: "A retrieval knowledge base for AI assistants, served over the Model Context Protocol.",
        version: MCPRagVersion.current,
        subcommands: [ServeCommand.self, SelftestCommand.self, IngestCommand.self, QueryCommand.self,
                      ConfigCommand.self, EmbedCommand.self, ModelCommand.self, ReembedCommand.self, BenchCommand.self,
                      EvalCommand.self],
        defaultSubcommand: ServeCommand.self
    )
}

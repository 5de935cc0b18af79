import ArgumentParser

/// The `mcp-rag` command line.
@main
struct MCPRag: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mcp-rag",
        abstract: "A retrieval knowledge base for AI assistants, served over the Model Context Protocol.",
        version: MCPRagVersion.current,
        subcommands: [EmbedCommand.self, BenchCommand.self]
    )
}

enum MCPRagVersion {
    static let current = "0.1.0"
}

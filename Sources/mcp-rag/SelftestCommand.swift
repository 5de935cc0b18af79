import ArgumentParser
import Foundation
import KnowledgeBase
import MCPServer
import SelfTest

/// `mcp-rag selftest` (also `mcp-rag --selftest`): checks every part and prints a report.
struct SelftestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "selftest",
        abstract: "Ingest a small sample into a temporary knowledge base, call every tool through the MCP server, and report."
    )

    @OptionGroup var options: KnowledgeBaseOptions

    @Flag(help: "Print the report as JSON.")
    var json = false

    func run() async throws {
        try await Self.run(options: options, json: json)
    }

    /// The self-test with these options (shared with `mcp-rag --selftest`).
    static func run(options: KnowledgeBaseOptions, json: Bool) async throws {
        // The self-test must not touch a real knowledge base.
        let (configuration, temporary) = try options.scratchConfiguration(prefix: "mcp-rag-selftest")
        defer { if let temporary { try? FileManager.default.removeItem(at: temporary) } }
        let report = await SelfTest(configuration: configuration, logger: options.reportLogger()).run()
        if json {
            try printJSON(report)
        } else {
            print(SelfTest.text(report))
        }
        if !report.passed { throw ExitCode(1) }
    }
}

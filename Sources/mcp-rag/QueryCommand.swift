import ArgumentParser
import Foundation
import KnowledgeBase

/// `mcp-rag query TEXT`: one search from the shell.
struct QueryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "query",
        abstract: "Search the knowledge base and print the best passages."
    )

    @OptionGroup var options: KnowledgeBaseOptions

    @Argument(help: "The question or keywords.")
    var text: String

    @Option(name: [.customShort("n"), .customLong("n-results")], help: "Passages to return (1–50).")
    var count = 5

    @Option(help: "Only passages with this technology label.")
    var technology: String?

    @Option(help: "How to search.")
    var mode: SearchMode = .default

    @Flag(help: "Print the answer as JSON (the tool's structured output).")
    var json = false

    func run() async throws {
        let request = QueryRequest(query: text, limit: count, technology: technology, mode: mode, useCache: false)
        let response: QueryResponse
        do {
            // Before the knowledge base opens, so a bad request loads no model and the error is all
            // that stderr shows.
            _ = try QueryService.validate(request)
            response = try await options.withKnowledgeBase(logger: options.logger()) { try await $0.query(request) }
        } catch let error as InvalidRequest {
            throw CLIError(error.description)
        }
        if json {
            try printJSON(response)
            return
        }
        if let reason = response.degradedReason { FileHandle.standardError.write(Data("warning: \(reason)\n".utf8)) }
        if response.results.isEmpty {
            print("No passages found (\(response.mode.rawValue) search, \(String(format: "%.1f", response.tookMs)) ms).")
        }
        // Passages and names come from the files: their control characters are shown, never obeyed.
        for result in response.results {
            let heading = result.heading.isEmpty ? "" : " — \(TerminalText.escapingControls(result.heading))"
            let page = result.page.map { ", page \($0)" } ?? ""
            print("\(result.rank). \(TerminalText.escapingControls(result.source))\(page)\(heading)  "
                + "[\(result.technology), score \(String(format: "%.4f", result.score))]")
            print(TerminalText.escapingControls(result.text, keepingLineBreaks: true)
                .split(separator: "\n").map { "   " + $0 }.joined(separator: "\n"))
            print("")
        }
    }
}

/// Lets ArgumentParser check `--mode` while parsing (and list the choices in `--help`).
extension SearchMode: ExpressibleByArgument {}

import ArgumentParser
import Foundation

/// `mcp-rag config claude | gemini`: a ready `mcpServers` entry naming this binary.
struct ConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Print a ready mcpServers entry for Claude Desktop or Gemini CLI."
    )

    enum Client: String, ExpressibleByArgument, CaseIterable {
        case claude, gemini
    }

    @Argument(help: "claude or gemini.")
    var client: Client

    @Option(name: .customLong("allow-root"), help: "A folder the assistant may ingest from (repeatable).")
    var allowedRoots: [String] = []

    @Option(name: .customLong("data-dir"), help: "A data folder to pin in the entry.")
    var dataDirectory: String?

    func run() throws {
        var environment: [String: String] = [:]
        let roots = allowedRoots.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
        if !roots.isEmpty { environment["MCP_RAG_ALLOWED_ROOTS"] = roots.joined(separator: ":") }
        if let dataDirectory { environment["MCP_RAG_DATA_DIR"] = URL(fileURLWithPath: dataDirectory).standardizedFileURL.path }
        var server: [String: Any] = ["command": Self.executablePath(), "args": ["serve"]]
        if !environment.isEmpty { server["env"] = environment }
        if client == .gemini {
            // Gemini CLI's default tool timeout is ten minutes; ingesting a large folder can take longer.
            server["timeout"] = 600_000
        }
        let entry: [String: Any] = ["mcpServers": ["mcp-rag": server]]
        let data = try JSONSerialization.data(withJSONObject: entry, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        print(String(decoding: data, as: UTF8.self))
        FileHandle.standardError.write(Data("# Merge this into \(Self.settingsFile(for: client)).\n".utf8))
    }

    /// This binary's absolute path with symlinks resolved: a client starts it from anywhere.
    static func executablePath() -> String {
        if let resolved = realpath("/proc/self/exe", nil) {
            defer { free(resolved) }
            return String(cString: resolved)
        }
        return URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL.path
    }

    static func settingsFile(for client: Client) -> String {
        switch client {
        case .claude:
            #if os(macOS)
            "~/Library/Application Support/Claude/claude_desktop_config.json"
            #else
            "Claude Desktop's claude_desktop_config.json (Settings → Developer → Edit Config; ~/.config/Claude/ on Linux)"
            #endif
        case .gemini: "~/.gemini/settings.json (or .gemini/settings.json in a project)"
        }
    }
}

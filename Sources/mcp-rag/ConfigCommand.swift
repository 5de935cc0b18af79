import ArgumentParser
import Foundation
import HTTPEndpoints

/// `mcp-rag config claude | gemini`: a ready `mcpServers` entry naming this binary, or with
/// `--http URL` one for a server that serves MCP over HTTP.
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

    @Flag(help: "An entry whose server keeps the ingested folders in sync (serve --watch).")
    var watch = false

    @Option(name: .customLong("http"), help: ArgumentHelp(
        "The entry for a server already serving MCP over HTTP at URL (e.g. http://10.0.0.5:8765/mcp). When it needs a token "
            + "(MCP_RAG_HTTP_TOKEN or --http-token-file set here), the entry refers to it without printing it.",
        valueName: "URL"))
    var httpURL: String?

    @Option(name: .customLong("http-token-file"), help: ArgumentHelp("With --http: the file holding the server's token.",
                                                                      valueName: "PATH"))
    var tokenFile: String?

    func run() throws {
        if let httpURL {
            guard allowedRoots.isEmpty, dataDirectory == nil, !watch else {
                throw ValidationError("--allow-root, --data-dir and --watch are the server's settings; with --http, set them where it runs")
            }
            let withToken = try BearerToken.configured(file: tokenFile, environment: ProcessInfo.processInfo.environment) != nil
            let url = try Self.endpoint(httpURL)
            try Self.printEntry(remoteEntry(url: url, withToken: withToken))
            var note = "# Merge this into \(Self.settingsFile(for: client)).\n"
            if withToken {
                note += client == .gemini
                    ? "# Gemini CLI reads the token from MCP_RAG_HTTP_TOKEN in its own environment: set it there.\n"
                    : "# Replace <TOKEN> with the server's token (it is not printed); the entry runs the mcp-remote bridge (Node.js).\n"
            } else if let host = URLComponents(string: url)?.host, !ListenAddress.isLoopback(host: host) {
                // A server on another machine serves only with a token: an entry without one would be refused.
                note += "# No token here (MCP_RAG_HTTP_TOKEN or --http-token-file), so this entry sends none; a server on "
                    + "\(host) needs one: set it and run this again.\n"
            }
            FileHandle.standardError.write(Data(note.utf8))
            return
        }
        var environment: [String: String] = [:]
        let roots = allowedRoots.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
        if !roots.isEmpty { environment["MCP_RAG_ALLOWED_ROOTS"] = roots.joined(separator: ":") }
        if let dataDirectory { environment["MCP_RAG_DATA_DIR"] = URL(fileURLWithPath: dataDirectory).standardizedFileURL.path }
        var server: [String: Any] = ["command": Self.executablePath(), "args": watch ? ["serve", "--watch"] : ["serve"]]
        if !environment.isEmpty { server["env"] = environment }
        if client == .gemini {
            // Gemini CLI's default tool timeout is ten minutes; ingesting a large folder can take longer.
            server["timeout"] = 600_000
        }
        try Self.printEntry(server)
        FileHandle.standardError.write(Data("# Merge this into \(Self.settingsFile(for: client)).\n".utf8))
    }

    /// The entry for a server at `url`. Gemini CLI speaks Streamable HTTP itself (`httpUrl`) and
    /// expands `$VARIABLES` in its settings, so the token stays in its environment. Claude Desktop
    /// takes remote servers only as connectors added in its settings, so its entry runs the
    /// documented bridge, mcp-remote, which sends the header it is given; Claude Desktop does not
    /// expand variables, so the token is a placeholder to fill in.
    private func remoteEntry(url: String, withToken: Bool) -> [String: Any] {
        switch client {
        case .gemini:
            var server: [String: Any] = ["httpUrl": url, "timeout": 600_000]
            if withToken { server["headers"] = ["Authorization": "Bearer ${MCP_RAG_HTTP_TOKEN}"] }
            return server
        case .claude:
            var server: [String: Any] = ["command": "npx", "args": ["-y", "mcp-remote", url]]
            if withToken {
                // No space after the colon: Claude Desktop on Windows splits arguments on spaces.
                server["args"] = ["-y", "mcp-remote", url, "--header", "Authorization:${MCP_RAG_AUTHORIZATION}"]
                server["env"] = ["MCP_RAG_AUTHORIZATION": "Bearer <TOKEN>"]
            }
            return server
        }
    }

    /// `text` as an http(s) URL with a host; the path defaults to /mcp.
    private static func endpoint(_ text: String) throws -> String {
        guard var parts = URLComponents(string: text), let scheme = parts.scheme?.lowercased(), ["http", "https"].contains(scheme),
              let host = parts.host, !host.isEmpty, parts.user == nil, parts.password == nil
        else {
            throw ValidationError("--http: \"\(text.prefix(200))\" is not the URL of a server (give http(s)://HOST:PORT/mcp)")
        }
        if parts.path.isEmpty || parts.path == "/" { parts.path = "/mcp" }
        return parts.string ?? text
    }

    private static func printEntry(_ server: [String: Any]) throws {
        let entry: [String: Any] = ["mcpServers": ["mcp-rag": server]]
        let data = try JSONSerialization.data(withJSONObject: entry, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        print(String(decoding: data, as: UTF8.self))
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

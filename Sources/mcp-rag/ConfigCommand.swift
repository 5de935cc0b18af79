import ArgumentParser
import Foundation
import HTTPEndpoints
import KnowledgeBase

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

    @Option(name: .customLong("data-dir"), help: "A data folder to pin in the entry (default: MCP_RAG_DATA_DIR, when set).")
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
            let plainHost = Self.plainHTTPHost(url)
            let plainToAnotherMachine = plainHost.map { !ListenAddress.isLoopback(host: $0) } ?? false
            // mcp-remote's own rule: plain HTTP only to localhost and 127.0.0.1, unless allowed.
            let allowHTTP = plainHost.map { !["localhost", "127.0.0.1"].contains($0.lowercased()) } ?? false
            try Self.printEntry(remoteEntry(url: url, withToken: withToken, allowHTTP: allowHTTP))
            var note = "# Merge this into \(Self.settingsFile(for: client)).\n"
            if plainToAnotherMachine {
                note += "# \(url) is plain HTTP to another machine: the questions, " + (withToken ? "the answers and the token" : "and the answers")
                    + " cross the network unencrypted. Serve it behind TLS "
                    + "(docs/operations.md) and give its https:// URL where the network is not yours.\n"
            }
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
        // The data folder this shell uses, unless another is named: a client starts the server with
        // its own environment, and the default folder would be an empty knowledge base.
        let shellFolder = ProcessInfo.processInfo.environment["MCP_RAG_DATA_DIR"]
            .flatMap { $0.trimmingCharacters(in: .whitespaces).isEmpty ? nil : $0 }
        if let folder = dataDirectory ?? shellFolder {
            environment["MCP_RAG_DATA_DIR"] = URL(fileURLWithPath: folder).standardizedFileURL.path
        }
        let model = modelEnvironment(ProcessInfo.processInfo.environment, dataDirectory: environment["MCP_RAG_DATA_DIR"])
        environment.merge(model.entries) { _, carried in carried }
        var server: [String: Any] = ["command": Self.executablePath(), "args": watch ? ["serve", "--watch"] : ["serve"]]
        if !environment.isEmpty { server["env"] = environment }
        if client == .gemini {
            // Gemini CLI's default tool timeout is ten minutes; ingesting a large folder can take longer.
            server["timeout"] = 600_000
        }
        try Self.printEntry(server)
        var note = "# Merge this into \(Self.settingsFile(for: client)).\n"
        if !model.entries.isEmpty {
            note += "# The entry carries this shell's choice of model (\(model.entries.keys.sorted().joined(separator: ", "))), "
                + "so the assistant's server embeds as the knowledge base was embedded here.\n"
        }
        if model.keyPlaceholder {
            note += "# Replace <KEY> with the embeddings API's key (it is not printed).\n"
        }
        FileHandle.standardError.write(Data(note.utf8))
    }

    /// The settings of `environment` that choose the embedding model, for a local entry: a client
    /// starts the server with its own environment, and a server on another model than the one the
    /// knowledge base was built with answers by keywords alone. Folders are made absolute. The
    /// API's key is never printed: Gemini CLI expands `${VARIABLES}` in its settings, so its entry
    /// names the variable; Claude Desktop does not, so its entry holds a placeholder to fill in.
    private func modelEnvironment(_ environment: [String: String],
                                  dataDirectory: String?) -> (entries: [String: String], keyPlaceholder: Bool) {
        var entries: [String: String] = [:]
        for name in Self.carriedSettings {
            guard let value = environment[name], !value.isEmpty else { continue }
            entries[name] = Self.carriedFolders.contains(name) ? URL(fileURLWithPath: value).standardizedFileURL.path : value
        }
        // A folder of the data folder's models/ named by itself: the entry names the folder, found
        // as the entry's server would find it (in the data folder the entry pins).
        var selection = try? ModelSelection()
        selection?.dataDirectory = dataDirectory
        if let name = entries["MCP_RAG_MODEL"], !name.contains("/"), entries["MCP_RAG_MODEL_DIR"] == nil,
           let folder = try? selection?.locate() {
            entries["MCP_RAG_MODEL"] = nil
            entries["MCP_RAG_MODEL_DIR"] = folder.path
        }
        guard environment["MCP_RAG_EMBEDDINGS_KEY"]?.isEmpty == false else { return (entries, false) }
        entries["MCP_RAG_EMBEDDINGS_KEY"] = client == .gemini ? "${MCP_RAG_EMBEDDINGS_KEY}" : "<KEY>"
        return (entries, client == .claude)
    }

    /// What chooses the model, and where the data folder's and a Hugging Face model are found, as
    /// a local entry carries them (the key aside).
    private static let carriedSettings = [
        "MCP_RAG_MODEL", "MCP_RAG_MODEL_DIR", "XDG_DATA_HOME", "HF_HOME", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "XDG_CACHE_HOME",
        "MCP_RAG_EMBEDDINGS_URL", "MCP_RAG_EMBEDDINGS_MODEL", "MCP_RAG_EMBEDDINGS_INPUT_TYPE",
        "MCP_RAG_EMBEDDINGS_QUERY_PREFIX", "MCP_RAG_EMBEDDINGS_PASSAGE_PREFIX",
        "MCP_RAG_EMBEDDINGS_BATCH", "MCP_RAG_EMBEDDINGS_TIMEOUT_MS",
    ]
    private static let carriedFolders: Set = ["MCP_RAG_MODEL_DIR", "XDG_DATA_HOME", "HF_HOME", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE",
                                              "XDG_CACHE_HOME"]

    /// The host of a plain `http://` URL; nil for https.
    private static func plainHTTPHost(_ url: String) -> String? {
        guard let parts = URLComponents(string: url), parts.scheme?.lowercased() == "http" else { return nil }
        return parts.host
    }

    /// The entry for a server at `url`. Gemini CLI speaks Streamable HTTP itself (`httpUrl`) and
    /// expands `$VARIABLES` in its settings, so the token stays in its environment. Claude Desktop
    /// takes remote servers only as connectors added in its settings, so its entry runs the
    /// documented bridge, mcp-remote, which sends the header it is given; Claude Desktop does not
    /// expand variables, so the token is a placeholder to fill in.
    private func remoteEntry(url: String, withToken: Bool, allowHTTP: Bool) -> [String: Any] {
        switch client {
        case .gemini:
            var server: [String: Any] = ["httpUrl": url, "timeout": 600_000]
            if withToken { server["headers"] = ["Authorization": "Bearer ${MCP_RAG_HTTP_TOKEN}"] }
            return server
        case .claude:
            var arguments = ["-y", "mcp-remote", url]
            var server: [String: Any] = [:]
            if withToken {
                // No space after the colon: Claude Desktop on Windows splits arguments on spaces.
                arguments += ["--header", "Authorization:${MCP_RAG_AUTHORIZATION}"]
                server["env"] = ["MCP_RAG_AUTHORIZATION": "Bearer <TOKEN>"]
            }
            if allowHTTP { arguments.append("--allow-http") }
            server["command"] = "npx"
            server["args"] = arguments
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

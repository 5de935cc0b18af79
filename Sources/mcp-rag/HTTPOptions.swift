import ArgumentParser
import Foundation
import HTTPEndpoints
import MCPServer

/// How `mcp-rag serve` listens over HTTP: MCP itself (`--http`), or beside stdio only the probes
/// and metrics (`--metrics`), and the limits and checks of a shared server. Each option has an
/// environment variable, checked even when the option overrides it, so a bad one is never
/// silently ignored.
struct HTTPOptions: ParsableArguments {
    @Option(name: .customLong("http"), help: ArgumentHelp(
        "Serve MCP over Streamable HTTP on HOST:PORT (or 127.0.0.1:PORT) at /mcp, with /livez, /readyz and /metrics, "
            + "instead of stdio (also MCP_RAG_HTTP).",
        valueName: "HOST:PORT"))
    var httpAddress: String?

    @Option(name: .customLong("metrics"), help: ArgumentHelp(
        "Beside MCP over stdio, serve /metrics (Prometheus), /livez and /readyz over HTTP on HOST:PORT, or on 127.0.0.1:PORT "
            + "(also MCP_RAG_METRICS).",
        valueName: "HOST:PORT"))
    var metricsAddress: String?

    @Option(name: .customLong("http-token-file"), help: ArgumentHelp(
        "A file holding the bearer token /mcp and /metrics require (instead of MCP_RAG_HTTP_TOKEN); needed to listen on a "
            + "non-loopback address.",
        valueName: "PATH"))
    var tokenFile: String?

    @Option(name: .customLong("max-sessions"), help: ArgumentHelp(
        "With --http: MCP sessions open at once; more are refused with 503 until one ends (also MCP_RAG_HTTP_MAX_SESSIONS; "
            + "default 256).",
        valueName: "N"))
    var maxSessions: Int?

    @Option(name: .customLong("session-idle"), help: ArgumentHelp(
        "With --http: seconds after which a session that received nothing is closed (also MCP_RAG_HTTP_SESSION_IDLE; "
            + "default 1800).",
        valueName: "SECONDS"))
    var sessionIdleSeconds: Double?

    @Option(name: .customLong("max-in-flight"), help: ArgumentHelp(
        "With --http: requests one session may have in flight; one more is answered 429 (also "
            + "MCP_RAG_HTTP_MAX_IN_FLIGHT; default 16).",
        valueName: "N"))
    var maxInFlight: Int?

    @Option(name: .customLong("allowed-origin"), help: ArgumentHelp(
        "With --http: a web origin (scheme://host[:port]) whose pages may call the server (repeatable; also "
            + "MCP_RAG_HTTP_ALLOWED_ORIGINS, comma-separated). Other origins get 403.",
        valueName: "ORIGIN"))
    var allowedOrigins: [String] = []

    /// What the options and the environment ask for, checked before anything starts.
    struct Plan {
        enum Mode {
            case stdio
            /// Stdio, with the probes and metrics on this endpoint.
            case stdioWithMetrics(HTTPEndpoint)
            /// MCP over HTTP on this endpoint.
            case http(HTTPEndpoint, MCPHTTPSessions.Policy, allowedOrigins: [String])
        }

        let mode: Mode

        /// Whether anything is served over HTTP (and with it the metrics).
        var servesHTTP: Bool {
            if case .stdio = mode { false } else { true }
        }
    }

    func plan(environment: [String: String]) throws -> Plan {
        let token = try BearerToken.configured(file: tokenFile, environment: environment)
        let http = try setting(httpAddress, "--http", environment, "MCP_RAG_HTTP") { try Self.address($0) }
        let metrics = try setting(metricsAddress, "--metrics", environment, "MCP_RAG_METRICS") { try Self.address($0) }
        let sessions = try setting(maxSessions.map(String.init), "--max-sessions", environment, "MCP_RAG_HTTP_MAX_SESSIONS") { text in
            guard let count = Int(text), (1...100_000).contains(count) else { throw ValidationError("a number from 1 to 100000") }
            return count
        }
        let inFlight = try setting(maxInFlight.map(String.init), "--max-in-flight", environment, "MCP_RAG_HTTP_MAX_IN_FLIGHT") { text in
            guard let count = Int(text), (1...1024).contains(count) else { throw ValidationError("a number from 1 to 1024") }
            return count
        }
        let idle = try setting(sessionIdleSeconds.map { "\($0)" }, "--session-idle", environment, "MCP_RAG_HTTP_SESSION_IDLE") { text in
            guard let seconds = Double(text), seconds >= 1, seconds <= 7 * 86_400 else {
                throw ValidationError("a number of seconds from 1 to 604800")
            }
            return seconds
        }
        let environmentOrigins = environment["MCP_RAG_HTTP_ALLOWED_ORIGINS"].map {
            $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        } ?? []
        let origins = try (allowedOrigins.isEmpty ? environmentOrigins : allowedOrigins).map(Self.origin)
        guard let http else {
            guard sessions == nil, inFlight == nil, idle == nil, origins.isEmpty else {
                throw ValidationError("--max-sessions, --max-in-flight, --session-idle and --allowed-origin apply only with --http")
            }
            return Plan(mode: try metrics.map { .stdioWithMetrics(try HTTPEndpoint(address: $0, token: token)) } ?? .stdio)
        }
        guard metrics == nil else {
            throw ValidationError("--metrics is for stdio: with --http, /metrics is served on the --http address")
        }
        var policy = MCPHTTPSessions.Policy()
        if let sessions { policy.maxSessions = sessions }
        if let inFlight { policy.maxRequestsInFlightPerSession = inFlight }
        if let idle { policy.idleTimeout = .milliseconds(Int64(idle * 1000)) }
        return Plan(mode: .http(try HTTPEndpoint(address: http, token: token), policy, allowedOrigins: origins))
    }

    /// The option's value, or else the variable's, read by `parse`; an error names the one that is wrong.
    private func setting<T>(_ option: String?, _ optionName: String, _ environment: [String: String], _ variable: String,
                            _ parse: (String) throws -> T) throws -> T? {
        // The variable is checked even when the option overrides it.
        let fromEnvironment = try environment[variable].flatMap { $0.isEmpty ? nil : $0 }.map { text in
            do { return try parse(text) } catch { throw ValidationError("\(variable): \(error)") }
        }
        guard let option else { return fromEnvironment }
        do { return try parse(option) } catch { throw ValidationError("\(optionName): \(error)") }
    }

    private static func address(_ text: String) throws -> ListenAddress {
        try ListenAddress(parsing: text)
    }

    /// `text` as an origin browsers send: scheme, host and perhaps a port, nothing more.
    private static func origin(_ text: String) throws -> String {
        guard let url = URL(string: text), let scheme = url.scheme, ["http", "https"].contains(scheme), url.host != nil,
              url.path.isEmpty || url.path == "/", url.query == nil, url.user == nil
        else {
            throw ValidationError("--allowed-origin: \"\(text.prefix(100))\" is not a web origin (scheme://host[:port], "
                + "e.g. https://chat.example.com)")
        }
        return text.hasSuffix("/") ? String(text.dropLast()) : text
    }
}

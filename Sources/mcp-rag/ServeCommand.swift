import ArgumentParser
import Dispatch
import Foundation
import HTTPEndpoints
import KnowledgeBase
import MCPServer
import ServiceLifecycle
import Telemetry

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

    @Option(name: .customLong("metrics"), help: ArgumentHelp(
        "Serve /metrics (Prometheus), /livez and /readyz over HTTP on HOST:PORT, or on 127.0.0.1:PORT (also MCP_RAG_METRICS).",
        valueName: "HOST:PORT"))
    var metricsAddress: String?

    @Option(name: .customLong("http-token-file"), help: ArgumentHelp(
        "A file holding the bearer token /metrics requires (instead of MCP_RAG_HTTP_TOKEN); needed to listen on a non-loopback address.",
        valueName: "PATH"))
    var tokenFile: String?

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
        let environment = ProcessInfo.processInfo.environment
        // Checked before anything starts, so a bad address or token is an error at once.
        let token = try BearerToken.configured(file: tokenFile, environment: environment)
        // The variable is checked even when the flag overrides it, as every setting is.
        let fromEnvironment = try environment["MCP_RAG_METRICS"].flatMap { $0.isEmpty ? nil : $0 }.map {
            try Self.address($0, setting: "MCP_RAG_METRICS")
        }
        let endpoint = try (metricsAddress.map { try Self.address($0, setting: "--metrics") } ?? fromEnvironment).map {
            try OperationsEndpoint(address: $0, token: token)
        }
        let exposition = endpoint.map { _ in MetricsExposition() }
        let knowledgeBase = KnowledgeBase(configuration: try options.configuration(), logger: logger, startedAt: startedAt,
                                          metrics: exposition?.metrics ?? .disabled)
        let server = StdioServerService(server: MCPRagServer(knowledgeBase: knowledgeBase, logger: logger))
        // Shut down in the reverse order: the transport first (no new calls; those in flight
        // answer), then the knowledge base (counts written, snapshot finished). The end of stdin
        // ends the transport, and with it the group.
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: knowledgeBase, serviceName: "knowledge base"),
        ]
        if let endpoint, let exposition {
            // A port already taken ends the process with the reason, as a bad option would.
            services.append(.init(service: endpoint.service(knowledgeBase: knowledgeBase, exposition: exposition, logger: logger),
                                  successTerminationBehavior: .gracefullyShutdownGroup,
                                  failureTerminationBehavior: .gracefullyShutdownGroup, serviceName: "metrics on \(endpoint.address)"))
        }
        services.append(.init(service: server, successTerminationBehavior: .gracefullyShutdownGroup,
                              failureTerminationBehavior: .gracefullyShutdownGroup, serviceName: "MCP over stdio"))
        var group = ServiceGroupConfiguration(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        group.maximumGracefulShutdownDuration = Self.shutdownLimit
        try await ServiceGroup(configuration: group).run()
    }

    /// `text` as an address, or an error naming the `setting` it came from.
    private static func address(_ text: String, setting: String) throws -> ListenAddress {
        do {
            return try ListenAddress(parsing: text)
        } catch {
            throw ValidationError("\(setting): \(error)")
        }
    }
}

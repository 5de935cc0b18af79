import ArgumentParser
import Dispatch
import Foundation
import HTTPEndpoints
import KnowledgeBase
import MCPServer
import ServiceLifecycle
import Telemetry

/// `mcp-rag serve` (the default): MCP over stdio, where stdout carries MCP messages only, or over
/// Streamable HTTP with `--http`.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the knowledge base over MCP on stdin/stdout (the default command), or over HTTP with --http."
    )

    @OptionGroup var options: KnowledgeBaseOptions

    @Flag(help: "Run the self-test instead of serving (the same as `mcp-rag selftest`).")
    var selftest = false

    @Flag(help: "With --selftest: print the report as JSON.")
    var json = false

    @OptionGroup var http: HTTPOptions

    @Flag(name: .customLong("read-only"), help: "Serve only the tools that read: nothing can be ingested or removed (also MCP_RAG_READ_ONLY=1).")
    var readOnly = false

    @Flag(help: "Keep every ingested folder in sync while serving: files saved, deleted or renamed there are read or forgotten within seconds (also MCP_RAG_WATCH=1).")
    var watch = false

    /// How long a graceful shutdown may take before what still runs is cancelled: the calls in
    /// flight answer in milliseconds (long ones are stopped; HTTP sessions get 5 s), then buffered
    /// counts are written (up to 2 s) and a vector snapshot being written is finished. Under the
    /// 10 s that service managers and container platforms commonly give before they kill.
    static let shutdownLimit = Duration.seconds(9)

    func run() async throws {
        if selftest {
            try await SelftestCommand.run(options: options, json: json)
            return
        }
        let startedAt = DispatchTime.now().uptimeNanoseconds
        let logger = options.logger()
        let environment = ProcessInfo.processInfo.environment
        // Checked before anything starts, so a bad address, token or limit is an error at once.
        let plan = try http.plan(environment: environment)
        let readOnly: Bool
        do {
            readOnly = try self.readOnly || KnowledgeBaseConfiguration.flag("MCP_RAG_READ_ONLY", in: environment) ?? false
        } catch {
            throw ValidationError("\(error)")
        }
        // Recorded only where something serves them: otherwise swift-metrics' no-op handlers cost nothing.
        let exposition = MetricsExposition()
        var configuration = try options.configuration()
        if watch { configuration.watchFolders = true }
        let knowledgeBase = KnowledgeBase(configuration: configuration, logger: logger, startedAt: startedAt,
                                          metrics: plan.servesHTTP ? exposition.metrics : .disabled)
        let server = MCPRagServer(knowledgeBase: knowledgeBase, readOnly: readOnly, logger: logger)
        // Shut down in the reverse order: the transport first (no new calls; those in flight
        // answer), then the knowledge base (counts written, snapshot finished). The end of stdin
        // ends the stdio transport, and with it the group.
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: knowledgeBase, serviceName: "knowledge base"),
        ]
        // A port already taken ends the process with the reason, as a bad option would.
        switch plan.mode {
        case .stdio:
            services.append(Self.ending(StdioServerService(server: server), "MCP over stdio"))
        case .stdioWithMetrics(let endpoint):
            services.append(Self.ending(endpoint.service(knowledgeBase: knowledgeBase, exposition: exposition, logger: logger),
                                        "metrics on \(endpoint.address)"))
            services.append(Self.ending(StdioServerService(server: server), "MCP over stdio"))
        case .http(let endpoint, let policy, let origins):
            let checks = HTTPRequestChecks.pipeline(authority: endpoint.address.description, port: endpoint.address.port,
                                                    loopback: endpoint.address.isLoopback, allowedOrigins: origins)
            let sessions = MCPHTTPSessions(server: server, policy: policy, checks: checks, metrics: exposition.metrics, logger: logger)
            services.append(Self.ending(endpoint.service(knowledgeBase: knowledgeBase, exposition: exposition, sessions: sessions,
                                                         logger: logger), "MCP over HTTP on \(endpoint.address)"))
            // After the server, so shut down before it: the sessions answer what they run, then
            // the server, which waits for those answers, can end.
            services.append(Self.ending(sessions, "MCP sessions"))
            logger.notice("serving MCP over HTTP", metadata: [
                "rag.http.address": "\(endpoint.address)", "rag.http.read_only": "\(readOnly)",
                "rag.http.max_sessions": "\(policy.maxSessions)",
            ])
        }
        var group = ServiceGroupConfiguration(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        group.maximumGracefulShutdownDuration = Self.shutdownLimit
        try await ServiceGroup(configuration: group).run()
    }

    /// `service`, whose end (or failure) shuts the whole group down.
    private static func ending(_ service: some Service, _ name: String) -> ServiceGroupConfiguration.ServiceConfiguration {
        .init(service: service, successTerminationBehavior: .gracefullyShutdownGroup,
              failureTerminationBehavior: .gracefullyShutdownGroup, serviceName: name)
    }
}

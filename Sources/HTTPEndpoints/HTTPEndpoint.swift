import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import KnowledgeBase
import Logging
import MCPServer
import NIOCore
import ServiceLifecycle
import Telemetry

/// mcp-rag's HTTP server, on Hummingbird:
///
/// - `/mcp`: MCP's Streamable HTTP transport (`mcp-rag serve --http`), answered by `MCPHTTPSessions`;
/// - `GET /livez`: 200 while the process answers;
/// - `GET /readyz`: 200 when queries can be answered (healthy, or degraded but serving), 503 when
///   not (the model still loading, the store unreadable);
/// - `GET /metrics`: Prometheus' text exposition of `MetricsExposition`.
///
/// The probes say nothing but the status, so they need no token. With a token configured, `/mcp`
/// and `/metrics` answer only a request that carries it (401 with `WWW-Authenticate` otherwise);
/// without one the server may listen on a loopback address only, and refuses what a proxy forwards
/// (`AccessMiddleware.swift`; the routes below say which need the token).
///
/// The router is tested through the real binary (`Tests/python/test_http_*.py`, with the official MCP
/// client and raw sockets), not with HummingbirdTesting's `app.test(.live)`, which would bring
/// AsyncHTTPClient and BoringSSL into the build for what those tests already cover.
public struct HTTPEndpoint: Sendable {
    public let address: ListenAddress
    private let token: BearerToken?

    /// Largest request body `/mcp` reads (413 beyond): a tool call's arguments are a few KB.
    public static let maxBodyBytes = 1 << 20
    /// Limits on a request's headers (a request over them gets 400 and its connection closes).
    static let headerLimits = HTTP1Channel.Configuration.DecoderConfiguration(
        maxHeaderFieldSize: 16 << 10, maxHeaderListSize: 32 << 10, maxHeaderFieldCount: 100)
    /// A connection that sends nothing for this long is closed. Between requests the request-head
    /// limit below comes first: a kept-alive connection is closed 10 s after its last answer.
    static let idleTimeout = TimeAmount.seconds(30)
    /// A request's head must arrive within this of the connection opening or of the previous answer
    /// (see `RequestDeadline`).
    static let requestHeadLimit = TimeAmount.seconds(10)
    /// And its body within this of its head: `maxBodyBytes` at 35 KB/s.
    static let requestBodyLimit = TimeAmount.seconds(30)
    /// How long one readiness check answers `/readyz` and `/metrics` (see `SharedProbe`): a
    /// second, well under any probe or scrape interval.
    static let readinessMaxAge = Duration.seconds(1)
    /// Connections open at once at most: past it new ones wait in the kernel's queue until one
    /// closes, so stalled clients cannot use up the process's file descriptors.
    static let maxConnections = 512

    /// The endpoint on `address`; throws when `address` is not a loopback address and there is
    /// no `token`, before anything starts.
    public init(address: ListenAddress, token: BearerToken?) throws {
        guard address.isLoopback || token != nil else {
            throw HTTPEndpointError(description: "refusing to serve on \(address) without a token: other machines could "
                + "reach it; set MCP_RAG_HTTP_TOKEN or --http-token-file, or listen on 127.0.0.1")
        }
        self.address = address
        self.token = token
    }

    /// The server as a service for the process's `ServiceGroup`, answering for `knowledgeBase`,
    /// and serving MCP from `sessions` when there are any. `sessions` is a service of its own,
    /// to be shut down before this one: at a graceful shutdown this server waits for the requests
    /// it has, which only end once the sessions have answered or stopped their calls.
    public func service(knowledgeBase: KnowledgeBase, exposition: MetricsExposition, sessions: MCPHTTPSessions? = nil,
                        logger: Logger) -> some Service {
        let token = self.token
        let health = HealthMetrics(exposition: exposition)
        let readiness = SharedProbe(maxAge: Self.readinessMaxAge) { await knowledgeBase.health(level: .readiness) }
        let router = Router()
        // The probes answer whoever reaches the address: they say nothing but the status.
        router.get("livez") { _, _ in
            Self.statusAnswer(.ok, "alive")
        }
        router.get("readyz") { _, _ in
            await readiness.value().ready == true
                ? Self.statusAnswer(.ok, "ready") : Self.statusAnswer(.serviceUnavailable, "not ready")
        }
        // Everything else needs the token; without one, only this machine may ask, never through a proxy.
        let guarded = router.group().add(middleware: TokenMiddleware(token: token))
        guarded.group().add(middleware: SameMachineMiddleware(token: token)).get("metrics") { _, _ in
            await health.update(from: readiness.value())
            return Response(status: .ok, headers: [.contentType: MetricsExposition.contentType],
                            body: ResponseBody(byteBuffer: ByteBuffer(bytes: exposition.text())))
        }
        if let sessions {
            // Host and Origin are the sessions' own checks here (`HTTPRequestChecks`), with the allowed origins.
            let answer: @Sendable (Request, BasicRequestContext) async throws -> Response = { request, _ in
                let (headers, body) = try await Self.headersAndBody(of: request)
                return Self.response(await sessions.handle(method: request.method.rawValue, headers: headers, body: body))
            }
            for method in [HTTPRequest.Method.post, .get, .delete, .put, .patch] {
                guarded.on("mcp", method: method, use: answer)
            }
        }
        let http1 = HTTP1Channel.Configuration(additionalChannelHandlers: [
            RequestDeadline(headLimit: Self.requestHeadLimit, bodyLimit: Self.requestBodyLimit),
        ],
                                               idleTimeout: Self.idleTimeout, httpDecoderConfiguration: Self.headerLimits)
        return Application(router: router, server: .http1(configuration: http1),
                           configuration: .init(address: .hostname(address.host, port: address.port), serverName: "mcp-rag",
                                                availableConnectionsDelegate: .maximum(Self.maxConnections, logger: logger)),
                           logger: logger)
    }

    /// `request`'s headers (repeated ones joined with commas) and body, read up to `maxBodyBytes`
    /// (413 beyond).
    private static func headersAndBody(of request: Request) async throws -> ([String: String], Data?) {
        var headers: [String: String] = [:]
        for field in request.headers {
            let name = field.name.canonicalName
            headers[name] = headers[name].map { "\($0), \(field.value)" } ?? field.value
        }
        // HTTP/1's Host header is the request's authority in swift-http-types, not a field.
        if let authority = request.head.authority { headers["Host"] = authority }
        var body: Data?
        if request.method == .post {
            do {
                body = Data(buffer: try await request.body.collect(upTo: maxBodyBytes))
            } catch is NIOTooManyBytesError {
                throw HTTPError(.contentTooLarge, message: "the request body is over \(maxBodyBytes) bytes")
            }
        }
        return (headers, body)
    }

    private static func response(_ answer: HTTPAnswer) -> Response {
        var fields = HTTPFields()
        for (name, value) in answer.headers {
            if let field = HTTPField.Name(name) { fields.append(HTTPField(name: field, value: value)) }
        }
        let status = HTTPResponse.Status(code: answer.status)
        switch answer.body {
        case .empty:
            return Response(status: status, headers: fields)
        case .bytes(let data):
            return Response(status: status, headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
        case .events(let events):
            return Response(status: status, headers: fields, body: ResponseBody(asyncSequence: events.map { ByteBuffer(bytes: $0) }))
        }
    }

    /// `{"status":"…"}` with `status`.
    private static func statusAnswer(_ status: HTTPResponse.Status, _ word: String) -> Response {
        Response(status: status, headers: [.contentType: "application/json"],
                 body: ResponseBody(byteBuffer: ByteBuffer(string: #"{"status":"\#(word)"}"#)))
    }
}

/// An endpoint that must not start.
public struct HTTPEndpointError: Error, CustomStringConvertible {
    public let description: String
}

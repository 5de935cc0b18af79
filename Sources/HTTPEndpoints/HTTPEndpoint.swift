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
/// without one the server may listen on a loopback address only, and refuses what a proxy forwards.
public struct HTTPEndpoint: Sendable {
    public let address: ListenAddress
    private let token: BearerToken?

    /// Largest request body `/mcp` reads (413 beyond): a tool call's arguments are a few KB.
    public static let maxBodyBytes = 1 << 20
    /// Limits on a request's headers (a request over them gets 400 and its connection closes).
    static let headerLimits = HTTP1Channel.Configuration.DecoderConfiguration(
        maxHeaderFieldSize: 16 << 10, maxHeaderListSize: 32 << 10, maxHeaderFieldCount: 100)
    /// A connection that sends nothing (not even the rest of its headers) for this long is closed.
    static let idleTimeout = TimeAmount.seconds(30)

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
        let router = Router()
        router.get("livez") { _, _ in
            Self.statusAnswer(.ok, "alive")
        }
        router.get("readyz") { _, _ in
            await knowledgeBase.health(level: .readiness).ready == true
                ? Self.statusAnswer(.ok, "ready") : Self.statusAnswer(.serviceUnavailable, "not ready")
        }
        router.get("metrics") { request, _ in
            if let refusal = Self.unauthorized(request, token: token) ?? Self.fromAnotherSite(request, token: token) {
                return refusal
            }
            await health.update(from: knowledgeBase.health(level: .readiness))
            return Response(status: .ok, headers: [.contentType: MetricsExposition.contentType],
                            body: ResponseBody(byteBuffer: ByteBuffer(bytes: exposition.text())))
        }
        if let sessions {
            let answer: @Sendable (Request, BasicRequestContext) async throws -> Response = { request, _ in
                if let refusal = Self.unauthorized(request, token: token) { return refusal }
                let (headers, body) = try await Self.headersAndBody(of: request)
                return Self.response(await sessions.handle(method: request.method.rawValue, headers: headers, body: body))
            }
            for method in [HTTPRequest.Method.post, .get, .delete, .put, .patch] {
                router.on("mcp", method: method, use: answer)
            }
        }
        return Application(router: router,
                           server: .http1(configuration: .init(idleTimeout: Self.idleTimeout, httpDecoderConfiguration: Self.headerLimits)),
                           configuration: .init(address: .hostname(address.host, port: address.port), serverName: "mcp-rag"),
                           logger: logger)
    }

    /// 401 with `WWW-Authenticate` when a token is configured and `request` does not carry it; 403
    /// for a request a proxy forwarded when there is no token (a loopback server behind a proxy
    /// is reachable from wherever the proxy is, so it must have one).
    private static func unauthorized(_ request: Request, token: BearerToken?) -> Response? {
        guard let token else {
            guard forwardedHeaders.contains(where: { request.headers[$0] != nil }) else { return nil }
            return Response(status: .forbidden, headers: [.contentType: "text/plain; charset=utf-8"],
                            body: ResponseBody(byteBuffer: ByteBuffer(string: "this request came through a proxy: a server "
                                + "behind a proxy needs a token (MCP_RAG_HTTP_TOKEN or --http-token-file)\n")))
        }
        guard !token.accepts(authorization: request.headers[.authorization]) else { return nil }
        return Response(status: .unauthorized,
                        headers: [.wwwAuthenticate: #"Bearer realm="mcp-rag""#, .contentType: "text/plain; charset=utf-8"],
                        body: ResponseBody(byteBuffer: ByteBuffer(string: "a bearer token is required\n")))
    }

    /// Without a token the server listens on a loopback address, which a page in a browser can still
    /// reach by DNS rebinding: its requests name the page's host, or carry its origin. Those are
    /// refused (421 and 403, as `/mcp` answers them); programs name this machine and send no origin.
    static func fromAnotherSite(_ request: Request, token: BearerToken?) -> Response? {
        guard token == nil else { return nil }
        if let authority = request.head.authority, !ListenAddress.namesLoopback(authority: authority) {
            return plainRefusal(.misdirectedRequest, "this server answers only requests that name this machine\n")
        }
        if let origin = request.headers[.origin] {
            let authority = origin.split(separator: "://", maxSplits: 1).last.map(String.init) ?? origin
            if !(origin.hasPrefix("http://") || origin.hasPrefix("https://")) || !ListenAddress.namesLoopback(authority: authority) {
                return plainRefusal(.forbidden, "pages from another site may not read this server\n")
            }
        }
        return nil
    }

    private static func plainRefusal(_ status: HTTPResponse.Status, _ text: String) -> Response {
        Response(status: status, headers: [.contentType: "text/plain; charset=utf-8"], body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }

    /// What reverse proxies add to the requests they forward.
    private static let forwardedHeaders: [HTTPField.Name] = [
        HTTPField.Name("Forwarded")!, HTTPField.Name("X-Forwarded-For")!, HTTPField.Name("X-Real-IP")!,
    ]

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
            } catch let error as HTTPError where error.status == .contentTooLarge {
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

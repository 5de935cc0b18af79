import Hummingbird
import KnowledgeBase
import Logging
import ServiceLifecycle
import Telemetry

/// The HTTP endpoint operators point their tools at (`mcp-rag serve --metrics HOST:PORT`):
///
/// - `GET /livez`: 200 while the process answers;
/// - `GET /readyz`: 200 when queries can be answered (healthy, or degraded but serving), 503 when
///   not (the model still loading, the store unreadable);
/// - `GET /metrics`: Prometheus' text exposition of `MetricsExposition`.
///
/// The probes say nothing but the status, so they need no token. With a token configured,
/// `/metrics` answers only a request that carries it (401 with `WWW-Authenticate` otherwise);
/// without one the endpoint may listen on a loopback address only.
public struct OperationsEndpoint: Sendable {
    public let address: ListenAddress
    private let token: BearerToken?

    /// The endpoint on `address`; throws when `address` is not a loopback address and there is
    /// no `token`, before anything starts.
    public init(address: ListenAddress, token: BearerToken?) throws {
        guard address.isLoopback || token != nil else {
            throw OperationsEndpointError(description: "refusing to serve on \(address) without a token: other machines could "
                + "reach it; set MCP_RAG_HTTP_TOKEN or --http-token-file, or listen on 127.0.0.1")
        }
        self.address = address
        self.token = token
    }

    /// The endpoint as a service for the process's `ServiceGroup`, answering for `knowledgeBase`.
    public func service(knowledgeBase: KnowledgeBase, exposition: MetricsExposition, logger: Logger) -> some Service {
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
            if let token, !token.accepts(authorization: request.headers[.authorization]) {
                return Response(status: .unauthorized,
                                headers: [.wwwAuthenticate: #"Bearer realm="mcp-rag""#, .contentType: "text/plain; charset=utf-8"],
                                body: ResponseBody(byteBuffer: ByteBuffer(string: "a bearer token is required\n")))
            }
            await health.update(from: knowledgeBase.health(level: .readiness))
            return Response(status: .ok, headers: [.contentType: MetricsExposition.contentType],
                            body: ResponseBody(byteBuffer: ByteBuffer(bytes: exposition.text())))
        }
        return Application(router: router, configuration: .init(address: .hostname(address.host, port: address.port),
                                                                serverName: "mcp-rag"),
                           logger: logger)
    }

    /// `{"status":"…"}` with `status`.
    private static func statusAnswer(_ status: HTTPResponse.Status, _ word: String) -> Response {
        Response(status: status, headers: [.contentType: "application/json"],
                 body: ResponseBody(byteBuffer: ByteBuffer(string: #"{"status":"\#(word)"}"#)))
    }
}

/// An endpoint that must not start.
public struct OperationsEndpointError: Error, CustomStringConvertible {
    public let description: String
}

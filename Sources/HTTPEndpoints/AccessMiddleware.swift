import HTTPTypes
import Hummingbird
import NIOCore

/// In front of `/mcp` and `/metrics` (the probes need nothing): with a token configured, a request
/// without it gets 401 with `WWW-Authenticate` and nothing else; without one, a request a proxy
/// forwarded gets 403, as a loopback server behind a proxy is reachable from wherever the proxy is.
struct TokenMiddleware<Context: RequestContext>: RouterMiddleware {
    let token: BearerToken?

    /// What reverse proxies add to the requests they forward.
    private static var forwardedHeaders: [HTTPField.Name] {
        [HTTPField.Name("Forwarded")!, HTTPField.Name("X-Forwarded-For")!, HTTPField.Name("X-Real-IP")!]
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let token else {
            guard Self.forwardedHeaders.contains(where: { request.headers[$0] != nil }) else { return try await next(request, context) }
            return plainRefusal(.forbidden, "this request came through a proxy: a server behind a proxy needs a token "
                + "(MCP_RAG_HTTP_TOKEN or --http-token-file)\n")
        }
        let authorization = request.headers[.authorization]
        guard token.accepts(authorization: authorization) else {
            // RFC 6750: a request that sent a bearer token learns that it was not accepted; one that
            // sent none gets the bare challenge.
            let sentOne = authorization.map { $0.lowercased().hasPrefix("bearer ") } ?? false
            var refusal = plainRefusal(.unauthorized, sentOne ? "this bearer token is not accepted\n" : "a bearer token is required\n")
            refusal.headers[.wwwAuthenticate] = sentOne ? #"Bearer realm="mcp-rag", error="invalid_token""# : #"Bearer realm="mcp-rag""#
            return refusal
        }
        return try await next(request, context)
    }
}

/// In front of `/metrics` on a server without a token, which listens on a loopback address: a page
/// in a browser can still reach it by DNS rebinding, and its requests name the page's host or carry
/// its origin. Those are refused (421 and 403, as `/mcp` answers them); programs on this machine
/// name it and send no origin. With a token there is nothing to add: a page does not have it.
struct SameMachineMiddleware<Context: RequestContext>: RouterMiddleware {
    let token: BearerToken?

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard token == nil else { return try await next(request, context) }
        if let authority = request.head.authority, !ListenAddress.namesLoopback(authority: authority) {
            return plainRefusal(.misdirectedRequest, "this server answers only requests that name this machine\n")
        }
        if let origin = request.headers[.origin] {
            let authority = origin.split(separator: "://", maxSplits: 1).last.map(String.init) ?? origin
            guard origin.hasPrefix("http://") || origin.hasPrefix("https://"), ListenAddress.namesLoopback(authority: authority) else {
                return plainRefusal(.forbidden, "pages from another site may not read this server\n")
            }
        }
        return try await next(request, context)
    }
}

/// A refusal with a plain-text body saying why.
private func plainRefusal(_ status: HTTPResponse.Status, _ text: String) -> Response {
    Response(status: status, headers: [.contentType: "text/plain; charset=utf-8"], body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
}

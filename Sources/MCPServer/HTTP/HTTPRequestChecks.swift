import MCP

/// The checks every request to the MCP endpoint passes before its message is acted on, from the SDK's
/// validators: `Origin` and `Host` (DNS rebinding: a page in a browser must not reach a server on
/// the user's own machine), `Accept` (the client takes JSON and event streams, as the
/// specification requires), `Content-Type`, and `MCP-Protocol-Version`.
public enum HTTPRequestChecks {
    /// The checks for a server listening on `authority` (`HOST:PORT`, `[IPv6]:PORT`). On a loopback
    /// address only `localhost`, `127.0.0.1`, `[::1]` and the address it listens on (another of
    /// 127.0.0.0/8) may be named in `Host`, and pages only from them (plus `allowedOrigins`) may
    /// call; elsewhere a bearer token guards the server, so `Host` is what the operator's names
    /// make it and only `allowedOrigins` may send an `Origin`.
    public static func pipeline(authority: String, port: Int, loopback: Bool,
                                allowedOrigins: [String]) -> any HTTPRequestValidationPipeline {
        let origins: any HTTPRequestValidator
        if loopback {
            let local = OriginValidator.localhost(port: port)
            origins = OriginValidator(allowedHosts: local.allowedHosts + [authority],
                                      allowedOrigins: local.allowedOrigins + ["http://\(authority)"] + allowedOrigins)
        } else {
            origins = OriginAllowList(allowedOrigins: allowedOrigins)
        }
        return StandardValidationPipeline(validators: [
            origins,
            AcceptHeaderValidator(mode: .sseRequired),
            ContentTypeValidator(),
            ProtocolVersionValidator(),
        ])
    }
}

/// Refuses (403) a request whose `Origin` is not one of `allowedOrigins`; one without an
/// `Origin` (anything but a browser) passes.
struct OriginAllowList: HTTPRequestValidator {
    let allowedOrigins: [String]

    func validate(_ request: HTTPRequest, context: HTTPValidationContext) -> HTTPResponse? {
        guard let origin = request.header(HTTPHeaderName.origin), !allowedOrigins.contains(origin) else { return nil }
        return .error(statusCode: 403, .invalidRequest("Forbidden: Origin not allowed"), sessionID: context.sessionID)
    }
}

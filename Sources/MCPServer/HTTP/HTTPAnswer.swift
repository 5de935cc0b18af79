import Foundation
import MCP

/// What the MCP endpoint answers one HTTP request with, before any HTTP server's types: a status,
/// headers, and no body, a JSON body, or a stream of server-sent events.
public struct HTTPAnswer: Sendable {
    public enum Body: Sendable {
        case empty
        case bytes(Data)
        /// Server-sent events, each already framed; the stream ends when the exchange does.
        case events(AsyncStream<Data>)
    }

    public let status: Int
    public let headers: [String: String]
    public let body: Body

    public init(status: Int, headers: [String: String] = [:], body: Body = .empty) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    static let jsonContentType = "application/json"
    static let eventStreamContentType = "text/event-stream"

    /// A JSON-RPC answer in a 200 response.
    static func json(_ data: Data, session: String?) -> HTTPAnswer {
        HTTPAnswer(status: 200, headers: headers(contentType: jsonContentType, session: session), body: .bytes(data))
    }

    /// 202 Accepted without a body: a notification taken, or a request that will get no answer.
    static func accepted(session: String?) -> HTTPAnswer {
        HTTPAnswer(status: 202, headers: session.map { [HTTPHeaderName.sessionID: $0] } ?? [:])
    }

    /// An error status with a JSON-RPC error body (`id` null when the request had no usable one)
    /// whose message says what to do.
    static func refusal(_ status: Int, code: Int = -32600, _ message: String, id: ID? = nil, session: String? = nil,
                        extraHeaders: [String: String] = [:]) -> HTTPAnswer {
        var headers = headers(contentType: jsonContentType, session: session)
        headers.merge(extraHeaders) { _, new in new }
        return HTTPAnswer(status: status, headers: headers,
                          body: .bytes(IncomingFrame.errorAnswer(code: code, message: message, id: id)))
    }

    /// One of the SDK's request checks' refusals, as it is.
    init(_ response: HTTPResponse) {
        self.init(status: response.statusCode, headers: response.headers, body: response.bodyData.map { .bytes($0) } ?? .empty)
    }

    private static func headers(contentType: String, session: String?) -> [String: String] {
        var headers = [HTTPHeaderName.contentType: contentType]
        if let session { headers[HTTPHeaderName.sessionID] = session }
        return headers
    }
}

/// MCP messages as server-sent events (`event: message`, the JSON in `data:` lines).
enum ServerSentEvent {
    static func message(_ json: Data) -> Data {
        var event = Data("event: message\n".utf8)
        // Every message is written without line breaks; one that had any would need a data line each.
        for line in json.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            event.append(contentsOf: "data: ".utf8)
            event.append(contentsOf: line)
            event.append(UInt8(ascii: "\n"))
        }
        event.append(UInt8(ascii: "\n"))
        return event
    }
}

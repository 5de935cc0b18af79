import Foundation
import Redaction
import Resilience
import Storage

/// Why a Chroma call failed, in words a person can act on. Never holds the token: the message is
/// passed through `SecretRedactor` when the error is made, as it may quote the server's answer.
public struct ChromaError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// `CHROMA_URL` or a companion setting cannot be used.
        case configuration
        /// No connection, or it broke.
        case connection
        /// No answer in time.
        case timeout
        /// The server (or a proxy in front of it) refused the token: 401 or 403.
        case authentication
        /// A tenant, database or collection does not exist.
        case notFound
        /// The server refused the request as malformed (another 4xx).
        case badRequest
        /// The server failed (5xx).
        case server
        /// The answer was not what the API returns.
        case unexpectedReply
        /// The collection is still being sent this folder's vectors, so it holds only part of them.
        case filling
    }

    public let kind: Kind
    public let message: String
    public var description: String { message }

    init(kind: Kind, message: String) {
        self.kind = kind
        self.message = SecretRedactor.redact(message)
    }

    public static func configuration(_ message: String) -> ChromaError { ChromaError(kind: .configuration, message: message) }

    /// True when the same call may succeed later on its own.
    public var isTransient: Bool { kind == .connection || kind == .timeout || kind == .server }
    /// True when the server itself is in trouble, so the call counts against the circuit breaker.
    /// A refused token counts too: every call fails until someone fixes it.
    public var countsAsOutage: Bool { isTransient || kind == .authentication }

    /// The error for an HTTP answer with a status that is not success; `body` is Chroma's
    /// `{"error": …, "message": …}` when it sent one. At most 300 bytes of what the server said are
    /// quoted, with every secret redacted before the cut (a server or proxy may repeat the token).
    static func status(_ status: Int, body: [UInt8], doing: String, server: String) -> ChromaError {
        let text = ChromaErrorBody(bytes: body).map { Array("\($0.message) (\($0.error))".utf8) } ?? body
        let detail = SecretRedactor.redact(bytes: text, limit: 300).trimmingCharacters(in: .whitespacesAndNewlines)
        let said = detail.isEmpty ? "HTTP \(status)" : "HTTP \(status): \(detail)"
        switch status {
        case 401, 403:
            return ChromaError(kind: .authentication, message: """
                \(server) refused the token while \(doing) (\(said)); set CHROMA_TOKEN (and CHROMA_AUTH_HEADER=authorization \
                if the server wants Authorization: Bearer)
                """)
        case 404: return ChromaError(kind: .notFound, message: "\(server) has no such resource while \(doing) (\(said))")
        case 400..<500: return ChromaError(kind: .badRequest, message: "\(server) refused the request while \(doing) (\(said))")
        default: return ChromaError(kind: .server, message: "\(server) failed while \(doing) (\(said))")
        }
    }
}

/// Chroma's error answer.
private struct ChromaErrorBody: Decodable {
    var error: String
    var message: String

    init?(bytes: [UInt8]) {
        guard let decoded = try? JSONDecoder().decode(ChromaErrorBody.self, from: Data(bytes)) else { return nil }
        self = decoded
    }
}

extension CircuitBreaker {
    /// Runs a Chroma call through the breaker: only errors that mean Chroma is out count against it
    /// (a request it refused as bad does not).
    func guardingChroma<T>(_ body: () async throws -> T) async throws -> T {
        try await run(isFailure: { ($0 as? ChromaError)?.countsAsOutage ?? true }, body)
    }
}

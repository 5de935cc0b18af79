import Foundation
import Redaction

/// Why the embeddings API gave no vectors. The message names the server, never the key, and what
/// the server said passes through `SecretRedactor` (a server or proxy may repeat the key).
public struct EmbeddingsAPIError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// The settings cannot be used.
        case configuration
        /// No connection, or it broke.
        case connection
        /// No answer in time.
        case timeout
        /// The server refused the key (401, 403).
        case authentication
        /// The server refused the request as bad (another 4xx): retrying would not help.
        case refused
        /// The server is overloaded or failing (429, 5xx).
        case server
        /// An answer that is not what the OpenAI embeddings API answers.
        case malformed
    }

    public let kind: Kind
    public let message: String
    public var description: String { message }

    init(kind: Kind, message: String) {
        self.kind = kind
        self.message = SecretRedactor.redact(message)
    }

    static func configuration(_ message: String) -> Self { Self(kind: .configuration, message: message) }

    /// True when the same request may succeed later on its own.
    public var isTransient: Bool { kind == .connection || kind == .timeout || kind == .server }

    /// True when the server itself is out, so the call counts against the circuit breaker: a refused
    /// key too (every call fails until someone fixes it), not one request it found bad.
    public var countsAsOutage: Bool { isTransient || kind == .authentication || kind == .malformed }

    /// The error for an answer whose status is not success. At most 300 bytes of what the server
    /// said are quoted (the message of OpenAI's `{"error": {"message": …}}`, Ollama's and TEI's
    /// `{"error": …}`, or FastAPI's `{"detail": …}`; else the body), secrets redacted before the cut.
    static func status(_ status: Int, body: Data, server: String) -> Self {
        let text = ErrorBody.message(in: body).map { Array($0.utf8) } ?? Array(body)
        let detail = SecretRedactor.redact(bytes: text, limit: 300).trimmingCharacters(in: .whitespacesAndNewlines)
        let said = detail.isEmpty ? "HTTP \(status)" : "HTTP \(status): \(detail)"
        switch status {
        case 401, 403:
            return Self(kind: .authentication, message: "the embeddings API at \(server) refused the key (\(said)); check MCP_RAG_EMBEDDINGS_KEY and that it may use the model")
        case 408, 429, 500...:
            return Self(kind: .server, message: "the embeddings API at \(server) failed (\(said))")
        default:
            return Self(kind: .refused, message: "the embeddings API at \(server) refused the request (\(said))")
        }
    }
}

/// The shapes servers give their errors in.
private enum ErrorBody {
    static func message(in body: Data) -> String? {
        guard let object = (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] else { return nil }
        if let error = object["error"] as? [String: Any], let message = error["message"] as? String { return message }
        for key in ["error", "detail", "message"] {
            if let message = object[key] as? String { return message }
        }
        return nil
    }
}

import Foundation
import MCP

/// JSON-RPC 2.0's checks on one frame from the client, before anyone acts on it, with MCP's
/// (2025-11-25) narrowing of them: an id is a string or an integer, never null, and there are no
/// batches.
///
/// The SDK (0.12.1) answers any frame it cannot decode with -32700 and an id of its own making (a
/// fresh UUID), even when the frame was valid JSON with a usable id but, say, no method. JSON-RPC
/// says otherwise: -32700 (id null) only for what is not JSON, -32600 for JSON that is not a
/// request, with the request's id when it has a usable one. A client matching answers to requests
/// by id can only do that with the right id, and a person reading the error with the right code.
enum FrameCheck: Equatable {
    /// A request, notification or answer: for the router and the SDK.
    case pass
    /// To be answered with this error and not acted on.
    case reject(code: Int, message: String, id: ID?)

    static func check(_ message: Data) -> FrameCheck {
        // JSON-RPC text is UTF-8; Foundation's reader would quietly replace bad bytes in a string.
        guard String(validating: message, as: UTF8.self) != nil else { return notJSON }
        switch JSONRPCEnvelope.firstByte(of: message) {
        case UInt8(ascii: "{"):
            guard let envelope = try? JSONDecoder().decode(JSONRPCEnvelope.self, from: message) else { return notJSON }
            let id = envelope.hasUnusableID ? nil : envelope.id
            if let escape = JSONEscapes.firstLoneSurrogate(in: message) {
                return .reject(code: -32700, message: "Parse error: the message holds \(escape), half of a UTF-16 surrogate pair "
                    + "without its other half, which is no character", id: id)
            }
            if envelope.isAnswer { return .pass }
            if envelope.version != "2.0" {
                return .reject(code: -32600, message: "Invalid Request: \"jsonrpc\" must be \"2.0\"", id: id)
            }
            if envelope.hasUnusableID {
                return .reject(code: -32600, message: "Invalid Request: \"id\" must be a string or an integer", id: nil)
            }
            if envelope.hasNullID {
                return .reject(code: -32600, message: "Invalid Request: \"id\" must be a string or an integer, not null "
                    + "(a notification has no \"id\" at all)", id: nil)
            }
            if envelope.method == nil {
                return .reject(code: -32600, message: envelope.hasUnusableMethod
                    ? "Invalid Request: \"method\" must be a string" : "Invalid Request: no \"method\"", id: id)
            }
            return .pass
        case UInt8(ascii: "["):
            guard (try? JSONSerialization.jsonObject(with: message)) != nil else { return notJSON }
            return .reject(code: -32600, message: "Invalid Request: MCP has no batches (protocol 2025-11-25); "
                + "send each request as a message of its own", id: nil)
        case nil:
            return .reject(code: -32600, message: "Invalid Request: an empty message", id: nil)
        default:
            // A number, string, true, false or null: JSON, but not a request.
            guard (try? JSONSerialization.jsonObject(with: message, options: .fragmentsAllowed)) != nil else { return notJSON }
            return .reject(code: -32600, message: "Invalid Request: a request is a JSON object", id: nil)
        }
    }

    private static let notJSON = FrameCheck.reject(code: -32700, message: "Parse error: the message is not valid JSON in UTF-8", id: nil)

    /// The error answer for a rejected frame, `id` null when it has none.
    static func answer(code: Int, message: String, id: ID?) -> Data {
        struct Answer: Encodable {
            struct Failure: Encodable {
                let code: Int
                let message: String
            }
            let id: ID?
            let error: Failure
            enum Keys: String, CodingKey { case jsonrpc, id, error }
            func encode(to encoder: Encoder) throws {
                var container = encoder.container(keyedBy: Keys.self)
                try container.encode("2.0", forKey: .jsonrpc)
                try container.encode(id, forKey: .id)  // null, not left out, when there is none
                try container.encode(error, forKey: .error)
            }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(Answer(id: id, error: .init(code: code, message: message))))
            ?? Data(#"{"error":{"code":-32603,"message":"Internal error"},"id":null,"jsonrpc":"2.0"}"#.utf8)
    }
}

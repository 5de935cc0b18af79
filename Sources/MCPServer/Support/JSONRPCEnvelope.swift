import Foundation
import MCP

/// Just enough of a message the SDK sends to tell whether it answers a request, and which.
///
/// Only these fields are decoded: an answer may carry a whole result, and JSONDecoder skips what
/// no key asks for, where JSONSerialization would build every string and dictionary of it.
/// Ids are the SDK's `ID`, so "1" is not 1.
struct JSONRPCEnvelope: Decodable {
    let method: String?
    let id: ID?
    /// Whether it has a result or an error: what makes it an answer.
    let isAnswer: Bool

    private enum Keys: String, CodingKey { case method, id, result, error }

    init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: Keys.self)
        method = try? container.decode(String.self, forKey: .method)
        id = try? container.decode(ID.self, forKey: .id)
        isAnswer = container.contains(.result) || container.contains(.error)
    }

    /// The envelope of `message` when it is one JSON object; nil for a batch or anything else.
    static func single(in message: Data) -> JSONRPCEnvelope? {
        guard firstByte(of: message) == UInt8(ascii: "{") else { return nil }
        return try? JSONDecoder().decode(JSONRPCEnvelope.self, from: message)
    }

    static func firstByte(of message: Data) -> UInt8? {
        message.first(where: { ![0x20, 0x09, 0x0A, 0x0D].contains($0) })
    }
}

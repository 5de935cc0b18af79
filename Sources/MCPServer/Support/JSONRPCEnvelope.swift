import Foundation
import MCP

/// Just enough of a JSON-RPC message to tell what it is and which request it concerns.
///
/// Only these fields are decoded: a response carries a whole tool result, and JSONDecoder skips
/// what no key asks for, where JSONSerialization would build every string and dictionary of it
/// (about 20 µs instead of 300 for a typical answer). Ids are the SDK's `ID`, so "1" is not 1.
struct JSONRPCEnvelope: Decodable {
    /// `jsonrpc`, which must be "2.0".
    let version: String?
    let method: String?
    let id: ID?
    /// Whether it has a result or an error: what makes it an answer.
    let isAnswer: Bool
    /// `params.requestId` (of a cancellation).
    let cancelledRequest: ID?
    /// Whether an `id` is there but neither a string, an integer nor null.
    let hasUnusableID: Bool
    /// Whether `id` is null, which JSON-RPC allows and MCP does not.
    let hasNullID: Bool
    /// Whether `method` is there but not a string.
    let hasUnusableMethod: Bool

    private enum Keys: String, CodingKey { case jsonrpc, method, id, result, error, params }
    private enum ParamsKeys: String, CodingKey { case requestId }

    init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: Keys.self)
        version = try? container.decode(String.self, forKey: .jsonrpc)
        method = try? container.decode(String.self, forKey: .method)
        id = try? container.decode(ID.self, forKey: .id)
        hasNullID = container.contains(.id) && ((try? container.decodeNil(forKey: .id)) ?? false)
        hasUnusableID = id == nil && container.contains(.id) && !hasNullID
        hasUnusableMethod = method == nil && container.contains(.method)
        isAnswer = container.contains(.result) || container.contains(.error)
        let params = try? container.nestedContainer(keyedBy: ParamsKeys.self, forKey: .params)
        cancelledRequest = try? params?.decode(ID.self, forKey: .requestId)
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

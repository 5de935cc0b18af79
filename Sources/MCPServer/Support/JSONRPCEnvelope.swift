import Foundation
import MCP

/// Just enough of a message to tell whether it answers a request, and which, and what progress
/// it asks for or reports.
///
/// Only these fields are decoded: an answer may carry a whole result, and JSONDecoder skips what
/// no key asks for, where JSONSerialization would build every string and dictionary of it.
/// Ids are the SDK's `ID`, so "1" is not 1.
struct JSONRPCEnvelope: Decodable {
    let method: String?
    let id: ID?
    /// Whether it has a result or an error: what makes it an answer.
    let isAnswer: Bool
    /// A request's `params._meta.progressToken`, or a progress notification's `params.progressToken`.
    let progressToken: ProgressToken?

    private enum Keys: String, CodingKey { case method, id, result, error, params }
    private enum ParamsKeys: String, CodingKey { case _meta, progressToken }
    private enum MetaKeys: String, CodingKey { case progressToken }

    init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: Keys.self)
        method = try? container.decode(String.self, forKey: .method)
        id = try? container.decode(ID.self, forKey: .id)
        isAnswer = container.contains(.result) || container.contains(.error)
        let params = try? container.nestedContainer(keyedBy: ParamsKeys.self, forKey: .params)
        let meta = try? params?.nestedContainer(keyedBy: MetaKeys.self, forKey: ._meta)
        progressToken = (try? params?.decode(ProgressToken.self, forKey: .progressToken))
            ?? (try? meta?.decode(ProgressToken.self, forKey: .progressToken))
    }

    /// A request: a method and an id, and no result or error.
    var isRequest: Bool { method != nil && id != nil && !isAnswer }

    /// The envelope of `message` when it is one JSON object; nil for a batch or anything else.
    static func single(in message: Data) -> JSONRPCEnvelope? {
        guard firstByte(of: message) == UInt8(ascii: "{") else { return nil }
        return try? JSONDecoder().decode(JSONRPCEnvelope.self, from: message)
    }

    static func firstByte(of message: Data) -> UInt8? {
        message.first(where: { ![0x20, 0x09, 0x0A, 0x0D].contains($0) })
    }
}

import Foundation
import MCP

/// Turns our Codable outputs into the SDK's `Value` without its string heuristics.
///
/// `Value`'s own decoder reads any string that looks like a `data:` URL as binary data, which
/// would change a chunk whose text happens to start that way; this decoder keeps strings strings.
enum JSONValue {
    /// The JSON text of `output` (keys sorted, so outputs are stable) and the same as a `Value`.
    static func encode<T: Encodable>(_ output: T) throws -> (text: String, value: Value) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        let data = try encoder.encode(output)
        let node = try JSONDecoder().decode(Node.self, from: data)
        return (String(decoding: data, as: UTF8.self), node.value)
    }

    private struct Node: Decodable {
        let value: Value

        init(from decoder: Decoder) throws {
            let container = try decoder.singleValueContainer()
            if container.decodeNil() {
                value = .null
            } else if let bool = try? container.decode(Bool.self) {
                value = .bool(bool)
            } else if let int = try? container.decode(Int.self) {
                value = .int(int)
            } else if let double = try? container.decode(Double.self) {
                value = .double(double)
            } else if let string = try? container.decode(String.self) {
                value = .string(string)
            } else if let array = try? container.decode([Node].self) {
                value = .array(array.map(\.value))
            } else {
                value = .object(try container.decode([String: Node].self).mapValues(\.value))
            }
        }
    }
}

import Foundation
import MCP
import StrictJSON

/// Turns our Codable outputs into JSON text and, where the SDK's types are wanted (a server made
/// with `makeServer()` alone), into its `Value`.
///
/// The `Value` is read back from the text, so the two always say the same. It is not read with
/// `Value`'s own decoder, which takes any string that looks like a `data:` URL for binary data (a
/// chunk whose text starts that way would change) and builds a regular expression for every string,
/// nor with a JSONDecoder trying each type in turn, whose failed attempts cost 2 ms on a
/// five-passage answer: the strict reader reads the bytes once, in about 30 µs.
enum ToolJSON {
    /// How a number that is not finite is written: as a string, JSON having no such numbers.
    enum NotFinite {
        static let positiveInfinity = "inf"
        static let negativeInfinity = "-inf"
        static let nan = "nan"
    }

    /// The JSON text of `output` (keys sorted, so outputs are stable).
    static func bytes<T: Encodable>(_ output: T) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: NotFinite.positiveInfinity,
                                                                      negativeInfinity: NotFinite.negativeInfinity, nan: NotFinite.nan)
        return [UInt8](try encoder.encode(output))
    }

    /// The JSON text of `output` and the same as a `Value`.
    static func encode<T: Encodable>(_ output: T) throws -> (text: String, value: Value) {
        let bytes = try bytes(output)
        return (String(decoding: bytes, as: UTF8.self), try value(ofJSON: bytes))
    }

    /// The JSON text `bytes` (as `bytes(_:)` writes it) as the SDK's value.
    static func value(ofJSON bytes: [UInt8]) throws -> Value {
        value(of: try JSONReader.parse(bytes))
    }

    /// `json` as the SDK's value. JSON has one number type and JSONEncoder writes 2.0 as `2`, so a
    /// number that is a whole, exactly representable integer becomes `.int`, any other `.double`.
    static func value(of json: JSONValue) -> Value {
        switch json {
        case .null: .null
        case .bool(let flag): .bool(flag)
        case .number(let number): Int(exactly: number).map(Value.int) ?? .double(number)
        case .string(let text): .string(text)
        case .array(let elements): .array(elements.map(value(of:)))
        case .object(let members):
            // The first of duplicate keys wins, as Foundation's JSONDecoder (and so the SDK) reads
            // a client's frame; JSONEncoder's output has none.
            .object(Dictionary(members.map { ($0.key, value(of: $0.value)) }, uniquingKeysWith: { first, _ in first }))
        }
    }
}

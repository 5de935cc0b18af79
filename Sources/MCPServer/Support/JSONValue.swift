import Foundation
import MCP

/// Turns our Codable outputs into JSON text and the SDK's `Value`, the two forms of a tool result.
///
/// The `Value` is read back from the text, so the two always say the same. It is not read with
/// `Value`'s own decoder, which takes any string that looks like a `data:` URL for binary data (a
/// chunk whose text starts that way would change) and builds a regular expression for every string,
/// nor with a JSONDecoder that tries each type in turn, whose failed attempts cost 2 ms on a
/// five-passage answer: `ValueReader` reads the bytes once, in about 50 µs.
enum JSONValue {
    /// The JSON text of `output` (keys sorted, so outputs are stable) and the same as a `Value`.
    static func encode<T: Encodable>(_ output: T) throws -> (text: String, value: Value) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        let data = try encoder.encode(output)
        let value = try data.withUnsafeBytes { bytes in
            var reader = ValueReader(bytes: bytes.bindMemory(to: UInt8.self))
            return try reader.document()
        }
        return (String(decoding: data, as: UTF8.self), value)
    }
}

/// A single-pass reader of one JSON document (RFC 8259) into a `Value`. Numbers without a fraction
/// or exponent that fit an `Int` become `.int`, other numbers `.double`.
struct ValueReader {
    /// The input is not JSON; `offset` is where reading stopped.
    struct Malformed: Error, CustomStringConvertible {
        let offset: Int
        var description: String { "malformed JSON at byte \(offset)" }
    }

    private let bytes: UnsafeBufferPointer<UInt8>
    private var position = 0
    /// Deeper nesting is refused rather than risking the stack.
    private static let maximumDepth = 512

    init(bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
    }

    /// The whole input as one value; anything but whitespace after it is an error.
    mutating func document() throws -> Value {
        let value = try self.value(depth: 0)
        skipWhitespace()
        guard position == bytes.count else { throw Malformed(offset: position) }
        return value
    }

    private mutating func value(depth: Int) throws -> Value {
        guard depth < Self.maximumDepth else { throw Malformed(offset: position) }
        skipWhitespace()
        guard position < bytes.count else { throw Malformed(offset: position) }
        switch bytes[position] {
        case UInt8(ascii: "{"): return try object(depth: depth)
        case UInt8(ascii: "["): return try array(depth: depth)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        default: return try number()
        }
    }

    private mutating func object(depth: Int) throws -> Value {
        position += 1
        var members: [String: Value] = [:]
        skipWhitespace()
        if consume(UInt8(ascii: "}")) { return .object(members) }
        repeat {
            skipWhitespace()
            guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else { throw Malformed(offset: position) }
            let key = try string()
            skipWhitespace()
            guard consume(UInt8(ascii: ":")) else { throw Malformed(offset: position) }
            members[key] = try value(depth: depth + 1)
            skipWhitespace()
        } while consume(UInt8(ascii: ","))
        guard consume(UInt8(ascii: "}")) else { throw Malformed(offset: position) }
        return .object(members)
    }

    private mutating func array(depth: Int) throws -> Value {
        position += 1
        var elements: [Value] = []
        skipWhitespace()
        if consume(UInt8(ascii: "]")) { return .array(elements) }
        repeat {
            elements.append(try value(depth: depth + 1))
            skipWhitespace()
        } while consume(UInt8(ascii: ","))
        guard consume(UInt8(ascii: "]")) else { throw Malformed(offset: position) }
        return .array(elements)
    }

    /// A string starting at the opening quote; runs without escapes are copied whole.
    private mutating func string() throws -> String {
        position += 1
        var utf8: [UInt8] = []
        var runStart = position
        while position < bytes.count {
            let byte = bytes[position]
            if byte == UInt8(ascii: "\"") {
                utf8.append(contentsOf: bytes[runStart..<position])
                position += 1
                guard let text = String(validating: utf8, as: UTF8.self) else { throw Malformed(offset: position) }
                return text
            }
            if byte < 0x20 { throw Malformed(offset: position) }
            if byte == UInt8(ascii: "\\") {
                utf8.append(contentsOf: bytes[runStart..<position])
                position += 1
                try escape(into: &utf8)
                runStart = position
            } else {
                position += 1
            }
        }
        throw Malformed(offset: position)
    }

    /// The escape after a backslash, appended as UTF-8.
    private mutating func escape(into utf8: inout [UInt8]) throws {
        guard position < bytes.count else { throw Malformed(offset: position) }
        let byte = bytes[position]
        position += 1
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): utf8.append(byte)
        case UInt8(ascii: "b"): utf8.append(0x08)
        case UInt8(ascii: "f"): utf8.append(0x0C)
        case UInt8(ascii: "n"): utf8.append(0x0A)
        case UInt8(ascii: "r"): utf8.append(0x0D)
        case UInt8(ascii: "t"): utf8.append(0x09)
        case UInt8(ascii: "u"):
            var scalar = UInt32(try hexQuad())
            if (0xD800..<0xDC00).contains(scalar) {
                // A high surrogate must be followed by an escaped low one.
                guard consume(UInt8(ascii: "\\")), consume(UInt8(ascii: "u")) else { throw Malformed(offset: position) }
                let low = UInt32(try hexQuad())
                guard (0xDC00..<0xE000).contains(low) else { throw Malformed(offset: position) }
                scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
            }
            guard let unicode = Unicode.Scalar(scalar) else { throw Malformed(offset: position) }
            UTF8.encode(unicode) { utf8.append($0) }
        default: throw Malformed(offset: position - 1)
        }
    }

    private mutating func hexQuad() throws -> UInt16 {
        guard position + 4 <= bytes.count else { throw Malformed(offset: position) }
        var value: UInt16 = 0
        for _ in 0..<4 {
            let byte = bytes[position]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw Malformed(offset: position)
            }
            value = value << 4 | UInt16(digit)
            position += 1
        }
        return value
    }

    private mutating func number() throws -> Value {
        let start = position
        while position < bytes.count, Self.isNumberByte(bytes[position]) { position += 1 }
        let text = String(decoding: bytes[start..<position], as: UTF8.self)
        guard Self.isJSONNumber(text) else { throw Malformed(offset: start) }
        let integral = !text.utf8.contains { $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") }
        if integral, let integer = Int(text) { return .int(integer) }
        guard let double = Double(text) else { throw Malformed(offset: start) }
        return .double(double)
    }

    private static func isNumberByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "+"), UInt8(ascii: "."),
             UInt8(ascii: "e"), UInt8(ascii: "E"): true
        default: false
        }
    }

    /// JSON's number grammar: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`. Swift's
    /// own parsers are laxer (they take "+1", ".5", "1." and "inf").
    private static func isJSONNumber(_ text: String) -> Bool {
        var utf8 = Substring(text).utf8[...]
        func digits() -> Int {
            let count = utf8.prefix(while: { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }).count
            utf8 = utf8.dropFirst(count)
            return count
        }
        if utf8.first == UInt8(ascii: "-") { utf8 = utf8.dropFirst() }
        if utf8.first == UInt8(ascii: "0") {
            utf8 = utf8.dropFirst()
        } else if digits() == 0 {
            return false
        }
        if utf8.first == UInt8(ascii: ".") {
            utf8 = utf8.dropFirst()
            if digits() == 0 { return false }
        }
        if utf8.first == UInt8(ascii: "e") || utf8.first == UInt8(ascii: "E") {
            utf8 = utf8.dropFirst()
            if utf8.first == UInt8(ascii: "+") || utf8.first == UInt8(ascii: "-") { utf8 = utf8.dropFirst() }
            if digits() == 0 { return false }
        }
        return utf8.isEmpty
    }

    private mutating func literal(_ word: StaticString) throws {
        let count = word.utf8CodeUnitCount
        guard position + count <= bytes.count,
              memcmp(bytes.baseAddress! + position, word.utf8Start, count) == 0 else { throw Malformed(offset: position) }
        position += count
    }

    /// Steps over `byte` if it is next.
    private mutating func consume(_ byte: UInt8) -> Bool {
        guard position < bytes.count, bytes[position] == byte else { return false }
        position += 1
        return true
    }

    private mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case 0x20, 0x09, 0x0A, 0x0D: position += 1
            default: return
            }
        }
    }
}

/// A small, strict JSON reader (RFC 8259) over UTF-8 bytes, for tokenizer files and tool results.
///
/// `JSONSerialization` takes about 30 ms on a BERT `tokenizer.json` (30k vocabulary entries boxed as
/// `NSNumber`s in an `NSDictionary`) and 300 µs on a five-passage tool result; this reader takes a
/// few milliseconds and 30 µs. It keeps objects as ordered key/value lists, so duplicate keys
/// resolve the way serde does for maps (the last one wins).
public enum JSONValue: Sendable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([(key: String, value: JSONValue)])

    /// The last value stored under `key` when this is an object.
    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.last(where: { $0.key == key })?.value
    }

    /// The first value stored under `key` when this is an object: how Foundation's JSONDecoder
    /// reads a key given twice, for a reader that must agree with one.
    public func firstValue(forKey key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.first(where: { $0.key == key })?.value
    }

    /// The string, if this is one.
    public var string: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    /// The boolean, if this is one.
    public var bool: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    /// The number as an exact integer, if it is one.
    public var integer: Int? {
        if case .number(let value) = self, let exact = Int(exactly: value) { return exact }
        return nil
    }

    /// True for JSON `null`.
    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// The JSON type as a word, for error messages.
    public var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .number: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }
}

/// Why a document is not JSON, and where.
public struct JSONReadError: Error, Sendable, CustomStringConvertible {
    /// What is wrong, as a phrase ("a number without digits").
    public let message: String
    /// The byte where reading stopped.
    public let offset: Int
    /// Whether the document was refused for nesting deeper than the reader's depth limit.
    public internal(set) var isTooDeep = false

    public var description: String { "\(message) at byte \(offset)" }
}

/// Recursive-descent JSON parser over UTF-8 bytes.
public struct JSONReader {
    private let bytes: UnsafeBufferPointer<UInt8>
    private var index = 0
    private var depth = 0
    private let maxDepth: Int
    /// True reads a `\uD800`-style escape without its other half as U+FFFD instead of refusing it.
    private let replacesLoneSurrogates: Bool
    /// Deep enough for any tokenizer file, shallow enough that hostile nesting cannot overflow the stack.
    public static let maxDepth = 128

    /// Parses a complete document. A `\uXXXX` escape that is half a UTF-16 surrogate pair without
    /// its other half is valid JSON syntax but no character: it is refused, or read as U+FFFD when
    /// `replacingLoneSurrogates` (for a reader that must still find, say, the id of a message that
    /// it will refuse). Objects and arrays nested more than `maxDepth` deep are refused
    /// (`isTooDeep`) as soon as the reader meets the first one past it; a limit above
    /// `JSONReader.maxDepth` is taken as that.
    public static func parse(_ data: [UInt8], replacingLoneSurrogates: Bool = false,
                             maxDepth: Int = JSONReader.maxDepth) throws(JSONReadError) -> JSONValue {
        let result: Result<JSONValue, JSONReadError> = data.withUnsafeBufferPointer { buffer in
            var reader = JSONReader(bytes: buffer, replacesLoneSurrogates: replacingLoneSurrogates,
                                    maxDepth: min(maxDepth, JSONReader.maxDepth))
            do throws(JSONReadError) {
                reader.skipBOMAndWhitespace()
                let value = try reader.parseValue()
                reader.skipWhitespace()
                guard reader.index == buffer.count else {
                    throw JSONReadError(message: "unexpected text after the JSON value", offset: reader.index)
                }
                return .success(value)
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    private init(bytes: UnsafeBufferPointer<UInt8>, replacesLoneSurrogates: Bool, maxDepth: Int) {
        self.bytes = bytes
        self.replacesLoneSurrogates = replacesLoneSurrogates
        self.maxDepth = maxDepth
    }

    private mutating func skipBOMAndWhitespace() {
        if bytes.count >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF { index = 3 }
        skipWhitespace()
    }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    private func fail(_ message: String) -> JSONReadError {
        JSONReadError(message: message, offset: index)
    }

    private mutating func parseValue() throws(JSONReadError) -> JSONValue {
        guard index < bytes.count else { throw fail("the document ends where a value was expected") }
        switch bytes[index] {
        case UInt8(ascii: "{"): return try parseObject()
        case UInt8(ascii: "["): return try parseArray()
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expectWord("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectWord("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectWord("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
        default: throw fail("unexpected character where a value was expected")
        }
    }

    private mutating func expectWord(_ word: StaticString) throws(JSONReadError) {
        let length = word.utf8CodeUnitCount
        guard index + length <= bytes.count else { throw fail("the document ends inside a literal") }
        let expected = UnsafeBufferPointer(start: word.utf8Start, count: length)
        for k in 0..<length where bytes[index + k] != expected[k] {
            throw fail("unknown literal")
        }
        index += length
    }

    private mutating func enter() throws(JSONReadError) {
        depth += 1
        guard depth <= maxDepth else {
            var error = fail("nesting deeper than \(maxDepth) levels")
            error.isTooDeep = true
            throw error
        }
    }

    private mutating func parseObject() throws(JSONReadError) -> JSONValue {
        try enter()
        defer { depth -= 1 }
        index += 1
        var members: [(key: String, value: JSONValue)] = []
        skipWhitespace()
        if index < bytes.count && bytes[index] == UInt8(ascii: "}") {
            index += 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw fail("expected a string key") }
            let key = try parseString()
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw fail("expected ':' after a key") }
            index += 1
            skipWhitespace()
            let value = try parseValue()
            members.append((key, value))
            skipWhitespace()
            guard index < bytes.count else { throw fail("the document ends inside an object") }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
            } else if bytes[index] == UInt8(ascii: "}") {
                index += 1
                return .object(members)
            } else {
                throw fail("expected ',' or '}' in an object")
            }
        }
    }

    private mutating func parseArray() throws(JSONReadError) -> JSONValue {
        try enter()
        defer { depth -= 1 }
        index += 1
        var elements: [JSONValue] = []
        skipWhitespace()
        if index < bytes.count && bytes[index] == UInt8(ascii: "]") {
            index += 1
            return .array(elements)
        }
        while true {
            skipWhitespace()
            elements.append(try parseValue())
            skipWhitespace()
            guard index < bytes.count else { throw fail("the document ends inside an array") }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
            } else if bytes[index] == UInt8(ascii: "]") {
                index += 1
                return .array(elements)
            } else {
                throw fail("expected ',' or ']' in an array")
            }
        }
    }

    private mutating func parseString() throws(JSONReadError) -> String {
        index += 1
        let start = index
        // Most strings have no escapes: validate and copy the bytes as they are.
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                let slice = UnsafeBufferPointer(rebasing: bytes[start..<index])
                index += 1
                guard let string = String(validating: slice, as: UTF8.self) else {
                    throw fail("a string is not valid UTF-8")
                }
                return string
            }
            if byte == UInt8(ascii: "\\") { break }
            if byte < 0x20 { throw fail("a control character inside a string") }
            index += 1
        }
        var buffer = Array(bytes[start..<index])
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                index += 1
                guard let string = String(validating: buffer, as: UTF8.self) else {
                    throw fail("a string is not valid UTF-8")
                }
                return string
            }
            if byte < 0x20 { throw fail("a control character inside a string") }
            if byte != UInt8(ascii: "\\") {
                buffer.append(byte)
                index += 1
                continue
            }
            index += 1
            guard index < bytes.count else { break }
            let escape = bytes[index]
            index += 1
            switch escape {
            case UInt8(ascii: "\""): buffer.append(0x22)
            case UInt8(ascii: "\\"): buffer.append(0x5C)
            case UInt8(ascii: "/"): buffer.append(0x2F)
            case UInt8(ascii: "b"): buffer.append(0x08)
            case UInt8(ascii: "f"): buffer.append(0x0C)
            case UInt8(ascii: "n"): buffer.append(0x0A)
            case UInt8(ascii: "r"): buffer.append(0x0D)
            case UInt8(ascii: "t"): buffer.append(0x09)
            case UInt8(ascii: "u"):
                let value = try parseHex4()
                let scalar: Unicode.Scalar
                if value >= 0xD800 && value < 0xDC00, let low = lowSurrogateEscape() {
                    scalar = Unicode.Scalar(0x10000 + ((value - 0xD800) << 10) + (low - 0xDC00))!
                } else if let plain = Unicode.Scalar(value) {
                    scalar = plain
                } else {
                    // Either half of a pair alone (Unicode.Scalar takes no surrogate).
                    guard replacesLoneSurrogates else { throw fail("a lone UTF-16 surrogate escape") }
                    scalar = "\u{FFFD}"
                }
                UTF8.encode(scalar) { buffer.append($0) }
            default:
                throw fail("an unknown escape sequence")
            }
        }
        throw fail("the document ends inside a string")
    }

    /// The low half of a surrogate pair when a `\uXXXX` escape spelling one comes next (and is
    /// then read), or nil (and nothing is read).
    private mutating func lowSurrogateEscape() -> UInt32? {
        guard index + 6 <= bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u"),
              let low = HexDigit.value(of: bytes[(index + 2)..<(index + 6)]), low >= 0xDC00 && low < 0xE000 else { return nil }
        index += 6
        return low
    }

    private mutating func parseHex4() throws(JSONReadError) -> UInt32 {
        guard index + 4 <= bytes.count else { throw fail("the document ends inside a \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let digit = HexDigit.value(bytes[index]) else { throw fail("a bad hex digit in a \\u escape") }
            value = value << 4 | UInt32(digit)
            index += 1
        }
        return value
    }

    private mutating func parseNumber() throws(JSONReadError) -> Double {
        let start = index
        var isInteger = true
        var magnitude: UInt64 = 0
        var overflow = false
        let negative = bytes[index] == UInt8(ascii: "-")
        if negative { index += 1 }
        guard index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") else {
            throw fail("a number without digits")
        }
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
        } else {
            while index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") {
                let (times10, o1) = magnitude.multipliedReportingOverflow(by: 10)
                let (sum, o2) = times10.addingReportingOverflow(UInt64(bytes[index] - UInt8(ascii: "0")))
                overflow = overflow || o1 || o2
                magnitude = sum
                index += 1
            }
        }
        if index < bytes.count && bytes[index] == UInt8(ascii: ".") {
            isInteger = false
            index += 1
            let digits = index
            while index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") { index += 1 }
            guard index > digits else { throw fail("a number with no digits after '.'") }
        }
        if index < bytes.count && (bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E")) {
            isInteger = false
            index += 1
            if index < bytes.count && (bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-")) { index += 1 }
            let digits = index
            while index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") { index += 1 }
            guard index > digits else { throw fail("a number with no digits in its exponent") }
        }
        if isInteger && !overflow && magnitude < (1 << 53) {
            return negative ? -Double(magnitude) : Double(magnitude)
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
        guard let value = Double(text) else { throw fail("a number out of range") }
        return value
    }
}

import Foundation
import KnowledgeBase
import MCP

/// What a tool call answers: its output, or a sentence saying why it failed with the failure's
/// code (`ClientError.Code`) in the result's `_meta`, under `errorCodeKey`, for programs to act on.
///
/// The router writes it straight into the JSON-RPC answer: the output's JSON is the structured
/// content as it is and, as a JSON string, the text content, so an answer is encoded once and never
/// parsed back (through `Value`, a 30-passage answer was encoded, read and encoded again).
enum ToolAnswer: Sendable {
    case output(ToolOutput)
    case failure(String, code: ClientError.Code)

    /// Where a failed call's code is, in the result's `_meta` (MCP's rule: a prefix of our own).
    static let errorCodeKey = "mcp-rag/error"

    /// `{"id":…,"jsonrpc":"2.0","result":{"_meta":…,"content":[{"text":…,"type":"text"}],"isError":…,
    /// "structuredContent":…}}`, keys sorted like every other answer.
    func response(id: ID) -> Data {
        var bytes: [UInt8] = []
        let (text, structured, code): ([UInt8], [UInt8]?, ClientError.Code?) = switch self {
        case .output(let output): (output.json, output.json, nil)
        case .failure(let message, let code): (Array(message.utf8), nil, code)
        }
        bytes.reserveCapacity(2 * text.count + 160)
        JSONWriter.appendResultOpening(id: id, to: &bytes)
        bytes.append(UInt8(ascii: "{"))
        if let code {
            bytes.append(contentsOf: #""_meta":{"#.utf8)
            JSONWriter.appendString(Self.errorCodeKey, to: &bytes)
            bytes.append(UInt8(ascii: ":"))
            JSONWriter.appendString(code.rawValue, to: &bytes)
            bytes.append(contentsOf: "},".utf8)
        }
        bytes.append(contentsOf: #""content":[{"text":"#.utf8)
        JSONWriter.appendString(text, to: &bytes)
        bytes.append(contentsOf: #","type":"text"}],"isError":"#.utf8)
        if let structured {
            bytes.append(contentsOf: #"false,"structuredContent":"#.utf8)
            bytes.append(contentsOf: structured)
        } else {
            bytes.append(contentsOf: "true".utf8)
        }
        bytes.append(contentsOf: "}}".utf8)
        return Data(bytes)
    }

    /// The same answer as the SDK's type.
    func result() throws -> CallTool.Result {
        switch self {
        case .output(let output):
            CallTool.Result(content: [.text(text: output.text, annotations: nil, _meta: nil)],
                            structuredContent: .some(try ToolJSON.value(ofJSON: output.json)), isError: false)
        case .failure(let message, let code):
            CallTool.Result(content: [.text(text: message, annotations: nil, _meta: nil)], isError: true,
                            _meta: Metadata(additionalFields: [Self.errorCodeKey: .string(code.rawValue)]))
        }
    }
}

/// JSON strings written as JSONEncoder writes them (with `.withoutEscapingSlashes`): quote,
/// backslash and control characters escaped, everything else as its UTF-8 bytes.
enum JSONWriter {
    /// `{"id":…,"jsonrpc":"2.0","result":`: how every answer the router writes itself begins, keys
    /// sorted as JSONEncoder's `.sortedKeys` writes the others.
    static func appendResultOpening(id: ID, to bytes: inout [UInt8]) {
        bytes.append(contentsOf: #"{"id":"#.utf8)
        appendID(id, to: &bytes)
        bytes.append(contentsOf: #","jsonrpc":"2.0","result":"#.utf8)
    }

    /// A JSON-RPC id as JSON: a string, or an integer.
    static func appendID(_ id: ID, to bytes: inout [UInt8]) {
        switch id {
        case .string(let string): appendString(string, to: &bytes)
        case .number(let number): bytes.append(contentsOf: String(number).utf8)
        }
    }

    static func appendString(_ utf8: [UInt8], to bytes: inout [UInt8]) {
        utf8.withUnsafeBufferPointer { appendString($0, to: &bytes) }
    }

    static func appendString(_ string: String, to bytes: inout [UInt8]) {
        var string = string
        string.withUTF8 { appendString($0, to: &bytes) }
    }

    /// Runs of bytes that need no escape are copied whole: a 30-passage answer is about 30 KB of
    /// text written twice (once as structured content, once inside the text content's string).
    static func appendString(_ utf8: UnsafeBufferPointer<UInt8>, to bytes: inout [UInt8]) {
        bytes.append(UInt8(ascii: "\""))
        var start = 0
        var index = 0
        while index < utf8.count {
            if index + 8 <= utf8.count, !mayNeedEscape(UnsafeRawPointer(utf8.baseAddress! + index).loadUnaligned(as: UInt64.self)) {
                index += 8
                continue
            }
            let byte = utf8[index]
            index += 1
            guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start..<(index - 1)]))
            start = index
            bytes.append(UInt8(ascii: "\\"))
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"): bytes.append(byte)
            case 0x0A: bytes.append(UInt8(ascii: "n"))
            case 0x0D: bytes.append(UInt8(ascii: "r"))
            case 0x09: bytes.append(UInt8(ascii: "t"))
            case 0x08: bytes.append(UInt8(ascii: "b"))
            case 0x0C: bytes.append(UInt8(ascii: "f"))
            default:
                let hex: StaticString = "0123456789abcdef"
                bytes.append(contentsOf: [UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                                          hex.utf8Start[Int(byte >> 4)], hex.utf8Start[Int(byte & 0xF)]])
            }
        }
        bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start...]))
        bytes.append(UInt8(ascii: "\""))
    }

    /// Whether one of the eight bytes of `word` is a control character, a quote or a backslash
    /// (the bit tricks of "Bit Twiddling Hacks": a byte below n, a byte equal to n), so that text
    /// without them is passed over eight bytes at a time.
    @inline(__always)
    private static func mayNeedEscape(_ word: UInt64) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
        func hasZeroByte(_ value: UInt64) -> Bool { (value &- ones) & ~value & highs != 0 }
        let below0x20 = (word &- ones &* 0x20) & ~word & highs != 0
        return below0x20 || hasZeroByte(word ^ (ones &* 0x22)) || hasZeroByte(word ^ (ones &* 0x5C))
    }

    /// A number as JSONEncoder writes it: the shortest text that reads back as the same Double,
    /// without a trailing ".0"; a value that is not finite as ToolJSON's encoder names it, a string.
    static func appendNumber(_ number: Double, to bytes: inout [UInt8]) {
        guard number.isFinite else {
            appendString(number.isNaN ? ToolJSON.NotFinite.nan
                         : number < 0 ? ToolJSON.NotFinite.negativeInfinity : ToolJSON.NotFinite.positiveInfinity, to: &bytes)
            return
        }
        var text = number.description
        if text.hasSuffix(".0") { text.removeLast(2) }
        bytes.append(contentsOf: text.utf8)
    }
}

import Foundation
import MCP

/// What a tool call answers: its output, or a sentence saying why it failed.
///
/// The router writes it straight into the JSON-RPC answer: the output's JSON is the structured
/// content as it is and, as a JSON string, the text content, so an answer is encoded once and never
/// parsed back (through `Value`, a 30-passage answer was encoded, read and encoded again).
enum ToolAnswer: Sendable {
    case output(ToolOutput)
    case failure(String)

    /// `{"id":…,"jsonrpc":"2.0","result":{"content":[{"text":…,"type":"text"}],"isError":…,
    /// "structuredContent":…}}`, keys sorted like every other answer.
    func response(id: ID) -> Data {
        var bytes: [UInt8] = []
        let (text, structured): ([UInt8], [UInt8]?) = switch self {
        case .output(let output): (output.json, output.json)
        case .failure(let message): (Array(message.utf8), nil)
        }
        bytes.reserveCapacity(2 * text.count + 160)
        JSONWriter.appendResultOpening(id: id, to: &bytes)
        bytes.append(contentsOf: #"{"content":[{"text":"#.utf8)
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
        case .failure(let message):
            CallTool.Result(content: [.text(text: message, annotations: nil, _meta: nil)], isError: true)
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
        case .string(let string): appendString(Array(string.utf8), to: &bytes)
        case .number(let number): bytes.append(contentsOf: String(number).utf8)
        }
    }

    static func appendString(_ utf8: [UInt8], to bytes: inout [UInt8]) {
        bytes.append(UInt8(ascii: "\""))
        var start = 0
        for (index, byte) in utf8.enumerated() where byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
            bytes.append(contentsOf: utf8[start..<index])
            start = index + 1
            switch byte {
            case UInt8(ascii: "\""): bytes.append(contentsOf: #"\""#.utf8)
            case UInt8(ascii: "\\"): bytes.append(contentsOf: #"\\"#.utf8)
            case 0x0A: bytes.append(contentsOf: #"\n"#.utf8)
            case 0x0D: bytes.append(contentsOf: #"\r"#.utf8)
            case 0x09: bytes.append(contentsOf: #"\t"#.utf8)
            case 0x08: bytes.append(contentsOf: #"\b"#.utf8)
            case 0x0C: bytes.append(contentsOf: #"\f"#.utf8)
            default:
                let hex = Array("0123456789abcdef".utf8)
                bytes.append(contentsOf: #"\u00"#.utf8)
                bytes.append(hex[Int(byte >> 4)])
                bytes.append(hex[Int(byte & 0xF)])
            }
        }
        bytes.append(contentsOf: utf8[start...])
        bytes.append(UInt8(ascii: "\""))
    }
}

import Foundation

/// How deeply a JSON text nests its objects and arrays, found by one scan of its bytes.
///
/// Why before any parsing: Foundation's reader and the SDK's `Value` descend recursively, so a
/// body of 100,000 opening brackets costs stack and time before it is refused, and MCP's messages
/// nest a few levels deep. A POST that nests deeper than the limit is refused unread.
enum JSONNesting {
    /// Whether `text` opens more than `limit` objects or arrays inside one another (brackets inside
    /// strings do not count; the text need not be valid JSON).
    static func exceeds(_ limit: Int, in text: Data) -> Bool {
        text.withUnsafeBytes { bytes in
            var depth = 0
            var inString = false
            var escaped = false
            for byte in bytes {
                if inString {
                    if escaped {
                        escaped = false
                    } else if byte == UInt8(ascii: "\\") {
                        escaped = true
                    } else if byte == UInt8(ascii: "\"") {
                        inString = false
                    }
                    continue
                }
                switch byte {
                case UInt8(ascii: "\""):
                    inString = true
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    depth += 1
                    if depth > limit { return true }
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    // A stray closer cannot bank depth for the openers after it.
                    depth = max(depth - 1, 0)
                default:
                    break
                }
            }
            return false
        }
    }
}

import Foundation
import StrictJSON

/// What a JSON text's string escapes spell, looked at without decoding the text.
enum JSONEscapes {
    /// The first `\uXXXX` escape in a string of `message` that is half a UTF-16 surrogate pair
    /// without its other half (as written, e.g. `\ud800`), or nil. Such an escape is valid JSON
    /// syntax but no character, and Foundation's decoder fails on it deep inside the SDK.
    static func firstLoneSurrogate(in message: Data) -> String? {
        message.withUnsafeBytes { firstLoneSurrogate(in: $0.bindMemory(to: UInt8.self)) }
    }

    private static func firstLoneSurrogate(in bytes: UnsafeBufferPointer<UInt8>) -> String? {
        var index = 0
        var inString = false
        /// The high half just read, waiting for its low half to follow at once.
        var pendingHigh: Int? = nil
        while index < bytes.count {
            let byte = bytes[index]
            if !inString {
                if byte == UInt8(ascii: "\"") { inString = true }
                index += 1
                continue
            }
            if byte == UInt8(ascii: "\\"), index + 1 < bytes.count {
                if bytes[index + 1] == UInt8(ascii: "u"), index + 5 < bytes.count, let unit = HexDigit.value(of: bytes[(index + 2)...(index + 5)]) {
                    let isHigh = (0xD800...0xDBFF).contains(unit), isLow = (0xDC00...0xDFFF).contains(unit)
                    if let high = pendingHigh, !isLow { return written(bytes, at: high) }
                    if isLow && pendingHigh == nil { return written(bytes, at: index) }
                    pendingHigh = isHigh ? index : nil
                    index += 6
                    continue
                }
                if let high = pendingHigh { return written(bytes, at: high) }
                index += 2
                continue
            }
            if let high = pendingHigh { return written(bytes, at: high) }
            if byte == UInt8(ascii: "\"") { inString = false }
            index += 1
        }
        return pendingHigh.map { written(bytes, at: $0) }
    }

    private static func written(_ bytes: UnsafeBufferPointer<UInt8>, at index: Int) -> String {
        String(decoding: bytes[index..<(index + 6)], as: UTF8.self)
    }
}

/// Hexadecimal digits, as JSON's `\uXXXX` escapes and URLs' percent-escapes write them.
public enum HexDigit {
    /// The value of one hex digit in either case (`0`–`9`, `a`–`f`, `A`–`F`), or nil.
    @inline(__always)
    public static func value(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// The number the digits spell (at most 8 of them), or nil if one is not a hex digit.
    public static func value(of digits: some Sequence<UInt8>) -> UInt32? {
        var value: UInt32 = 0
        for digit in digits {
            guard let nibble = Self.value(digit) else { return nil }
            value = value << 4 | UInt32(nibble)
        }
        return value
    }
}

/// Text that came from files or clients, made safe to show in a log line or on a terminal.
///
/// A file name holding a newline would otherwise forge a log line of its own, and a passage holding
/// ESC would drive the reader's terminal. Control characters (C0, DEL and C1) are written as
/// escapes instead: `\n`, `\r`, `\t`, `\u{1B}`, and a backslash stays a backslash.
public enum TerminalText {
    /// `text` with every control character escaped; `keepingLineBreaks` leaves `\n` and `\t` as they
    /// are (for multi-line output to a terminal, not for a log line).
    public static func escapingControls(_ text: some StringProtocol, keepingLineBreaks: Bool = false) -> String {
        guard text.unicodeScalars.contains(where: { isControl($0) && !(keepingLineBreaks && isLineBreak($0)) }) else {
            return String(text)
        }
        var escaped = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            guard isControl(scalar), !(keepingLineBreaks && isLineBreak(scalar)) else {
                escaped.append(scalar)
                continue
            }
            let spelled = switch scalar {
            case "\n": "\\n"
            case "\r": "\\r"
            case "\t": "\\t"
            default: "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
            }
            escaped.append(contentsOf: spelled.unicodeScalars)
        }
        return String(escaped)
    }

    private static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)
    }

    private static func isLineBreak(_ scalar: Unicode.Scalar) -> Bool {
        scalar == "\n" || scalar == "\t"
    }
}

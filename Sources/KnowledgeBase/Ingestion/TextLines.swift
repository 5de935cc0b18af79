/// Line-level helpers shared by the MDX filter, the section splitter and the chunker. Text reaching
/// them has LF line ends only (the loader normalises them).
enum TextLines {
    /// The lines of `text` without their "\n", as slices of it; a trailing "\n" adds no empty line.
    static func split(_ text: Substring) -> [Substring] {
        var lines: [Substring] = []
        var start = text.startIndex
        let utf8 = text.utf8
        var index = utf8.startIndex
        while index != utf8.endIndex {
            if utf8[index] == UInt8(ascii: "\n") {
                lines.append(text[start..<index])
                start = utf8.index(after: index)
            }
            index = utf8.index(after: index)
        }
        if start != text.endIndex { lines.append(text[start..<text.endIndex]) }
        return lines
    }

    /// True when the line has nothing but spaces and tabs.
    static func isBlank(_ line: Substring) -> Bool {
        line.utf8.allSatisfy { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
    }

    /// The number of leading spaces, a tab counting as four (CommonMark's tab stop).
    static func indentation(_ line: Substring) -> Int {
        var width = 0
        for byte in line.utf8 {
            if byte == UInt8(ascii: " ") {
                width += 1
            } else if byte == UInt8(ascii: "\t") {
                width += 4 - width % 4
            } else {
                break
            }
        }
        return width
    }

    /// The first byte that is not a space or tab, for cheap rejection before a closer look.
    static func firstSignificantByte(_ line: Substring) -> UInt8? {
        line.utf8.first { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\t") }
    }

    /// `line` without leading and trailing spaces and tabs.
    static func trimmed(_ line: Substring) -> Substring {
        var result = line
        while let first = result.first, first == " " || first == "\t" { result = result.dropFirst() }
        while let last = result.last, last == " " || last == "\t" { result = result.dropLast() }
        return result
    }

    /// `text` without leading blank lines and trailing whitespace; the first line's indentation stays.
    static func trimmingBlankLines(_ text: Substring) -> Substring {
        var result = text
        while let last = result.last, last.isWhitespace { result = result.dropLast() }
        while let newline = result.firstIndex(of: "\n"), isBlank(result[result.startIndex..<newline]) {
            result = result[result.index(after: newline)...]
        }
        if isBlank(result) { return result[result.endIndex...] }
        return result
    }
}

/// A Markdown code fence: "```" or "~~~" (at least three), indented at most three spaces.
struct CodeFence: Equatable {
    let character: UInt8
    let length: Int

    /// The fence `line` opens, or nil when it opens none.
    static func opening(_ line: Substring) -> CodeFence? {
        let lead = TextLines.firstSignificantByte(line)
        guard lead == UInt8(ascii: "`") || lead == UInt8(ascii: "~") else { return nil }
        let bytes = Array(line.utf8)
        var index = 0
        while index < bytes.count, index < 4, bytes[index] == UInt8(ascii: " ") { index += 1 }
        guard index <= 3, index < bytes.count else { return nil }
        let character = bytes[index]
        guard character == UInt8(ascii: "`") || character == UInt8(ascii: "~") else { return nil }
        var end = index
        while end < bytes.count, bytes[end] == character { end += 1 }
        guard end - index >= 3 else { return nil }
        // A backtick fence's info string may not contain a backtick (it would be inline code).
        if character == UInt8(ascii: "`"), bytes[end...].contains(character) { return nil }
        return CodeFence(character: character, length: end - index)
    }

    /// True when `line` closes this fence: the same character, at least as many, nothing after.
    func isClosed(by line: Substring) -> Bool {
        guard TextLines.firstSignificantByte(line) == character else { return false }
        let bytes = Array(line.utf8)
        var index = 0
        while index < bytes.count, index < 4, bytes[index] == UInt8(ascii: " ") { index += 1 }
        guard index <= 3 else { return false }
        var end = index
        while end < bytes.count, bytes[end] == character { end += 1 }
        guard end - index >= length else { return false }
        return bytes[end...].allSatisfy { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
    }
}

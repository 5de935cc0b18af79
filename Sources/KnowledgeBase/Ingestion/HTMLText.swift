/// HTML to Markdown-like text, so the section splitter and chunker see the page's structure.
///
/// `<h1>`…`<h6>` become ATX heading lines, `<pre>` becomes a fenced code block (with the language
/// from a `language-…`/`lang-…` class when there is one), inline `<code>` becomes backticks, list
/// items become "- " lines, block elements become line breaks, and `<script>`, `<style>`,
/// `<noscript>`, `<template>`, `<svg>`, `<title>` and comments vanish with their content. Entities are
/// decoded. Runs of blank lines collapse to one.
///
/// The scanner is hand-written and tolerant: it never fails, and every step advances, so malformed
/// input (unclosed tags, a bare `<` in text, `>` inside quoted attributes, unterminated comments)
/// cannot make it trap or loop. It is linear: no byte is scanned more than a fixed number of times,
/// whatever the markup (a tag with no `>` after it runs to the end and is dropped, as in browsers,
/// instead of being read again as text).
enum HTMLText {
    /// The Markdown-like text of an HTML document or fragment.
    static func markdown(fromHTML html: String) -> String {
        markdown(fromHTML: html, stopIf: { false }) ?? ""
    }

    /// The Markdown-like text, or nil when `stopIf` said so (it is asked every 64 KiB of input), so
    /// that cancelling an ingest takes effect inside a large page.
    static func markdown(fromHTML html: String, stopIf shouldStop: () -> Bool) -> String? {
        var converter = HTMLConverter(input: Array(html.utf8))
        return converter.run(stopIf: shouldStop)
    }
}

private struct HTMLConverter {
    let input: [UInt8]
    var position = 0
    var out: [UInt8] = []
    /// Whitespace was seen since the last text byte; it becomes one space before the next text.
    var pendingSpace = false
    /// The level of the heading being written, 0 outside headings.
    var headingLevel = 0
    /// Where the current heading's "# " marker starts and ends in `out`.
    var headingStart = 0
    var headingTextStart = 0
    /// Nesting of `<pre>`; its content collects in `preText` and is written when it closes.
    var preDepth = 0
    var preText: [UInt8] = []
    var preLanguage: [UInt8] = []
    /// Nesting of `<code>` outside `<pre>` (written as backticks).
    var inlineCodeDepth = 0
    /// Nesting of `<ul>`/`<ol>`.
    var listDepth = 0
    /// An element being dropped with its content, and how deeply it is nested in itself.
    var skipName: [UInt8]? = nil
    var skipDepth = 0

    /// For each byte value, the last index where it occurs (-1 if nowhere): a search for a byte
    /// that does not occur again answers at once instead of scanning to the end each time.
    let lastIndex: [Int]

    init(input: [UInt8]) {
        self.input = input
        var last = [Int](repeating: -1, count: 256)
        for (index, byte) in input.enumerated() { last[Int(byte)] = index }
        lastIndex = last
        out.reserveCapacity(input.count / 2)
    }

    mutating func run(stopIf shouldStop: () -> Bool) -> String? {
        var nextCheck = 0
        while position < input.count {
            if position >= nextCheck {
                if shouldStop() { return nil }
                nextCheck = position + (64 << 10)
            }
            let byte = input[position]
            if byte == UInt8(ascii: "<"), scanMarkup() {
                continue
            }
            if skipName != nil {
                position += 1
                continue
            }
            if byte == UInt8(ascii: "&") {
                decodeEntity()
                continue
            }
            emitText(byte)
            position += 1
        }
        if preDepth > 0 { flushPre() }
        if headingLevel > 0 { closeHeading() }
        return Self.tidy(out)
    }

    // MARK: Output

    mutating func emitText(_ byte: UInt8) {
        if preDepth > 0 {
            preText.append(byte)
            return
        }
        if Self.isWhitespace(byte) {
            pendingSpace = true
            return
        }
        if pendingSpace, let last = out.last, last != UInt8(ascii: "\n"), last != UInt8(ascii: " ") {
            out.append(UInt8(ascii: " "))
        }
        pendingSpace = false
        out.append(byte)
    }

    mutating func emitText(_ bytes: some Sequence<UInt8>) {
        for byte in bytes { emitText(byte) }
    }

    /// Ends the current line and, for `lines == 2`, leaves a blank line after it.
    mutating func lineBreak(_ lines: Int) {
        if preDepth > 0 { return }
        if headingLevel > 0 {
            pendingSpace = true  // a heading stays on one line
            return
        }
        while out.last == UInt8(ascii: " ") { out.removeLast() }
        pendingSpace = false
        guard !out.isEmpty else { return }
        var trailing = 0
        for byte in out.reversed() {
            guard byte == UInt8(ascii: "\n") else { break }
            trailing += 1
        }
        while trailing < lines {
            out.append(UInt8(ascii: "\n"))
            trailing += 1
        }
    }

    mutating func openHeading(_ level: Int) {
        if headingLevel > 0 { closeHeading() }
        lineBreak(2)
        headingStart = out.count
        out.append(contentsOf: repeatElement(UInt8(ascii: "#"), count: level))
        out.append(UInt8(ascii: " "))
        headingTextStart = out.count
        headingLevel = level
        pendingSpace = false
    }

    mutating func closeHeading() {
        headingLevel = 0
        while out.last == UInt8(ascii: " ") && out.count > headingTextStart { out.removeLast() }
        if out.count == headingTextStart {
            out.removeSubrange(headingStart...)  // an empty heading is no heading
        }
        lineBreak(2)
    }

    mutating func flushPre() {
        var text = preText[...]
        preText = []
        if text.first == UInt8(ascii: "\n") { text = text.dropFirst() }  // as browsers do
        while let last = text.last, Self.isWhitespace(last) { text = text.dropLast() }
        while let first = text.first, first == UInt8(ascii: "\n") { text = text.dropFirst() }
        guard !text.isEmpty else { return }
        // A fence longer than any backtick run inside, so the block cannot end early.
        var longest = 0, run = 0
        for byte in text {
            run = byte == UInt8(ascii: "`") ? run + 1 : 0
            longest = max(longest, run)
        }
        let fence = [UInt8](repeating: UInt8(ascii: "`"), count: max(3, longest + 1))
        lineBreak(2)
        out.append(contentsOf: fence)
        out.append(contentsOf: preLanguage)
        out.append(UInt8(ascii: "\n"))
        out.append(contentsOf: text)
        out.append(UInt8(ascii: "\n"))
        out.append(contentsOf: fence)
        lineBreak(2)
    }

    // MARK: Markup

    /// Handles the markup at `position` (a `<`) and returns true, or returns false when the `<` is
    /// just text.
    mutating func scanMarkup() -> Bool {
        let start = position
        guard start + 1 < input.count else { return false }
        let next = input[start + 1]
        if next == UInt8(ascii: "!") {
            if matches("<!--", at: start) {
                // An unterminated comment runs to the end, as in browsers.
                position = find([UInt8]("-->".utf8), from: start + 4).map { $0 + 3 } ?? input.count
            } else {
                position = (find(UInt8(ascii: ">"), from: start + 2) ?? input.count - 1) + 1
            }
            return true
        }
        if next == UInt8(ascii: "?") {
            position = (find(UInt8(ascii: ">"), from: start + 2) ?? input.count - 1) + 1
            return true
        }
        let isEnd = next == UInt8(ascii: "/")
        let nameStart = isEnd ? start + 2 : start + 1
        guard nameStart < input.count, Self.isLetter(input[nameStart]) else { return false }
        var nameEnd = nameStart
        while nameEnd < input.count, Self.isNameByte(input[nameEnd]) { nameEnd += 1 }
        guard let close = tagEnd(from: nameEnd) else {
            // A tag that never ends runs to the end of the input and is dropped, as in browsers.
            position = input.count
            return true
        }
        let name = input[nameStart..<nameEnd].map(Self.lowercased)
        let selfClosing = close > nameEnd && input[close - 1] == UInt8(ascii: "/")
        let attributes = input[nameEnd..<close]
        position = close + 1

        if let skipping = skipName {
            if name == skipping {
                if isEnd {
                    skipDepth -= 1
                    if skipDepth == 0 { skipName = nil }
                } else if !selfClosing {
                    skipDepth += 1
                }
            }
            return true
        }
        if isEnd {
            endTag(name)
        } else {
            startTag(name, attributes: attributes, selfClosing: selfClosing)
        }
        return true
    }

    mutating func startTag(_ name: [UInt8], attributes: ArraySlice<UInt8>, selfClosing: Bool) {
        let tag = String(decoding: name, as: UTF8.self)
        if Self.rawTextElements.contains(tag) {
            if !selfClosing { skipRawText(name) }
            return
        }
        if Self.droppedElements.contains(tag) {
            if !selfClosing {
                skipName = name
                skipDepth = 1
            }
            return
        }
        if preDepth > 0 {
            switch tag {
            case "pre":
                preDepth += 1
            case "br":
                preText.append(UInt8(ascii: "\n"))
            case "code" where preText.isEmpty && preLanguage.isEmpty:
                preLanguage = Self.language(in: attributes)
            default:
                break
            }
            return
        }
        switch tag {
        case "h1", "h2", "h3", "h4", "h5", "h6":
            openHeading(Int(name[1] - UInt8(ascii: "0")))
        case "pre":
            if headingLevel > 0 { closeHeading() }
            lineBreak(2)
            preDepth = 1
            preText = []
            preLanguage = Self.language(in: attributes)
        case "code":
            inlineCodeDepth += 1
            if inlineCodeDepth == 1 { emitText(UInt8(ascii: "`")) }
        case "ul", "ol":
            listDepth += 1
            lineBreak(listDepth > 1 ? 1 : 2)
        case "li":
            lineBreak(1)
            if headingLevel == 0 {
                out.append(contentsOf: repeatElement(UInt8(ascii: " "), count: 2 * max(0, listDepth - 1)))
                out.append(contentsOf: "- ".utf8)
            }
        case "br", "tr", "dt", "dd", "option", "caption":
            lineBreak(1)
        case "td", "th":
            pendingSpace = true
        default:
            if Self.blockElements.contains(tag) { lineBreak(2) }
        }
    }

    mutating func endTag(_ name: [UInt8]) {
        let tag = String(decoding: name, as: UTF8.self)
        if preDepth > 0 {
            if tag == "pre" {
                preDepth -= 1
                if preDepth == 0 { flushPre() }
            }
            return
        }
        switch tag {
        case "h1", "h2", "h3", "h4", "h5", "h6":
            if headingLevel > 0 { closeHeading() }
        case "code":
            if inlineCodeDepth > 0 {
                inlineCodeDepth -= 1
                if inlineCodeDepth == 0 {
                    pendingSpace = false  // keep "`code`" tight
                    out.append(UInt8(ascii: "`"))
                }
            }
        case "ul", "ol":
            listDepth = max(0, listDepth - 1)
            lineBreak(listDepth > 0 ? 1 : 2)
        case "li", "tr", "dt", "dd", "option", "caption":
            lineBreak(1)
        case "td", "th":
            pendingSpace = true
        default:
            if Self.blockElements.contains(tag) { lineBreak(2) }
        }
    }

    /// Skips the content of a raw-text element (`<script>`, `<style>`) up to its end tag; the end
    /// is not searched for inside the content's own syntax, exactly as browsers do not.
    mutating func skipRawText(_ name: [UInt8]) {
        var search = position
        while let lt = find([UInt8(ascii: "<"), UInt8(ascii: "/")], from: search) {
            let nameStart = lt + 2
            let nameEnd = nameStart + name.count
            if nameEnd <= input.count,
               input[nameStart..<nameEnd].map(Self.lowercased) == name,
               nameEnd == input.count || !Self.isNameByte(input[nameEnd]) {
                position = (find(UInt8(ascii: ">"), from: nameEnd) ?? input.count - 1) + 1
                return
            }
            search = lt + 2
        }
        position = input.count  // never closed: the rest is script
    }

    /// The index of the `>` ending a tag whose attributes start at `from`. Quotes after `=` hide
    /// `>`; when such a quote is never closed, the first `>` ends the tag instead.
    func tagEnd(from: Int) -> Int? {
        var index = from
        var lastSignificant: UInt8 = 0
        while index < input.count {
            let byte = input[index]
            if byte == UInt8(ascii: ">") { return index }
            if (byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "'")) && lastSignificant == UInt8(ascii: "=") {
                guard let closing = find(byte, from: index + 1) else {
                    return find(UInt8(ascii: ">"), from: from)
                }
                index = closing + 1
                lastSignificant = byte
                continue
            }
            if !Self.isWhitespace(byte) { lastSignificant = byte }
            index += 1
        }
        return nil
    }

    // MARK: Entities

    mutating func decodeEntity() {
        let start = position
        var index = start + 1
        if index < input.count, input[index] == UInt8(ascii: "#") {
            index += 1
            var hex = false
            if index < input.count, input[index] | 0x20 == UInt8(ascii: "x") {
                hex = true
                index += 1
            }
            var value: UInt32 = 0
            let digitsStart = index
            while index < input.count, let digit = Self.digitValue(input[index], hex: hex) {
                value = min(value &* (hex ? 16 : 10) &+ digit, 0x11_0000)  // clamped: no overflow
                index += 1
            }
            guard index > digitsStart else {
                emitText(input[start])  // "&#" followed by no digits is text
                position = start + 1
                return
            }
            if index < input.count, input[index] == UInt8(ascii: ";") { index += 1 }
            emitScalar(Self.scalar(forCode: value))
            position = index
            return
        }
        while index < input.count, index - start <= 32, Self.isLetter(input[index]) || Self.isDigit(input[index]) {
            index += 1
        }
        if index < input.count, input[index] == UInt8(ascii: ";"), index > start + 1,
           let replacement = Self.namedEntities[String(decoding: input[(start + 1)..<index], as: UTF8.self)] {
            emitText(replacement.utf8)
            position = index + 1
            return
        }
        emitText(input[start])
        position = start + 1
    }

    mutating func emitScalar(_ scalar: Unicode.Scalar) {
        var buffer: [UInt8] = []
        UTF8.encode(scalar) { buffer.append($0) }
        emitText(buffer)
    }

    static func scalar(forCode code: UInt32) -> Unicode.Scalar {
        if code == 0x09 || code == 0x0A || code == 0x20 { return Unicode.Scalar(UInt8(code)) }
        if code < 0x20 || (0x7F...0x9F).contains(code) { return "\u{FFFD}" }
        return Unicode.Scalar(code) ?? "\u{FFFD}"  // nil for surrogates and beyond U+10FFFF
    }

    // MARK: Finishing

    /// Trailing spaces removed, runs of blank lines collapsed to one, no blank lines at either end.
    static func tidy(_ bytes: [UInt8]) -> String {
        var result: [UInt8] = []
        result.reserveCapacity(bytes.count)
        var blankRun = 0
        for line in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            var trimmed = line
            while let last = trimmed.last, last == UInt8(ascii: " ") || last == UInt8(ascii: "\t") {
                trimmed = trimmed.dropLast()
            }
            if trimmed.isEmpty {
                blankRun += 1
                continue
            }
            if !result.isEmpty {
                result.append(UInt8(ascii: "\n"))
                if blankRun > 0 { result.append(UInt8(ascii: "\n")) }
            }
            blankRun = 0
            result.append(contentsOf: trimmed)
        }
        return String(decoding: result, as: UTF8.self)
    }

    // MARK: Helpers

    func matches(_ literal: String, at index: Int) -> Bool {
        let bytes = Array(literal.utf8)
        guard index + bytes.count <= input.count else { return false }
        return input[index..<(index + bytes.count)].elementsEqual(bytes)
    }

    func find(_ byte: UInt8, from: Int) -> Int? {
        guard from < input.count, from <= lastIndex[Int(byte)] else { return nil }
        return input[from...].firstIndex(of: byte)
    }

    func find(_ needle: [UInt8], from: Int) -> Int? {
        var index = from
        while index + needle.count <= input.count {
            guard let first = find(needle[0], from: index) else { return nil }
            if first + needle.count <= input.count, input[first..<(first + needle.count)].elementsEqual(needle) {
                return first
            }
            index = first + 1
        }
        return nil
    }

    /// The language named by a `language-…` or `lang-…` class in a tag's attributes, or nothing.
    static func language(in attributes: ArraySlice<UInt8>) -> [UInt8] {
        let text = Array(attributes)
        for prefix in ["language-", "lang-"] {
            let needle = Array(prefix.utf8)
            guard needle.count <= text.count else { continue }
            for start in 0...(text.count - needle.count) where text[start..<(start + needle.count)].elementsEqual(needle) {
                if start > 0, isNameByte(text[start - 1]) { continue }  // "xlang-" is not the class
                var end = start + needle.count
                while end < text.count, isLetter(text[end]) || isDigit(text[end])
                    || text[end] == UInt8(ascii: "+") || text[end] == UInt8(ascii: "#")
                    || text[end] == UInt8(ascii: "-") || text[end] == UInt8(ascii: "_") {
                    end += 1
                }
                if end > start + needle.count { return Array(text[(start + needle.count)..<end]) }
            }
        }
        return []
    }

    static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x0A || byte == 0x09 || byte == 0x0D || byte == 0x0C
    }

    static func isLetter(_ byte: UInt8) -> Bool {
        (byte | 0x20) >= UInt8(ascii: "a") && (byte | 0x20) <= UInt8(ascii: "z")
    }

    static func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    static func isNameByte(_ byte: UInt8) -> Bool {
        isLetter(byte) || isDigit(byte) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ":")
            || byte == UInt8(ascii: "_")
    }

    static func lowercased(_ byte: UInt8) -> UInt8 {
        isLetter(byte) ? byte | 0x20 : byte
    }

    static func digitValue(_ byte: UInt8, hex: Bool) -> UInt32? {
        if isDigit(byte) { return UInt32(byte - UInt8(ascii: "0")) }
        guard hex else { return nil }
        let lower = byte | 0x20
        if lower >= UInt8(ascii: "a") && lower <= UInt8(ascii: "f") { return UInt32(lower - UInt8(ascii: "a") + 10) }
        return nil
    }

    /// Elements whose content is not HTML and is dropped up to the matching end tag.
    static let rawTextElements: Set<String> = ["script", "style", "noscript", "title", "textarea", "xmp"]

    /// Elements dropped with everything inside them.
    static let droppedElements: Set<String> = ["template", "svg", "math", "iframe", "object", "canvas"]

    /// Elements that start and end a paragraph.
    static let blockElements: Set<String> = [
        "p", "div", "section", "article", "main", "header", "footer", "nav", "aside", "blockquote", "figure",
        "figcaption", "table", "thead", "tbody", "tfoot", "dl", "hr", "details", "summary", "form", "fieldset",
        "address", "center", "body", "html",
    ]

    /// The named entities decoded; others stay as written. `&nbsp;` becomes a plain space, which is
    /// what search wants.
    static let namedEntities: [String: String] = [
        "amp": "&", "lt": "<", "gt": ">", "quot": "\"", "apos": "'", "nbsp": " ",
        "ensp": " ", "emsp": " ", "thinsp": " ", "shy": "", "zwj": "\u{200D}", "zwnj": "\u{200C}",
        "copy": "©", "reg": "®", "trade": "™", "hellip": "…", "mdash": "—", "ndash": "–", "minus": "−",
        "lsquo": "‘", "rsquo": "’", "sbquo": "‚", "ldquo": "“", "rdquo": "”", "bdquo": "„",
        "laquo": "«", "raquo": "»", "lsaquo": "‹", "rsaquo": "›", "bull": "•", "middot": "·",
        "deg": "°", "times": "×", "divide": "÷", "plusmn": "±", "le": "≤", "ge": "≥", "ne": "≠",
        "asymp": "≈", "infin": "∞", "micro": "µ", "para": "¶", "sect": "§", "dagger": "†", "Dagger": "‡",
        "euro": "€", "pound": "£", "yen": "¥", "cent": "¢",
        "larr": "←", "rarr": "→", "uarr": "↑", "darr": "↓", "harr": "↔", "lArr": "⇐", "rArr": "⇒", "hArr": "⇔",
        "check": "✓", "frac12": "½", "frac14": "¼", "frac34": "¾", "sup2": "²", "sup3": "³",
        "iexcl": "¡", "iquest": "¿", "acute": "´", "uml": "¨", "szlig": "ß",
        "auml": "ä", "ouml": "ö", "uuml": "ü", "Auml": "Ä", "Ouml": "Ö", "Uuml": "Ü",
        "eacute": "é", "egrave": "è", "ecirc": "ê", "aacute": "á", "agrave": "à", "ccedil": "ç",
        "ntilde": "ñ", "oacute": "ó", "iacute": "í", "uacute": "ú", "Eacute": "É",
        "alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "lambda": "λ", "mu": "μ", "pi": "π",
        "sigma": "σ", "omega": "ω",
    ]
}

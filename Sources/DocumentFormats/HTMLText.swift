import CLibXML2

/// HTML to Markdown-like text through libxml2's HTML parser, so the section splitter and chunker
/// see the page's structure.
///
/// `<h1>`…`<h6>` become ATX heading lines, `<pre>` becomes a fenced code block (with the language
/// from a `language-…`/`lang-…` class when there is one), inline `<code>` becomes backticks, list
/// items become "- " lines, block elements become line breaks, and `<script>`, `<style>`,
/// `<noscript>`, `<template>`, `<svg>`, `<title>` and comments vanish with their content. Entities are
/// decoded by libxml2 (a no-break space is a space). Runs of blank lines collapse to one.
///
/// The parser is libxml2's, with SAX callbacks: no tree is built, so memory stays that of the
/// output, and a cancelled ingest stops the parser from inside a callback. It recovers from
/// malformed markup as libxml2 does (unclosed elements closed; an invalid character reference, or
/// a tag whose quoted attribute never ends, dropped; a block inside a heading ends the heading),
/// never fetches anything and never expands an entity beyond HTML's own. What libxml2 2.9 would
/// take hours over (a tag of many attributes, deep nesting with unmatched end tags) is refused first.
public enum HTMLText {
    /// How deep elements may nest: libxml2's HTML parser has no limit of its own, and scans its
    /// whole stack for each end tag that matches nothing.
    public static let maxDepth = 256

    /// The Markdown-like text of an HTML document or fragment; empty for a page refused as hostile.
    public static func markdown(fromHTML html: String) -> String {
        (try? markdown(fromHTML: html, stopIf: { false })) ?? ""
    }

    /// The Markdown-like text; `stopIf` is asked every 64 KiB read, so that cancelling an ingest
    /// takes effect inside a large page.
    ///
    /// - Throws: `.cancelled` when `stopIf` said so; `.tooManyAttributes` or `.nestedTooDeep` for
    ///   a page libxml2 would take hours over.
    public static func markdown(fromHTML html: String, stopIf shouldStop: () -> Bool) throws(FormatRefusal) -> String {
        LibXML2.initialise()
        let page = prepared(Array(html.utf8))
        let result: Result<String, FormatRefusal> = page.withUnsafeBufferPointer { bytes in
            if MarkupScan.scan(bytes, declarations: false) == .tooManyAttributes {
                return .failure(.tooManyAttributes(part: "the page", limit: MarkupScan.maxAttributes))
            }
            guard !bytes.isEmpty else { return .success("") }
            return withoutActuallyEscaping(shouldStop) { shouldStop in convert(bytes, stopIf: shouldStop) }
        }
        return try result.get()
    }

    /// The page as libxml2 should read it: downlevel-revealed conditional comments (`<![if …]>`,
    /// `<![endif]>`, which Word's web pages are full of) and CDATA, which browsers drop, removed; C0
    /// controls (a form feed between two words) made spaces, where libxml2 would drop them and
    /// join the words.
    static func prepared(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "<"), index + 2 < bytes.count, bytes[index + 1] == UInt8(ascii: "!"),
               bytes[index + 2] == UInt8(ascii: "[") {
                var end = index + 3
                while end + 1 < bytes.count, !(bytes[end] == UInt8(ascii: "]") && bytes[end + 1] == UInt8(ascii: ">")) {
                    end += 1
                }
                index = end + 2
                continue
            }
            out.append(byte < 0x20 && byte != 0x09 && byte != 0x0A && byte != 0x0D ? UInt8(ascii: " ") : byte)
            index += 1
        }
        return out
    }

    private static func convert(_ bytes: UnsafeBufferPointer<UInt8>,
                                stopIf shouldStop: @escaping () -> Bool) -> Result<String, FormatRefusal> {
        let base = UnsafeRawPointer(bytes.baseAddress!).assumingMemoryBound(to: CChar.self)
        guard bytes.count < Int32.max, let parser = htmlCreateMemoryParserCtxt(base, Int32(bytes.count)) else {
            return .failure(.tooMuchText(limit: Int(Int32.max)))
        }
        defer { htmlFreeParserCtxt(parser) }
        let writer = MarkdownWriter(parser: parser, stopIf: shouldStop)
        // The page is UTF-8 whatever its <meta charset> says: it was decoded as such when read.
        _ = xmlSwitchEncoding(parser, XML_CHAR_ENCODING_UTF8)
        _ = htmlCtxtUseOptions(parser, Int32(HTML_PARSE_RECOVER.rawValue | HTML_PARSE_NOERROR.rawValue
            | HTML_PARSE_NOWARNING.rawValue | HTML_PARSE_NONET.rawValue | HTML_PARSE_IGNORE_ENC.rawValue))
        var handler = htmlSAXHandler()
        handler.initialized = 1
        handler.startElement = { context, name, attributes in
            guard let context, let name else { return }
            MarkdownWriter.from(context).start(String(cString: name), attributes: attributes)
        }
        handler.endElement = { context, name in
            guard let context, let name else { return }
            MarkdownWriter.from(context).end(String(cString: name))
        }
        let characters: charactersSAXFunc = { context, bytes, count in
            guard let context, let bytes, count > 0 else { return }
            MarkdownWriter.from(context).text(UnsafeBufferPointer(start: bytes, count: Int(count)))
        }
        // Script and style content arrives as CDATA: it is inside an element dropped anyway.
        handler.characters = characters
        handler.ignorableWhitespace = characters
        handler.cdataBlock = characters
        // Only these callbacks: no tree is built, and errors are not printed.
        parser.pointee.sax.pointee = handler
        parser.pointee.userData = Unmanaged.passUnretained(writer).toOpaque()
        _ = htmlParseDocument(parser)
        return withExtendedLifetime(writer) {
            if let refusal = writer.refusal { return .failure(refusal) }
            return .success(writer.finish())
        }
    }
}

/// What the SAX callbacks write: the page as Markdown-like lines.
private final class MarkdownWriter {
    let parser: htmlParserCtxtPtr
    let shouldStop: () -> Bool
    /// Where in the parser's copy of the input `shouldStop` is asked next.
    var nextCheck = 0
    /// Why the parser was stopped; nil while it runs.
    private(set) var refusal: FormatRefusal?

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
    /// Depth inside an element dropped with its content, 0 outside one.
    var skipDepth = 0

    init(parser: htmlParserCtxtPtr, stopIf shouldStop: @escaping () -> Bool) {
        self.parser = parser
        self.shouldStop = shouldStop
    }

    static func from(_ context: UnsafeMutableRawPointer) -> MarkdownWriter {
        let writer = Unmanaged<MarkdownWriter>.fromOpaque(context).takeUnretainedValue()
        writer.checkForStop()
        return writer
    }

    /// Asks `shouldStop` every 64 KiB of input the parser reads, and stops the parser when it says so.
    func checkForStop() {
        guard refusal == nil, let input = parser.pointee.input, let cursor = input.pointee.cur,
              let base = input.pointee.base else { return }
        let offset = cursor - base
        guard offset >= nextCheck else { return }
        nextCheck = offset + (64 << 10)
        if shouldStop() { stop(.cancelled) }
    }

    func stop(_ reason: FormatRefusal) {
        refusal = reason
        xmlStopParser(parser)
    }

    func finish() -> String {
        if preDepth > 0 { flushPre() }
        if headingLevel > 0 { closeHeading() }
        return Self.tidy(out)
    }

    // MARK: Elements

    func start(_ tag: String, attributes: UnsafeMutablePointer<UnsafePointer<xmlChar>?>?) {
        guard refusal == nil else { return }
        guard parser.pointee.nameNr <= HTMLText.maxDepth else {
            stop(.nestedTooDeep(part: "the page", limit: HTMLText.maxDepth))
            return
        }
        if skipDepth > 0 || Self.droppedElements.contains(tag) {
            skipDepth += 1
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
            openHeading(Int(tag.utf8.last! - UInt8(ascii: "0")))
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

    func end(_ tag: String) {
        if skipDepth > 0 {
            skipDepth -= 1
            return
        }
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

    // MARK: Text

    /// Character data as libxml2 decoded it (UTF-8): a no-break space counts as whitespace, a soft
    /// hyphen is dropped (search wants neither).
    func text(_ bytes: UnsafeBufferPointer<xmlChar>) {
        guard skipDepth == 0 else { return }
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte == 0xC2, index + 1 < bytes.count, bytes[index + 1] == 0xA0 || bytes[index + 1] == 0xAD {
                if bytes[index + 1] == 0xA0 { emitText(UInt8(ascii: " ")) }
                index += 2
                continue
            }
            emitText(byte)
            index += 1
        }
    }

    func emitText(_ byte: UInt8) {
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

    /// Ends the current line and, for `lines == 2`, leaves a blank line after it.
    func lineBreak(_ lines: Int) {
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

    func openHeading(_ level: Int) {
        if headingLevel > 0 { closeHeading() }
        lineBreak(2)
        headingStart = out.count
        out.append(contentsOf: repeatElement(UInt8(ascii: "#"), count: level))
        out.append(UInt8(ascii: " "))
        headingTextStart = out.count
        headingLevel = level
        pendingSpace = false
    }

    func closeHeading() {
        headingLevel = 0
        while out.last == UInt8(ascii: " ") && out.count > headingTextStart { out.removeLast() }
        if out.count == headingTextStart {
            out.removeSubrange(headingStart...)  // an empty heading is no heading
        }
        lineBreak(2)
    }

    func flushPre() {
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

    /// The language named by a `language-…` or `lang-…` class in the element's attributes
    /// (libxml2's NULL-terminated name, value pairs), or nothing.
    static func language(in attributes: UnsafeMutablePointer<UnsafePointer<xmlChar>?>?) -> [UInt8] {
        guard let attributes else { return [] }
        var index = 0
        while let name = attributes[index] {
            defer { index += 2 }
            guard String(cString: name) == "class", let value = attributes[index + 1] else { continue }
            for word in String(cString: value).split(whereSeparator: \.isWhitespace) {
                for prefix in ["language-", "lang-"] where word.hasPrefix(prefix) {
                    let language = word.dropFirst(prefix.count).prefix { $0.isLetter || $0.isNumber || "+#-_".contains($0) }
                    if !language.isEmpty { return Array(language.utf8) }
                }
            }
        }
        return []
    }

    static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x0A || byte == 0x09 || byte == 0x0D || byte == 0x0C
    }

    /// Elements dropped with everything inside them: raw text (scripts, styles) and what is not text
    /// a reader sees (templates, drawings, embedded documents).
    static let droppedElements: Set<String> = [
        "script", "style", "noscript", "title", "textarea", "xmp",
        "template", "svg", "math", "iframe", "object", "canvas",
    ]

    /// Elements that start and end a paragraph.
    static let blockElements: Set<String> = [
        "p", "div", "section", "article", "main", "header", "footer", "nav", "aside", "blockquote", "figure",
        "figcaption", "table", "thead", "tbody", "tfoot", "dl", "hr", "details", "summary", "form", "fieldset",
        "address", "center", "body", "html",
    ]
}

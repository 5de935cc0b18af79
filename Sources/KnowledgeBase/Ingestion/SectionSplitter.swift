/// A run of a document under one heading: its text (heading lines excluded) and the chain of
/// headings above it.
public struct DocumentSection: Sendable, Equatable {
    /// The enclosing headings, outermost first; empty for text before the first heading, plain text
    /// and source code.
    public var headingPath: [String]
    /// The section's lines, as written (not trimmed), without the heading line itself.
    public var text: String
    /// The page the section is, from 1, in a paged document (PDF: a section per page); nil in any other.
    public var page: Int?

    /// A section under `headingPath` holding `text`, on `page` when the document has pages.
    public init(headingPath: [String], text: String, page: Int? = nil) {
        self.headingPath = headingPath
        self.text = text
        self.page = page
    }

    /// The heading path joined with " > ", e.g. "Install > Linux > Debian".
    public var heading: String {
        headingPath.joined(separator: DocumentSection.headingSeparator)
    }

    /// What separates the headings of a path.
    public static let headingSeparator = " > "
}

/// Splits a `LoadedDocument` into sections at its headings.
///
/// - Markdown, MDX and HTML (converted to Markdown-like text): ATX headings (`#`…`######`, up to
///   three spaces of indentation, closing `#`s removed); setext headings (`===`/`---` under a
///   paragraph) in Markdown and MDX only. Lines inside fenced code blocks are never headings. YAML
///   (`---`) or TOML (`+++`) front matter at the very top is dropped; its `title`, if any, names the
///   text that comes before the first heading.
/// - reStructuredText: a title line with an underline (and optionally an overline) of one repeated
///   punctuation character at least as long as the title; levels are assigned in the order each
///   adornment style first appears, as docutils does.
/// - Plain text and source code: one section with an empty heading path.
/// - PDF: a section per page, under the document's title; Word: the sections its heading styles
///   marked when the file was read.
///
/// Sections without any non-blank text (a heading directly followed by another) are left out; their
/// titles still appear in the paths of the sections below them.
public enum SectionSplitter {
    /// The sections of `document`, in order.
    public static func sections(of document: LoadedDocument) -> [DocumentSection] {
        let sections: [DocumentSection]
        switch document.kind {
        case .markdown, .mdx:
            sections = markdownSections(document.text, setext: true, frontMatter: true)
        case .html:
            // Setext underlines are not recognised: in converted HTML a line of "---" or "===" is
            // text the page showed, never markup.
            sections = markdownSections(document.text, setext: false, frontMatter: false)
        case .restructuredText:
            sections = restructuredTextSections(document.text)
        case .text, .sourceCode:
            sections = [DocumentSection(headingPath: [], text: document.text)]
        case .docx, .odt, .epub:
            // Split when the file was read: by the headings its styles mark, or each chapter at its headings.
            sections = document.sections
        case .pdf:
            // Each page is a section of its own, so a passage never spans two pages.
            let title = document.title.isEmpty ? [] : [document.title]
            sections = document.pages.enumerated().map { DocumentSection(headingPath: title, text: $1, page: $0 + 1) }
        }
        return sections.filter { !$0.text.allSatisfy(\.isWhitespace) }
    }

    // MARK: Markdown

    static func markdownSections(_ text: String, setext: Bool, frontMatter: Bool) -> [DocumentSection] {
        var lines = TextLines.split(text[...])[...]
        var preambleTitle: String?
        if frontMatter, let (title, rest) = Self.frontMatter(lines) {
            preambleTitle = title
            lines = rest
        }

        var builder = SectionBuilder(preamblePath: preambleTitle.map { [$0] } ?? [])
        var fence: CodeFence?
        /// Where the paragraph being read starts in the builder's body, when it could become a setext
        /// heading's text.
        var setextCandidateStart: Int?
        var inParagraph = false

        for line in lines {
            if let open = fence {
                builder.body.append(line)
                if open.isClosed(by: line) { fence = nil }
                continue
            }
            if let open = CodeFence.opening(line) {
                fence = open
                builder.body.append(line)
                inParagraph = false
                setextCandidateStart = nil
                continue
            }
            if let (level, title) = atxHeading(line) {
                builder.startSection(level: level, title: title)
                inParagraph = false
                setextCandidateStart = nil
                continue
            }
            if setext, let start = setextCandidateStart, let level = setextLevel(line) {
                let title = builder.body[start...].map { TextLines.trimmed($0) }.joined(separator: " ")
                builder.body.removeSubrange(start...)
                builder.startSection(level: level, title: title)
                inParagraph = false
                setextCandidateStart = nil
                continue
            }
            if TextLines.isBlank(line) || isThematicBreak(line) {
                inParagraph = false
                setextCandidateStart = nil
            } else if !inParagraph {
                inParagraph = true
                setextCandidateStart = canStartSetextParagraph(line) ? builder.body.count : nil
            }
            builder.body.append(line)
        }
        return builder.finish()
    }

    /// The level and title of an ATX heading line, or nil.
    static func atxHeading(_ line: Substring) -> (Int, String)? {
        guard TextLines.firstSignificantByte(line) == UInt8(ascii: "#") else { return nil }
        let bytes = Array(line.utf8)
        var index = 0
        while index < bytes.count, index < 4, bytes[index] == UInt8(ascii: " ") { index += 1 }
        guard index <= 3 else { return nil }
        var level = 0
        while index < bytes.count, bytes[index] == UInt8(ascii: "#") {
            level += 1
            index += 1
        }
        guard (1...6).contains(level) else { return nil }
        guard index == bytes.count || bytes[index] == UInt8(ascii: " ") || bytes[index] == UInt8(ascii: "\t") else {
            return nil  // "#hashtag", "#5"
        }
        var content = TextLines.trimmed(Substring(String(decoding: bytes[index...], as: UTF8.self)))
        // A closing sequence: trailing #s that are the whole content or follow a space.
        let withoutHashes = content.reversed().drop { $0 == "#" }
        let hashCount = content.count - withoutHashes.count
        if hashCount > 0 {
            let rest = content.dropLast(hashCount)
            if rest.isEmpty || rest.last == " " || rest.last == "\t" {
                content = TextLines.trimmed(rest)
            }
        }
        return (level, String(content))
    }

    /// 1 for a "===" underline, 2 for "---", nil for anything else.
    static func setextLevel(_ line: Substring) -> Int? {
        let lead = TextLines.firstSignificantByte(line)
        guard lead == UInt8(ascii: "=") || lead == UInt8(ascii: "-"), TextLines.indentation(line) <= 3 else {
            return nil
        }
        let body = TextLines.trimmed(line)
        guard let first = body.first, first == "=" || first == "-" else { return nil }
        return body.allSatisfy { $0 == first } ? (first == "=" ? 1 : 2) : nil
    }

    /// A thematic break: three or more `-`, `*` or `_` (spaces between allowed), indented at most three.
    static func isThematicBreak(_ line: Substring) -> Bool {
        let lead = TextLines.firstSignificantByte(line)
        guard lead == UInt8(ascii: "-") || lead == UInt8(ascii: "*") || lead == UInt8(ascii: "_"),
              TextLines.indentation(line) <= 3 else { return false }
        let marks = line.filter { $0 != " " && $0 != "\t" }
        guard let first = marks.first, first == "-" || first == "*" || first == "_" else { return false }
        return marks.count >= 3 && marks.allSatisfy { $0 == first }
    }

    /// Whether a paragraph starting with `line` may be a setext heading's text: not a list item, block
    /// quote, table row, indented code or HTML, whose following "---" is something else.
    static func canStartSetextParagraph(_ line: Substring) -> Bool {
        guard TextLines.indentation(line) <= 3 else { return false }
        let body = TextLines.trimmed(line)
        guard let first = body.first else { return false }
        if first == ">" || first == "|" || first == "<" { return false }
        if first == "-" || first == "*" || first == "+" {
            let second = body.dropFirst().first
            if second == nil || second == " " || second == "\t" { return false }
        }
        // "1. item", "2) item"
        let digits = body.prefix { $0.isASCII && $0.isNumber }
        if !digits.isEmpty, digits.count <= 9 {
            let after = body.dropFirst(digits.count)
            if let marker = after.first, marker == "." || marker == ")" {
                let next = after.dropFirst().first
                if next == nil || next == " " || next == "\t" { return false }
            }
        }
        return true
    }

    /// The front matter's title and the lines after it, when the text starts with `---` or `+++`
    /// front matter that is closed.
    static func frontMatter(_ lines: ArraySlice<Substring>) -> (String?, ArraySlice<Substring>)? {
        guard let first = lines.first else { return nil }
        let opener = TextLines.trimmed(first)
        guard opener == "---" || opener == "+++" else { return nil }
        var title: String?
        for index in lines.indices.dropFirst() {
            let line = lines[index]
            let trimmed = TextLines.trimmed(line)
            if trimmed == opener || (opener == "---" && trimmed == "...") {
                return (title, lines[(index + 1)...])
            }
            if title == nil, TextLines.indentation(line) == 0 {
                title = frontMatterTitle(line, separator: opener == "---" ? ":" : "=")
            }
        }
        return nil  // never closed: a thematic break, not front matter
    }

    /// The value of a `title: …` (YAML) or `title = …` (TOML) line, unquoted.
    static func frontMatterTitle(_ line: Substring, separator: Character) -> String? {
        guard let split = line.firstIndex(of: separator) else { return nil }
        guard TextLines.trimmed(line[..<split]).lowercased() == "title" else { return nil }
        var value = TextLines.trimmed(line[line.index(after: split)...])
        if value.count >= 2, let first = value.first, first == "\"" || first == "'", value.last == first {
            value = value.dropFirst().dropLast()
        }
        // A block scalar ("|" or ">") spans the next lines: not worth reading for a title.
        if value.isEmpty || value == "|" || value == ">" || value.hasPrefix("|-") || value.hasPrefix(">-") {
            return nil
        }
        return String(value)
    }

    // MARK: reStructuredText

    static func restructuredTextSections(_ text: String) -> [DocumentSection] {
        let lines = TextLines.split(text[...])
        var builder = SectionBuilder(preamblePath: [])
        var styles: [RSTAdornment] = []
        var previousBlank = true
        var index = 0

        func level(of style: RSTAdornment) -> Int {
            if let found = styles.firstIndex(of: style) { return found + 1 }
            styles.append(style)
            return styles.count
        }

        while index < lines.count {
            let line = lines[index]
            if previousBlank, let over = rstAdornment(line), index + 2 < lines.count,
               !TextLines.isBlank(lines[index + 1]), rstAdornment(lines[index + 1]) == nil,
               let under = rstAdornment(lines[index + 2]), under.character == over.character,
               under.length == over.length {
                let title = TextLines.trimmed(lines[index + 1])
                if over.length >= title.count {
                    builder.startSection(
                        level: level(of: RSTAdornment(character: over.character, overlined: true)), title: String(title))
                    index += 3
                    previousBlank = true
                    continue
                }
            }
            if previousBlank, !TextLines.isBlank(line), TextLines.indentation(line) == 0, rstAdornment(line) == nil,
               index + 1 < lines.count, let under = rstAdornment(lines[index + 1]) {
                let title = TextLines.trimmed(line)
                if under.length >= max(title.count, 2) {
                    builder.startSection(
                        level: level(of: RSTAdornment(character: under.character, overlined: false)), title: String(title))
                    index += 2
                    previousBlank = true
                    continue
                }
            }
            builder.body.append(line)
            previousBlank = TextLines.isBlank(line)
            index += 1
        }
        return builder.finish()
    }

    /// The character and length of an RST adornment line (one punctuation character repeated from
    /// column 0, trailing spaces allowed), or nil.
    static func rstAdornment(_ line: Substring) -> (character: Character, length: Int)? {
        let body = line.prefix { $0 != " " && $0 != "\t" }
        guard TextLines.isBlank(line[body.endIndex...]), let first = body.first,
              first.isASCII, first.isPunctuation || first.isSymbol,
              body.allSatisfy({ $0 == first }) else { return nil }
        return (first, body.count)
    }
}

/// One reStructuredText adornment style: the character, and whether there is an overline too.
struct RSTAdornment: Equatable {
    let character: Character
    let overlined: Bool
}

/// Collects sections as headings are found, keeping the stack of open headings.
private struct SectionBuilder {
    /// The lines of the section being read.
    var body: [Substring] = []
    var stack: [(level: Int, title: String)] = []
    var sections: [DocumentSection] = []
    /// The path of text before the first heading.
    let preamblePath: [String]

    init(preamblePath: [String]) {
        self.preamblePath = preamblePath
    }

    /// Closes the current section and opens one under a heading of `level`: headings at that level or
    /// deeper are popped first.
    mutating func startSection(level: Int, title: String) {
        flush()
        while let last = stack.last, last.level >= level { stack.removeLast() }
        stack.append((level, title))
    }

    mutating func finish() -> [DocumentSection] {
        flush()
        return sections
    }

    private mutating func flush() {
        defer { body = [] }
        guard body.contains(where: { !TextLines.isBlank($0) }) else { return }
        let path = stack.isEmpty ? preamblePath : stack.map(\.title).filter { !$0.isEmpty }
        sections.append(DocumentSection(headingPath: path, text: body.joined(separator: "\n")))
    }
}

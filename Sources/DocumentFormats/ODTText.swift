/// The text of an OpenDocument text file (`.odt`: LibreOffice, OpenOffice, exported from Google
/// Docs) in sections under its headings: the zip read by libzip, `content.xml` streamed through
/// libxml2.
///
/// - Headings (`text:h`, at their outline level) start sections; a heading's path holds the
///   headings above it, the title from `meta.xml` first.
/// - List items become "- " lines; table rows one line each, cells apart by " | " (a nested table
///   into its cell).
/// - A footnote or endnote stays with the paragraph that cites it: "[n]" where it is cited, and
///   "[n] its text" right after the paragraph.
/// - Tracked changes' removed text, comments and generated indexes (a table of contents repeats the
///   headings) are left out.
public enum ODTText {
    static let text = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"
    static let table = "urn:oasis:names:tc:opendocument:xmlns:table:1.0"
    static let office = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"

    public static func extract(_ bytes: [UInt8], limits: FormatLimits = FormatLimits(),
                               stopIf shouldStop: () -> Bool = { false }) throws(FormatRefusal) -> ExtractedDocument {
        let zip = try ZipParts(bytes, limits: limits)
        guard let content = try zip.bytes(of: "content.xml") else { throw .missingPart("content.xml") }
        let title = try zip.bytes(of: "meta.xml").map { bytes throws(FormatRefusal) in
            try DOCXText.coreTitle(XMLStream(bytes, part: "meta.xml"))
        } ?? ""
        var writer = OpenDocumentBodyWriter(limits: limits)
        try writer.read(XMLStream(content, part: "content.xml"), stopIf: shouldStop)
        var sections = writer.finish()
        if !title.isEmpty {
            let heading = title.asHeading
            sections = sections.map { ExtractedDocument.Section(headingPath: [heading] + $0.headingPath, text: $0.text) }
        }
        return ExtractedDocument(title: title.asHeading, layout: .sections(sections))
    }
}

/// Reads `office:text` into sections (see `ODTText`).
struct OpenDocumentBodyWriter {
    private struct Paragraph {
        var text = ""
        /// The heading level; nil for body text.
        var level: Int?
        var isListItem = false
        /// "[n] its text" of the notes it cites, and text boxes anchored in it.
        var after: [String] = []
    }

    private struct Note {
        var citation = ""
        var inCitation = false
        var body: [String] = []
        /// Paragraphs open when the note began: those opened since are the note's own.
        let paragraphsBefore: Int
    }

    /// Generated or removed content, left out with everything inside it.
    static let leftOut: Set<String> = [
        "tracked-changes", "table-of-content", "alphabetical-index", "illustration-index", "table-index",
        "object-index", "user-index", "bibliography", "sequence-decls",
    ]

    private var output: SectionWriter
    private var inBody = false
    private var paragraphs: [Paragraph] = []
    private var notes: [Note] = []
    private var listDepth = 0
    private var tableDepth = 0
    private var table = TableText()

    init(limits: FormatLimits) {
        output = SectionWriter(limits: limits)
    }

    mutating func read(_ stream: XMLStream, stopIf shouldStop: () -> Bool) throws(FormatRefusal) {
        var nodes = 0
        while let node = try stream.next() {
            nodes += 1
            if nodes % 4096 == 0, shouldStop() { throw .cancelled }
            switch node {
            case .start("text", ODTText.office, let isEmpty):
                inBody = !isEmpty
            case .end("text", ODTText.office):
                inBody = false
            case .start("annotation", ODTText.office, let isEmpty) where inBody:
                if !isEmpty { try stream.skipElement() }
            case .start(let name, ODTText.text, let isEmpty) where inBody:
                if Self.leftOut.contains(name) {
                    if !isEmpty { try stream.skipElement() }
                } else {
                    try start(name, isEmpty: isEmpty, stream: stream)
                }
            case .end(let name, ODTText.text) where inBody:
                try end(name)
            case .start(let name, ODTText.table, let isEmpty) where inBody:
                // An empty cell still holds its column; an empty table or row holds nothing.
                if !isEmpty {
                    startTable(name)
                } else if name == "table-cell" && tableDepth == 1 {
                    table.startCell()
                    table.endCell()
                }
            case .end(let name, ODTText.table) where inBody:
                try endTable(name)
            case .text(let value) where inBody:
                if let last = notes.indices.last, notes[last].inCitation {
                    notes[last].citation += value
                } else {
                    try append(value)
                }
            default:
                break
            }
        }
    }

    /// The sections written; call once, after `read`.
    mutating func finish() -> [ExtractedDocument.Section] {
        output.finish()
    }

    private mutating func start(_ name: String, isEmpty: Bool, stream: XMLStream) throws(FormatRefusal) {
        switch name {
        case "p", "h":
            var paragraph = Paragraph(isListItem: listDepth > 0 && tableDepth == 0)
            if name == "h" {
                let level = stream.attribute("outline-level", namespace: ODTText.text).flatMap(Int.init) ?? 1
                paragraph.level = min(max(level, 1), 10)
            }
            if isEmpty { return }
            paragraphs.append(paragraph)
        case "list-item", "list-header":
            if !isEmpty { listDepth += 1 }
        case "s":
            // Runs of spaces are one element with a count.
            let count = stream.attribute("c", namespace: ODTText.text).flatMap(Int.init) ?? 1
            try append(String(repeating: " ", count: min(max(count, 1), 64)))
        case "tab":
            try append(" ")
        case "line-break":
            try append("\n")
        case "note":
            if !isEmpty { notes.append(Note(paragraphsBefore: paragraphs.count)) }
        case "note-citation":
            if !isEmpty, !notes.isEmpty { notes[notes.count - 1].inCitation = true }
        default:
            break
        }
    }

    private mutating func end(_ name: String) throws(FormatRefusal) {
        switch name {
        case "p", "h":
            guard let paragraph = paragraphs.popLast() else { return }
            try close(paragraph)
        case "list-item", "list-header":
            listDepth = max(0, listDepth - 1)
        case "note-citation":
            if !notes.isEmpty { notes[notes.count - 1].inCitation = false }
        case "note":
            guard let note = notes.popLast(), !paragraphs.isEmpty else { return }
            let citation = note.citation.trimmingWhitespace
            let body = note.body.joined(separator: " ")
            paragraphs[paragraphs.count - 1].text += "[\(citation)]"
            if !body.isEmpty { paragraphs[paragraphs.count - 1].after.append("[\(citation)] \(body)") }
        default:
            break
        }
    }

    /// A paragraph ended: into the note it belongs to, the paragraph it is anchored in, the table
    /// cell, or the body (a heading opening its section).
    private mutating func close(_ paragraph: Paragraph) throws(FormatRefusal) {
        let text = paragraph.text.trimmingWhitespace
        if let last = notes.indices.last, paragraphs.count >= notes[last].paragraphsBefore {
            let flat = ([text] + paragraph.after).joined(separator: " ").oneLine
            if !flat.isEmpty { notes[last].body.append(flat) }
            return
        }
        let rendered = ((text.isEmpty ? [] : [paragraph.isListItem ? "- " + text : text]) + paragraph.after)
            .joined(separator: "\n\n")
        if !paragraphs.isEmpty {
            if !rendered.isEmpty { paragraphs[paragraphs.count - 1].after.append(rendered) }
        } else if tableDepth > 0 {
            table.add(rendered)
        } else if let level = paragraph.level, !text.isEmpty {
            try output.startSection(level: level, heading: text)
            try output.write(paragraph.after.joined(separator: "\n\n"))
        } else {
            try output.write(rendered)
        }
    }

    private mutating func startTable(_ name: String) {
        switch name {
        case "table": tableDepth += 1
        case "table-row" where tableDepth == 1: table.startRow()
        case "table-cell" where tableDepth == 1: table.startCell()
        default: break
        }
    }

    private mutating func endTable(_ name: String) throws(FormatRefusal) {
        switch name {
        case "table-cell" where tableDepth == 1:
            table.endCell()
        case "table-row" where tableDepth == 1:
            table.endRow()
        case "table":
            tableDepth = max(0, tableDepth - 1)
            if tableDepth == 0 { try output.write(table.finish()) }
        default:
            break
        }
    }

    /// Adds to the open paragraph, which may not grow past the text limit before it is written
    /// (a run of `text:s` elements writes more than it reads).
    private mutating func append(_ text: String) throws(FormatRefusal) {
        guard !paragraphs.isEmpty else { return }
        paragraphs[paragraphs.count - 1].text += text
        guard paragraphs[paragraphs.count - 1].text.utf8.count <= output.limits.maxTextBytes else {
            throw .tooMuchText(limit: output.limits.maxTextBytes)
        }
    }
}

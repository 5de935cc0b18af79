/// The text of a Word document (`.docx`, Office Open XML) in sections under its headings: the zip
/// read by libzip, its XML parts streamed through libxml2.
///
/// - Paragraphs in a heading style (`Title`, `Heading 1`…`9`, or any style or paragraph with an
///   outline level) start sections; a heading's path holds the headings above it (the title first).
///   A document without a Title paragraph has its title from its properties (`docProps/core.xml`)
///   above every heading.
/// - List paragraphs (numbered or bulleted, directly or by their style) become "- " lines; table
///   rows become one line each, cells apart by " | ".
/// - A footnote or endnote stays with the paragraph that first cites it: "[n]" where it is cited,
///   and "[n] its text" right after the paragraph.
/// - Deleted text (tracked changes), field codes and the fallback copies of drawings are left
///   out; text boxes follow the paragraph they are anchored in.
public enum DOCXText {
    public static func extract(_ bytes: [UInt8], limits: FormatLimits = FormatLimits(),
                               stopIf shouldStop: () -> Bool = { false }) throws(FormatRefusal) -> ExtractedDocument {
        let zip = try ZipParts(bytes, limits: limits)
        // The package says where its parts are (Word Online names its body document2.xml); the
        // usual names serve a package without the relationships.
        let packageRelations = try WordRelations.read(zip, of: "")
        var bodyPart = packageRelations.target(ofType: "officeDocument") ?? "word/document.xml"
        var found = try zip.bytes(of: bodyPart)
        if found == nil && bodyPart != "word/document.xml" {
            bodyPart = "word/document.xml"
            found = try zip.bytes(of: bodyPart)
        }
        guard let body = found else { throw .missingPart(bodyPart) }
        let bodyRelations = try WordRelations.read(zip, of: bodyPart)
        let stylesPart = bodyRelations.target(ofType: "styles") ?? "word/styles.xml"
        let styles = try zip.bytes(of: stylesPart).map { bytes throws(FormatRefusal) in
            try WordStyles(XMLStream(bytes, part: stylesPart))
        } ?? WordStyles()
        var notes: [String: String] = [:]
        for element in ["footnote", "endnote"] {
            let part = bodyRelations.target(ofType: element + "s") ?? "word/\(element)s.xml"
            guard let bytes = try zip.bytes(of: part) else { continue }
            let texts = try WordNotes.read(XMLStream(bytes, part: part), element: element, limits: limits)
            for (id, text) in texts { notes[element + ":" + id] = text }
        }
        let corePart = packageRelations.target(ofType: "metadata/core-properties") ?? "docProps/core.xml"
        let title = try zip.bytes(of: corePart).map { bytes throws(FormatRefusal) in
            try coreTitle(XMLStream(bytes, part: corePart))
        } ?? ""
        var writer = WordBodyWriter(styles: styles, notes: notes, limits: limits)
        try writer.read(XMLStream(body, part: bodyPart), stopIf: shouldStop)
        var sections = writer.finish()
        if !writer.sawTitleParagraph && !title.isEmpty {
            let heading = title.asHeading
            sections = sections.map { ExtractedDocument.Section(headingPath: [heading] + $0.headingPath, text: $0.text) }
        }
        return ExtractedDocument(title: title.asHeading, layout: .sections(sections))
    }

    /// `dc:title` of the package's core properties, trimmed.
    static func coreTitle(_ stream: XMLStream) throws(FormatRefusal) -> String {
        var inTitle = false
        var title = ""
        while let node = try stream.next() {
            switch node {
            case .start(let name, let namespace, let isEmpty):
                inTitle = name == "title" && namespace == "http://purl.org/dc/elements/1.1/" && !isEmpty
            case .end:
                if inTitle { return title.trimmingWhitespace }
            case .text(let text):
                if inTitle { title += text }
            }
        }
        return title.trimmingWhitespace
    }
}

/// WordprocessingML's namespaces: the transitional one every editor writes, and ISO strict's.
enum WordML {
    static func contains(_ namespace: String) -> Bool {
        namespace == "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
            || namespace == "http://purl.oclc.org/ooxml/wordprocessingml/main"
    }

    static let markupCompatibility = "http://schemas.openxmlformats.org/markup-compatibility/2006"

    /// What is left out with its content: the old side of tracked changes (deleted and moved-away
    /// text, earlier paragraph and run properties, which would otherwise win over the current ones).
    static let leftOut: Set<String> = [
        "del", "moveFrom", "pPrChange", "rPrChange", "tblPrChange", "trPrChange", "tcPrChange", "sectPrChange",
        "numberingChange",
    ]

    /// Passes over the element `name` starts when it is one `leftOut` (`namespace` being a `w:` one);
    /// true when it was, so the reader goes on to what follows it.
    static func skipsOldSide(_ name: String, namespace: String, isEmpty: Bool,
                             in stream: XMLStream) throws(FormatRefusal) -> Bool {
        guard contains(namespace), leftOut.contains(name) else { return false }
        if !isEmpty { try stream.skipElement() }
        return true
    }
}

/// The outline level of each paragraph style: 0 for a title, n for heading n; nil for body text.
struct WordStyles {
    private struct Style {
        var level: Int?
        var isList = false
        var basedOn: String?
    }

    private var styles: [String: Style] = [:]

    init() {}

    init(_ stream: XMLStream) throws(FormatRefusal) {
        var current: (id: String, style: Style)?
        while let node = try stream.next() {
            switch node {
            case .start(let name, let namespace, let isEmpty) where WordML.contains(namespace):
                if try WordML.skipsOldSide(name, namespace: namespace, isEmpty: isEmpty, in: stream) { continue }
                switch name {
                case "style":
                    if let id = stream.attribute("styleId", namespace: namespace),
                       stream.attribute("type", namespace: namespace) ?? "paragraph" == "paragraph" {
                        current = (id, Style())
                    } else {
                        current = nil
                    }
                case "name":
                    let value = (stream.attribute("val", namespace: namespace) ?? "").lowercased()
                    // An outline level stated in the style wins over what its name suggests.
                    if value == "title", current?.style.level == nil {
                        current?.style.level = 0
                    } else if value.hasPrefix("heading "), let level = Int(value.dropFirst(8)), (1...9).contains(level),
                              current?.style.level == nil {
                        current?.style.level = level
                    }
                case "outlineLvl":
                    if let value = stream.attribute("val", namespace: namespace).flatMap(Int.init) {
                        current?.style.level = (0...8).contains(value) ? value + 1 : nil
                    }
                case "basedOn":
                    current?.style.basedOn = stream.attribute("val", namespace: namespace)
                case "numPr":
                    current?.style.isList = true
                default:
                    break
                }
            case .end(let name, let namespace) where name == "style" && WordML.contains(namespace):
                if let (id, style) = current { styles[id] = style }
                current = nil
            default:
                break
            }
        }
    }

    /// The style's level, or that of the style it is based on (a chain of at most 16).
    func level(of styleID: String) -> Int? {
        firstInChain(from: styleID) { $0.level }
    }

    /// True when the style, or one it is based on, numbers or bullets its paragraphs.
    func isList(_ styleID: String) -> Bool {
        firstInChain(from: styleID) { $0.isList ? true : nil } ?? false
    }

    private func firstInChain<T>(from styleID: String, _ value: (Style) -> T?) -> T? {
        var id: String? = styleID
        for _ in 0..<16 {
            guard let name = id, let style = styles[name] else { return nil }
            if let found = value(style) { return found }
            id = style.basedOn
        }
        return nil
    }
}

/// The footnotes or endnotes of a document by id, each one paragraph of text.
enum WordNotes {
    static func read(_ stream: XMLStream, element: String, limits: FormatLimits) throws(FormatRefusal) -> [String: String] {
        var notes: [String: String] = [:]
        var current: String?
        var text = ""
        var textDepth = 0
        var bytes = 0
        while let node = try stream.next() {
            switch node {
            case .start(let name, let namespace, let isEmpty) where WordML.contains(namespace):
                if try WordML.skipsOldSide(name, namespace: namespace, isEmpty: isEmpty, in: stream) { continue }
                switch name {
                case element:
                    // Separators (w:type="separator" and the like) are layout, not notes.
                    let type = stream.attribute("type", namespace: namespace)
                    let isNote = type == nil || type == "normal"
                    current = isNote ? stream.attribute("id", namespace: namespace) : nil
                    text = ""
                case "t" where !isEmpty: textDepth += 1
                case "tab": text += "\t"
                case "br", "cr": text += " "
                case "p" where !text.isEmpty && !isEmpty: text += " "
                default: break
                }
            case .end(let name, let namespace) where WordML.contains(namespace):
                if name == "t" { textDepth -= 1 }
                if name == element, let id = current {
                    let note = text.trimmingWhitespace
                    bytes += note.utf8.count
                    guard bytes <= limits.maxTextBytes else { throw .tooMuchText(limit: limits.maxTextBytes) }
                    if !note.isEmpty { notes[id] = note }
                    current = nil
                }
            case .text(let value) where textDepth > 0 && current != nil:
                text += value
            default:
                break
            }
        }
        return notes
    }
}

/// Writes `word/document.xml`'s body as Markdown-like text (see `DOCXText`).
struct WordBodyWriter {
    private struct Paragraph {
        var text = ""
        /// 0 for a title, n for heading n, nil for body text.
        var level: Int?
        var isListItem = false
        /// Notes first cited in it, as "[n] text" lines, written after it.
        var notes: [String] = []
        /// Blocks anchored in it (text boxes), written after it.
        var anchored: [String] = []
    }

    let styles: WordStyles
    let notes: [String: String]
    let limits: FormatLimits

    private(set) var sawTitleParagraph = false
    private var output: SectionWriter
    private var paragraphs: [Paragraph] = []
    private var textDepth = 0

    private var tableDepth = 0
    private var table = TableText()
    /// The number each note got where it was first cited: a note cited again is "[n]" alone, so
    /// no note's text is written twice (citing one note a million times multiplies nothing).
    private var noteNumbers: [String: Int] = [:]

    init(styles: WordStyles, notes: [String: String], limits: FormatLimits) {
        self.styles = styles
        self.notes = notes
        self.limits = limits
        output = SectionWriter(limits: limits)
    }

    mutating func read(_ stream: XMLStream, stopIf shouldStop: () -> Bool) throws(FormatRefusal) {
        var nodes = 0
        while let node = try stream.next() {
            nodes += 1
            if nodes & 0xFFFF == 0 && shouldStop() { throw .cancelled }
            switch node {
            case .start(let name, let namespace, let isEmpty):
                if try WordML.skipsOldSide(name, namespace: namespace, isEmpty: isEmpty, in: stream) {
                    continue
                } else if name == "Fallback" && namespace == WordML.markupCompatibility {
                    if !isEmpty { try stream.skipElement() }
                } else if WordML.contains(namespace) {
                    try start(name, namespace: namespace, isEmpty: isEmpty, stream: stream)
                }
            case .end(let name, let namespace) where WordML.contains(namespace):
                try end(name)
            case .text(let value) where textDepth > 0 && !paragraphs.isEmpty:
                paragraphs[paragraphs.count - 1].text += value
            default:
                break
            }
        }
    }

    private mutating func start(_ name: String, namespace: String, isEmpty: Bool, stream: XMLStream) throws(FormatRefusal) {
        switch name {
        case "p":
            paragraphs.append(Paragraph())
            if isEmpty { try end("p") }
        case "pStyle":
            guard let id = stream.attribute("val", namespace: namespace), !paragraphs.isEmpty else { break }
            if let level = styles.level(of: id) { setLevel(level) }
            if styles.isList(id) { paragraphs[paragraphs.count - 1].isListItem = true }
        case "outlineLvl":
            if let value = stream.attribute("val", namespace: namespace).flatMap(Int.init), (0...8).contains(value) {
                setLevel(value + 1)
            }
        case "numPr":
            if !paragraphs.isEmpty { paragraphs[paragraphs.count - 1].isListItem = true }
        case "t":
            if !isEmpty { textDepth += 1 }
        case "tab", "ptab":
            append("\t")
        case "br", "cr":
            append("\n")
        case "noBreakHyphen":
            append("-")
        case "footnoteReference", "endnoteReference":
            let kind = name == "footnoteReference" ? "footnote" : "endnote"
            guard let id = stream.attribute("id", namespace: namespace), let note = notes[kind + ":" + id],
                  !paragraphs.isEmpty else { break }
            let key = kind + ":" + id
            if let number = noteNumbers[key] {
                append("[\(number)]")
                break
            }
            let number = noteNumbers.count + 1
            noteNumbers[key] = number
            append("[\(number)]")
            paragraphs[paragraphs.count - 1].notes.append("[\(number)] " + note)
        case "tbl" where !isEmpty:
            tableDepth += 1
        case "tr" where tableDepth == 1:
            table.startRow()
        case "tc" where tableDepth == 1:
            table.startCell()
        default:
            break
        }
    }

    private mutating func end(_ name: String) throws(FormatRefusal) {
        switch name {
        case "t":
            textDepth -= 1
        case "p":
            guard let paragraph = paragraphs.popLast() else { return }
            if !paragraphs.isEmpty {
                let block = rendered(paragraph)
                if !block.isEmpty { paragraphs[paragraphs.count - 1].anchored.append(block) }
            } else if tableDepth > 0 {
                table.add(rendered(paragraph))
            } else {
                try write(paragraph)
            }
        case "tc" where tableDepth == 1:
            table.endCell()
        case "tr" where tableDepth == 1:
            table.endRow()
        case "tbl":
            tableDepth -= 1
            if tableDepth == 0 { try output.write(table.finish()) }
        default:
            break
        }
    }

    private mutating func setLevel(_ level: Int) {
        guard !paragraphs.isEmpty else { return }
        paragraphs[paragraphs.count - 1].level = level
    }

    private mutating func append(_ text: String) {
        guard !paragraphs.isEmpty else { return }
        paragraphs[paragraphs.count - 1].text += text
    }

    /// The sections written; call once, after `read`.
    mutating func finish() -> [ExtractedDocument.Section] {
        output.finish()
    }

    /// The paragraph's text, with its notes and anchored blocks after it, apart by blank lines;
    /// a heading paragraph's text alone, its notes and anchored blocks then open its section.
    private func rendered(_ paragraph: Paragraph, includingText: Bool = true) -> String {
        let text = paragraph.text.trimmingWhitespace
        var parts: [String] = []
        if includingText && !text.isEmpty { parts.append(paragraph.isListItem ? "- " + text : text) }
        return (parts + paragraph.notes + paragraph.anchored).joined(separator: "\n\n")
    }

    /// Writes a paragraph of the body: a heading closes the section before it and opens its own.
    private mutating func write(_ paragraph: Paragraph) throws(FormatRefusal) {
        let text = paragraph.text.trimmingWhitespace
        if let level = paragraph.level, !text.isEmpty {
            if level == 0 { sawTitleParagraph = true }
            try output.startSection(level: level, heading: text)
            try output.write(rendered(paragraph, includingText: false))
        } else {
            try output.write(rendered(paragraph))
        }
    }
}

extension String {
    /// Runs of whitespace and line breaks made one space, none at the ends (a table cell is one line).
    var oneLine: String {
        split(whereSeparator: \.isWhitespace).joined(separator: " ")
    }

    /// One line of at most `ExtractedDocument.maxHeadingCharacters` characters: a heading (or a
    /// title) heads every passage under it, so a huge one would be stored, indexed and embedded
    /// again with each.
    var asHeading: String {
        String(oneLine.prefix(ExtractedDocument.maxHeadingCharacters))
    }
}

/// A part's relationships (`_rels/….rels`): which part plays which role, by the end of its type.
struct WordRelations {
    private var targets: [String: String] = [:]

    static let namespace = "http://schemas.openxmlformats.org/package/2006/relationships"

    /// The relationships of `part` ("" for the package's own), with targets resolved to part names;
    /// none when the package has no such file.
    static func read(_ zip: ZipParts, of part: String) throws(FormatRefusal) -> WordRelations {
        let folder = part.split(separator: "/").dropLast().joined(separator: "/")
        let name = part.split(separator: "/").last.map(String.init) ?? ""
        let path = (folder.isEmpty ? "" : folder + "/") + "_rels/" + name + ".rels"
        var relations = WordRelations()
        guard let bytes = try zip.bytes(of: path) else { return relations }
        let stream = try XMLStream(bytes, part: path)
        while let node = try stream.next() {
            guard case .start("Relationship", Self.namespace, _) = node, stream.attribute("TargetMode", namespace: "") != "External",
                  let type = stream.attribute("Type", namespace: ""), let target = stream.attribute("Target", namespace: "")
            else { continue }
            let resolved = target.hasPrefix("/") ? String(target.dropFirst()) : Self.resolve(target, in: folder)
            // The type's last words name the role (…/relationships/officeDocument, …/styles).
            for role in ["officeDocument", "styles", "footnotes", "endnotes", "metadata/core-properties"]
            where type.hasSuffix("/" + role) && relations.targets[role] == nil {
                relations.targets[role] = resolved
            }
        }
        return relations
    }

    func target(ofType role: String) -> String? { targets[role] }

    /// `target` relative to `folder`, with `..` and `.` resolved; never above the package's root.
    static func resolve(_ target: String, in folder: String) -> String {
        var parts = folder.split(separator: "/").map(String.init)
        for piece in target.split(separator: "/") {
            switch piece {
            case ".": continue
            case "..": if !parts.isEmpty { parts.removeLast() }
            default: parts.append(String(piece))
            }
        }
        return parts.joined(separator: "/")
    }
}

/// Sections under a stack of headings, written block by block within the text limit: what the
/// Word and OpenDocument readers make of a document's body.
struct SectionWriter {
    let limits: FormatLimits
    private var sections: [ExtractedDocument.Section] = []
    /// The headings above the text being written, with their levels (0 for a title).
    private var headings: [(level: Int, text: String)] = []
    /// The blocks of the current section.
    private var blocks: [String] = []
    private var textBytes = 0

    init(limits: FormatLimits) {
        self.limits = limits
    }

    /// Closes the section being written and opens one under `heading` at `level` (replacing the
    /// headings at that level and below).
    mutating func startSection(level: Int, heading text: String) throws(FormatRefusal) {
        closeSection()
        while let last = headings.last, last.level >= level { headings.removeLast() }
        let heading = text.asHeading
        // Every passage of the section carries the path: charged once per section.
        try charge(headings.reduce(heading.utf8.count) { $0 + $1.text.utf8.count + 3 })
        headings.append((level, heading))
    }

    /// Adds a block (a paragraph, a table, a note) to the current section; blocks are apart by a
    /// blank line.
    mutating func write(_ block: String) throws(FormatRefusal) {
        guard !block.isEmpty else { return }
        try charge(block.utf8.count + 2)
        blocks.append(block)
    }

    /// Counts `bytes` of output against `FormatLimits.maxTextBytes`.
    mutating func charge(_ bytes: Int) throws(FormatRefusal) {
        textBytes += bytes
        guard textBytes <= limits.maxTextBytes else { throw .tooMuchText(limit: limits.maxTextBytes) }
    }

    /// The sections written; call once, at the end.
    mutating func finish() -> [ExtractedDocument.Section] {
        closeSection()
        return sections
    }

    private mutating func closeSection() {
        if !blocks.isEmpty {
            sections.append(ExtractedDocument.Section(headingPath: headings.map(\.text), text: blocks.joined(separator: "\n\n")))
        }
        blocks = []
    }
}

/// A table being read: each cell's paragraphs on one line, written as one line per row with the
/// cells apart by " | " (rows without text left out). A table nested in a cell goes into that cell.
struct TableText {
    private var row: [String] = []
    private var cell = ""
    private var rows: [String] = []

    mutating func startRow() { row = [] }
    mutating func startCell() { cell = "" }

    /// Adds a paragraph's text to the current cell.
    mutating func add(_ text: String) {
        let flat = text.oneLine
        if !flat.isEmpty { cell += (cell.isEmpty ? "" : " ") + flat }
    }

    mutating func endCell() { row.append(cell.trimmingWhitespace) }

    mutating func endRow() {
        if row.contains(where: { !$0.isEmpty }) { rows.append(row.joined(separator: " | ")) }
    }

    /// The table's text; the next table starts empty.
    mutating func finish() -> String {
        defer { rows = [] }
        return rows.joined(separator: "\n")
    }
}

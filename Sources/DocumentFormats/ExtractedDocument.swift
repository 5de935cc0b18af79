/// The text of a document read from a binary or markup format, ready for the section splitter.
public struct ExtractedDocument: Sendable, Equatable {
    /// How the text is laid out.
    public enum Layout: Sendable, Equatable {
        /// One text per page, in page order (PDF): a passage never spans two pages.
        case pages([String])
        /// Sections under their headings, in order (Word): paragraphs apart by blank lines, list
        /// items as "- " lines, table rows as lines with cells apart by " | ".
        case sections([Section])
        /// The Markdown-like text of each chapter, in reading order (EPUB: each XHTML chapter
        /// through `HTMLText`), for the section splitter to split at its headings.
        case chapters([String])
    }

    /// The text under one heading, up to the next.
    public struct Section: Sendable, Equatable {
        /// The headings above it, outermost first (the title, a chapter, …); empty before the first.
        public var headingPath: [String]
        public var text: String

        public init(headingPath: [String], text: String) {
            self.headingPath = headingPath
            self.text = text
        }
    }

    /// The most characters a title or heading keeps (the rest is cut): each heads every passage
    /// below it.
    public static let maxHeadingCharacters = 256

    /// The document's title from its metadata; empty when it has none.
    public var title: String
    public var layout: Layout

    public init(title: String, layout: Layout) {
        self.title = title
        self.layout = layout
    }
}

/// How much a document may cost to read: a hostile file (a zip bomb, a PDF of a million pages) is
/// refused before it costs more.
public struct FormatLimits: Sendable, Equatable {
    /// Text extracted from one document, in UTF-8 bytes.
    public var maxTextBytes: Int
    /// Pages of one PDF.
    public var maxPages: Int
    /// Bytes unpacked from one zip (a Word file), all parts together.
    public var maxUnpackedBytes: Int

    /// 64 MiB of text, 5,000 pages, 256 MiB unpacked. (XML nesting is limited by libxml2: 256 levels.)
    public init(maxTextBytes: Int = 64 << 20, maxPages: Int = 5_000, maxUnpackedBytes: Int = 256 << 20) {
        self.maxTextBytes = maxTextBytes
        self.maxPages = maxPages
        self.maxUnpackedBytes = maxUnpackedBytes
    }
}

/// Why a document's text was not read: the file is skipped with this reason and the ingest goes on.
///
/// A public enum, not the conventions' struct with a private code: the ingest report and the tests
/// compare its cases, each a reason a person acts on differently (encrypted, no text layer, damaged, too large).
public enum FormatRefusal: Error, Sendable, Equatable, CustomStringConvertible {
    /// A PDF that needs a password to open.
    case encrypted
    /// A PDF whose pages carry no text (scanned images): mcp-rag does not run OCR.
    case noTextLayer(pages: Int)
    /// The file is not of its format or is broken; the reading library's words.
    case damaged(String)
    /// More pages than `FormatLimits.maxPages`.
    case tooManyPages(Int, limit: Int)
    /// More text than `FormatLimits.maxTextBytes`.
    case tooMuchText(limit: Int)
    /// A zip whose parts unpack to more than `FormatLimits.maxUnpackedBytes` (a zip bomb, or a huge document).
    case unpacksTooLarge(part: String, limit: Int)
    /// A part the format needs is not in the zip.
    case missingPart(String)
    /// An XML part declares a document type: no Office format does, and its entities are how XML
    /// bombs and external-entity reads work, so it is not parsed.
    case declaresDocumentType(part: String)
    /// An XML part (or an HTML page) nested deeper than `limit` levels.
    case nestedTooDeep(part: String, limit: Int)
    /// A tag of more than `limit` attributes (libxml2 would compare them pairwise).
    case tooManyAttributes(part: String, limit: Int)
    /// An XML part that is not well-formed; libxml2's words.
    case malformedXML(part: String, message: String)
    /// The ingest was cancelled while the document was being read.
    case cancelled

    public var description: String {
        switch self {
        case .encrypted:
            "encrypted PDF (it needs a password to open)"
        case .noTextLayer(let pages):
            "no text layer on any of its \(pages) page\(pages == 1 ? "" : "s") (scanned images? mcp-rag does not run OCR)"
        case .damaged(let message):
            "damaged or not of its type: \(message)"
        case .tooManyPages(let pages, let limit):
            "too many pages (\(pages); the limit is \(limit))"
        case .tooMuchText(let limit):
            "more than \(limit) bytes of text"
        case .unpacksTooLarge(let part, let limit):
            "unpacks to more than \(limit) bytes (at \(part)): a zip bomb, or too large"
        case .missingPart(let part):
            "no \(part) inside: not a document of its type"
        case .declaresDocumentType(let part):
            "\(part) declares a document type (DTD), which no Office file does: not parsed, as XML entity bombs need one"
        case .nestedTooDeep(let part, let limit):
            "\(part) nests elements deeper than \(limit) levels"
        case .tooManyAttributes(let part, let limit):
            "\(part) has a tag of more than \(limit) attributes"
        case .malformedXML(let part, let message):
            "\(part) is not well-formed XML: \(message)"
        case .cancelled:
            "the ingest was cancelled while this file was being read"
        }
    }
}

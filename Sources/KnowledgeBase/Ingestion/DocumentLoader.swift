import BytePaths
import DocumentFormats
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A document read and decoded: its kind and its text, ready to be split into sections.
public struct LoadedDocument: Sendable, Equatable {
    /// The kind the file was read as (an HTML file stays `.html`, although its text is Markdown-like).
    public var kind: DocumentKind
    /// The text: valid Unicode, LF line ends, no byte-order mark. For HTML, the Markdown-like text
    /// the page was turned into; for MDX, the Markdown without its top-level `import`/`export` lines.
    /// Empty for a PDF or Word file, whose text is in `pages` or `sections`.
    public var text: String
    /// A PDF's text, one element per page; empty for every other kind.
    public var pages: [String]
    /// A Word, OpenDocument or EPUB file's sections under their headings; empty for every other kind.
    public var sections: [DocumentSection]
    /// The title from the document's metadata (PDF, Word, OpenDocument, EPUB); empty when it has none.
    public var title: String

    /// A document of `kind` with `text` as it stands (no normalisation is applied here).
    public init(kind: DocumentKind, text: String, pages: [String] = [], sections: [DocumentSection] = [],
                title: String = "") {
        self.kind = kind
        self.text = text
        self.pages = pages
        self.sections = sections
        self.title = title
    }
}

/// Why a file was not loaded although it could be read: the caller reports it and goes on.
public enum SkipReason: Sendable, Equatable, CustomStringConvertible {
    /// The file's extension names no supported kind (the extension, without the dot).
    case unsupportedType(extension: String)
    /// A directory, device, FIFO or socket.
    case notRegularFile
    /// The file is larger than the configured limit.
    case tooLarge(bytes: Int, limit: Int)
    /// A NUL byte at this offset: a binary file (text never holds one, and it would cut the text short).
    case binary(offset: Int)
    /// The bytes are not UTF-8; `offset` is where the first invalid sequence begins.
    case notUTF8(offset: Int)
    /// The file opened is not the one the path named when it was found, or lies outside the
    /// allowed roots: a symlink was swapped in.
    case changedWhileReading
    /// The ingest was cancelled while this file was being read.
    case cancelled
    /// A PDF, Word or HTML file whose text cannot be read: encrypted, scanned, damaged, or past a limit.
    case unreadable(FormatRefusal)

    /// A short phrase for the skipped-file report ("binary content (…)").
    public var description: String {
        switch self {
        case .unsupportedType(let ext):
            ext.isEmpty ? "unsupported file type" : "unsupported file type \".\(ext)\""
        case .notRegularFile:
            "not a regular file"
        case .tooLarge(let bytes, let limit):
            "too large (\(bytes) bytes; the limit is \(limit): raise MCP_RAG_MAX_FILE_BYTES to include it)"
        case .binary(let offset):
            "binary content (a NUL byte at offset \(offset))"
        case .cancelled:
            "the ingest was cancelled while this file was being read"
        case .changedWhileReading:
            "changed while being read (a link or folder was swapped in), or leads outside the allowed folders"
        case .notUTF8(let offset):
            "not UTF-8 text (invalid byte sequence at offset \(offset))"
        case .unreadable(let refusal):
            refusal.description
        }
    }
}

/// The result of loading one file: the document, or why it was skipped.
public enum DocumentLoadOutcome: Sendable, Equatable {
    /// The file was read and decoded.
    case loaded(LoadedDocument)
    /// The file was left out, for this reason.
    case skipped(SkipReason)

    /// The document, or nil when skipped.
    public var document: LoadedDocument? {
        if case .loaded(let document) = self { document } else { nil }
    }

    /// The reason, or nil when loaded.
    public var skipReason: SkipReason? {
        if case .skipped(let reason) = self { reason } else { nil }
    }
}

/// A file that could not be read at all (as opposed to one read and skipped): names the path and
/// keeps the system's error number.
public struct DocumentLoadError: Error, Sendable, Equatable, CustomStringConvertible {
    private enum Code: Sendable, Equatable {
        case open
        case read
    }

    private let code: Code
    /// The file's path.
    public let path: String
    /// The `errno` the failing call left.
    public let errorNumber: Int32

    private init(_ code: Code, path: String, errorNumber: Int32) {
        self.code = code
        self.path = path
        self.errorNumber = errorNumber
    }

    /// `open` or `stat` failed (no such file, permission denied, …).
    public static func cannotOpen(_ path: String, errorNumber: Int32) -> DocumentLoadError {
        DocumentLoadError(.open, path: path, errorNumber: errorNumber)
    }

    /// Reading the open file failed.
    public static func cannotRead(_ path: String, errorNumber: Int32) -> DocumentLoadError {
        DocumentLoadError(.read, path: path, errorNumber: errorNumber)
    }

    /// True when the file does not exist.
    public var isNotFound: Bool { code == .open && errorNumber == ENOENT }

    /// "cannot open PATH: No such file or directory" and the like.
    public var description: String {
        let what = code == .open ? "cannot open" : "cannot read"
        return "\(what) \(path): \(String(cString: strerror(errorNumber)))"
    }
}

/// Reads files into `LoadedDocument`s: detects the kind, refuses binary, non-UTF-8 and oversized
/// files with a `SkipReason`, and normalises the text (BOM, line ends, HTML, MDX).
///
/// The value is immutable and may be shared between tasks.
public struct DocumentLoader: Sendable {
    /// Settings for `DocumentLoader`.
    public struct Configuration: Sendable, Equatable {
        /// Files larger than this many bytes are skipped.
        public var maxFileBytes: Int
        /// What reading one PDF or Word file may cost (text, pages, bytes unpacked).
        public var formatLimits: FormatLimits

        /// - Parameter maxFileBytes: the size limit; 10 MiB by default.
        public init(maxFileBytes: Int = 10 * 1024 * 1024, formatLimits: FormatLimits = FormatLimits()) {
            self.maxFileBytes = maxFileBytes
            self.formatLimits = formatLimits
        }
    }

    /// The settings in force.
    public let configuration: Configuration

    /// A loader with `configuration` (10 MiB limit by default).
    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    /// Loads the file at `url`, with the kind its name implies.
    ///
    /// - Returns: the document, or the reason it is skipped (unsupported type, not a regular file,
    ///   too large, binary, not UTF-8).
    /// - Throws: `DocumentLoadError` when the file cannot be opened or read.
    public func load(url: URL) throws(DocumentLoadError) -> DocumentLoadOutcome {
        guard let kind = DocumentKind(url: url) else {
            let name = url.lastPathComponent
            let ext = name.lastIndex(of: ".").map { String(name[name.index(after: $0)...]) } ?? ""
            return .skipped(.unsupportedType(extension: ext))
        }
        switch try read(path: url.path) {
        case .skipped(let reason): return .skipped(reason)
        case .loaded(let bytes): return load(bytes: bytes, kind: kind)
        }
    }

    /// The bytes of the regular file at `path`, read from one descriptor and never more than the
    /// size limit, or why they were not read (not a regular file, too large, moved).
    ///
    /// - Parameter roots: when set, the file must not be a symlink and the opened descriptor must
    ///   be the file `path` names, inside these roots: a name swapped for a link between the walk
    ///   and the read is caught here, where it matters.
    /// - Throws: `DocumentLoadError` when the file cannot be opened or read.
    public func read(path: String, confinedTo roots: AllowedRoots? = nil) throws(DocumentLoadError) -> FileRead {
        switch try FileContents.read(path: path, limit: configuration.maxFileBytes, confinedTo: roots) {
        case .notRegularFile: .skipped(.notRegularFile)
        case .tooLarge(let size): .skipped(.tooLarge(bytes: size, limit: configuration.maxFileBytes))
        case .elsewhere: .skipped(.changedWhileReading)
        case .bytes(let bytes): .loaded(bytes)
        }
    }

    /// What `read(path:confinedTo:)` found.
    public enum FileRead: Sendable, Equatable {
        case loaded([UInt8])
        case skipped(SkipReason)
    }

    /// Decodes bytes already read (the size limit applies here too). `stopIf` is asked now and then
    /// during long conversions; when it says stop, the outcome is `.skipped(.cancelled)`.
    public func load(bytes: some Collection<UInt8>, kind: DocumentKind,
                     stopIf shouldStop: () -> Bool = { false }) -> DocumentLoadOutcome {
        guard bytes.count <= configuration.maxFileBytes else {
            return .skipped(.tooLarge(bytes: bytes.count, limit: configuration.maxFileBytes))
        }
        if kind.isBinaryFormat {
            return extract(Array(bytes), kind: kind, stopIf: shouldStop)
        }
        if let nul = bytes.firstIndex(of: 0) {
            return .skipped(.binary(offset: bytes.distance(from: bytes.startIndex, to: nul)))
        }
        var body = bytes[...]
        if body.starts(with: [0xEF, 0xBB, 0xBF]) {
            body = body.dropFirst(3)
        }
        let normalised = Self.normalisingLineEnds(body)
        guard let decoded = Self.decodeUTF8(normalised) else {
            // The offset is counted in the file, so add back the BOM when there was one.
            let offset = Self.firstInvalidUTF8Offset(body) + (bytes.count - body.count)
            return .skipped(.notUTF8(offset: offset))
        }
        let text: String
        switch kind {
        case .html:
            do throws(FormatRefusal) {
                text = try HTMLText.markdown(fromHTML: decoded, stopIf: shouldStop)
            } catch .cancelled {
                return .skipped(.cancelled)
            } catch {
                return .skipped(.unreadable(error))
            }
        case .mdx:
            text = MDX.strippingModuleLines(decoded)
        default:
            text = decoded
        }
        return .loaded(LoadedDocument(kind: kind, text: text))
    }

    /// The text of a PDF, Word, OpenDocument or EPUB file, through its library (see `DocumentFormats`).
    private func extract(_ bytes: [UInt8], kind: DocumentKind, stopIf shouldStop: () -> Bool) -> DocumentLoadOutcome {
        do throws(FormatRefusal) {
            let limits = configuration.formatLimits
            let extracted = switch kind {
            case .pdf: try PDFText.extract(bytes, limits: limits, stopIf: shouldStop)
            case .odt: try ODTText.extract(bytes, limits: limits, stopIf: shouldStop)
            case .epub: try EPUBText.extract(bytes, limits: limits, stopIf: shouldStop)
            default: try DOCXText.extract(bytes, limits: limits, stopIf: shouldStop)
            }
            switch extracted.layout {
            case .pages(let pages):
                return .loaded(LoadedDocument(kind: kind, text: "", pages: pages, title: extracted.title))
            case .sections(let sections):
                let sections = sections.map { DocumentSection(headingPath: $0.headingPath, text: $0.text) }
                return .loaded(LoadedDocument(kind: kind, text: "", sections: sections, title: extracted.title))
            case .chapters(let chapters):
                // Each chapter at its own headings (HTML's: no setext), under the book's title.
                let title = extracted.title.isEmpty ? [] : [extracted.title]
                let sections = chapters.flatMap { SectionSplitter.markdownSections($0, setext: false, frontMatter: false) }
                    .map { DocumentSection(headingPath: title + $0.headingPath, text: $0.text) }
                return .loaded(LoadedDocument(kind: kind, text: "", sections: sections, title: extracted.title))
            }
        } catch .cancelled {
            return .skipped(.cancelled)
        } catch {
            return .skipped(.unreadable(error))
        }
    }

    /// `bytes` with CRLF and lone CR turned into LF.
    static func normalisingLineEnds(_ bytes: some Collection<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var afterCR = false
        for byte in bytes {
            if byte == 0x0D {
                out.append(0x0A)
                afterCR = true
            } else {
                if !(byte == 0x0A && afterCR) { out.append(byte) }
                afterCR = false
            }
        }
        return out
    }

    /// The string `bytes` spell, or nil when they are not well-formed UTF-8.
    static func decodeUTF8(_ bytes: [UInt8]) -> String? {
        if #available(macOS 15, *) {
            return String(validating: bytes, as: UTF8.self)
        }
        let decoded = String(decoding: bytes, as: UTF8.self)
        return decoded.utf8.elementsEqual(bytes) ? decoded : nil
    }

    /// Where the first ill-formed UTF-8 sequence of `bytes` starts (its length when there is none).
    static func firstInvalidUTF8Offset(_ bytes: some Collection<UInt8>) -> Int {
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        var offset = 0
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar):
                offset += UTF8.width(scalar)
            case .emptyInput:
                return offset
            case .error:
                return offset
            }
        }
    }
}

/// Whole-file reads with POSIX calls, so failures keep their `errno` and FIFOs are never opened
/// for a blocking read.
enum FileContents {
    enum Result {
        case bytes([UInt8])
        case notRegularFile
        /// At least this many bytes: more than the limit.
        case tooLarge(Int)
        /// Not the file the path named, or outside the roots (see `DocumentLoader.read`).
        case elsewhere
    }

    /// Reads the whole file if it is a regular file of at most `limit` bytes: the size is checked
    /// before anything is read, and no more than `limit` + 1 bytes are read from a file that grows.
    static func read(path: String, limit: Int, confinedTo roots: AllowedRoots? = nil) throws(DocumentLoadError) -> Result {
        // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer.
        let flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY | (roots == nil ? 0 : O_NOFOLLOW)
        let descriptor = open(path, flags)
        guard descriptor >= 0 else {
            if errno == ELOOP && roots != nil { return .elsewhere }  // the last part became a link
            throw .cannotOpen(path, errorNumber: errno)
        }
        defer { close(descriptor) }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw .cannotOpen(path, errorNumber: errno) }
        guard (info.st_mode & S_IFMT) == S_IFREG else { return .notRegularFile }
        guard Int(info.st_size) <= limit else { return .tooLarge(Int(info.st_size)) }
        if let roots {
            guard let real = PathBytes.realPath(ofDescriptor: descriptor), PathBytes.same(real, path), roots.contains(real)
            else { return .elsewhere }
        }

        var bytes = [UInt8](repeating: 0, count: min(Int(info.st_size), limit) + 1)
        var total = 0
        while total < bytes.count {
            let count = bytes.withUnsafeMutableBytes { buffer in
                systemRead(descriptor, buffer.baseAddress! + total, min(buffer.count - total, 1 << 20))
            }
            if count < 0 {
                if errno == EINTR { continue }
                throw .cannotRead(path, errorNumber: errno)
            }
            if count == 0 { break }
            total += count
            // It grew since the stat: keep reading, up to one byte past the limit.
            if total == bytes.count && total <= limit {
                bytes.append(contentsOf: repeatElement(0, count: min(bytes.count, limit + 1 - bytes.count)))
            }
        }
        guard total <= limit else { return .tooLarge(total) }
        bytes.removeSubrange(total...)
        return .bytes(bytes)
    }
}

/// `read(2)`, named so it does not clash with the methods called `read`.
private func systemRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int {
    #if canImport(Glibc)
    Glibc.read(fd, buffer, count)
    #elseif canImport(Musl)
    Musl.read(fd, buffer, count)
    #else
    Darwin.read(fd, buffer, count)
    #endif
}

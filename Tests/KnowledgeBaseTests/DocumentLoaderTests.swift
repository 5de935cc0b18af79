import Foundation
import Testing
@testable import KnowledgeBase

@Suite struct DocumentLoaderTests {
    let loader = DocumentLoader()

    @Test func loadsMarkdownAndNormalisesLineEnds() throws {
        let folder = try TemporaryFolder()
        let file = try folder.write("a.md", [0xEF, 0xBB, 0xBF] + Array("# Title\r\nline one\rline two\r\n\r\nend".utf8))
        let document = try #require(try loader.load(url: file).document)
        #expect(document.kind == .markdown)
        #expect(document.text == "# Title\nline one\nline two\n\nend")
        #expect(!document.text.contains("\u{FEFF}"))
    }

    @Test func unsupportedTypeIsSkipped() throws {
        let folder = try TemporaryFolder()
        let file = try folder.write("image.png", "not really a png")
        #expect(try loader.load(url: file) == .skipped(.unsupportedType(extension: "png")))
        #expect(SkipReason.unsupportedType(extension: "png").description.contains(".png"))
    }

    @Test func nulByteMeansBinary() throws {
        let folder = try TemporaryFolder()
        let file = try folder.write("data.txt", Array("hello".utf8) + [0] + Array("world".utf8))
        #expect(try loader.load(url: file) == .skipped(.binary(offset: 5)))
        // Anywhere in the file: a NUL past the first 8 KiB used to cut the stored text short there.
        let late = [UInt8](repeating: UInt8(ascii: "a"), count: 100_000) + [0] + Array("lost".utf8)
        #expect(loader.load(bytes: late, kind: .text) == .skipped(.binary(offset: 100_000)))
        #expect(SkipReason.binary(offset: 100_000).description.contains("offset 100000"))
    }

    @Test func pdfAndWordAreReadByTheirLibrariesNotAsText() {
        // Their bytes hold NULs and are not UTF-8: what decides is the library's reading.
        let broken: [UInt8] = Array("%PDF-1.7\n".utf8) + [0, 0xFF, 0xFE] + Array("no objects".utf8)
        guard case .skipped(.unreadable(.damaged)) = loader.load(bytes: broken, kind: .pdf) else {
            Issue.record("a broken PDF is skipped as damaged")
            return
        }
        guard case .skipped(.unreadable(.damaged)) = loader.load(bytes: [0x50, 0x4B, 0, 0], kind: .docx) else {
            Issue.record("a broken zip is skipped as damaged")
            return
        }
        #expect(SkipReason.unreadable(.encrypted).description == "encrypted PDF (it needs a password to open)")
    }

    @Test func invalidUTF8IsSkippedWithItsOffset() throws {
        let folder = try TemporaryFolder()
        // "café" in Latin-1: é is the lone byte 0xE9.
        let file = try folder.write("latin1.txt", Array("caf".utf8) + [0xE9] + Array(" au lait".utf8))
        let outcome = try loader.load(url: file)
        #expect(outcome == .skipped(.notUTF8(offset: 3)))
        #expect(outcome.skipReason?.description.contains("not UTF-8") == true)
        // A truncated multi-byte sequence at the end, after a BOM: the offset counts the BOM.
        let truncated: [UInt8] = [0xEF, 0xBB, 0xBF] + Array("ab".utf8) + [0xE2, 0x82]
        #expect(loader.load(bytes: truncated, kind: .text) == .skipped(.notUTF8(offset: 5)))
        // Overlong encodings and surrogates are not UTF-8 either.
        #expect(loader.load(bytes: [0xC0, 0xAF], kind: .text) == .skipped(.notUTF8(offset: 0)))
        #expect(loader.load(bytes: [0x41, 0xED, 0xA0, 0x80], kind: .text) == .skipped(.notUTF8(offset: 1)))
    }

    @Test func oversizeIsSkipped() throws {
        let folder = try TemporaryFolder()
        let small = DocumentLoader(configuration: .init(maxFileBytes: 100))
        let file = try folder.write("big.md", String(repeating: "x", count: 101))
        #expect(try small.load(url: file) == .skipped(.tooLarge(bytes: 101, limit: 100)))
        let fits = try folder.write("ok.md", String(repeating: "x", count: 100))
        #expect(try small.load(url: fits).document?.text.count == 100)
        #expect(DocumentLoader().configuration.maxFileBytes == 10 * 1024 * 1024)
    }

    @Test func directoryIsSkipped() throws {
        let folder = try TemporaryFolder()
        let directory = folder.url.appendingPathComponent("notes.md")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        #expect(try loader.load(url: directory) == .skipped(.notRegularFile))
    }

    @Test func missingFileThrowsWithThePath() throws {
        let folder = try TemporaryFolder()
        let missing = folder.url.appendingPathComponent("missing.md")
        let error = #expect(throws: DocumentLoadError.self) { try loader.load(url: missing) }
        #expect(error?.isNotFound == true)
        #expect(error?.description.contains(missing.path) == true)
        #expect(error?.description.contains("No such file") == true)
    }

    @Test func aReadStopsAtTheLimitAndChecksTheSizeFirst() throws {
        let folder = try TemporaryFolder()
        let bytes = (0..<(2 * 1024 * 1024 + 5)).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let file = try folder.write("blob.txt", bytes)
        #expect(try loader.read(path: file.path) == .loaded(bytes))
        // A sparse file far past the limit is refused from its size, without reading a byte of it.
        let sparse = folder.url.appendingPathComponent("sparse.md").path
        let descriptor = open(sparse, O_CREAT | O_WRONLY, 0o600)
        try #require(descriptor >= 0 && ftruncate(descriptor, 1 << 40) == 0)
        close(descriptor)
        #expect(try loader.read(path: sparse) == .skipped(.tooLarge(bytes: 1 << 40, limit: loader.configuration.maxFileBytes)))
        #expect(throws: DocumentLoadError.self) { try loader.read(path: folder.url.appendingPathComponent("nope").path) }
    }

    @Test func aFileLargerThanItsSizeSaysIsReadOnlyToOneBytePastTheLimit() throws {
        // /proc/self/maps reports a size of 0 yet holds kilobytes, like a file still being written
        // when it was opened: the read must stop one byte past the limit, not at the writer's end.
        let small = DocumentLoader(configuration: .init(maxFileBytes: 100))
        #expect(try small.read(path: "/proc/self/maps") == .skipped(.tooLarge(bytes: 101, limit: 100)))
    }

    @Test func emptyFileLoadsAsEmptyText() throws {
        let folder = try TemporaryFolder()
        let file = try folder.write("empty.txt", [UInt8]())
        #expect(try loader.load(url: file) == .loaded(LoadedDocument(kind: .text, text: "")))
    }

    @Test func mdxDropsTopLevelImportsAndExports() {
        let source = """
            import { Tabs } from '@theme/Tabs'
            import Admonition from './Admonition'
            export const meta = {
              title: 'Guide',
              tags: ['a', 'b'],
            }

            # Guide

            Text that mentions import and export.

            ```js
            import x from 'y'
            export default x
            ```
            export default function Layout({ children }) { return children }
            """
        let document = loader.load(bytes: Array(source.utf8), kind: .mdx).document
        #expect(document?.text == """

            # Guide

            Text that mentions import and export.

            ```js
            import x from 'y'
            export default x
            ```
            """)
    }

    @Test func htmlIsConvertedWhenLoaded() throws {
        let folder = try TemporaryFolder()
        let file = try folder.write("page.html", "<html><body><h1>Hi</h1><p>a &amp; b</p></body></html>")
        #expect(try loader.load(url: file) == .loaded(LoadedDocument(kind: .html, text: "# Hi\n\na & b")))
    }
}

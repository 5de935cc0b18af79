import Foundation
import Testing
@testable import DocumentFormats

/// OpenDocument texts and EPUB books assembled here part by part (zipped by libzip, as in the Word
/// tests); the Python suite reads files that odfpy and ebooklib wrote.
@Suite struct OpenDocumentAndEPUBTests {
    static let namespaces = """
        xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" \
        xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" \
        xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" \
        xmlns:dc="http://purl.org/dc/elements/1.1/"
        """

    static func odt(_ body: String, title: String? = nil) throws -> [UInt8] {
        var parts = ["content.xml": "<office:document-content \(namespaces)><office:body><office:text>\(body)"
            + "</office:text></office:body></office:document-content>"]
        if let title {
            parts["meta.xml"] = "<office:document-meta \(namespaces)><office:meta><dc:title>\(title)</dc:title></office:meta></office:document-meta>"
        }
        return try DOCXTextTests.docx(parts)
    }

    @Test func anOpenDocumentHasSectionsListsTablesAndNotes() throws {
        let body = """
            <text:tracked-changes><text:changed-region><text:deletion><text:p>removed words</text:p></text:deletion></text:changed-region></text:tracked-changes>
            <text:table-of-content><text:index-body><text:p>Installation ... 1</text:p></text:index-body></text:table-of-content>
            <text:p>Read this first.</text:p>
            <text:h text:outline-level="1">Installation</text:h>
            <text:p>Mount the cabinet<text:s text:c="3"/>on a wall<text:note text:note-class="footnote"><text:note-citation>1</text:note-citation><text:note-body><text:p>Two metres up.</text:p></text:note-body></text:note>.</text:p>
            <office:annotation><text:p>a reviewer's comment</text:p></office:annotation>
            <text:list><text:list-item><text:p>Check the earth first.</text:p></text:list-item></text:list>
            <text:h text:outline-level="2">Wiring</text:h>
            <table:table><table:table-row><table:table-cell><text:p>L1</text:p></table:table-cell><table:table-cell><text:p>brown</text:p></table:table-cell></table:table-row></table:table>
            <text:h text:outline-level="1">Care</text:h>
            <text:p>Dust it yearly.</text:p>
            """
        let document = try ODTText.extract(Self.odt(body, title: "Field Guide"))
        #expect(document.title == "Field Guide")
        guard case .sections(let sections) = document.layout else {
            Issue.record("an OpenDocument text has sections")
            return
        }
        #expect(sections.map(\.headingPath) == [["Field Guide"], ["Field Guide", "Installation"],
                                                ["Field Guide", "Installation", "Wiring"], ["Field Guide", "Care"]])
        #expect(sections[0].text == "Read this first.")
        #expect(sections[1].text == "Mount the cabinet   on a wall[1].\n\n[1] Two metres up.\n\n- Check the earth first.")
        #expect(sections[2].text == "L1 | brown")
        #expect(sections[3].text == "Dust it yearly.")
        let all = sections.map(\.text).joined()
        #expect(!all.contains("removed words") && !all.contains("comment") && !all.contains("... 1"))
    }

    @Test func anOpenDocumentWithoutItsContentIsRefused() throws {
        #expect(throws: FormatRefusal.missingPart("content.xml")) { try ODTText.extract(DOCXTextTests.docx(["meta.xml": "<a/>"])) }
        let laughs = "<!DOCTYPE x [<!ENTITY a \"aaaa\">]><office:document-content \(Self.namespaces)/>"
        #expect(throws: FormatRefusal.declaresDocumentType(part: "content.xml")) {
            try ODTText.extract(DOCXTextTests.docx(["content.xml": laughs]))
        }
        let limits = FormatLimits(maxTextBytes: 100)
        #expect(throws: FormatRefusal.tooMuchText(limit: 100)) {
            try ODTText.extract(Self.odt("<text:p>\(String(repeating: "words ", count: 40))</text:p>"), limits: limits)
        }
        // Spaces written by count grow a paragraph faster than its XML: checked as it grows.
        #expect(throws: FormatRefusal.tooMuchText(limit: 100)) {
            try ODTText.extract(Self.odt("<text:p>\(String(repeating: "<text:s text:c=\"64\"/>", count: 3))</text:p>"), limits: limits)
        }
    }

    @Test func anEmptyCellKeepsItsColumnAndAnEmptyTableHoldsNothing() throws {
        let body = """
            <table:table/><table:table><table:table-row><table:table-cell/><table:table-cell><text:p>right</text:p>\
            </table:table-cell></table:table-row></table:table><text:p>after the table</text:p>
            """
        guard case .sections(let sections) = try ODTText.extract(Self.odt(body)).layout else {
            Issue.record("an OpenDocument text has sections")
            return
        }
        #expect(sections.map(\.text) == [" | right\n\nafter the table"])
    }

    static func epub(chapters: [(name: String, html: String)], title: String = "A Book", spineOrder: [String]? = nil) throws -> [UInt8] {
        let manifest = chapters.enumerated().map { index, chapter in
            "<item id=\"c\(index)\" href=\"\(chapter.name.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? chapter.name)\" media-type=\"application/xhtml+xml\"/>"
        }.joined() + "<item id=\"css\" href=\"style.css\" media-type=\"text/css\"/>"
        let spine = (spineOrder ?? chapters.indices.map { "c\($0)" }).map { "<itemref idref=\"\($0)\"/>" }.joined()
        var parts = [
            "mimetype": "application/epub+zip",
            "META-INF/container.xml": """
                <container xmlns="urn:oasis:names:tc:opendocument:xmlns:container" version="1.0"><rootfiles>\
                <rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/></rootfiles></container>
                """,
            "OEBPS/content.opf": """
                <package xmlns="http://www.idpf.org/2007/opf" version="3.0"><metadata xmlns:dc="http://purl.org/dc/elements/1.1/">\
                <dc:title>\(title)</dc:title></metadata><manifest>\(manifest)</manifest><spine>\(spine)\
                <itemref idref="css"/></spine></package>
                """,
            "OEBPS/style.css": "h1 { color: red }",
        ]
        for chapter in chapters { parts["OEBPS/" + chapter.name] = chapter.html }
        return try DOCXTextTests.docx(parts)
    }

    @Test func anEPUBIsReadInSpineOrderUnderItsTitle() throws {
        let chapters = [
            (name: "text/chapter one.xhtml", html: "<html><body><h1>Departure</h1><p>The ship left at dawn.</p>"
                + "<h2>The crew</h2><ul><li>a cook</li></ul></body></html>"),
            (name: "text/two.xhtml", html: "<html><body><h1>Arrival</h1><p>Land was sighted.</p><script>x()</script></body></html>"),
        ]
        // The spine, not the manifest, sets the order.
        let document = try EPUBText.extract(Self.epub(chapters: chapters, title: "A Voyage", spineOrder: ["c1", "c0"]))
        #expect(document.title == "A Voyage")
        guard case .chapters(let texts) = document.layout else {
            Issue.record("an EPUB has chapters")
            return
        }
        #expect(texts.count == 2)
        #expect(texts[0].contains("# Arrival") && texts[0].contains("Land was sighted.") && !texts[0].contains("x()"))
        #expect(texts[1].contains("# Departure") && texts[1].contains("## The crew") && texts[1].contains("- a cook"))
    }

    @Test func theNavigationDocumentIsNoChapter() throws {
        var parts = [
            "META-INF/container.xml": "<container xmlns=\"urn:oasis:names:tc:opendocument:xmlns:container\"><rootfiles>"
                + "<rootfile full-path=\"book.opf\" media-type=\"application/oebps-package+xml\"/></rootfiles></container>",
            "book.opf": "<package xmlns=\"http://www.idpf.org/2007/opf\"><manifest>"
                + "<item id=\"nav\" href=\"nav.xhtml\" media-type=\"application/xhtml+xml\" properties=\"nav\"/>"
                + "<item id=\"one\" href=\"one.xhtml\" media-type=\"application/xhtml+xml\"/></manifest>"
                + "<spine><itemref idref=\"nav\"/><itemref idref=\"one\"/></spine></package>",
        ]
        parts["nav.xhtml"] = "<html><body><nav><ol><li>Chapter One</li></ol></nav></body></html>"
        parts["one.xhtml"] = "<html><body><h1>Chapter One</h1><p>It begins.</p></body></html>"
        guard case .chapters(let chapters) = try EPUBText.extract(DOCXTextTests.docx(parts)).layout else {
            Issue.record("an EPUB has chapters")
            return
        }
        #expect(chapters.count == 1 && chapters[0].contains("It begins."))
    }

    @Test func anEPUBWithoutItsPackageIsRefused() throws {
        #expect(throws: FormatRefusal.missingPart("META-INF/container.xml")) {
            try EPUBText.extract(DOCXTextTests.docx(["mimetype": "application/epub+zip"]))
        }
        let noPackage = ["META-INF/container.xml": "<container xmlns=\"urn:oasis:names:tc:opendocument:xmlns:container\"><rootfiles>"
            + "<rootfile full-path=\"missing.opf\" media-type=\"application/oebps-package+xml\"/></rootfiles></container>"]
        #expect(throws: FormatRefusal.missingPart("missing.opf")) { try EPUBText.extract(DOCXTextTests.docx(noPackage)) }
        let deep = String(repeating: "<div>", count: 300) + "x" + String(repeating: "</div>", count: 300)
        #expect(throws: FormatRefusal.nestedTooDeep(part: "the page", limit: 256)) {
            try EPUBText.extract(Self.epub(chapters: [(name: "deep.xhtml", html: "<html><body>\(deep)</body></html>")]))
        }
    }
}

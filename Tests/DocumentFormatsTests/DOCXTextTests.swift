import Foundation
import Testing
import ZIPFoundation
@testable import DocumentFormats

/// Word files assembled here part by part (the XML a word processor writes, cut down to what
/// matters), so each rule of `DOCXText` is tested on its own. The Python suite reads files that
/// python-docx wrote.
@Suite struct DOCXTextTests {
    static let w = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"

    /// A .docx holding `parts` (path → XML), zipped with deflate as Word does.
    static func docx(_ parts: [String: String]) throws -> [UInt8] {
        let archive = try Archive(data: Data(), accessMode: .create)
        for (path, xml) in parts.sorted(by: { $0.key < $1.key }) {
            let data = Data(xml.utf8)
            try archive.addEntry(with: path, type: .file, uncompressedSize: Int64(data.count), compressionMethod: .deflate) {
                position, size in data.subdata(in: Int(position)..<Int(position) + size)
            }
        }
        return [UInt8](archive.data ?? Data())
    }

    static func body(_ paragraphs: String) -> String {
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?><w:document xmlns:w=\"\(w)\" "
            + "xmlns:mc=\"http://schemas.openxmlformats.org/markup-compatibility/2006\"><w:body>\(paragraphs)</w:body></w:document>"
    }

    static func paragraph(_ text: String, style: String? = nil, properties: String = "") -> String {
        let styleXML = style.map { "<w:pStyle w:val=\"\($0)\"/>" } ?? ""
        return "<w:p><w:pPr>\(styleXML)\(properties)</w:pPr><w:r><w:t xml:space=\"preserve\">\(text)</w:t></w:r></w:p>"
    }

    /// Styles as Word writes them: built-in headings, a localised heading (German ids and names
    /// with an outline level), a list style, and one based on a heading.
    static let styles = """
        <w:styles xmlns:w="\(w)">
          <w:style w:type="paragraph" w:styleId="Normal"><w:name w:val="Normal"/></w:style>
          <w:style w:type="paragraph" w:styleId="Title"><w:name w:val="Title"/></w:style>
          <w:style w:type="paragraph" w:styleId="Heading1"><w:name w:val="heading 1"/><w:basedOn w:val="Normal"/></w:style>
          <w:style w:type="paragraph" w:styleId="Heading2"><w:name w:val="heading 2"/></w:style>
          <w:style w:type="paragraph" w:styleId="berschrift1"><w:name w:val="Überschrift 1"/><w:pPr><w:outlineLvl w:val="0"/></w:pPr></w:style>
          <w:style w:type="paragraph" w:styleId="MyChapter"><w:name w:val="My Chapter"/><w:basedOn w:val="Heading1"/></w:style>
          <w:style w:type="paragraph" w:styleId="ListBullet"><w:name w:val="List Bullet"/><w:pPr><w:numPr><w:numId w:val="1"/></w:numPr></w:pPr></w:style>
          <w:style w:type="character" w:styleId="Heading1Char"><w:name w:val="heading 1 char"/></w:style>
        </w:styles>
        """

    static func sections(_ parts: [String: String], limits: FormatLimits = FormatLimits()) throws -> [ExtractedDocument.Section] {
        let document = try DOCXText.extract(docx(parts), limits: limits)
        guard case .sections(let sections) = document.layout else { return [] }
        return sections
    }

    @Test func headingsFromStylesOpenSectionsUnderTheTitle() throws {
        let xml = Self.body([
            Self.paragraph("Field Guide", style: "Title"),
            Self.paragraph("Intro text."),
            Self.paragraph("Installation", style: "Heading1"),
            Self.paragraph("Mount it level."),
            Self.paragraph("Wiring", style: "Heading2"),
            Self.paragraph("Use copper."),
            Self.paragraph("Wartung", style: "berschrift1"),
            Self.paragraph("Jährlich prüfen."),
            Self.paragraph("Appendix", style: "MyChapter"),
            Self.paragraph("Direct outline", properties: "<w:outlineLvl w:val=\"1\"/>"),
            Self.paragraph("Under it."),
        ].joined())
        let sections = try Self.sections(["word/document.xml": xml, "word/styles.xml": Self.styles])
        #expect(sections == [
            .init(headingPath: ["Field Guide"], text: "Intro text."),
            .init(headingPath: ["Field Guide", "Installation"], text: "Mount it level."),
            .init(headingPath: ["Field Guide", "Installation", "Wiring"], text: "Use copper."),
            .init(headingPath: ["Field Guide", "Wartung"], text: "Jährlich prüfen."),
            .init(headingPath: ["Field Guide", "Appendix", "Direct outline"], text: "Under it."),
        ])
    }

    @Test func theCoreTitleHeadsADocumentWithoutATitleParagraph() throws {
        let core = """
            <cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" \
            xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title> Pump
             Manual </dc:title><dc:creator>x</dc:creator></cp:coreProperties>
            """
        let parts = ["word/document.xml": Self.body(Self.paragraph("Before.") + Self.paragraph("Seals", style: "Heading1")
                                                    + Self.paragraph("Replace them.")),
                     "word/styles.xml": Self.styles, "docProps/core.xml": core]
        let document = try DOCXText.extract(Self.docx(parts))
        #expect(document.title == "Pump\n Manual")
        #expect(document.layout == .sections([.init(headingPath: ["Pump Manual"], text: "Before."),
                                              .init(headingPath: ["Pump Manual", "Seals"], text: "Replace them.")]))
    }

    @Test func listsTablesBreaksAndTabs() throws {
        let table = """
            <w:tbl><w:tr><w:tc><w:p><w:r><w:t>Part</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>Torque</w:t></w:r></w:p></w:tc></w:tr>\
            <w:tr><w:tc><w:p><w:r><w:t>Flange</w:t></w:r></w:p><w:p><w:r><w:t>(steel)</w:t></w:r></w:p></w:tc>\
            <w:tc><w:tbl><w:tr><w:tc><w:p><w:r><w:t>45</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>Nm</w:t></w:r></w:p></w:tc></w:tr></w:tbl></w:tc></w:tr>\
            <w:tr><w:tc><w:p/></w:tc><w:tc><w:p/></w:tc></w:tr></w:tbl>
            """
        let xml = Self.body([
            Self.paragraph("styled item", style: "ListBullet"),
            Self.paragraph("numbered item", properties: "<w:numPr><w:ilvl w:val=\"0\"/><w:numId w:val=\"2\"/></w:numPr>"),
            table,
            "<w:p><w:r><w:t>line one</w:t><w:br/><w:t>line</w:t><w:tab/><w:t>two</w:t></w:r></w:p>",
            Self.paragraph("# not a heading ``` nor a fence"),
        ].joined())
        let sections = try Self.sections(["word/document.xml": xml, "word/styles.xml": Self.styles])
        #expect(sections == [.init(headingPath: [], text: """
            - styled item

            - numbered item

            Part | Torque
            Flange (steel) | 45 Nm

            line one
            line\ttwo

            # not a heading ``` nor a fence
            """)])
    }

    @Test func notesStayWithTheParagraphThatCitesThem() throws {
        let footnotes = """
            <w:footnotes xmlns:w="\(Self.w)">
              <w:footnote w:type="separator" w:id="-1"><w:p><w:r><w:separator/></w:r></w:p></w:footnote>
              <w:footnote w:id="2"><w:p><w:r><w:t>Measured at 20 °C.</w:t></w:r></w:p><w:p><w:r><w:t>See annex.</w:t></w:r></w:p></w:footnote>
            </w:footnotes>
            """
        let endnotes = """
            <w:endnotes xmlns:w="\(Self.w)"><w:endnote w:id="1"><w:p><w:r><w:t>ISO 4017.</w:t></w:r></w:p></w:endnote></w:endnotes>
            """
        let xml = Self.body([
            "<w:p><w:r><w:t>Torque is 45 Nm.</w:t></w:r><w:r><w:footnoteReference w:id=\"2\"/></w:r>"
                + "<w:r><w:t> Bolts are M12.</w:t></w:r><w:r><w:endnoteReference w:id=\"1\"/></w:r>"
                + "<w:r><w:footnoteReference w:id=\"99\"/></w:r></w:p>",
            Self.paragraph("Next paragraph."),
        ].joined())
        let sections = try Self.sections(["word/document.xml": xml, "word/footnotes.xml": footnotes,
                                          "word/endnotes.xml": endnotes])
        #expect(sections.map(\.text) == ["""
            Torque is 45 Nm.[1] Bolts are M12.[2]

            [1] Measured at 20 °C. See annex.

            [2] ISO 4017.

            Next paragraph.
            """])
    }

    @Test func deletionsFieldCodesAndFallbacksAreLeftOutTextBoxesFollowTheirAnchor() throws {
        let xml = Self.body("""
            <w:p><w:r><w:t>Kept</w:t></w:r><w:del><w:r><w:delText> deleted</w:delText></w:r></w:del>\
            <w:r><w:instrText> PAGE \\* MERGEFORMAT </w:instrText></w:r><w:r><w:t xml:space="preserve"> text.</w:t></w:r>\
            <w:r><mc:AlternateContent><mc:Choice Requires="wps"><w:drawing><w:txbxContent>\
            <w:p><w:r><w:t>Boxed note.</w:t></w:r></w:p></w:txbxContent></w:drawing></mc:Choice>\
            <mc:Fallback><w:pict><w:txbxContent><w:p><w:r><w:t>Boxed note.</w:t></w:r></w:p></w:txbxContent></w:pict></mc:Fallback>\
            </mc:AlternateContent></w:r></w:p>
            """)
        let sections = try Self.sections(["word/document.xml": xml])
        #expect(sections.map(\.text) == ["Kept text.\n\nBoxed note."])
    }

    @Test func hostilePartsAreRefusedWithTheirReason() throws {
        let laughs = """
            <?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>\
            <w:document xmlns:w="\(Self.w)"><w:body><w:p><w:r><w:t>&lol2;</w:t></w:r></w:p></w:body></w:document>
            """
        #expect(throws: FormatRefusal.declaresDocumentType(part: "word/document.xml")) {
            try Self.sections(["word/document.xml": laughs])
        }
        let external = """
            <?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><w:document xmlns:w="\(Self.w)"/>
            """
        #expect(throws: FormatRefusal.declaresDocumentType(part: "word/styles.xml")) {
            try Self.sections(["word/document.xml": Self.body(""), "word/styles.xml": external])
        }
        let deep = Self.body(String(repeating: "<w:sdt>", count: 5_000) + String(repeating: "</w:sdt>", count: 5_000))
        #expect(throws: FormatRefusal.nestedTooDeep(part: "word/document.xml", limit: 256)) {
            try Self.sections(["word/document.xml": deep])
        }
        #expect(throws: FormatRefusal.missingPart("word/document.xml")) {
            try Self.sections(["word/other.xml": Self.body("")])
        }
        let malformed = try #require(throws: FormatRefusal.self) {
            try Self.sections(["word/document.xml": "<w:document xmlns:w=\"\(Self.w)\"><w:body><w:p>"])
        }
        guard case .malformedXML(let part, let message) = malformed else {
            Issue.record("expected malformed XML, got \(malformed)")
            return
        }
        #expect(part == "word/document.xml" && !message.isEmpty)
    }

    @Test func unpackingStopsAtTheBudget() throws {
        // Zeros deflate about a thousandfold: a small zip that would unpack far past the budget.
        let bomb = Self.body(Self.paragraph(String(repeating: "0", count: 4 << 20)))
        let bytes = try Self.docx(["word/document.xml": bomb])
        #expect(bytes.count < 64 << 10)
        #expect(throws: FormatRefusal.unpacksTooLarge(part: "word/document.xml", limit: 1 << 20)) {
            try DOCXText.extract(bytes, limits: FormatLimits(maxUnpackedBytes: 1 << 20))
        }
        // The budget is the package's, not each part's.
        let half = Self.paragraph(String(repeating: "x", count: 600 << 10))
        let parts = try Self.docx(["word/document.xml": Self.body(half), "word/styles.xml": "<w:styles xmlns:w=\"\(Self.w)\">"
                                   + String(repeating: " ", count: 600 << 10) + "</w:styles>"])
        #expect(throws: FormatRefusal.unpacksTooLarge(part: "word/styles.xml", limit: 1 << 20)) {
            try DOCXText.extract(parts, limits: FormatLimits(maxUnpackedBytes: 1 << 20))
        }
        #expect(throws: FormatRefusal.tooMuchText(limit: 100 << 10)) {
            try DOCXText.extract(parts, limits: FormatLimits(maxTextBytes: 100 << 10))
        }
    }

    @Test func notAZipOrABrokenOneIsDamaged() throws {
        for bytes in [Array("plain text, not a zip".utf8), Array(try Self.docx(["word/document.xml": Self.body("")]).dropLast(30))] {
            let refusal = try #require(throws: FormatRefusal.self) { try DOCXText.extract(bytes) }
            guard case .damaged = refusal else {
                Issue.record("expected damaged, got \(refusal)")
                continue
            }
        }
    }

    @Test func aLongDocumentStopsWhenAsked() throws {
        let xml = Self.body(String(repeating: Self.paragraph("paragraph"), count: 30_000))
        let bytes = try Self.docx(["word/document.xml": xml])
        #expect(throws: FormatRefusal.cancelled) { try DOCXText.extract(bytes, stopIf: { true }) }
    }
}

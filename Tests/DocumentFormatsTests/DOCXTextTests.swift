import CLibZip
import Foundation
import Testing
@testable import DocumentFormats

/// Word files assembled here part by part (the XML a word processor writes, cut down to what
/// matters), so each rule of `DOCXText` is tested on its own. The Python suite reads files that
/// python-docx wrote.
@Suite struct DOCXTextTests {
    static let w = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"

    struct ZipWriteFailed: Error {}

    /// A .docx holding `parts` (path → XML), zipped by libzip with deflate as Word does.
    static func docx(_ parts: [String: String]) throws -> [UInt8] {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("docx-\(UUID().uuidString).zip").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        var code: Int32 = 0
        guard let archive = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &code) else { throw ZipWriteFailed() }
        // libzip reads the buffers when the archive is closed.
        var buffers: [UnsafeMutableRawBufferPointer] = []
        defer { buffers.forEach { $0.deallocate() } }
        for (name, xml) in parts.sorted(by: { $0.key < $1.key }) {
            let bytes = Array(xml.utf8)
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, bytes.count), alignment: 1)
            bytes.withUnsafeBytes { buffer.copyMemory(from: $0) }
            buffers.append(buffer)
            guard let source = zip_source_buffer(archive, buffer.baseAddress, zip_uint64_t(bytes.count), 0) else {
                throw ZipWriteFailed()
            }
            let index = zip_file_add(archive, name, source, zip_flags_t(ZIP_FL_OVERWRITE))
            guard index >= 0, zip_set_file_compression(archive, zip_uint64_t(index), ZIP_CM_DEFLATE, 9) == 0 else {
                throw ZipWriteFailed()
            }
        }
        guard zip_close(archive) == 0, let data = FileManager.default.contents(atPath: path) else { throw ZipWriteFailed() }
        return [UInt8](data)
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
        #expect(document.title == "Pump Manual")
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
              <w:footnote w:type="normal" w:id="2"><w:p><w:r><w:t>Measured at 20 °C.</w:t></w:r></w:p><w:p><w:r><w:t>See annex.</w:t></w:r></w:p></w:footnote>
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
            <w:tbl/>\
            <w:p><w:pPr><w:pStyle w:val="Normal"/><w:pPrChange w:id="1"><w:pPr><w:pStyle w:val="Heading1"/></w:pPr>\
            </w:pPrChange></w:pPr><w:moveFrom><w:r><w:t>Moved away.</w:t></w:r></w:moveFrom><w:r><w:t>Once a heading.</w:t></w:r></w:p>\
            <w:p><w:r><w:t>Kept</w:t></w:r><w:del><w:r><w:delText> deleted</w:delText></w:r></w:del>\
            <w:r><w:instrText> PAGE \\* MERGEFORMAT </w:instrText></w:r><w:r><w:t xml:space="preserve"> text.</w:t></w:r>\
            <w:r><mc:AlternateContent><mc:Choice Requires="wps"><w:drawing><w:txbxContent>\
            <w:p><w:r><w:t>Boxed note.</w:t></w:r></w:p></w:txbxContent></w:drawing></mc:Choice>\
            <mc:Fallback><w:pict><w:txbxContent><w:p><w:r><w:t>Boxed note.</w:t></w:r></w:p></w:txbxContent></w:pict></mc:Fallback>\
            </mc:AlternateContent></w:r></w:p>
            """)
        let sections = try Self.sections(["word/document.xml": xml, "word/styles.xml": Self.styles])
        #expect(sections == [.init(headingPath: [], text: "Once a heading.\n\nKept text.\n\nBoxed note.")])
    }

    @Test func partsAreFoundThroughTheRelationships() throws {
        let rels = """
            <Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">\
            <Relationship Id="r1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" \
            Target="word/document2.xml"/><Relationship Id="r2" Target="https://example.com/" TargetMode="External" \
            Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles"/></Relationships>
            """
        let bodyRels = """
            <Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">\
            <Relationship Id="r1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" \
            Target="../custom/./styles9.xml"/></Relationships>
            """
        let sections = try Self.sections([
            "_rels/.rels": rels, "word/_rels/document2.xml.rels": bodyRels, "custom/styles9.xml": Self.styles,
            "word/document2.xml": Self.body(Self.paragraph("Online", style: "Heading1") + Self.paragraph("Saved by Word Online.")),
        ])
        #expect(sections == [.init(headingPath: ["Online"], text: "Saved by Word Online.")])
        #expect(WordRelations.resolve("../../../x.xml", in: "word") == "x.xml", "never above the package's root")
    }

    @Test func headingsAndTitlesAreOneShortLine() throws {
        let long = String(repeating: "Very long heading ", count: 100)
        let sections = try Self.sections(["word/document.xml": Self.body(Self.paragraph(long, style: "Heading1")
                                                                         + Self.paragraph("Body.")),
                                          "word/styles.xml": Self.styles])
        #expect(sections.first?.headingPath.first?.count == ExtractedDocument.maxHeadingCharacters)
    }

    @Test func hostilePartsAreRefusedWithTheirReason() throws {
        // libxml2 2.9 compares a tag's attributes pairwise; a `>` inside quotes does not end the tag.
        for value in ["1", ">"] {
            let manyAttributes = "<w:document xmlns:w=\"\(Self.w)\"><w:body "
                + (0..<20_000).map { "a\($0)=\"\(value)\"" }.joined(separator: " ") + "/></w:document>"
            #expect(throws: FormatRefusal.tooManyAttributes(part: "word/document.xml", limit: 1024)) {
                try Self.sections(["word/document.xml": manyAttributes])
            }
        }
        let long = Self.body("<w:p w:rsidR=\"" + String(repeating: "A", count: 200_000) + "\"><w:r><w:t>long value</w:t></w:r></w:p>")
        #expect(try Self.sections(["word/document.xml": long]).map(\.text) == ["long value"], "a long value is no reason")
        // A long note cited over and over, in paragraphs and table cells: its text is written once.
        let notes = "<w:footnotes xmlns:w=\"\(Self.w)\"><w:footnote w:id=\"1\"><w:p><w:r><w:t>"
            + String(repeating: "n", count: 10_000) + "</w:t></w:r></w:p></w:footnote></w:footnotes>"
        let cite = String(repeating: "<w:r><w:footnoteReference w:id=\"1\"/></w:r>", count: 200)
        let citations = Self.body("<w:p>\(cite)</w:p><w:tbl><w:tr><w:tc><w:p>\(cite)</w:p></w:tc></w:tr></w:tbl>")
        let cited = try Self.sections(["word/document.xml": citations, "word/footnotes.xml": notes],
                                      limits: FormatLimits(maxTextBytes: 64 << 10))
        #expect(cited.map(\.text).joined().utf8.count < 20_000)
        #expect(cited.first?.text.hasPrefix("[1][1][1]") == true)
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
        let whole = try Self.docx(["word/document.xml": Self.body(Self.paragraph("text"))])
        // The central directory's offset (in the last record, 16 bytes in) pointed past the end, as
        // a crafted file would: read out of bounds, it would crash the server.
        var pastTheEnd = whole
        let record = pastTheEnd.count - 22
        #expect(pastTheEnd[record..<record + 4] == [0x50, 0x4B, 0x05, 0x06])
        for (offset, byte) in [0xF0, 0xFF, 0xFF, 0x7F].enumerated() { pastTheEnd[record + 16 + offset] = UInt8(byte) }
        // An entry's local header moved past the end, in the central directory (42 bytes into its record).
        var entryPastTheEnd = whole
        let central = try #require(Self.find([0x50, 0x4B, 0x01, 0x02], in: whole))
        for (offset, byte) in [0x00, 0x00, 0x00, 0x70].enumerated() { entryPastTheEnd[central + 42 + offset] = UInt8(byte) }
        var shortened = whole
        shortened.removeLast(30)
        for (name, bytes) in [("text", Array("plain text, not a zip".utf8)), ("shortened", shortened),
                              ("directory past the end", pastTheEnd), ("entry past the end", entryPastTheEnd)] {
            let refusal = try #require(throws: FormatRefusal.self) { try DOCXText.extract(bytes) }
            guard case .damaged = refusal else {
                Issue.record("\(name): expected damaged, got \(refusal)")
                continue
            }
        }
        // An empty file is an empty zip to libzip: it holds no document.
        #expect(throws: FormatRefusal.missingPart("word/document.xml")) { try DOCXText.extract([]) }
    }

    static func find(_ needle: [UInt8], in bytes: [UInt8]) -> Int? {
        guard bytes.count >= needle.count else { return nil }
        return (0...(bytes.count - needle.count)).first { bytes[$0..<$0 + needle.count].elementsEqual(needle) }
    }

    @Test func aLongDocumentStopsWhenAsked() throws {
        let xml = Self.body(String(repeating: Self.paragraph("paragraph"), count: 30_000))
        let bytes = try Self.docx(["word/document.xml": xml])
        #expect(throws: FormatRefusal.cancelled) { try DOCXText.extract(bytes, stopIf: { true }) }
    }
}

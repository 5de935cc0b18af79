import Testing
@testable import DocumentFormats

/// PDFs written here object by object (so each shape, hostile ones included, is exactly what the
/// test says), read through poppler. The Python suite reads PDFs that fpdf2 wrote, encrypted ones
/// among them.
@Suite struct PDFTextTests {
    /// A PDF of `objects` (object n is `objects[n - 1]`), with its cross-reference table.
    static func pdf(_ objects: [String], info: Int? = nil) -> [UInt8] {
        var out = Array("%PDF-1.4\n".utf8)
        var offsets: [Int] = []
        for (index, body) in objects.enumerated() {
            offsets.append(out.count)
            out += Array("\(index + 1) 0 obj\n\(body)\nendobj\n".utf8)
        }
        let table = out.count
        out += Array("xref\n0 \(objects.count + 1)\n0000000000 65535 f \n".utf8)
        for offset in offsets {
            let digits = String(offset)
            out += Array((String(repeating: "0", count: 10 - digits.count) + digits + " 00000 n \n").utf8)
        }
        let infoEntry = info.map { " /Info \($0) 0 R" } ?? ""
        out += Array("trailer\n<< /Size \(objects.count + 1) /Root 1 0 R\(infoEntry) >>\nstartxref\n\(table)\n%%EOF\n".utf8)
        return out
    }

    static func stream(_ content: String) -> String {
        "<< /Length \(content.utf8.count) >>\nstream\n\(content)\nendstream"
    }

    /// A document of one page per text (an empty text makes a page with nothing on it), with
    /// Helvetica and, when given, a title in its information dictionary.
    static func document(pages texts: [String], title: String? = nil) -> [UInt8] {
        let first = 4  // catalog, pages, font; then a page and its content per text
        var objects = ["<< /Type /Catalog /Pages 2 0 R >>", "",
                       "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
        var kids: [String] = []
        for (index, text) in texts.enumerated() {
            let page = first + 2 * index
            kids.append("\(page) 0 R")
            objects.append("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents \(page + 1) 0 R "
                           + "/Resources << /Font << /F1 3 0 R >> >> >>")
            let lines = text.split(separator: "\n").enumerated().map { "BT /F1 12 Tf 72 \(720 - 20 * $0.offset) Td (\($0.element)) Tj ET" }
            objects.append(stream(lines.joined(separator: "\n")))
        }
        objects[1] = "<< /Type /Pages /Kids [\(kids.joined(separator: " "))] /Count \(texts.count) >>"
        var info: Int?
        if let title {
            objects.append("<< /Title (\(title)) /Producer (mcp-rag tests) >>")
            info = objects.count
        }
        return pdf(objects, info: info)
    }

    @Test func pagesInOrderAndTheTitle() throws {
        let bytes = Self.document(pages: ["Impeller checks every 500 hours.", "", "Torque the flange\nbolts to 45 Nm."],
                                  title: "Pump Manual")
        let document = try PDFText.extract(bytes)
        #expect(document.title == "Pump Manual")
        guard case .pages(let pages) = document.layout else {
            Issue.record("expected pages")
            return
        }
        // The empty page keeps its place, so the pages after it keep their numbers.
        #expect(pages.count == 3)
        #expect(pages[0].contains("Impeller checks every 500 hours."))
        #expect(pages[1].allSatisfy { $0.isWhitespace })
        #expect(pages[2].contains("Torque the flange\nbolts to 45 Nm."))
        #expect(try PDFText.extract(Self.document(pages: ["text"])).title == "")
    }

    @Test func pagesWithoutTextAreNoTextLayer() {
        #expect(throws: FormatRefusal.noTextLayer(pages: 2)) { try PDFText.extract(Self.document(pages: ["", ""])) }
    }

    @Test func brokenFilesAreDamaged() throws {
        let whole = Self.document(pages: ["some text"])
        for bytes in [Array("not a pdf at all".utf8), [], Array(whole.prefix(20))] {
            let refusal = try #require(throws: FormatRefusal.self) { try PDFText.extract(bytes) }
            guard case .damaged(let message) = refusal else {
                Issue.record("expected damaged, got \(refusal)")
                continue
            }
            #expect(!message.isEmpty)
        }
    }

    @Test func limitsOnPagesAndText() {
        let bytes = Self.document(pages: ["one", "two", "three"])
        #expect(throws: FormatRefusal.tooManyPages(3, limit: 2)) { try PDFText.extract(bytes, limits: FormatLimits(maxPages: 2)) }
        #expect(throws: FormatRefusal.tooMuchText(limit: 8)) { try PDFText.extract(bytes, limits: FormatLimits(maxTextBytes: 8)) }
        #expect(throws: FormatRefusal.cancelled) { try PDFText.extract(bytes, stopIf: { true }) }
    }

    @Test func loopsInThePageTreeAndInDrawingsEnd() throws {
        let font = "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"
        let page = "/MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> /XObject << /X 6 0 R >> >>"
        // The page tree lists itself among its kids; the page draws a form that draws itself.
        let loops = Self.pdf(["<< /Type /Catalog /Pages 2 0 R >>",
                              "<< /Type /Pages /Kids [3 0 R 2 0 R] /Count 2 >>",
                              "<< /Type /Page /Parent 2 0 R \(page) >>",
                              Self.stream("BT /F1 12 Tf 72 720 Td (looped page) Tj ET /X Do"),
                              font,
                              "<< /Type /XObject /Subtype /Form /BBox [0 0 10 10] /Resources << /XObject << /X 6 0 R >> >> "
                                + "/Length 5 >>\nstream\n/X Do\nendstream"])
        let document = try PDFText.extract(loops)
        guard case .pages(let pages) = document.layout else {
            Issue.record("expected pages")
            return
        }
        #expect(pages.joined().contains("looped page"))
        // 10,000 page-tree nodes, each the only kid of the one before.
        let depth = 10_000
        var objects = ["<< /Type /Catalog /Pages 2 0 R >>"]
        for level in 0..<depth { objects.append("<< /Type /Pages /Kids [\(level + 3) 0 R] /Count 1 >>") }
        let leaf = depth + 2
        objects.append("<< /Type /Page /Parent \(leaf - 1) 0 R /MediaBox [0 0 612 792] /Contents \(leaf + 1) 0 R "
                       + "/Resources << /Font << /F1 \(leaf + 2) 0 R >> >> >>")
        objects.append(Self.stream("BT /F1 12 Tf 72 720 Td (deep page) Tj ET"))
        objects.append(font)
        // Read or refused, never a crash or a hang.
        _ = try? PDFText.extract(Self.pdf(objects))
    }
}

import CPoppler

/// The text of a PDF, page by page in reading order, through poppler.
///
/// poppler reads from the bytes in memory (no file is opened again, nothing is fetched) and only
/// parses what each page needs, so a large PDF costs its pages' text, not its images.
public enum PDFText {
    /// Each page's text and the title from the document's information dictionary.
    ///
    /// - Parameter shouldStop: asked before each page; when it says stop, `.cancelled` is thrown.
    /// - Throws: `FormatRefusal` for an encrypted, damaged, text-less or oversized PDF.
    public static func extract(_ bytes: [UInt8], limits: FormatLimits = FormatLimits(),
                               stopIf shouldStop: () -> Bool = { false }) throws(FormatRefusal) -> ExtractedDocument {
        let result: Result<ExtractedDocument, FormatRefusal> = bytes.withUnsafeBytes { buffer in
            // poppler keeps reading from the bytes while the document lives; they outlive it here.
            let data = g_bytes_new_static(buffer.baseAddress, gsize(buffer.count))
            defer { g_bytes_unref(data) }
            var error: UnsafeMutablePointer<GError>?
            guard let document = poppler_document_new_from_bytes(data, nil, &error) else {
                return .failure(refusal(for: error))
            }
            defer { g_object_unref(UnsafeMutableRawPointer(document)) }
            do throws(FormatRefusal) {
                return .success(try pages(of: document, limits: limits, stopIf: shouldStop))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    private static func pages(of document: OpaquePointer, limits: FormatLimits,
                              stopIf shouldStop: () -> Bool) throws(FormatRefusal) -> ExtractedDocument {
        let count = Int(poppler_document_get_n_pages(document))
        guard count <= limits.maxPages else { throw .tooManyPages(count, limit: limits.maxPages) }
        var pages: [String] = []
        pages.reserveCapacity(count)
        var textBytes = 0
        for index in 0..<count {
            if shouldStop() { throw .cancelled }
            guard let page = poppler_document_get_page(document, Int32(index)) else {
                pages.append("")
                continue
            }
            defer { g_object_unref(UnsafeMutableRawPointer(page)) }
            let text = takeString(poppler_page_get_text(page))
            textBytes += text.utf8.count
            guard textBytes <= limits.maxTextBytes else { throw .tooMuchText(limit: limits.maxTextBytes) }
            pages.append(text)
        }
        guard pages.contains(where: { $0.contains { !$0.isWhitespace } }) else {
            throw .noTextLayer(pages: count)
        }
        // A title is one short line: it heads every passage.
        let title = takeString(poppler_document_get_title(document)).asHeading
        return ExtractedDocument(title: title, layout: .pages(pages))
    }

    /// The string poppler returned, freed; NUL and other C0 controls but tab and line feed dropped
    /// (poppler passes through what a font's map says, and a NUL would cut the text short).
    private static func takeString(_ pointer: UnsafeMutablePointer<gchar>?) -> String {
        guard let pointer else { return "" }
        defer { g_free(pointer) }
        let text = String(cString: pointer)
        guard text.unicodeScalars.contains(where: { $0.value < 0x20 && $0 != "\n" && $0 != "\t" }) else { return text }
        var cleaned = String.UnicodeScalarView()
        for scalar in text.unicodeScalars where scalar.value >= 0x20 || scalar == "\n" || scalar == "\t" {
            cleaned.append(scalar)
        }
        return String(cleaned)
    }

    private static func refusal(for error: UnsafeMutablePointer<GError>?) -> FormatRefusal {
        guard let error else { return .damaged("poppler could not open it") }
        defer { g_error_free(error) }
        if error.pointee.domain == poppler_error_quark() && error.pointee.code == Int32(POPPLER_ERROR_ENCRYPTED.rawValue) {
            return .encrypted
        }
        let message = error.pointee.message.map { String(cString: $0) } ?? "poppler could not open it"
        return .damaged(message)
    }
}

extension String {
    /// Without leading and trailing whitespace and line breaks.
    var trimmingWhitespace: String {
        guard let first = firstIndex(where: { !$0.isWhitespace }), let last = lastIndex(where: { !$0.isWhitespace })
        else { return "" }
        return String(self[first...last])
    }
}

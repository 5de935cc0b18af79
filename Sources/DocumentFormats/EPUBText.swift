import Foundation

/// The text of an EPUB book (EPUB 2 and 3): the zip read by libzip, the package document found
/// through `META-INF/container.xml`, then the chapters in reading order (the spine), each XHTML
/// chapter through the HTML reader (`HTMLText`): its headings, lists and code kept as Markdown.
///
/// The title is the package's `dc:title`. Items outside the spine (images, styles, the navigation
/// document unless the spine lists it) are not read; a spine item missing from the zip is passed
/// over, as reading systems do.
public enum EPUBText {
    static let containerPart = "META-INF/container.xml"
    static let containerNamespace = "urn:oasis:names:tc:opendocument:xmlns:container"
    static let packageNamespace = "http://www.idpf.org/2007/opf"
    static let dublinCore = "http://purl.org/dc/elements/1.1/"
    /// The media types of chapters (XHTML in EPUB 3, and HTML in some EPUB 2 books).
    static let chapterTypes: Set<String> = ["application/xhtml+xml", "text/html", "application/xml"]

    public static func extract(_ bytes: [UInt8], limits: FormatLimits = FormatLimits(),
                               stopIf shouldStop: () -> Bool = { false }) throws(FormatRefusal) -> ExtractedDocument {
        let zip = try ZipParts(bytes, limits: limits)
        guard let container = try zip.bytes(of: containerPart) else { throw .missingPart(containerPart) }
        guard let packagePart = try rootFile(XMLStream(container, part: containerPart)) else {
            throw .missingPart("package document named by \(containerPart)")
        }
        guard let packageBytes = try zip.bytes(of: packagePart) else { throw .missingPart(packagePart) }
        let package = try PackageDocument(XMLStream(packageBytes, part: packagePart), part: packagePart)
        var chapters: [String] = []
        var textBytes = 0
        for part in package.readingOrder {
            if shouldStop() { throw .cancelled }
            guard let chapter = try zip.bytes(of: part) else { continue }
            let markdown = try HTMLText.markdown(fromHTML: String(decoding: chapter, as: UTF8.self), stopIf: shouldStop)
            textBytes += markdown.utf8.count + 2
            guard textBytes <= limits.maxTextBytes else { throw .tooMuchText(limit: limits.maxTextBytes) }
            chapters.append(markdown)
        }
        return ExtractedDocument(title: package.title.asHeading, layout: .chapters(chapters))
    }

    /// The package document's path, from the container's first `rootfile` of the package type.
    static func rootFile(_ stream: XMLStream) throws(FormatRefusal) -> String? {
        while let node = try stream.next() {
            guard case .start("rootfile", containerNamespace, _) = node,
                  stream.attribute("media-type", namespace: "").map({ $0 == "application/oebps-package+xml" }) ?? true,
                  let path = stream.attribute("full-path", namespace: ""), !path.isEmpty
            else { continue }
            return WordRelations.resolve(path.removingPercentEncoding ?? path, in: "")
        }
        return nil
    }
}

/// What the package document (`.opf`) says: the title, and the chapters' part names in reading order.
struct PackageDocument {
    var title = ""
    var readingOrder: [String] = []

    init(_ stream: XMLStream, part: String) throws(FormatRefusal) {
        let folder = part.split(separator: "/").dropLast().joined(separator: "/")
        var manifest: [String: (href: String, type: String)] = [:]
        var spine: [String] = []
        var inTitle = false, titleDone = false
        while let node = try stream.next() {
            switch node {
            case .start("title", EPUBText.dublinCore, let isEmpty) where !titleDone:
                inTitle = !isEmpty
            case .end("title", EPUBText.dublinCore) where inTitle:
                inTitle = false
                titleDone = !title.trimmingWhitespace.isEmpty
            case .text(let text) where inTitle:
                title += text
            case .start("item", EPUBText.packageNamespace, _):
                guard let id = stream.attribute("id", namespace: ""), let href = stream.attribute("href", namespace: "") else { break }
                // EPUB 3's navigation document repeats the chapters' titles: not a chapter, even in the spine.
                let isNavigation = (stream.attribute("properties", namespace: "") ?? "").split(separator: " ").contains("nav")
                manifest[id] = (href, isNavigation ? "" : stream.attribute("media-type", namespace: "") ?? "")
            case .start("itemref", EPUBText.packageNamespace, _):
                if let id = stream.attribute("idref", namespace: "") { spine.append(id) }
            default:
                break
            }
        }
        title = title.trimmingWhitespace
        var seen = Set<String>()
        for id in spine {
            guard let item = manifest[id], EPUBText.chapterTypes.contains(item.type) else { continue }
            // An href is a URL: its path percent-encoded, perhaps with a fragment.
            let path = String(item.href.prefix { $0 != "#" })
            guard !path.contains("://") else { continue }
            let resolved = WordRelations.resolve(path.removingPercentEncoding ?? path, in: path.hasPrefix("/") ? "" : folder)
            if seen.insert(resolved).inserted { readingOrder.append(resolved) }
        }
    }
}

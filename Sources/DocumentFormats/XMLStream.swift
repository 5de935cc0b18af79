import CLibXML2

/// An XML part read as a stream of nodes through libxml2's `xmlTextReader`: memory stays that of
/// one node, whatever the part's size, and no entity, DTD or network access is ever involved.
///
/// A part that declares a document type (its entities are what XML bombs and external-entity reads
/// are made of, and no Office part has one) or has a tag of too many attributes is refused before
/// libxml2 sees it (`MarkupScan`); nesting is limited by libxml2 itself (`XMLStream.maxDepth`
/// levels, without `XML_PARSE_HUGE`).
final class XMLStream {
    enum Node: Equatable {
        case start(name: String, namespace: String, isEmpty: Bool)
        case end(name: String, namespace: String)
        /// Character data (text, CDATA, whitespace that matters).
        case text(String)
    }

    /// How deep libxml2 lets elements nest when `XML_PARSE_HUGE` is off.
    static let maxDepth = 256

    private let reader: xmlTextReaderPtr
    private let part: String
    /// `skipElement` left the reader on the node after the element: `next` returns it first.
    private var positioned = false
    /// The bytes libxml2 reads from (it does not copy them), freed after the reader.
    private let storage: UnsafeMutableBufferPointer<CChar>

    /// A stream over `bytes`, the part named `part` (for the errors).
    init(_ bytes: [UInt8], part: String) throws(FormatRefusal) {
        LibXML2.initialise()
        switch bytes.withUnsafeBufferPointer({ MarkupScan.scan($0, declarations: true) }) {
        case .declaresDocumentType: throw .declaresDocumentType(part: part)
        case .tooManyAttributes: throw .tooManyAttributes(part: part, limit: MarkupScan.maxAttributes)
        case nil: break
        }
        guard bytes.count < Int32.max else { throw .malformedXML(part: part, message: "larger than libxml2 reads") }
        self.part = part
        let storage = UnsafeMutableBufferPointer<CChar>.allocate(capacity: max(1, bytes.count))
        bytes.withUnsafeBytes { UnsafeMutableRawBufferPointer(storage).copyMemory(from: $0) }
        self.storage = storage
        // NONET: never fetch; no NOENT, DTDLOAD or HUGE: entities stay references, the default
        // limits of libxml2 stay on; NOERROR/NOWARNING: errors are raised here, not printed.
        let options = Int32(XML_PARSE_NONET.rawValue | XML_PARSE_NOERROR.rawValue | XML_PARSE_NOWARNING.rawValue
            | XML_PARSE_NOCDATA.rawValue)
        guard let made = xmlReaderForMemory(storage.baseAddress, Int32(bytes.count), nil, "UTF-8", options) else {
            storage.deallocate()
            throw .malformedXML(part: part, message: "libxml2 could not start reading it")
        }
        reader = made
        // An error raised while reading must not be mistaken for one an earlier part left.
        xmlResetLastError()
    }

    deinit {
        xmlFreeTextReader(reader)
        storage.deallocate()
    }

    /// The next node that matters (elements, their ends and character data), or nil at the end.
    func next() throws(FormatRefusal) -> Node? {
        while true {
            let status = positioned ? 1 : xmlTextReaderRead(reader)
            positioned = false
            if status == 0 { return nil }
            guard status == 1 else { throw LibXML2.lastError(part: part) }
            let type = xmlTextReaderNodeType(reader)
            switch type {
            case Int32(XML_READER_TYPE_ELEMENT.rawValue):
                return .start(name: string(xmlTextReaderConstLocalName(reader)),
                              namespace: string(xmlTextReaderConstNamespaceUri(reader)),
                              isEmpty: xmlTextReaderIsEmptyElement(reader) == 1)
            case Int32(XML_READER_TYPE_END_ELEMENT.rawValue):
                return .end(name: string(xmlTextReaderConstLocalName(reader)),
                            namespace: string(xmlTextReaderConstNamespaceUri(reader)))
            case Int32(XML_READER_TYPE_TEXT.rawValue), Int32(XML_READER_TYPE_CDATA.rawValue),
                 Int32(XML_READER_TYPE_SIGNIFICANT_WHITESPACE.rawValue):
                return .text(string(xmlTextReaderConstValue(reader)))
            case Int32(XML_READER_TYPE_DOCUMENT_TYPE.rawValue), Int32(XML_READER_TYPE_ENTITY_REFERENCE.rawValue):
                throw .declaresDocumentType(part: part)
            default:
                continue
            }
        }
    }

    /// Passes over the content of the element just started, up to and with its end: `next`
    /// returns what follows it.
    func skipElement() throws(FormatRefusal) {
        switch xmlTextReaderNext(reader) {
        case 1: positioned = true
        case 0: break
        default: throw LibXML2.lastError(part: part)
        }
    }

    /// The value of the current element's attribute `name` in `namespace` (an empty namespace
    /// for an unprefixed attribute); nil when it has none.
    func attribute(_ name: String, namespace: String) -> String? {
        let found = namespace.isEmpty ? xmlTextReaderMoveToAttribute(reader, name)
            : xmlTextReaderMoveToAttributeNs(reader, name, namespace)
        guard found == 1 else { return nil }
        defer { xmlTextReaderMoveToElement(reader) }
        return string(xmlTextReaderConstValue(reader))
    }

    private func string(_ pointer: UnsafePointer<xmlChar>?) -> String {
        guard let pointer else { return "" }
        return String(cString: pointer)
    }
}

/// libxml2's process-wide setup and its last error.
enum LibXML2 {
    private static let initialised: Bool = {
        xmlInitParser()
        return true
    }()

    /// Initialises libxml2 once, as it asks before it is used from several threads.
    static func initialise() {
        _ = initialised
    }

    /// The refusal for the last error libxml2 raised on this thread, reading `part`.
    static func lastError(part: String) -> FormatRefusal {
        guard let error = xmlGetLastError(), let message = error.pointee.message else {
            return .malformedXML(part: part, message: "a parse error")
        }
        let text = String(cString: message).trimmingWhitespace
        // libxml2 gives its nesting limit no error code of its own.
        if error.pointee.code == Int32(XML_ERR_INTERNAL_ERROR.rawValue) && text.hasPrefix("Excessive depth") {
            return .nestedTooDeep(part: part, limit: XMLStream.maxDepth)
        }
        let line = error.pointee.line
        return .malformedXML(part: part, message: line > 0 ? "\(text) (line \(line))" : text)
    }
}

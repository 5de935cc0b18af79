/// What makes markup unfit to hand to libxml2, found in one linear pass before it reads a byte.
///
/// libxml2 2.9 (Debian 12's) compares each attribute of a tag with every one before it, so one tag
/// of a million attributes would hold a thread for hours where nothing can cancel it; and a part
/// that declares a document type is how XML entity bombs and external-entity reads begin.
enum MarkupScan {
    /// The most attributes a tag may have (SVG paths and data URLs are long, but few).
    static let maxAttributes = 1024

    enum Finding: Equatable {
        case declaresDocumentType
        case tooManyAttributes
    }

    /// The first finding in `bytes`, or nil. `declarations`: whether `<!DOCTYPE` and `<!ENTITY`
    /// count (XML parts; an HTML page has a doctype and libxml2's HTML parser expands no entity of its).
    static func scan(_ bytes: UnsafeBufferPointer<UInt8>, declarations: Bool) -> Finding? {
        let count = bytes.count
        var index = 0
        while index < count {
            guard bytes[index] == UInt8(ascii: "<"), index + 1 < count else {
                index += 1
                continue
            }
            let next = bytes[index + 1]
            if next == UInt8(ascii: "!") {
                if declarations && (matches("<!DOCTYPE", in: bytes, at: index) || matches("<!ENTITY", in: bytes, at: index)) {
                    return .declaresDocumentType
                }
                index += 2
                continue
            }
            guard isLetter(next) else {
                index += 1
                continue
            }
            // A start tag: count its attributes (runs of non-space outside quotes after the name),
            // up to the `>` outside quotes that ends it.
            var position = index + 1
            var attributes = -1  // the name is the first run
            var inRun = false
            var quote: UInt8?
            while position < count {
                let byte = bytes[position]
                if let open = quote {
                    if byte == open { quote = nil }
                } else if byte == UInt8(ascii: ">") {
                    break
                } else if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "'") {
                    quote = byte
                } else if byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\t")
                    || byte == UInt8(ascii: "\r") || byte == UInt8(ascii: "=") || byte == UInt8(ascii: "/") {
                    inRun = false
                } else if !inRun {
                    inRun = true
                    attributes += 1
                    if attributes > maxAttributes { return .tooManyAttributes }
                }
                position += 1
            }
            index = position + 1
        }
        return nil
    }

    static func matches(_ literal: StaticString, in bytes: UnsafeBufferPointer<UInt8>, at index: Int) -> Bool {
        let length = literal.utf8CodeUnitCount
        guard index + length <= bytes.count else { return false }
        return literal.withUTF8Buffer { bytes[index..<index + length].elementsEqual($0) }
    }

    static func isLetter(_ byte: UInt8) -> Bool {
        (byte | 0x20) >= UInt8(ascii: "a") && (byte | 0x20) <= UInt8(ascii: "z")
    }
}

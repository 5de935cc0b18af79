import Foundation

/// The settings of Hugging Face's `BertNormalizer`, with `strip_accents` resolved to a plain flag.
public struct BertNormalizerOptions: Sendable, Equatable {
    /// Drop control characters and turn every whitespace character into a space.
    public var cleanText: Bool
    /// Put spaces around CJK ideographs so that each becomes a word of its own.
    public var handleChineseChars: Bool
    /// Decompose (NFD) and drop the nonspacing marks.
    public var stripAccents: Bool
    /// Replace each character by its full Unicode lowercase mapping.
    public var lowercase: Bool

    /// Creates the settings; `stripAccents: nil` means "follow `lowercase`", as in Hugging Face.
    public init(cleanText: Bool = true, handleChineseChars: Bool = true, stripAccents: Bool? = nil, lowercase: Bool = true) {
        self.cleanText = cleanText
        self.handleChineseChars = handleChineseChars
        self.stripAccents = stripAccents ?? lowercase
        self.lowercase = lowercase
    }

    /// No normalisation at all: what is left is the pre-tokeniser's split on whitespace and punctuation.
    static let preTokenizerOnly = BertNormalizerOptions(
        cleanText: false, handleChineseChars: false, stripAccents: false, lowercase: false)
}

/// Receives the normalised text already cut by the BERT pre-tokeniser, one character at a time.
///
/// The normaliser never materialises the normalised string on the fast path: each surviving
/// character goes straight to the sink, which decides what a word boundary means for it.
protocol PreTokenSink {
    /// An ASCII character inside a word (already lower-cased where asked).
    mutating func wordByte(_ byte: UInt8)
    /// A non-ASCII character inside a word.
    mutating func wordScalar(_ scalar: Unicode.Scalar)
    /// A whitespace character: it ends the current word and is dropped by the pre-tokeniser.
    mutating func whitespace(_ scalar: Unicode.Scalar)
    /// A punctuation character: it ends the current word and is a word of its own.
    mutating func punctuation(_ scalar: Unicode.Scalar)
    /// The end of a piece of text normalised on its own (between added tokens).
    mutating func endOfSegment()
    /// True once the caller has all it wants; the normaliser stops early.
    var isFull: Bool { get }
}

/// Scratch space for the accent-stripping path, reused across the words of one `encode` call.
struct NormalizerScratch {
    /// Non-ASCII characters waiting for NFD: canonical reordering may move marks across them.
    var pending: [Unicode.Scalar] = []
    var decomposed: [Unicode.Scalar] = []

    init() {
        pending.reserveCapacity(16)
        decomposed.reserveCapacity(32)
    }
}

/// Hugging Face's `BertNormalizer` followed by `BertPreTokenizer`, fused into one pass over UTF-8.
///
/// ASCII goes through two 128-entry tables (class, lower-case); everything else takes the scalar
/// path, which applies the steps in Hugging Face's order: clean, CJK, NFD + mark removal, lowercase,
/// then the pre-tokeniser's whitespace / punctuation test on what came out.
struct BertNormalizer: Sendable {
    let options: BertNormalizerOptions

    /// Per ASCII byte, the `AsciiClass` after cleaning and pre-tokenising.
    private let asciiClass: [UInt8]
    /// Per ASCII byte, the byte that goes into the word (lower-cased when asked).
    private let asciiWordByte: [UInt8]

    private enum AsciiClass {
        static let word: UInt8 = 0
        static let whitespace: UInt8 = 1
        static let punctuation: UInt8 = 2
        static let removed: UInt8 = 3
    }

    init(options: BertNormalizerOptions) {
        self.options = options
        var classes = [UInt8](repeating: AsciiClass.word, count: 128)
        var bytes = [UInt8](repeating: 0, count: 128)
        for byte in 0..<128 {
            let b = UInt8(byte)
            bytes[byte] = options.lowercase && b >= 0x41 && b <= 0x5A ? b + 32 : b
            if options.cleanText && BertCharacterClasses.isRemovedByClean(Unicode.Scalar(b)) {
                classes[byte] = AsciiClass.removed
            } else if BertCharacterClasses.isASCIIWhitespace(b) {
                classes[byte] = AsciiClass.whitespace
            } else if BertCharacterClasses.isASCIIPunctuation(b) {
                classes[byte] = AsciiClass.punctuation
            }
        }
        asciiClass = classes
        asciiWordByte = bytes
    }

    /// Normalises and pre-tokenises `text` (valid UTF-8 expected; bad bytes read as U+FFFD) into `sink`.
    func run<Sink: PreTokenSink>(
        _ text: UnsafeBufferPointer<UInt8>, into sink: inout Sink, scratch: inout NormalizerScratch
    ) {
        asciiClass.withUnsafeBufferPointer { classes in
            asciiWordByte.withUnsafeBufferPointer { wordBytes in
                var i = 0
                let n = text.count
                while i < n {
                    let byte = text[i]
                    if byte < 0x80 {
                        i += 1
                        let cls = classes[Int(byte)]
                        if cls == AsciiClass.removed { continue }
                        // An ASCII character is a starter with no decomposition: NFD never
                        // reorders across it, so the pending run can be finished here.
                        if !scratch.pending.isEmpty { flushPending(into: &sink, scratch: &scratch) }
                        if cls == AsciiClass.word {
                            sink.wordByte(wordBytes[Int(byte)])
                        } else if cls == AsciiClass.whitespace {
                            sink.whitespace(Unicode.Scalar(options.cleanText ? 0x20 : byte))
                            if sink.isFull { return }
                        } else {
                            sink.punctuation(Unicode.Scalar(byte))
                            if sink.isFull { return }
                        }
                    } else {
                        let (scalar, length) = UTF8Decoding.decode(text, at: i)
                        i += length
                        nonASCII(scalar, into: &sink, scratch: &scratch)
                        if sink.isFull { return }
                    }
                }
                if !scratch.pending.isEmpty { flushPending(into: &sink, scratch: &scratch) }
                sink.endOfSegment()
            }
        }
    }

    /// The scalar path for one non-ASCII input character: clean, then CJK, then on to NFD.
    @inline(never)
    private func nonASCII<Sink: PreTokenSink>(
        _ scalar: Unicode.Scalar, into sink: inout Sink, scratch: inout NormalizerScratch
    ) {
        if options.cleanText {
            if BertCharacterClasses.isRemovedByClean(scalar) { return }
            if scalar.properties.isWhitespace {
                if !scratch.pending.isEmpty { flushPending(into: &sink, scratch: &scratch) }
                sink.whitespace(" ")
                return
            }
        }
        if options.handleChineseChars && BertCharacterClasses.isChineseCharacter(scalar.value) {
            // Hugging Face inserts a space on each side; spaces are NFD starters, so the
            // ideograph is normalised alone and forms a word alone.
            if !scratch.pending.isEmpty { flushPending(into: &sink, scratch: &scratch) }
            sink.whitespace(" ")
            accentStage(scalar, into: &sink, scratch: &scratch)
            if !scratch.pending.isEmpty { flushPending(into: &sink, scratch: &scratch) }
            sink.whitespace(" ")
            return
        }
        accentStage(scalar, into: &sink, scratch: &scratch)
    }

    @inline(__always)
    private func accentStage<Sink: PreTokenSink>(
        _ scalar: Unicode.Scalar, into sink: inout Sink, scratch: inout NormalizerScratch
    ) {
        if options.stripAccents {
            scratch.pending.append(scalar)
        } else {
            lowercaseStage(scalar, into: &sink)
        }
    }

    /// NFD of the pending run (Hugging Face's Unicode 9 tables), minus its nonspacing marks.
    private func flushPending<Sink: PreTokenSink>(into sink: inout Sink, scratch: inout NormalizerScratch) {
        scratch.decomposed.removeAll(keepingCapacity: true)
        for scalar in scratch.pending {
            CanonicalDecomposition.appendDecomposition(of: scalar, to: &scratch.decomposed)
        }
        scratch.pending.removeAll(keepingCapacity: true)
        CanonicalDecomposition.reorder(&scratch.decomposed)
        for scalar in scratch.decomposed where !BertCharacterClasses.isNonspacingMark(scalar) {
            lowercaseStage(scalar, into: &sink)
        }
    }

    private func lowercaseStage<Sink: PreTokenSink>(_ scalar: Unicode.Scalar, into sink: inout Sink) {
        guard options.lowercase else {
            classify(scalar, into: &sink)
            return
        }
        if scalar.value < 0x80 {
            classify(scalar.value >= 0x41 && scalar.value <= 0x5A ? Unicode.Scalar(UInt8(scalar.value + 32)) : scalar, into: &sink)
            return
        }
        // Rust's `char::to_lowercase`, one character at a time: no final-sigma context rule.
        for lower in scalar.properties.lowercaseMapping.unicodeScalars {
            classify(lower, into: &sink)
        }
    }

    /// The pre-tokeniser's view of one normalised character.
    private func classify<Sink: PreTokenSink>(_ scalar: Unicode.Scalar, into sink: inout Sink) {
        let value = scalar.value
        if value < 0x80 {
            let byte = UInt8(value)
            if BertCharacterClasses.isASCIIWhitespace(byte) {
                sink.whitespace(scalar)
            } else if BertCharacterClasses.isASCIIPunctuation(byte) {
                sink.punctuation(scalar)
            } else {
                sink.wordByte(byte)
            }
        } else if scalar.properties.isWhitespace {
            sink.whitespace(scalar)
        } else if BertCharacterClasses.isPunctuation(scalar) {
            sink.punctuation(scalar)
        } else {
            sink.wordScalar(scalar)
        }
    }
}

/// The character classes of Hugging Face `tokenizers`, which are not those of today's Unicode.
///
/// `tokenizers` takes general categories from the `unicode_categories` crate (Unicode 8.0 tables)
/// and NFD from `unicode-normalization-alignments` (Unicode 9.0), while Swift's tables are current.
/// Each rule below was checked against `tokenizers` 0.23.3 for every code point
/// (see `tools/tokenizer-diff.py --code-points`). Notably its "other" class does NOT include
/// unassigned code points (Cn): those, new emoji among them, are kept and become `[UNK]`.
enum BertCharacterClasses {
    /// True when the scalar was assigned in Unicode `major.minor` or earlier.
    @inline(__always)
    static func isAssigned(_ scalar: Unicode.Scalar, byMajor major: Int, minor: Int) -> Bool {
        guard let age = scalar.properties.age else { return false }
        return age.major < major || (age.major == major && age.minor <= minor)
    }

    /// What `clean_text` deletes: NUL, U+FFFD, and controls other than tab, newline, return,
    /// where "control" is Cc, Co, Cs and Cf as of Unicode 8.0.
    static func isRemovedByClean(_ scalar: Unicode.Scalar) -> Bool {
        let value = scalar.value
        if value < 0x80 {
            return value == 0 || ((value < 0x20 || value == 0x7F) && value != 0x09 && value != 0x0A && value != 0x0D)
        }
        if value == 0xFFFD { return true }
        switch scalar.properties.generalCategory {
        case .control, .privateUse, .surrogate:
            return true
        case .format:
            return isAssigned(scalar, byMajor: 8, minor: 0)
        default:
            return false
        }
    }

    /// Rust's `char::is_whitespace` restricted to ASCII.
    @inline(__always)
    static func isASCIIWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || (byte >= 0x09 && byte <= 0x0D)
    }

    /// `!"#$%&'()*+,-./:;<=>?@[\]^_`{|}~`
    @inline(__always)
    static func isASCIIPunctuation(_ byte: UInt8) -> Bool {
        (byte >= 0x21 && byte <= 0x2F) || (byte >= 0x3A && byte <= 0x40)
            || (byte >= 0x5B && byte <= 0x60) || (byte >= 0x7B && byte <= 0x7E)
    }

    /// ASCII punctuation or general category P* as of Unicode 8.0.
    static func isPunctuation(_ scalar: Unicode.Scalar) -> Bool {
        let value = scalar.value
        if value < 0x80 { return isASCIIPunctuation(UInt8(value)) }
        // Po in Unicode 8.0, recategorised since (to So and Mn).
        if value == 0x166D || value == 0x111C9 { return true }
        switch scalar.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
            .initialPunctuation, .finalPunctuation, .otherPunctuation:
            return isAssigned(scalar, byMajor: 8, minor: 0)
        default:
            return false
        }
    }

    /// General category Mn as of Unicode 8.0: what `strip_accents` drops after NFD.
    static func isNonspacingMark(_ scalar: Unicode.Scalar) -> Bool {
        let value = scalar.value
        if value < 0x300 { return false }
        switch value {
        case 0x1734, 0x1171E: return true  // Mn in 8.0, Mc now
        case 0x1885, 0x1886, 0xA9BD, 0x111C9: return false  // Mo, Mc, Mc, Po in 8.0, Mn now
        default: break
        }
        return scalar.properties.generalCategory == .nonspacingMark && isAssigned(scalar, byMajor: 8, minor: 0)
    }

    /// The CJK ranges of `handle_chinese_chars` (the same list as Google's original BERT).
    @inline(__always)
    static func isChineseCharacter(_ value: UInt32) -> Bool {
        (value >= 0x4E00 && value <= 0x9FFF) || (value >= 0x3400 && value <= 0x4DBF)
            || (value >= 0x20000 && value <= 0x2A6DF) || (value >= 0x2A700 && value <= 0x2B73F)
            || (value >= 0x2B740 && value <= 0x2B81F) || (value >= 0x2B920 && value <= 0x2CEAF)
            || (value >= 0xF900 && value <= 0xFAFF) || (value >= 0x2F800 && value <= 0x2FA1F)
    }
}

/// UTF-8 by hand, for the byte-level paths.
enum UTF8Decoding {
    /// Appends the UTF-8 encoding of `scalar`.
    @inline(__always)
    static func append(_ scalar: Unicode.Scalar, to bytes: inout [UInt8]) {
        let value = scalar.value
        if value < 0x80 {
            bytes.append(UInt8(value))
        } else if value < 0x800 {
            bytes.append(UInt8(0xC0 | value >> 6))
            bytes.append(UInt8(0x80 | value & 0x3F))
        } else if value < 0x10000 {
            bytes.append(UInt8(0xE0 | value >> 12))
            bytes.append(UInt8(0x80 | (value >> 6) & 0x3F))
            bytes.append(UInt8(0x80 | value & 0x3F))
        } else {
            bytes.append(UInt8(0xF0 | value >> 18))
            bytes.append(UInt8(0x80 | (value >> 12) & 0x3F))
            bytes.append(UInt8(0x80 | (value >> 6) & 0x3F))
            bytes.append(UInt8(0x80 | value & 0x3F))
        }
    }


    /// Decodes the scalar starting at `index`; a malformed sequence reads as U+FFFD of length 1.
    @inline(__always)
    static func decode(_ bytes: UnsafeBufferPointer<UInt8>, at index: Int) -> (Unicode.Scalar, Int) {
        let lead = UInt32(bytes[index])
        let length: Int
        var value: UInt32
        if lead & 0xE0 == 0xC0 {
            length = 2; value = lead & 0x1F
        } else if lead & 0xF0 == 0xE0 {
            length = 3; value = lead & 0x0F
        } else if lead & 0xF8 == 0xF0 {
            length = 4; value = lead & 0x07
        } else {
            return ("\u{FFFD}", 1)
        }
        guard index + length <= bytes.count else { return ("\u{FFFD}", 1) }
        for k in 1..<length {
            let next = UInt32(bytes[index + k])
            guard next & 0xC0 == 0x80 else { return ("\u{FFFD}", 1) }
            value = value << 6 | (next & 0x3F)
        }
        let minimum: UInt32 = length == 2 ? 0x80 : length == 3 ? 0x800 : 0x10000
        guard value >= minimum, let scalar = Unicode.Scalar(value) else { return ("\u{FFFD}", 1) }
        return (scalar, length)
    }
}

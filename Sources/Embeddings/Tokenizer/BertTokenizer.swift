import Foundation

/// A BERT WordPiece tokenizer that gives exactly the ids Hugging Face `tokenizers` gives
/// (`BertNormalizer` + `BertPreTokenizer` + `WordPiece`, with `[CLS] … [SEP]` around the text).
///
/// The value is immutable, so `encode` may be called from any number of threads at once.
public struct BertTokenizer: Sendable {
    /// The id put before every sequence.
    public let clsID: Int32
    /// The id put after every sequence.
    public let sepID: Int32
    /// The id to pad batches with (0 when the vocabulary has no pad token).
    public let padID: Int32
    /// The id of a word that WordPiece cannot spell.
    public let unknownID: Int32
    /// One more than the largest id the tokenizer can produce: the embedding table's row count.
    public let vocabularySize: Int
    /// The normaliser settings in force.
    public let normalizerOptions: BertNormalizerOptions
    /// Words longer than this many characters (after normalisation) become `[UNK]` whole.
    public let maxInputCharsPerWord: Int

    let vocabulary: VocabularyTable
    let normalizer: BertNormalizer
    /// The pre-tokeniser alone, for text that is already normalised.
    let preTokenizer: BertNormalizer
    /// Added tokens matched in the original text (`normalized: false`).
    let rawAddedTokens: AddedTokenMatcher
    /// Added tokens matched in the normalised text (`normalized: true`).
    let normalizedAddedTokens: AddedTokenMatcher
    let addedTokens: [ResolvedAddedToken]

    /// Loads `tokenizer.json` from the folder if present, otherwise `vocab.txt` (+ `tokenizer_config.json`
    /// for do_lower_case if present, default lower-case true).
    ///
    /// - Throws: `ModelLoadError` naming the file and the problem; never traps on bad content.
    public init(modelDirectory: URL) throws {
        try self.init(spec: try TokenizerFiles.load(directory: modelDirectory))
    }

    /// Builds one from a vocabulary (index = id) and normaliser settings.
    ///
    /// `specialTokens` that occur in the vocabulary are matched literally (case-sensitive) in the raw
    /// text, like Hugging Face's special added tokens. `stripAccents: nil` follows `lowercase`.
    /// - Throws: `ModelLoadError.malformed` when the vocabulary lacks `[CLS]`, `[SEP]` or the unknown token.
    public init(
        vocabulary: [String], lowercase: Bool = true, stripAccents: Bool? = nil, handleChineseChars: Bool = true,
        cleanText: Bool = true, unknownToken: String = "[UNK]", continuingSubwordPrefix: String = "##",
        maxInputCharsPerWord: Int = 100, specialTokens: [String] = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    ) throws {
        var spec = TokenizerSpec(source: "<vocabulary>")
        guard vocabulary.count <= Int(Int32.max) else {
            throw ModelLoadError.malformed(spec.source, "has more tokens than 32-bit ids can number")
        }
        for (id, token) in vocabulary.enumerated() { spec.appendToken(token, id: Int32(id)) }
        spec.normalizer = BertNormalizerOptions(
            cleanText: cleanText, handleChineseChars: handleChineseChars, stripAccents: stripAccents, lowercase: lowercase)
        spec.unknownToken = unknownToken
        spec.continuingSubwordPrefix = continuingSubwordPrefix
        spec.maxInputCharsPerWord = max(0, maxInputCharsPerWord)
        spec.vocabularySpecialTokens = specialTokens
        try self.init(spec: spec)
    }

    init(spec: TokenizerSpec) throws(ModelLoadError) {
        let vocabulary = VocabularyTable(
            arena: spec.arena, tokens: spec.tokens, continuingSubwordPrefix: Array(spec.continuingSubwordPrefix.utf8))
        var requested = spec.vocabularySpecialTokens.filter { vocabulary.id(forToken: $0) != nil }
            .map { AddedToken(content: $0, normalized: false) }
        requested += spec.addedTokens
        let added = Self.assignIDs(requested, vocabulary: vocabulary)

        var knownIDs = vocabulary.tokenRanges.count
        for token in added { knownIDs = max(knownIDs, Int(token.id) + 1) }
        func resolve(_ token: String, _ stated: Int32?) throws(ModelLoadError) -> Int32? {
            if let stated {
                guard stated >= 0 && Int(stated) < knownIDs else {
                    throw .malformed(spec.source, "gives \"\(token)\" the id \(stated), outside the vocabulary's \(knownIDs) ids")
                }
                return stated
            }
            if let entry = added.first(where: { $0.content == token }) { return entry.id }
            return vocabulary.id(forToken: token)
        }
        // WordPiece looks the unknown token up in its own vocabulary, not among the added tokens.
        guard let unknownID = vocabulary.id(forToken: spec.unknownToken) else {
            throw .malformed(spec.source, "has no unknown token \"\(spec.unknownToken)\" in its vocabulary; WordPiece needs one for words it cannot spell")
        }
        guard let clsID = try resolve(spec.cls.token, spec.cls.id) else {
            throw .malformed(spec.source, "has no \"\(spec.cls.token)\" token to start a sequence with")
        }
        guard let sepID = try resolve(spec.sep.token, spec.sep.id) else {
            throw .malformed(spec.source, "has no \"\(spec.sep.token)\" token to end a sequence with")
        }
        self.unknownID = unknownID
        self.clsID = clsID
        self.sepID = sepID
        self.padID = try resolve(spec.pad.token, spec.pad.id) ?? 0
        self.vocabulary = vocabulary
        self.addedTokens = added
        self.vocabularySize = knownIDs
        self.normalizerOptions = spec.normalizer
        self.maxInputCharsPerWord = spec.maxInputCharsPerWord
        let normalizer = BertNormalizer(options: spec.normalizer)
        self.normalizer = normalizer
        self.preTokenizer = BertNormalizer(options: .preTokenizerOnly)
        self.rawAddedTokens = AddedTokenMatcher(
            added.filter { !$0.normalized }.map { (Array($0.content.utf8), $0.id, $0.lstrip, $0.rstrip) })
        // Hugging Face matches these against the normalised text, so their content is normalised too.
        self.normalizedAddedTokens = AddedTokenMatcher(
            added.filter { $0.normalized }.map { (normalizer.normalizedBytes(of: $0.content), $0.id, $0.lstrip, $0.rstrip) })
    }

    /// Gives added tokens their ids the way Hugging Face does on load, ignoring any id the file states:
    /// a token in the vocabulary keeps its vocabulary id; a new one gets the vocabulary's entry count,
    /// or one more than the largest added id when that is already past it. A repeated content keeps
    /// its first id.
    private static func assignIDs(_ tokens: [AddedToken], vocabulary: VocabularyTable) -> [ResolvedAddedToken] {
        var resolved: [ResolvedAddedToken] = []
        var seen: Set<String> = []
        let entries = Int64(vocabulary.count)
        var largest: Int64 = -1
        for token in tokens where !seen.contains(token.content) {
            seen.insert(token.content)
            let id: Int64
            if let known = vocabulary.id(forToken: token.content) {
                id = Int64(known)
            } else if largest >= 0 && (largest >= entries || entries == 0) {
                id = largest + 1
            } else {
                id = entries
            }
            guard let id32 = Int32(exactly: id) else { continue }
            largest = max(largest, id)
            resolved.append(ResolvedAddedToken(content: token.content, id: id32, normalized: token.normalized,
                                               lstrip: token.lstrip, rstrip: token.rstrip))
        }
        return resolved
    }

    /// Token ids with [CLS] first and [SEP] last, truncated so the total is at most maxLength (>= 2):
    /// the word pieces are cut to maxLength-2.
    ///
    /// A `maxLength` below 2 is treated as 2.
    public func encode(_ text: String, maxLength: Int) -> [Int32] {
        let budget = max(maxLength, 2) - 2
        var ids: [Int32] = []
        ids.reserveCapacity(min(budget, text.utf8.count) + 2)
        ids.append(clsID)
        if budget > 0 {
            var text = text
            text.withUTF8 { bytes in
                appendPieces(of: bytes, budget: budget, to: &ids)
            }
        }
        ids.append(sepID)
        return ids
    }

    /// The token with this id (an added token's content for an id outside the vocabulary).
    public func token(forID id: Int32) -> String? {
        vocabulary.token(forID: id) ?? addedTokens.last(where: { $0.id == id })?.content
    }

    /// The id of this exact token (a vocabulary entry or an added token), if there is one.
    public func id(forToken token: String) -> Int32? {
        addedTokens.first(where: { $0.content == token })?.id ?? vocabulary.id(forToken: token)
    }

    private func appendPieces(of text: UnsafeBufferPointer<UInt8>, budget: Int, to ids: inout [Int32]) {
        vocabulary.withLookup { lookup in
            var sink = WordPieceSink(
                ids: ids, budget: budget, lookup: lookup, maxKeyLength: vocabulary.maxKeyLength,
                unknownID: unknownID, maxChars: maxInputCharsPerWord)
            ids = []  // the sink holds the only reference, so appends do not copy
            defer { sink.deallocate() }
            var scratch = NormalizerScratch()
            var position = 0
            while !sink.isFull {
                let match = rawAddedTokens.firstMatch(in: text, from: position, end: text.count)
                let end = match?.start ?? text.count
                if end > position {
                    appendSegment(UnsafeBufferPointer(rebasing: text[position..<end]), to: &sink, scratch: &scratch)
                }
                guard let match, !sink.isFull else { break }
                sink.addedToken(match.id)
                position = match.end
            }
            ids = sink.takeIDs()
        }
    }

    /// One stretch of text between raw added tokens: normalised on its own, as Hugging Face does.
    private func appendSegment(
        _ segment: UnsafeBufferPointer<UInt8>, to sink: inout WordPieceSink, scratch: inout NormalizerScratch
    ) {
        if normalizedAddedTokens.isEmpty {
            normalizer.run(segment, into: &sink, scratch: &scratch)
            return
        }
        var text = TextSink()
        normalizer.run(segment, into: &text, scratch: &scratch)
        text.bytes.withUnsafeBufferPointer { normalized in
            var position = 0
            while !sink.isFull {
                let match = normalizedAddedTokens.firstMatch(in: normalized, from: position, end: normalized.count)
                let end = match?.start ?? normalized.count
                if end > position {
                    preTokenizer.run(UnsafeBufferPointer(rebasing: normalized[position..<end]), into: &sink, scratch: &scratch)
                }
                guard let match, !sink.isFull else { break }
                sink.addedToken(match.id)
                position = match.end
            }
        }
    }
}

extension BertNormalizer {
    /// The normalised text as UTF-8 (what Hugging Face's `normalize_str` returns).
    func normalizedBytes(of text: String) -> [UInt8] {
        var sink = TextSink()
        var scratch = NormalizerScratch()
        var text = text
        text.withUTF8 { run($0, into: &sink, scratch: &scratch) }
        return sink.bytes
    }
}

/// Collects the normalised text itself, for matching normalised added tokens.
struct TextSink: PreTokenSink {
    var bytes: [UInt8] = []
    var isFull: Bool { false }

    mutating func wordByte(_ byte: UInt8) { bytes.append(byte) }
    mutating func wordScalar(_ scalar: Unicode.Scalar) { UTF8Decoding.append(scalar, to: &bytes) }
    mutating func whitespace(_ scalar: Unicode.Scalar) { UTF8Decoding.append(scalar, to: &bytes) }
    mutating func punctuation(_ scalar: Unicode.Scalar) { UTF8Decoding.append(scalar, to: &bytes) }
    mutating func endOfSegment() {}
}

/// Turns pre-tokenised words into WordPiece ids as they arrive.
///
/// The current word is kept as UTF-8 in a buffer that lives for one `encode` call. Only the first
/// `maxChars` characters are stored: a longer word is `[UNK]` whatever it holds.
struct WordPieceSink: PreTokenSink {
    private var ids: [Int32]
    /// Word pieces allowed after [CLS].
    private let budget: Int
    private let lookup: VocabularyTable.Lookup
    private let maxKeyLength: (wordStart: Int, continuation: Int)
    private let unknownID: Int32
    private let maxChars: Int

    private var word: UnsafeMutablePointer<UInt8>
    /// FNV-1a of each prefix of the remaining word: `prefixHashes[k]` covers bytes start..<k.
    private var prefixHashes: UnsafeMutablePointer<UInt64>
    private var capacity: Int
    private var length = 0
    private var characters = 0
    private(set) var isFull = false

    init(
        ids: [Int32], budget: Int, lookup: VocabularyTable.Lookup, maxKeyLength: (wordStart: Int, continuation: Int),
        unknownID: Int32, maxChars: Int
    ) {
        self.ids = ids
        self.budget = budget
        self.lookup = lookup
        self.maxKeyLength = maxKeyLength
        self.unknownID = unknownID
        self.maxChars = maxChars
        capacity = min(maxChars, 256) * 4 + 8
        word = .allocate(capacity: capacity)
        prefixHashes = .allocate(capacity: capacity + 1)
        isFull = ids.count - 1 >= budget
    }

    mutating func deallocate() {
        word.deallocate()
        prefixHashes.deallocate()
    }

    mutating func takeIDs() -> [Int32] {
        let result = ids
        ids = []
        return result
    }

    private mutating func grow(toHold needed: Int) {
        var newCapacity = capacity * 2
        while newCapacity < needed { newCapacity *= 2 }
        let newWord = UnsafeMutablePointer<UInt8>.allocate(capacity: newCapacity)
        newWord.update(from: word, count: length)
        word.deallocate()
        word = newWord
        prefixHashes.deallocate()
        prefixHashes = .allocate(capacity: newCapacity + 1)
        capacity = newCapacity
    }

    @inline(__always)
    mutating func wordByte(_ byte: UInt8) {
        if characters < maxChars {
            if length == capacity { grow(toHold: length + 1) }
            word[length] = byte
            length += 1
        }
        characters += 1
    }

    mutating func wordScalar(_ scalar: Unicode.Scalar) {
        if characters < maxChars {
            if length + 4 > capacity { grow(toHold: length + 4) }
            let value = scalar.value
            if value < 0x80 {
                word[length] = UInt8(value)
                length += 1
            } else if value < 0x800 {
                word[length] = UInt8(0xC0 | value >> 6)
                word[length + 1] = UInt8(0x80 | value & 0x3F)
                length += 2
            } else if value < 0x10000 {
                word[length] = UInt8(0xE0 | value >> 12)
                word[length + 1] = UInt8(0x80 | (value >> 6) & 0x3F)
                word[length + 2] = UInt8(0x80 | value & 0x3F)
                length += 3
            } else {
                word[length] = UInt8(0xF0 | value >> 18)
                word[length + 1] = UInt8(0x80 | (value >> 12) & 0x3F)
                word[length + 2] = UInt8(0x80 | (value >> 6) & 0x3F)
                word[length + 3] = UInt8(0x80 | value & 0x3F)
                length += 4
            }
        }
        characters += 1
    }

    @inline(__always)
    mutating func whitespace(_ scalar: Unicode.Scalar) {
        if characters > 0 { endWord() }
    }

    mutating func punctuation(_ scalar: Unicode.Scalar) {
        if characters > 0 { endWord() }
        guard !isFull else { return }
        wordScalar(scalar)
        endWord()
    }

    mutating func endOfSegment() {
        if characters > 0 { endWord() }
    }

    /// An added token found in the text: a piece of its own, between words.
    mutating func addedToken(_ id: Int32) {
        if characters > 0 { endWord() }
        guard !isFull else { return }
        ids.append(id)
        isFull = ids.count - 1 >= budget
    }

    /// WordPiece on the buffered word: greedy longest match from the left, the whole word `[UNK]`
    /// when some position has no match.
    private mutating func endWord() {
        defer {
            length = 0
            characters = 0
        }
        guard !isFull else { return }
        guard characters <= maxChars else {
            ids.append(unknownID)
            isFull = ids.count - 1 >= budget
            return
        }
        let firstPiece = ids.count
        var start = 0
        while start < length {
            let kind: VocabularyTable.Kind = start == 0 ? .wordStart : .continuation
            let limit = min(length, start + (start == 0 ? maxKeyLength.wordStart : maxKeyLength.continuation))
            var hash = VocabularyTable.seed(kind)
            var k = start
            while k < limit {
                hash = VocabularyTable.hash(hash, extendedBy: word[k])
                k += 1
                prefixHashes[k] = hash
            }
            var end = limit
            var found: Int32 = -1
            while end > start {
                // Only whole characters: a piece never ends inside a UTF-8 sequence.
                if end == length || word[end] & 0xC0 != 0x80 {
                    found = lookup.find(hash: prefixHashes[end], key: word + start, length: end - start, kind: kind)
                    if found >= 0 { break }
                }
                end -= 1
            }
            if found < 0 {
                ids.removeSubrange(firstPiece...)
                ids.append(unknownID)
                break
            }
            ids.append(found)
            start = end
        }
        if ids.count - 1 >= budget {
            if ids.count - 1 > budget { ids.removeSubrange((budget + 1)...) }
            isFull = true
        }
    }
}

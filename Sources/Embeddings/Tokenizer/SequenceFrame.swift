import StrictJSON

/// What the byte-level BPE and Unigram tokenizers share around their model, read from a
/// `tokenizer.json`: the added tokens, and the start and end tokens the post-processor puts around
/// a sequence.
///
/// As `tokenizers` does: the added tokens with `normalized: false` are matched in the raw text;
/// each stretch between them is normalised, and the added tokens with `normalized: true`
/// (RoBERTa's and XLM-RoBERTa's `<mask>` in the Hub's files) are matched in that, their own
/// content normalised too; the model gets the stretches between those.
struct SequenceFrame: Sendable {
    let clsID: Int32
    let sepID: Int32
    let padID: Int32
    /// The added tokens with the ids `tokenizers` gives them: the vocabulary's own, else the next free one.
    let addedTokens: [ResolvedAddedToken]
    private let rawMatcher: AddedTokenMatcher
    private let normalizedMatcher: AddedTokenMatcher
    private let normalize: @Sendable (String) -> String

    /// - Parameters:
    ///   - vocabularyID: a token's id in the model's vocabulary.
    ///   - firstFreeID: the id the first added token outside the vocabulary gets.
    ///   - normalize: the tokenizer's normaliser (none: the text as it is).
    init(json root: JSONValue, path: String, vocabularyID: (String) -> Int32?, firstFreeID: Int32,
         normalize: @escaping @Sendable (String) -> String = { $0 }) throws(ModelLoadError) {
        var nextID = firstFreeID
        var resolved: [ResolvedAddedToken] = []
        for token in try TokenizerFiles.readAddedTokens(root["added_tokens"], path: path)
        where !resolved.contains(where: { $0.content == token.content }) {
            let id = vocabularyID(token.content) ?? { defer { nextID += 1 }; return nextID }()
            resolved.append(ResolvedAddedToken(content: token.content, id: id, normalized: token.normalized,
                                               lstrip: token.lstrip, rstrip: token.rstrip))
        }
        addedTokens = resolved
        rawMatcher = AddedTokenMatcher(resolved.filter { !$0.normalized }.map { (Array($0.content.utf8), $0.id, $0.lstrip, $0.rstrip) })
        normalizedMatcher = AddedTokenMatcher(resolved.filter(\.normalized).map {
            (Array(normalize($0.content).utf8), $0.id, $0.lstrip, $0.rstrip)
        })
        self.normalize = normalize

        var spec = TokenizerSpec(source: path)
        spec.cls = ("<s>", nil)
        spec.sep = ("</s>", nil)
        spec.pad = ("<pad>", nil)
        try TokenizerFiles.readPostProcessor(root["post_processor"], into: &spec, path: path)
        if let name = root["padding"]?["pad_token"]?.string { spec.pad = (name, nil) }
        let knownIDs = max(nextID, (resolved.map(\.id).max() ?? -1) + 1)
        func id(_ wrap: (token: String, id: Int32?), _ role: String) throws(ModelLoadError) -> Int32 {
            if let stated = wrap.id {
                guard stated >= 0 && stated < knownIDs else {
                    throw .malformed(path, "gives \"\(wrap.token)\" the id \(stated), outside the vocabulary's \(knownIDs) ids")
                }
                return stated
            }
            guard let found = resolved.first(where: { $0.content == wrap.token })?.id ?? vocabularyID(wrap.token) else {
                throw .malformed(path, "has no \"\(wrap.token)\" token to \(role) a sequence with")
            }
            return found
        }
        clsID = try id(spec.cls, "start")
        sepID = try id(spec.sep, "end")
        padID = (try? id(spec.pad, "pad")) ?? 0
    }

    /// The added token of this content's id.
    func addedID(of token: String) -> Int32? { addedTokens.first(where: { $0.content == token })?.id }

    /// Ids with the start token first and the end token last, at most `maxLength` (at least 2) in
    /// all: the text's tokens are cut to `maxLength - 2`. `appendSegment` appends the model's ids for
    /// each stretch of normalised text between added tokens (told whether it starts the text); it
    /// may stop once the ids reach the budget it is given, and what it appends past it is cut.
    func encode(_ text: String, maxLength: Int,
                appendSegment: (_ normalized: UnsafeBufferPointer<UInt8>, _ first: Bool, _ ids: inout [Int32], _ budget: Int) -> Void)
        -> [Int32] {
        let budget = max(maxLength, 2) - 2
        var ids: [Int32] = [clsID]
        var text = text
        text.withUTF8 { bytes in
            split(bytes, on: rawMatcher, ids: &ids, budget: budget) { segment, segmentStart, ids in
                var normalized = normalize(String(decoding: segment, as: UTF8.self))
                normalized.withUTF8 { normalized in
                    split(normalized, on: normalizedMatcher, ids: &ids, budget: budget) { piece, pieceStart, ids in
                        appendSegment(piece, segmentStart == 0 && pieceStart == 0, &ids, budget + 1)
                    }
                }
            }
        }
        if ids.count - 1 > budget { ids.removeLast(ids.count - 1 - budget) }
        ids.append(sepID)
        return ids
    }

    /// Appends the ids of `matcher`'s tokens in `bytes`, and hands each stretch between them (with
    /// where it starts) to `between`, until the ids hold `budget` besides the start token.
    private func split(_ bytes: UnsafeBufferPointer<UInt8>, on matcher: AddedTokenMatcher, ids: inout [Int32], budget: Int,
                       between: (_ stretch: UnsafeBufferPointer<UInt8>, _ start: Int, _ ids: inout [Int32]) -> Void) {
        var position = 0
        while ids.count - 1 < budget {
            let match = matcher.firstMatch(in: bytes, from: position, end: bytes.count)
            let end = match?.start ?? bytes.count
            if end > position { between(UnsafeBufferPointer(rebasing: bytes[position..<end]), position, &ids) }
            guard let match, ids.count - 1 < budget else { break }
            ids.append(match.id)
            position = match.end
        }
    }
}

import StrictJSON

/// What the byte-level BPE and Unigram tokenizers share around their model, read from a
/// `tokenizer.json`: the added tokens, matched in the raw text before the model sees it, and the
/// start and end tokens the post-processor puts around a sequence.
struct SequenceFrame: Sendable {
    let clsID: Int32
    let sepID: Int32
    let padID: Int32
    /// The added tokens with the ids `tokenizers` gives them: the vocabulary's own, else the next free one.
    let addedTokens: [ResolvedAddedToken]
    private let matcher: AddedTokenMatcher

    /// - Parameters:
    ///   - vocabularyID: a token's id in the model's vocabulary.
    ///   - firstFreeID: the id the first added token outside the vocabulary gets.
    init(json root: JSONValue, path: String, vocabularyID: (String) -> Int32?, firstFreeID: Int32) throws(ModelLoadError) {
        var nextID = firstFreeID
        var resolved: [ResolvedAddedToken] = []
        for token in try TokenizerFiles.readAddedTokens(root["added_tokens"], path: path)
        where !resolved.contains(where: { $0.content == token.content }) {
            let id = vocabularyID(token.content) ?? { defer { nextID += 1 }; return nextID }()
            resolved.append(ResolvedAddedToken(content: token.content, id: id, normalized: token.normalized,
                                               lstrip: token.lstrip, rstrip: token.rstrip))
        }
        addedTokens = resolved
        matcher = AddedTokenMatcher(resolved.map { (Array($0.content.utf8), $0.id, $0.lstrip, $0.rstrip) })

        var spec = TokenizerSpec(source: path)
        spec.cls = ("<s>", nil)
        spec.sep = ("</s>", nil)
        spec.pad = ("<pad>", nil)
        try TokenizerFiles.readPostProcessor(root["post_processor"], into: &spec, path: path)
        if let name = root["padding"]?["pad_token"]?.string { spec.pad = (name, nil) }
        func id(_ wrap: (token: String, id: Int32?), _ role: String) throws(ModelLoadError) -> Int32 {
            if let stated = wrap.id { return stated }
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
    /// each stretch of text between added tokens (told whether it starts the text); it may stop once
    /// the ids reach the budget it is given, and what it appends past it is cut.
    func encode(_ text: String, maxLength: Int,
                appendSegment: (_ segment: UnsafeBufferPointer<UInt8>, _ first: Bool, _ ids: inout [Int32], _ budget: Int) -> Void)
        -> [Int32] {
        let budget = max(maxLength, 2) - 2
        var ids: [Int32] = [clsID]
        var text = text
        text.withUTF8 { bytes in
            var position = 0
            while ids.count - 1 < budget {
                let match = matcher.firstMatch(in: bytes, from: position, end: bytes.count)
                let end = match?.start ?? bytes.count
                if end > position {
                    appendSegment(UnsafeBufferPointer(rebasing: bytes[position..<end]), position == 0, &ids, budget + 1)
                }
                guard let match, ids.count - 1 < budget else { break }
                ids.append(match.id)
                position = match.end
            }
        }
        if ids.count - 1 > budget { ids.removeLast(ids.count - 1 - budget) }
        ids.append(sepID)
        return ids
    }
}

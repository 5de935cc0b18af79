import Foundation
import StrictJSON

/// A SentencePiece Unigram tokenizer (XLM-RoBERTa's, multilingual-e5's) that gives exactly the ids
/// Hugging Face `tokenizers` gives: added tokens matched in the raw text, then on each stretch
/// between them the normaliser steps (`Precompiled`, `Strip`, `Replace`), the `Metaspace`
/// pre-tokenizer (spaces as "▁", one before the text, a word at each), and Viterbi over the pieces'
/// scores, with unknown stretches fused into one unknown token; the post-processor's `<s> … </s>`
/// around it all.
///
/// Immutable, so `encode` may be called from any number of threads at once.
struct UnigramTokenizer: Sendable {
    let frame: SequenceFrame
    let vocabularySize: Int
    private let pieces: [String]
    /// Each piece's UTF-8 bytes to its id.
    private let vocabulary: VocabularyTable
    private let scores: [Double]
    private let longestPiece: Int
    private let unknownID: Int32
    /// What an unknown character scores: the lowest piece's score less 10 (`tokenizers`' penalty).
    private let unknownScore: Double
    private let normalizer: [NormalizerStep]
    /// Whether words are first split at whitespace, which is dropped (`WhitespaceSplit`).
    private let splitsAtWhitespace: Bool
    private let metaspace: Metaspace

    /// One step of the normaliser sequence.
    enum NormalizerStep: Sendable {
        case precompiled(PrecompiledCharsmap)
        case strip(left: Bool, right: Bool)
        /// Every run of `minimum` or more spaces (the regular expression ` {n,}`) becomes `content`.
        case replaceSpaceRuns(minimum: Int, content: String)
        case replace(pattern: String, content: String)
    }

    /// The Metaspace pre-tokenizer's settings.
    struct Metaspace: Sendable {
        var replacement: Unicode.Scalar = "\u{2581}"
        /// `always`: "▁" before every stretch that lacks one; `first`: before the text's first
        /// stretch only; `never`.
        var prependScheme = "always"
        var splits = true
    }

    /// How transformers 5 builds the pipeline around an `XLMRobertaTokenizer`'s files: the
    /// `Precompiled` charsmap of the file's normaliser and nothing else of it, `WhitespaceSplit` then
    /// `Metaspace` (a "▁" before each word when `addPrefixSpace`), whatever the file's pre-tokenizer.
    /// sentence-transformers 6 tokenises with that, so mcp-rag does too.
    struct TransformersPipeline: Sendable {
        var addPrefixSpace: Bool
    }

    /// Reads a parsed `tokenizer.json`; with `pipeline`, puts transformers 5's normaliser and
    /// pre-tokenizer around its Unigram model instead of the file's own.
    init(json root: JSONValue, path: String, pipeline: TransformersPipeline? = nil) throws(ModelLoadError) {
        let model = root["model"] ?? .null
        if model["byte_fallback"]?.bool == true {
            throw .unsupported(path, "sets model.byte_fallback; only Unigram tokenizers without it (XLM-RoBERTa's) are supported")
        }
        guard case .array(let entries)? = model["vocab"], !entries.isEmpty else {
            throw .malformed(path, "has no model.vocab list of [piece, score] pairs")
        }
        var pieces: [String] = []
        var scores: [Double] = []
        var arena: [UInt8] = []
        var spans: [(offset: Int, length: Int, id: Int32)] = []
        pieces.reserveCapacity(entries.count)
        for (index, entry) in entries.enumerated() {
            guard case .array(let pair) = entry, pair.count == 2, let piece = pair[0].string,
                  case .number(let score) = pair[1] else {
                throw .malformed(path, "model.vocab[\(index)] is not a [piece, score] pair")
            }
            pieces.append(piece)
            scores.append(score)
            spans.append((arena.count, piece.utf8.count, Int32(index)))
            arena.append(contentsOf: piece.utf8)
        }
        // A piece listed twice keeps its last id, as `tokenizers` builds its map.
        let vocabulary = VocabularyTable(arena: arena, tokens: spans, continuingSubwordPrefix: nil)
        guard let unknown = model["unk_id"]?.integer, pieces.indices.contains(unknown) else {
            throw .malformed(path, "has no model.unk_id inside its vocabulary; Unigram needs one for what no piece spells")
        }
        self.pieces = pieces
        self.scores = scores
        self.vocabulary = vocabulary
        longestPiece = max(1, vocabulary.maxKeyLength.wordStart)
        unknownID = Int32(unknown)
        unknownScore = (scores.min() ?? 0) - 10
        if let pipeline {
            // Only the charsmap is taken from the file; its other steps are not run, so not checked.
            normalizer = try Self.precompiledSteps(root["normalizer"], path: path)
            splitsAtWhitespace = true
            metaspace = Metaspace(prependScheme: pipeline.addPrefixSpace ? "always" : "never")
        } else {
            normalizer = try Self.normalizerSteps(root["normalizer"], path: path)
            (splitsAtWhitespace, metaspace) = try Self.preTokenizer(root["pre_tokenizer"], path: path)
        }

        let steps = normalizer
        frame = try SequenceFrame(json: root, path: path, vocabularyID: { vocabulary.id(forToken: $0) },
                                  firstFreeID: Int32(pieces.count), normalize: { Self.normalize($0, steps: steps) })
        vocabularySize = max(pieces.count, Int((frame.addedTokens.map(\.id).max() ?? -1) + 1))
    }

    /// The `Precompiled` steps of a normaliser, alone or in a sequence.
    private static func precompiledSteps(_ value: JSONValue?, path: String) throws(ModelLoadError) -> [NormalizerStep] {
        guard let value, !value.isNull else { return [] }
        switch value["type"]?.string {
        case "Precompiled": return try normalizerSteps(value, path: path)
        case "Sequence":
            guard case .array(let steps)? = value["normalizers"] else { return [] }
            var result: [NormalizerStep] = []
            for step in steps { result += try precompiledSteps(step, path: path) }
            return result
        default: return []
        }
    }

    private static func normalizerSteps(_ value: JSONValue?, path: String) throws(ModelLoadError) -> [NormalizerStep] {
        guard let value, !value.isNull else { return [] }
        let type = value["type"]?.string ?? "(no type)"
        switch type {
        case "Sequence":
            guard case .array(let steps)? = value["normalizers"] else {
                throw .malformed(path, "normalizer (Sequence) has no normalizers list")
            }
            var result: [NormalizerStep] = []
            for step in steps { result += try normalizerSteps(step, path: path) }
            return result
        case "Precompiled":
            guard let encoded = value["precompiled_charsmap"]?.string, let blob = Data(base64Encoded: encoded) else {
                throw .malformed(path, "normalizer (Precompiled) has no base64 precompiled_charsmap")
            }
            do {
                return [.precompiled(try PrecompiledCharsmap(blob: [UInt8](blob)))]
            } catch {
                throw .malformed(path, "normalizer (Precompiled) holds a precompiled_charsmap that is not SentencePiece's")
            }
        case "Strip":
            return [.strip(left: value["strip_left"]?.bool ?? false, right: value["strip_right"]?.bool ?? false)]
        case "Replace":
            let content = value["content"]?.string ?? ""
            if let literal = value["pattern"]?["String"]?.string, !literal.isEmpty {
                return [.replace(pattern: literal, content: content)]
            }
            // SentencePiece's converters use one expression: runs of spaces.
            if let expression = value["pattern"]?["Regex"]?.string, expression.hasPrefix(" {"), expression.hasSuffix(",}"),
               let minimum = Int(expression.dropFirst(2).dropLast(2)), minimum >= 1 {
                return [.replaceSpaceRuns(minimum: minimum, content: content)]
            }
            throw .unsupported(path, "has a Replace normalizer with a pattern other than a string or \" {n,}\"; it is not supported")
        default:
            throw .unsupported(path, "uses a \(type) normalizer with its Unigram model; only Precompiled, Strip and Replace are supported")
        }
    }

    /// `Metaspace`, alone or after `WhitespaceSplit` (as transformers 5 writes XLM-RoBERTa's).
    private static func preTokenizer(_ value: JSONValue?, path: String) throws(ModelLoadError) -> (Bool, Metaspace) {
        if let value, value["type"]?.string == "Sequence", case .array(let steps)? = value["pretokenizers"], steps.count == 2,
           steps[0]["type"]?.string == "WhitespaceSplit" {
            return (true, try metaspace(steps[1], path: path))
        }
        return (false, try metaspace(value, path: path))
    }

    private static func metaspace(_ value: JSONValue?, path: String) throws(ModelLoadError) -> Metaspace {
        guard let value, value["type"]?.string == "Metaspace" else {
            throw .unsupported(path, "uses a \(value?["type"]?.string ?? "missing") pre-tokenizer with its Unigram model; only Metaspace, alone or after WhitespaceSplit (XLM-RoBERTa's), is supported")
        }
        var settings = Metaspace()
        if let replacement = value["replacement"]?.string {
            guard replacement.unicodeScalars.count == 1, let scalar = replacement.unicodeScalars.first else {
                throw .malformed(path, "pre_tokenizer.replacement is not one character")
            }
            settings.replacement = scalar
        }
        if let scheme = value["prepend_scheme"]?.string {
            guard ["always", "first", "never"].contains(scheme) else {
                throw .unsupported(path, "pre_tokenizer.prepend_scheme \"\(scheme)\" is not always, first or never")
            }
            settings.prependScheme = scheme
        } else if let prefix = value["add_prefix_space"]?.bool {
            settings.prependScheme = prefix ? "always" : "never"
        }
        settings.splits = value["split"]?.bool ?? true
        return settings
    }

    /// The piece with this id (an added token's content for an id past the pieces).
    func token(forID id: Int32) -> String? {
        pieces.indices.contains(Int(id)) ? pieces[Int(id)] : frame.addedTokens.first(where: { $0.id == id })?.content
    }

    /// The id of this exact piece or added token.
    func id(forToken token: String) -> Int32? {
        frame.addedID(of: token) ?? vocabulary.id(forToken: token)
    }

    /// Ids with `<s>` first and `</s>` last, at most `maxLength` (at least 2) in all.
    func encode(_ text: String, maxLength: Int) -> [Int32] {
        frame.encode(text, maxLength: maxLength) { normalized, first, ids, budget in
            appendPieces(of: String(decoding: normalized, as: UTF8.self), first: first, to: &ids, budget: budget)
        }
    }

    /// One normalised stretch between added tokens: split at whitespace where the pipeline does,
    /// each part cut into words at each "▁", each word's pieces. Scalar by scalar, as `tokenizers`
    /// works on characters, not on graphemes.
    private func appendPieces(of segment: String, first: Bool, to ids: inout [Int32], budget: Int) {
        let scalars = Array(segment.unicodeScalars)
        let parts = splitsAtWhitespace ? scalars.split(whereSeparator: \.properties.isWhitespace) : [scalars[...]]
        for (index, part) in parts.enumerated() where !part.isEmpty && ids.count < budget {
            appendWords(of: part, first: first && index == 0, to: &ids, budget: budget)
        }
    }

    /// Metaspace: spaces as "▁", one before the text as the scheme says, a word at each "▁".
    private func appendWords(of part: ArraySlice<Unicode.Scalar>, first: Bool, to ids: inout [Int32], budget: Int) {
        let marker = metaspace.replacement
        var scalars = part.map { $0 == " " ? marker : $0 }
        let prepends = metaspace.prependScheme == "always" || metaspace.prependScheme == "first" && first
        if prepends, scalars.first != marker { scalars.insert(marker, at: 0) }
        var start = 0
        func appendWord(_ end: Int) {
            var bytes: [UInt8] = []
            for scalar in scalars[start..<end] { bytes.append(contentsOf: String(scalar).utf8) }
            viterbi(bytes, into: &ids)
        }
        if metaspace.splits {
            // Each marker starts a word (`MergedWithNext`).
            for index in scalars.indices where scalars[index] == marker && index > start && ids.count < budget {
                appendWord(index)
                start = index
            }
        }
        if start < scalars.count, ids.count < budget { appendWord(scalars.count) }
    }

    /// `segment` through the normaliser `steps` in order.
    private static func normalize(_ segment: String, steps: [NormalizerStep]) -> String {
        var text = segment
        for step in steps {
            switch step {
            case .precompiled(let charsmap):
                text = charsmap.normalize(text)
            case .strip(let left, let right):
                var scalars = Substring(text).unicodeScalars[...]
                if left { while let first = scalars.first, first.properties.isWhitespace { scalars.removeFirst() } }
                if right { while let last = scalars.last, last.properties.isWhitespace { scalars.removeLast() } }
                text = String(String.UnicodeScalarView(scalars))
            case .replaceSpaceRuns(let minimum, let content):
                var result = ""
                var run = 0
                for scalar in text.unicodeScalars {
                    if scalar == " " {
                        run += 1
                        continue
                    }
                    if run > 0 { result += run >= minimum ? content : String(repeating: " ", count: run) }
                    run = 0
                    result.unicodeScalars.append(scalar)
                }
                if run > 0 { result += run >= minimum ? content : String(repeating: " ", count: run) }
                text = result
            case .replace(let pattern, let content):
                text = text.replacingOccurrences(of: pattern, with: content, options: .literal)
            }
        }
        return text
    }

    /// The best segmentation of `word` into pieces by total score (`tokenizers`' `encode_optimized`:
    /// the first of equal scores kept), unknown characters scoring `unknownScore` and fused with
    /// their unknown neighbours into one token.
    ///
    /// The pieces starting at each position are found with one hash step per byte (see
    /// `VocabularyTable`): O(n × longest piece) for a word of n bytes. Hashing each candidate anew
    /// was O(n × longest piece²), seconds for a long run without spaces.
    private func viterbi(_ word: [UInt8], into ids: inout [Int32]) {
        let count = word.count
        guard count > 0 else { return }
        var best = [(score: Double, start: Int, id: Int32)?](repeating: nil, count: count + 1)
        best[0] = (0, 0, -1)
        vocabulary.withLookup { lookup in
            word.withUnsafeBufferPointer { bytes in
                var start = 0
                while start < count {
                    let here = best[start]?.score ?? 0
                    let characterLength = Self.utf8Length(leading: bytes[start])
                    var hasSingle = false
                    var hash = VocabularyTable.wordStartSeed
                    for length in 1...min(longestPiece, count - start) {
                        hash = VocabularyTable.hash(hash, extendedBy: bytes[start + length - 1])
                        let id = lookup.find(hash: hash, key: bytes.baseAddress! + start, length: length, kind: .wordStart)
                        guard id >= 0 else { continue }
                        let candidate = here + scores[Int(id)]
                        if best[start + length] == nil || candidate > best[start + length]!.score {
                            best[start + length] = (candidate, start, id)
                        }
                        if length == characterLength { hasSingle = true }
                    }
                    if !hasSingle {
                        let end = min(start + characterLength, count)
                        let candidate = here + unknownScore
                        if best[end] == nil || candidate > best[end]!.score { best[end] = (candidate, start, unknownID) }
                    }
                    start += characterLength
                }
            }
        }
        var tokens: [Int32] = []
        var unknownEnd: Int?
        var end = count
        while end > 0, let node = best[end] {
            if node.id == unknownID {
                if unknownEnd == nil { unknownEnd = end }
            } else {
                if let fusedEnd = unknownEnd {
                    tokens.append(pieceID(word[end..<fusedEnd]))
                    unknownEnd = nil
                }
                tokens.append(node.id)
            }
            end = node.start
        }
        if let fusedEnd = unknownEnd { tokens.append(pieceID(word[0..<fusedEnd])) }
        ids.append(contentsOf: tokens.reversed())
    }

    /// The id of the piece spelled by `bytes`, the unknown token's when none is.
    private func pieceID(_ bytes: ArraySlice<UInt8>) -> Int32 {
        guard bytes.count <= longestPiece else { return unknownID }
        return vocabulary.id(forBytes: bytes) ?? unknownID
    }

    private static func utf8Length(leading byte: UInt8) -> Int {
        byte < 0x80 ? 1 : byte < 0xE0 ? 2 : byte < 0xF0 ? 3 : 4
    }
}

import Foundation
import StrictJSON

/// A byte-level BPE tokenizer (RoBERTa's, GPT-2's) that gives exactly the ids Hugging Face
/// `tokenizers` gives: added tokens matched in the raw text first, then on each stretch between
/// them the `ByteLevel` pre-tokenizer (GPT-2's split pattern, every byte written as a printable
/// character) and the merges in rank order, with the post-processor's `<s> … </s>` around it all.
///
/// Immutable, so `encode` may be called from any number of threads at once.
struct ByteLevelBPETokenizer: Sendable {
    let frame: SequenceFrame
    let vocabularySize: Int
    /// Tokens by id, for reports and tests.
    private let tokensByID: [Int32: String]
    private let idsByToken: [String: Int32]
    /// Each byte's one-character token, by byte value.
    private let byteIDs: [Int32]
    /// The merge of a pair of ids (left << 32 | right): its rank (lower merges first) and the id
    /// of the merged token.
    private let merges: [UInt64: (rank: Int32, id: Int32)]
    private let addPrefixSpace: Bool
    /// Split with GPT-2's pattern (`use_regex`); else every stretch is one word.
    private let splitsWords: Bool
    /// A word that is a token whole skips the merges (`ignore_merges`).
    private let ignoresMerges: Bool

    /// GPT-2's map from bytes to printable characters: the printable Latin-1 bytes stand for
    /// themselves, the others (controls, space, soft hyphen) for U+0100 onwards in byte order.
    static let byteCharacters: [Unicode.Scalar] = {
        var printable = Set<Int>(33...126)
        printable.formUnion(161...172)
        printable.formUnion(174...255)
        var next = 256
        return (0..<256).map { byte in
            if printable.contains(byte) { return Unicode.Scalar(UInt32(byte))! }
            defer { next += 1 }
            return Unicode.Scalar(UInt32(next))!
        }
    }()

    /// How transformers 5 builds the pipeline around a `RobertaTokenizer`'s files: no normaliser,
    /// `ByteLevel` with `add_prefix_space` from `tokenizer_config.json` (default false) and GPT-2's
    /// split, whatever the file's normaliser and pre-tokenizer say; sentence-transformers 6
    /// tokenises with that, so mcp-rag does too.
    struct TransformersPipeline: Sendable {
        var addPrefixSpace: Bool
    }

    /// Reads the BPE model, pre-tokenizer, post-processor and added tokens of a `tokenizer.json`
    /// already parsed (with `pipeline`, transformers 5's normaliser and pre-tokenizer instead of
    /// the file's); refuses what it cannot run exactly, naming it.
    init(json root: JSONValue, path: String, pipeline: TransformersPipeline? = nil) throws(ModelLoadError) {
        let model = root["model"] ?? .null
        if let dropout = model["dropout"], !dropout.isNull, dropout.integer != 0 {
            throw .unsupported(path, "sets BPE dropout, which makes tokenisation random; only dropout null is supported")
        }
        for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
            if let affix = model[key]?.string, !affix.isEmpty {
                throw .unsupported(path, "sets model.\(key) \"\(affix)\"; only byte-level BPE without one (RoBERTa's) is supported")
            }
        }
        if model["byte_fallback"]?.bool == true {
            throw .unsupported(path, "sets model.byte_fallback, which byte-level BPE never needs; it is not supported")
        }
        if let pipeline {
            addPrefixSpace = pipeline.addPrefixSpace
            splitsWords = true
            ignoresMerges = false
        } else {
            if let normalizer = root["normalizer"], !normalizer.isNull {
                throw .unsupported(path, "has a \(normalizer["type"]?.string ?? "(no type)") normalizer before its BPE model; only none (RoBERTa's) is supported")
            }
            let preTokenizer = root["pre_tokenizer"] ?? .null
            guard preTokenizer["type"]?.string == "ByteLevel" else {
                throw .unsupported(path, "uses a \(preTokenizer["type"]?.string ?? "missing") pre-tokenizer with its BPE model; only ByteLevel (RoBERTa's) is supported")
            }
            addPrefixSpace = preTokenizer["add_prefix_space"]?.bool ?? true
            splitsWords = preTokenizer["use_regex"]?.bool ?? true
            ignoresMerges = model["ignore_merges"]?.bool ?? false
        }

        guard case .object(let entries)? = model["vocab"], !entries.isEmpty else {
            throw .malformed(path, "has no model.vocab object mapping each token to its id")
        }
        var idsByToken: [String: Int32] = [:]
        idsByToken.reserveCapacity(entries.count)
        for (token, value) in entries {
            guard let id = value.integer, let id32 = Int32(exactly: id), id32 >= 0, id < entries.count + 1_000_000 else {
                throw .malformed(path, "model.vocab maps \"\(token)\" to something that is not an id")
            }
            idsByToken[token] = id32
        }
        byteIDs = Self.byteCharacters.map { idsByToken[String($0)] ?? -1 }
        if let missing = byteIDs.firstIndex(of: -1) {
            throw .malformed(path, "has no token for the byte \(missing) (\"\(Self.byteCharacters[missing])\"); a byte-level vocabulary has all 256")
        }
        guard case .array(let mergeList)? = model["merges"] else {
            throw .malformed(path, "has no model.merges list")
        }
        var merges: [UInt64: (rank: Int32, id: Int32)] = [:]
        merges.reserveCapacity(mergeList.count)
        for (rank, merge) in mergeList.enumerated() {
            // "left right" in older files, ["left", "right"] in newer ones.
            let pair: [String]
            if let text = merge.string {
                pair = text.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
            } else if case .array(let parts) = merge {
                pair = parts.compactMap(\.string)
            } else {
                pair = []
            }
            guard pair.count == 2, let left = idsByToken[pair[0]], let right = idsByToken[pair[1]],
                  let merged = idsByToken[pair[0] + pair[1]] else {
                throw .malformed(path, "model.merges[\(rank)] is not two tokens of the vocabulary whose join is one too")
            }
            let key = UInt64(UInt32(left)) << 32 | UInt64(UInt32(right))
            // A pair listed twice keeps its last rank, as `tokenizers` collects them into a map.
            merges[key] = (Int32(rank), merged)
        }
        self.merges = merges

        // Without a normaliser the normalised text is the text: every added token is matched in it.
        frame = try SequenceFrame(json: root, path: path, vocabularyID: { idsByToken[$0] }, firstFreeID: Int32(idsByToken.count))
        var tokensByID: [Int32: String] = [:]
        for (token, id) in idsByToken { tokensByID[id] = token }
        for token in frame.addedTokens { tokensByID[token.id] = token.content }
        self.tokensByID = tokensByID
        self.idsByToken = idsByToken
        vocabularySize = Int((tokensByID.keys.max() ?? -1) + 1)
    }

    /// The token with this id.
    func token(forID id: Int32) -> String? { tokensByID[id] }

    /// The id of this exact token.
    func id(forToken token: String) -> Int32? {
        frame.addedID(of: token) ?? idsByToken[token]
    }

    /// Ids with `<s>` first and `</s>` last, at most `maxLength` (at least 2) in all.
    func encode(_ text: String, maxLength: Int) -> [Int32] {
        frame.encode(text, maxLength: maxLength) { segment, _, ids, budget in appendWords(of: segment, to: &ids, budget: budget) }
    }

    /// One stretch between added tokens: split into words, each word's bytes merged.
    private func appendWords(of segment: UnsafeBufferPointer<UInt8>, to ids: inout [Int32], budget: Int) {
        var bytes = Array(segment)
        if addPrefixSpace, bytes.first != 0x20 { bytes.insert(0x20, at: 0) }
        bytes.withUnsafeBufferPointer { bytes in
            let words = splitsWords ? GPT2Split.words(in: bytes) : [0..<bytes.count]
            for word in words where ids.count < budget {
                appendTokens(of: UnsafeBufferPointer(rebasing: bytes[word]), to: &ids)
            }
        }
    }

    /// A word's tokens: its bytes' characters, merged pair by pair, the lowest-ranked pair first
    /// (the leftmost of equals), as long as a merge applies.
    private func appendTokens(of word: UnsafeBufferPointer<UInt8>, to ids: inout [Int32]) {
        guard !word.isEmpty else { return }
        if ignoresMerges, let whole = idsByToken[String(String.UnicodeScalarView(word.map { Self.byteCharacters[Int($0)] }))] {
            ids.append(whole)
            return
        }
        // The symbols as a linked list, and the candidate merges in a heap by (rank, position), as
        // `tokenizers` merges: a candidate is passed over unless the pair now at its position merges
        // into the same token (its test for an expired entry). O(n log n) in the word's length, so a
        // megabyte without a space costs little more than its size.
        var symbols = word.map { byteIDs[Int($0)] }
        var next = Array(1...symbols.count)
        var previous = Array(-1..<(symbols.count - 1))
        var alive = [Bool](repeating: true, count: symbols.count)
        var heap = MergeHeap()
        func merge(at left: Int) -> (rank: Int32, id: Int32)? {
            let right = next[left]
            guard right < symbols.count else { return nil }
            return merges[UInt64(UInt32(symbols[left])) << 32 | UInt64(UInt32(symbols[right]))]
        }
        func queue(_ left: Int) {
            if let merge = merge(at: left) { heap.push(.init(rank: merge.rank, position: left, id: merge.id)) }
        }
        for index in symbols.indices.dropLast() { queue(index) }
        while let top = heap.pop() {
            guard alive[top.position], merge(at: top.position)?.id == top.id else { continue }
            let right = next[top.position]
            symbols[top.position] = top.id
            alive[right] = false
            next[top.position] = next[right]
            if next[right] < symbols.count { previous[next[right]] = top.position }
            if previous[top.position] >= 0 { queue(previous[top.position]) }
            queue(top.position)
        }
        var index = 0
        while index < symbols.count {
            ids.append(symbols[index])
            index = next[index]
        }
    }
}

/// GPT-2's pre-tokenizer pattern, as `tokenizers` runs it (Oniguruma, Unicode classes):
/// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`, written out as a
/// scanner over scalars so that it needs no regular-expression engine.
enum GPT2Split {
    private enum Kind: Equatable { case letter, number, space, other }

    private static func kind(of scalar: Unicode.Scalar) -> Kind {
        let properties = scalar.properties
        if properties.isWhitespace { return .space }
        switch properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return .letter
        case .decimalNumber, .letterNumber, .otherNumber: return .number
        default: return .other
        }
    }

    /// The byte ranges of the words of `text` (valid UTF-8), in order, covering all of it.
    static func words(in text: UnsafeBufferPointer<UInt8>) -> [Range<Int>] {
        // Every scalar's start and kind, and the end as a last start.
        var starts: [Int] = []
        var kinds: [Kind] = []
        var scalars: [Unicode.Scalar] = []
        var index = 0
        while index < text.count, let decoded = UTF8Scalars.scalar(at: index, in: text, end: text.count) {
            starts.append(index)
            kinds.append(kind(of: decoded.scalar))
            scalars.append(decoded.scalar)
            index = decoded.end
        }
        starts.append(index)
        let count = kinds.count
        var words: [Range<Int>] = []
        var i = 0
        func run(from start: Int, of wanted: Kind) -> Int {
            var end = start
            while end < count, kinds[end] == wanted { end += 1 }
            return end
        }
        while i < count {
            var end = i
            if scalars[i] == "'", i + 1 < count {
                // 's 't 're 've 'm 'll 'd, lower case only.
                let next = scalars[i + 1], after = i + 2 < count ? scalars[i + 2] : nil
                if "stmd".unicodeScalars.contains(next) {
                    end = i + 2
                } else if (next == "r" || next == "v") && after == "e" || next == "l" && after == "l" {
                    end = i + 3
                }
            }
            if end == i {
                // An optional space, then a run of one kind: letters, numbers, or anything else.
                let body = scalars[i] == " " && i + 1 < count && kinds[i + 1] != .space ? i + 1 : i
                if kinds[body] != .space {
                    end = run(from: body, of: kinds[body] == .other ? .other : kinds[body])
                } else {
                    // Whitespace: all of it at the end of the text; before something else, all
                    // but the last (which goes with what follows), unless that leaves none.
                    let spaces = run(from: i, of: .space)
                    end = spaces == count || spaces - i == 1 ? spaces : spaces - 1
                }
            }
            words.append(starts[i]..<starts[end])
            i = end
        }
        return words
    }
}

/// The candidate merges of one word, lowest (rank, position) first: the order `tokenizers` applies them in.
private struct MergeHeap {
    struct Candidate {
        var rank: Int32
        var position: Int
        /// The token the pair merges into.
        var id: Int32

        func precedes(_ other: Candidate) -> Bool { rank != other.rank ? rank < other.rank : position < other.position }
    }

    private var items: [Candidate] = []

    mutating func push(_ candidate: Candidate) {
        items.append(candidate)
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard items[child].precedes(items[parent]) else { break }
            items.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> Candidate? {
        guard let first = items.first else { return nil }
        let last = items.removeLast()
        guard !items.isEmpty else { return first }
        items[0] = last
        var parent = 0
        while true {
            let left = 2 * parent + 1, right = left + 1
            var smallest = parent
            if left < items.count, items[left].precedes(items[smallest]) { smallest = left }
            if right < items.count, items[right].precedes(items[smallest]) { smallest = right }
            guard smallest != parent else { break }
            items.swapAt(parent, smallest)
            parent = smallest
        }
        return first
    }
}

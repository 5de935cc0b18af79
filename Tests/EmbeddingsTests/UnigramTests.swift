import Foundation
import Testing

@testable import Embeddings

/// SentencePiece Unigram on hand-made files, and the Precompiled charsmap of the XLM-RoBERTa
/// fixture. That its ids are what sentence-transformers tokenises with on real text is
/// FamilyFixtureTests' and test_embed_cli's differential test.
@Suite struct UnigramTests {
    /// A tokenizer.json over `pieces` (with `<s>` and `</s>` after them) and the given parts.
    private func tokenizerJSON(pieces: [(String, Double)], model: String = "", normalizer: String = "null",
                               preTokenizer: String = #"{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always"}"#) -> String {
        let all = pieces + [("<s>", 0), ("</s>", 0)]
        let vocab = all.map { "[\(jsonString($0.0)), \($0.1)]" }.joined(separator: ", ")
        let s = all.count - 2, e = all.count - 1
        return """
            {"version": "1.0", "added_tokens": [
              {"id": \(s), "content": "<s>", "special": true, "normalized": false},
              {"id": \(e), "content": "</s>", "special": true, "normalized": false}],
             "normalizer": \(normalizer), "pre_tokenizer": \(preTokenizer),
             "post_processor": {"type": "RobertaProcessing", "sep": ["</s>", \(e)], "cls": ["<s>", \(s)]},
             "model": {"type": "Unigram", "unk_id": 0, "vocab": [\(vocab)]\(model)}}
            """
    }

    static let pieces: [(String, Double)] = [("<unk>", 0), ("▁", -1), ("a", -2), ("b", -2), ("ab", -3.5), ("▁a", -2.5)]

    @Test func theBestPathWinsTheFirstOfEqualOnesIsKeptAndUnknownRunsAreOneToken() throws {
        let tokenizer = try tokenizer(fromJSON: tokenizerJSON(pieces: Self.pieces))
        #expect(tokenizer.kind == "Unigram")
        // "▁ab": "▁a" + "b" and "▁" + "ab" both score -4.5; the one Viterbi found first, "▁" + "ab", stays.
        #expect(tokenizer.encode("ab", maxLength: 10) == [6, 1, 4, 7])
        // "▁a" + "▁a" (-5) beats "▁" + "a" twice (-6).
        #expect(tokenizer.encode("a a", maxLength: 10) == [6, 5, 5, 7])
        // x and y are no piece: one unknown token for both, scored the lowest piece less 10.
        #expect(tokenizer.encode("xyb", maxLength: 10) == [6, 1, 0, 3, 7])
        #expect(tokenizer.encode("xyb", maxLength: 3) == [6, 1, 7])
        #expect(tokenizer.token(forID: 5) == "▁a" && tokenizer.id(forToken: "ab") == 4)
    }

    @Test func whitespaceSplitDropsTheSpacesAndEachWordGetsItsMarker() throws {
        let plain = try tokenizer(fromJSON: tokenizerJSON(pieces: Self.pieces))
        let split = try tokenizer(fromJSON: tokenizerJSON(pieces: Self.pieces, preTokenizer: #"""
            {"type": "Sequence", "pretokenizers": [{"type": "WhitespaceSplit"},
             {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": true}]}
            """#))
        // Metaspace alone keeps the trailing space as a "▁" of its own; after WhitespaceSplit it is gone.
        #expect(plain.encode("a ", maxLength: 10) == [6, 5, 1, 7])
        #expect(split.encode("a ", maxLength: 10) == [6, 5, 7])
        #expect(split.encode("\ta\n\na", maxLength: 10) == [6, 5, 5, 7])
    }

    @Test func theNormaliserStepsRunInOrder() throws {
        let steps = #"""
            {"type": "Sequence", "normalizers": [{"type": "Strip", "strip_left": false, "strip_right": true},
             {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": "▁"},
             {"type": "Replace", "pattern": {"String": "c"}, "content": "b"}]}
            """#
        let tokenizer = try tokenizer(fromJSON: tokenizerJSON(pieces: Self.pieces, normalizer: steps))
        // "c" reads as "b"; the trailing spaces go; the run of two spaces is one "▁".
        #expect(tokenizer.encode("a  c  ", maxLength: 10) == [6, 5, 1, 3, 7])
    }

    @Test func thePrecompiledCharsmapNormalisesAsSentencePiecesNFKCRules() throws {
        let folder = try #require(Bundle.module.url(forResource: "Fixtures/families/xlmr-unigram", withExtension: nil))
        let data = try Data(contentsOf: folder.appendingPathComponent("tokenizer.json"))
        let root = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let normalizer = try #require(root["normalizer"] as? [String: Any])
        let encoded = try #require(normalizer["precompiled_charsmap"] as? String)
        let charsmap = try PrecompiledCharsmap(blob: [UInt8](try #require(Data(base64Encoded: encoded))))
        #expect(charsmap.normalize("ﬁ ① Ａ") == "fi 1 A")
        #expect(charsmap.normalize("e\u{301}") == "é")
        #expect(charsmap.normalize("plain text") == "plain text")
    }

    @Test func whatCannotBeRunExactlyIsRefusedNamingIt() {
        #expect(loadProblem(tokenizerJSON: tokenizerJSON(pieces: Self.pieces, model: #", "byte_fallback": true"#))?.contains("byte_fallback") == true)
        #expect(loadProblem(tokenizerJSON: tokenizerJSON(pieces: Self.pieces, normalizer: #"{"type": "NFD"}"#))?.contains("NFD normalizer") == true)
        #expect(loadProblem(tokenizerJSON: tokenizerJSON(pieces: Self.pieces,
                                          normalizer: #"{"type": "Replace", "pattern": {"Regex": "\\s+"}, "content": " "}"#))?
            .contains("Replace") == true)
        #expect(loadProblem(tokenizerJSON: tokenizerJSON(pieces: Self.pieces, preTokenizer: #"{"type": "ByteLevel"}"#))?
            .contains("ByteLevel pre-tokenizer") == true)
        let noUnknown = tokenizerJSON(pieces: Self.pieces).replacingOccurrences(of: #""unk_id": 0, "#, with: "")
        #expect(loadProblem(tokenizerJSON: noUnknown)?.contains("unk_id") == true)
    }
}

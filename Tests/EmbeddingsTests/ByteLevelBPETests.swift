import Foundation
import Testing

@testable import Embeddings

/// Byte-level BPE on hand-made files: GPT-2's split, the merges, what a file must hold. That its ids
/// are Hugging Face's on real text is FamilyFixtureTests' and test_embed_cli's differential test.
@Suite struct ByteLevelBPETests {
    /// A tokenizer.json with every byte's character, `extra` tokens after them, and `merges`.
    private func tokenizerJSON(extra: [String] = [], merges: [String] = [], model: String = "", normalizer: String = "null",
                               preTokenizer: String = #"{"type": "ByteLevel", "add_prefix_space": false, "use_regex": true}"#) -> String {
        let specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
        let tokens = specials + ByteLevelBPETokenizer.byteCharacters.map { String($0) } + extra
        let vocab = tokens.enumerated().map { "\(jsonString($0.element)): \($0.offset)" }.joined(separator: ", ")
        let mergeList = merges.map(jsonString).joined(separator: ", ")
        return """
            {"version": "1.0", "added_tokens": [
              {"id": 0, "content": "<s>", "special": true, "normalized": false},
              {"id": 1, "content": "<pad>", "special": true, "normalized": false},
              {"id": 2, "content": "</s>", "special": true, "normalized": false},
              {"id": 4, "content": "<mask>", "special": true, "normalized": false, "lstrip": true}],
             "normalizer": \(normalizer), "pre_tokenizer": \(preTokenizer),
             "post_processor": {"type": "RobertaProcessing", "sep": ["</s>", 2], "cls": ["<s>", 0]},
             "model": {"type": "BPE", "dropout": null, "unk_token": null, "vocab": {\(vocab)}, "merges": [\(mergeList)]\(model)}}
            """
    }

    private func words(_ text: String) -> [String] {
        var text = text
        return text.withUTF8 { bytes in
            GPT2Split.words(in: bytes).map { String(decoding: bytes[$0], as: UTF8.self) }
        }
    }

    @Test func gpt2SplitsWordsNumbersMarksAndWhitespaceAsItsPatternDoes() {
        #expect(words("Hello world") == ["Hello", " world"])
        #expect(words("it's we'll they'RE") == ["it", "'s", " we", "'ll", " they", "'", "RE"])
        #expect(words("a  b") == ["a", " ", " b"])
        #expect(words("a\n\nb  ") == ["a", "\n", "\n", "b", "  "])
        #expect(words("x = 42.5!?") == ["x", " =", " 42", ".", "5", "!?"])
        #expect(words("東京 2026年") == ["東京", " 2026", "年"])
        #expect(words("e\u{301}t\u{e9}") == ["e", "\u{301}", "t\u{e9}"])
        #expect(words("") == [])
    }

    @Test func mergesApplyLowestRankFirstAndSpecialsWrapTheText() throws {
        let space = String(ByteLevelBPETokenizer.byteCharacters[0x20])
        // "Ġt" before "he", then "Ġt"+"he" is not a merge: " the" stays two tokens; "th" loses to "he".
        let tokenizer = try tokenizer(fromJSON: tokenizerJSON(extra: [space + "t", "he", "th", space + "the"],
                                                    merges: [space + " t", "h e", "t h", space + "t he"]))
        let ids = tokenizer.encode("the the", maxLength: 100)
        let names = ids.map { tokenizer.token(forID: $0) ?? "?" }
        #expect(names == ["<s>", "t", "he", space + "the", "</s>"])
        // A budget cuts the text's tokens, never the wrapping ones.
        #expect(tokenizer.encode("the the", maxLength: 3).map { tokenizer.token(forID: $0) ?? "?" } == ["<s>", "t", "</s>"])
        // <mask> takes the space before it; <pad> is matched as written.
        let masked = tokenizer.encode("a <mask> b<pad>", maxLength: 100).map { tokenizer.token(forID: $0) ?? "?" }
        #expect(masked == ["<s>", "a", "<mask>", space, "b", "<pad>", "</s>"])
        #expect(tokenizer.kind == "BPE" && tokenizer.padID == 1 && !tokenizer.lowercases)
    }

    @Test func repeatedPairsMergeLeftFirstAndAWordWithoutSpacesCostsItsLength() throws {
        let tokenizer = try tokenizer(fromJSON: tokenizerJSON(extra: ["aa", "aaaa"], merges: ["a a", "aa aa"]))
        let names = { (text: String) in tokenizer.encode(text, maxLength: 100).dropFirst().dropLast().map { tokenizer.token(forID: $0) ?? "?" } }
        #expect(names("aaa") == ["aa", "a"])
        #expect(names("aaaaa") == ["aaaa", "a"])
        #expect(names("aaaaaa") == ["aaaa", "aa"])
        // Half a million letters in one word: merged in O(n log n), so this returns (quadratic
        // merging would not, in any test's lifetime).
        let long = tokenizer.encode(String(repeating: "a", count: 500_001), maxLength: .max)
        #expect(long.count == 125_001 + 2)
    }

    @Test func aRobertaTokenizerClassGetsTransformersPipelineNotTheFiles() throws {
        let folder = try TemporaryFolder()
        let space = String(ByteLevelBPETokenizer.byteCharacters[0x20])
        // The file says no prefix space and has a normaliser; transformers 5 reads neither for RobertaTokenizer.
        try folder.write("tokenizer.json", tokenizerJSON(extra: [space + "a"], merges: [space + " a"], normalizer: #"{"type": "NFC"}"#))
        try folder.write("tokenizer_config.json", #"{"tokenizer_class": "RobertaTokenizer", "add_prefix_space": true}"#)
        let tokenizer = try Tokenizer(modelDirectory: folder.url)
        #expect(tokenizer.encode("a", maxLength: 10).map { tokenizer.token(forID: $0) ?? "?" } == ["<s>", space + "a", "</s>"])
        try folder.write("tokenizer_config.json", #"{"tokenizer_class": "RobertaTokenizer"}"#)
        let plain = try Tokenizer(modelDirectory: folder.url)
        #expect(plain.encode("a", maxLength: 10).map { plain.token(forID: $0) ?? "?" } == ["<s>", "a", "</s>"])
    }

    @Test func whatCannotBeRunExactlyIsRefusedNamingIt() {
        let outside = tokenizerJSON().replacingOccurrences(of: #""cls": ["<s>", 0]"#, with: #""cls": ["<s>", 99999]"#)
        #expect(loadProblem(tokenizerJSON: outside)?.contains("99999") == true)
        #expect(loadProblem(tokenizerJSON: tokenizerJSON(model: #", "dropout": 0.1"#))?.contains("dropout") == true)
        #expect(loadProblem(tokenizerJSON: tokenizerJSON(model: ###", "continuing_subword_prefix": "##""###))?.contains("continuing_subword_prefix") == true)
        #expect(loadProblem(tokenizerJSON: tokenizerJSON(normalizer: #"{"type": "NFC"}"#))?.contains("NFC normalizer") == true)
        #expect(loadProblem(tokenizerJSON: tokenizerJSON(preTokenizer: #"{"type": "Metaspace"}"#))?.contains("Metaspace pre-tokenizer") == true)
        #expect(loadProblem(tokenizerJSON: tokenizerJSON(merges: ["q z9"]))?.contains("model.merges[0]") == true)
        let withoutByte = tokenizerJSON().replacingOccurrences(of: #""A": "#, with: #""not-A": "#)
        #expect(loadProblem(tokenizerJSON: withoutByte)?.contains("the byte 65") == true)
        #expect(loadProblem(tokenizerJSON: #"{"model": {"type": "WordLevel", "vocab": {}}}"#)?.contains("WordLevel") == true)
    }

    @Test func vocabJSONAndMergesWithoutTokenizerJSONAreRefused() throws {
        let folder = try TemporaryFolder()
        try folder.write("vocab.json", "{}")
        try folder.write("merges.txt", "")
        #expect {
            try Tokenizer(modelDirectory: folder.url)
        } throws: { ($0 as? ModelLoadError)?.problem.contains("tokenizer.json") == true }
    }
}

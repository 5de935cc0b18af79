import Embeddings
import Foundation
import Testing

/// The tokenizer's tests; the helpers live in here so that their names cannot clash with other
/// test files in the target.
@Suite("BertTokenizer")
struct BertTokenizerTests {
    /// The real all-MiniLM-L6-v2 folder. Its absence is a failure, not a skip: a green run without the
    /// model would prove nothing about the ids.
    private static func modelDirectory() throws -> URL {
        let path = try #require(
            ProcessInfo.processInfo.environment["MCP_RAG_MODEL_DIR"],
            "MCP_RAG_MODEL_DIR is not set: run the tests through tools/test, which points it at the model folder")
        return URL(fileURLWithPath: path)
    }

    struct GoldenCase {
        let text: String
        let ids: [Int32]
    }

    private static func goldenCases() throws -> [GoldenCase] {
        let url = try #require(
            Bundle.module.url(forResource: "golden", withExtension: "jsonl", subdirectory: "Fixtures"),
            "Fixtures/golden.jsonl is missing from the test bundle")
        let data = try Data(contentsOf: url)
        return try data.split(separator: UInt8(ascii: "\n")).map { line in
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any])
            let text = try #require(object["text"] as? String)
            let ids = try #require(object["input_ids"] as? [Int])
            return GoldenCase(text: text, ids: ids.map { Int32($0) })
        }
    }

    /// A fresh empty folder, removed when the test's scope ends.
    final class TemporaryFolder {
        let url: URL

        init() throws {
            url = FileManager.default.temporaryDirectory.appendingPathComponent("tokenizer-tests-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        }

        func write(_ name: String, _ text: String) throws {
            try text.write(to: url.appendingPathComponent(name), atomically: true, encoding: .utf8)
        }

        deinit { try? FileManager.default.removeItem(at: url) }
    }

    private static func loadError(_ body: () throws -> Void) -> ModelLoadError? {
        do {
            try body()
            return nil
        } catch let error as ModelLoadError {
            return error
        } catch {
            return nil
        }
    }

    /// A vocabulary small enough to reason about by hand; ids are positions.
    private static let tinyVocabulary = [
        "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
        "un", "##aff", "##able", "unaff", "hello", "world", ",", "!", "a", "##a",
        "[", "]", "mask", "中", "文", "naive", "cafe", "café", "οδοσ", "i", "«", "»", "ab", "k", "ß", "fi",
    ]

    private static func tinyIDs(_ tokens: [String]) -> [Int32] {
        tokens.map { token in Int32(tinyVocabulary.firstIndex(of: token) ?? -1) }
    }

    private static func tiny(
        lowercase: Bool = true, stripAccents: Bool? = nil, handleChineseChars: Bool = true, cleanText: Bool = true
    ) throws -> BertTokenizer {
        try BertTokenizer(
            vocabulary: tinyVocabulary, lowercase: lowercase, stripAccents: stripAccents,
            handleChineseChars: handleChineseChars, cleanText: cleanText)
    }

    /// The word pieces between [CLS] and [SEP].
    private static func pieces(_ tokenizer: BertTokenizer, _ text: String) -> [Int32] {
        Array(tokenizer.encode(text, maxLength: 10_000).dropFirst().dropLast())
    }

    // MARK: - Against the real model

    @Suite("BertTokenizer with all-MiniLM-L6-v2")
    struct ModelTokenizerTests {
        @Test("golden ids from tokenizer.json")
        func goldenFromTokenizerJSON() throws {
            let tokenizer = try BertTokenizer(modelDirectory: try modelDirectory())
            let cases = try goldenCases()
            #expect(cases.count == 80)
            for golden in cases {
                #expect(tokenizer.encode(golden.text, maxLength: 256) == golden.ids, "text: \(golden.text.debugDescription)")
            }
        }

        @Test("golden ids from vocab.txt alone")
        func goldenFromVocabText() throws {
            let folder = try TemporaryFolder()
            try FileManager.default.copyItem(
                at: try modelDirectory().appendingPathComponent("vocab.txt"), to: folder.url.appendingPathComponent("vocab.txt"))
            let tokenizer = try BertTokenizer(modelDirectory: folder.url)
            for golden in try goldenCases() {
                #expect(tokenizer.encode(golden.text, maxLength: 256) == golden.ids, "text: \(golden.text.debugDescription)")
            }
        }

        @Test("tokenizer.json and vocab.txt give the same vocabulary")
        func vocabulariesAgree() throws {
            let directory = try modelDirectory()
            let fromJSON = try BertTokenizer(modelDirectory: directory)
            let folder = try TemporaryFolder()
            try FileManager.default.copyItem(
                at: directory.appendingPathComponent("vocab.txt"), to: folder.url.appendingPathComponent("vocab.txt"))
            let fromText = try BertTokenizer(modelDirectory: folder.url)
            #expect(fromJSON.vocabularySize == 30522)
            #expect(fromJSON.vocabularySize == fromText.vocabularySize)
            var differing: [Int32] = []
            for id in 0..<Int32(fromJSON.vocabularySize) where fromJSON.token(forID: id) != fromText.token(forID: id) {
                differing.append(id)
            }
            #expect(differing.isEmpty, "ids whose tokens differ: \(differing.prefix(10))")
            #expect(fromJSON.token(forID: 7592) == "hello")
            #expect([fromJSON.clsID, fromJSON.sepID, fromJSON.padID, fromJSON.unknownID] == [101, 102, 0, 100])
            #expect([fromText.clsID, fromText.sepID, fromText.padID, fromText.unknownID] == [101, 102, 0, 100])
            #expect(fromJSON.normalizerOptions == fromText.normalizerOptions)
        }

        @Test("empty text, whitespace, truncation and tiny maxLength")
        func lengths() throws {
            let tokenizer = try BertTokenizer(modelDirectory: try modelDirectory())
            #expect(tokenizer.encode("", maxLength: 256) == [101, 102])
            #expect(tokenizer.encode(" \t\n\u{3000}\u{200B}", maxLength: 256) == [101, 102])
            let long = String(repeating: "The quick brown fox jumps over the lazy dog. ", count: 40)
            let full = tokenizer.encode(long, maxLength: 100_000)
            #expect(full.count > 400)
            let cut = tokenizer.encode(long, maxLength: 256)
            #expect(cut.count == 256)
            #expect(cut.last == 102)
            // Truncation keeps the leading pieces unchanged.
            #expect(Array(cut.dropLast()) == Array(full.prefix(255)))
            #expect(tokenizer.encode("hello world", maxLength: 2) == [101, 102])
            #expect(tokenizer.encode("hello world", maxLength: 0) == [101, 102])
            #expect(tokenizer.encode("hello world", maxLength: 3) == [101, 7592, 102])
        }

        @Test("special tokens are matched case-sensitively in the raw text")
        func specialTokens() throws {
            let tokenizer = try BertTokenizer(modelDirectory: try modelDirectory())
            #expect(tokenizer.encode("Hello [MASK] world", maxLength: 256) == [101, 7592, 103, 2088, 102])
            #expect(tokenizer.encode("[mask]", maxLength: 256) == [101, 1031, 7308, 1033, 102])
            #expect(tokenizer.encode("hello[SEP]world", maxLength: 256) == [101, 7592, 102, 2088, 102])
        }

        @Test("encode gives the same ids from many threads at once")
        func concurrentEncoding() async throws {
            let tokenizer = try BertTokenizer(modelDirectory: try modelDirectory())
            let cases = try goldenCases()
            let texts = cases.map(\.text)
            let expected = cases.map(\.ids)
            let results = await withTaskGroup(of: [[Int32]].self) { group in
                for _ in 0..<8 {
                    group.addTask { (0..<20).flatMap { _ in texts.map { tokenizer.encode($0, maxLength: 256) } } }
                }
                var all: [[[Int32]]] = []
                for await result in group { all.append(result) }
                return all
            }
            #expect(results.count == 8)
            let repeated = (0..<20).flatMap { _ in expected }
            for result in results { #expect(result == repeated) }
        }

        @Test("a truncated tokenizer.json is malformed, named")
        func truncatedTokenizerJSON() throws {
            let data = try Data(contentsOf: try modelDirectory().appendingPathComponent("tokenizer.json"))
            let folder = try TemporaryFolder()
            try data.prefix(data.count / 2).write(to: folder.url.appendingPathComponent("tokenizer.json"))
            let error = loadError { _ = try BertTokenizer(modelDirectory: folder.url) }
            #expect(error == .malformed(folder.url.appendingPathComponent("tokenizer.json").path, error?.problem ?? ""))
            #expect(error?.problem.contains("not valid JSON") == true)
        }
    }

    // MARK: - WordPiece and normaliser rules on a hand-made vocabulary

    @Suite("BertTokenizer rules")
    struct TokenizerRuleTests {
        @Test("WordPiece takes the longest piece first")
        func greedyLongestMatch() throws {
            let tokenizer = try tiny()
            // "un" + "##aff" + "##able" would also spell it; the longest first piece wins.
            #expect(pieces(tokenizer, "unaffable") == tinyIDs(["unaff", "##able"]))
            #expect(pieces(tokenizer, "aaa") == tinyIDs(["a", "##a", "##a"]))
        }

        @Test("a word with an unspellable position is one [UNK]")
        func wholeWordUnknown() throws {
            let tokenizer = try tiny()
            #expect(pieces(tokenizer, "unaffablez") == tinyIDs(["[UNK]"]))
            #expect(pieces(tokenizer, "hello unaffablez world") == tinyIDs(["hello", "[UNK]", "world"]))
        }

        @Test("100 characters are split, 101 are [UNK], counted after normalisation")
        func maxInputCharsPerWord() throws {
            let tokenizer = try tiny()
            #expect(pieces(tokenizer, String(repeating: "a", count: 100)) == tinyIDs(["a"] + Array(repeating: "##a", count: 99)))
            #expect(pieces(tokenizer, String(repeating: "a", count: 101)) == tinyIDs(["[UNK]"]))
            // 200 scalars in, 100 after the accents go: still split.
            #expect(pieces(tokenizer, String(repeating: "a\u{301}", count: 100)).count == 100)
            #expect(pieces(tokenizer, String(repeating: "a\u{301}", count: 101)) == tinyIDs(["[UNK]"]))
            let short = try BertTokenizer(vocabulary: tinyVocabulary, maxInputCharsPerWord: 3)
            #expect(pieces(short, "aaa") == tinyIDs(["a", "##a", "##a"]))
            #expect(pieces(short, "aaaa") == tinyIDs(["[UNK]"]))
        }

        @Test("punctuation is split off one character at a time")
        func punctuation() throws {
            let tokenizer = try tiny()
            #expect(pieces(tokenizer, "hello,world!") == tinyIDs(["hello", ",", "world", "!"]))
            #expect(pieces(tokenizer, "«hello»!!") == tinyIDs(["«", "hello", "»", "!", "!"]))
            // "-" is punctuation missing from this vocabulary: only it becomes [UNK].
            #expect(pieces(tokenizer, "hello-world") == tinyIDs(["hello", "[UNK]", "world"]))
        }

        @Test("special tokens in the text are matched before normalisation")
        func specialTokensInText() throws {
            let tokenizer = try tiny()
            #expect(pieces(tokenizer, "hello[MASK]world") == tinyIDs(["hello", "[MASK]", "world"]))
            #expect(pieces(tokenizer, "[mask]") == tinyIDs(["[", "mask", "]"]))
            #expect(pieces(tokenizer, "[MASK") == tinyIDs(["[", "mask"]))
            #expect(pieces(tokenizer, "[[CLS]]") == tinyIDs(["[", "[CLS]", "]"]))
        }

        @Test("accents are stripped when lower-casing, kept when asked")
        func accents() throws {
            #expect(pieces(try tiny(), "Café NAÏVE") == tinyIDs(["cafe", "naive"]))
            #expect(pieces(try tiny(), "Cafe\u{301}") == tinyIDs(["cafe"]))
            #expect(pieces(try tiny(stripAccents: false), "Café") == tinyIDs(["café"]))
            #expect(pieces(try tiny(lowercase: false), "café Café") == tinyIDs(["café", "[UNK]"]))
            // İ decomposes to I + U+0307; the dot goes with the accents.
            #expect(pieces(try tiny(), "İ") == tinyIDs(["i"]))
        }

        @Test("CJK ideographs become words of their own")
        func chineseCharacters() throws {
            #expect(pieces(try tiny(), "中文hello") == tinyIDs(["中", "文", "hello"]))
            #expect(pieces(try tiny(handleChineseChars: false), "中文hello") == tinyIDs(["[UNK]"]))
        }

        @Test("control and zero-width characters vanish, whitespace splits")
        func cleaning() throws {
            let tokenizer = try tiny()
            #expect(pieces(tokenizer, "hel\u{200B}lo wor\u{0}ld") == tinyIDs(["hello", "world"]))
            #expect(pieces(tokenizer, "\u{FEFF}hello\u{7}\u{AD}") == tinyIDs(["hello"]))
            #expect(pieces(tokenizer, "hello\tworld\r\nhello\u{A0}world\u{3000}!") == tinyIDs(["hello", "world", "hello", "world", "!"]))
            #expect(pieces(tokenizer, "hel\u{FFFD}lo") == tinyIDs(["hello"]))
            #expect(pieces(try tiny(cleanText: false), "hel\u{200B}lo") == tinyIDs(["[UNK]"]))
        }

        @Test("Hugging Face's Unicode tables, not Swift's, decide the classes")
        func huggingFaceUnicodeQuirks() throws {
            let tokenizer = try tiny()
            // U+0890 is a format character only since Unicode 14, and U+0378 is unassigned: Hugging
            // Face keeps both, so the word cannot be spelled (U+200B, an old format character, goes).
            #expect(pieces(tokenizer, "hello\u{890}") == tinyIDs(["[UNK]"]))
            #expect(pieces(tokenizer, "hello\u{378}") == tinyIDs(["[UNK]"]))
            #expect(pieces(tokenizer, "hello \u{1FAE0} world") == tinyIDs(["hello", "[UNK]", "world"]))
            // Lower-casing is per character: no final sigma.
            #expect(pieces(tokenizer, "ΟΔΟΣ") == tinyIDs(["οδοσ"]))
            // Full mappings: the Kelvin sign is a K, and ß stays ß.
            #expect(pieces(tokenizer, "\u{212A} ß ﬁ") == tinyIDs(["k", "ß", "[UNK]"]))
            // U+166D was punctuation in Unicode 8, a symbol now.
            #expect(pieces(tokenizer, "a\u{166D}a") == tinyIDs(["a", "[UNK]", "a"]))
        }

        @Test("truncation keeps whole leading pieces")
        func truncation() throws {
            let tokenizer = try tiny()
            #expect(tokenizer.encode("hello world hello", maxLength: 4) == tinyIDs(["[CLS]", "hello", "world", "[SEP]"]))
            #expect(tokenizer.encode("unaffable hello", maxLength: 3) == tinyIDs(["[CLS]", "unaff", "[SEP]"]))
            #expect(tokenizer.encode("hello [MASK] world", maxLength: 4) == tinyIDs(["[CLS]", "hello", "[MASK]", "[SEP]"]))
        }

        @Test("id and token lookups")
        func lookups() throws {
            let tokenizer = try tiny()
            #expect(tokenizer.vocabularySize == tinyVocabulary.count)
            #expect(tokenizer.id(forToken: "##able") == 7)
            #expect(tokenizer.token(forID: 7) == "##able")
            #expect(tokenizer.id(forToken: "able") == nil)
            #expect(tokenizer.token(forID: Int32(tinyVocabulary.count)) == nil)
            #expect([tokenizer.clsID, tokenizer.sepID, tokenizer.padID, tokenizer.unknownID] == [2, 3, 0, 1])
        }
    }

    // MARK: - Loading files

    @Suite("BertTokenizer loading")
    struct TokenizerLoadingTests {
        /// A minimal tokenizer.json in Hugging Face's shape, with pieces to swap in.
        private func tokenizerJSON(
            model: String = #""type": "WordPiece", "unk_token": "[UNK]", "vocab": {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "hello": 4, "world": 5, "say": 6}"#,
            normalizer: String = #"{"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true, "strip_accents": null, "lowercase": true}"#,
            addedTokens: String = #"[{"id": 0, "content": "[PAD]", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}]"#
        ) -> String {
            """
            {"version": "1.0", "truncation": {"max_length": 2}, "padding": null, "added_tokens": \(addedTokens),
             "normalizer": \(normalizer), "pre_tokenizer": {"type": "BertPreTokenizer"}, "post_processor": null,
             "model": {\(model)}}
            """
        }

        @Test("a folder with neither file is notFound, naming the folder")
        func emptyFolder() throws {
            let folder = try TemporaryFolder()
            let error = loadError { _ = try BertTokenizer(modelDirectory: folder.url) }
            #expect(error?.isNotFound == true)
            #expect(error?.path == folder.url.path)
            #expect(error?.problem.contains("tokenizer.json") == true)
            let missing = folder.url.appendingPathComponent("nope")
            #expect(loadError { _ = try BertTokenizer(modelDirectory: missing) }?.isNotFound == true)
        }

        @Test("tokenizer.json that is not JSON, or has no model.vocab, is malformed")
        func malformedTokenizerJSON() throws {
            let folder = try TemporaryFolder()
            let path = folder.url.appendingPathComponent("tokenizer.json").path
            try folder.write("tokenizer.json", "{\"model\": {\"vocab\": {\"a\": 1,")
            let notJSON = loadError { _ = try BertTokenizer(modelDirectory: folder.url) }
            #expect(notJSON == .malformed(path, notJSON?.problem ?? ""))
            try folder.write("tokenizer.json", #"{"model": {"type": "WordPiece", "unk_token": "[UNK]"}}"#)
            let noVocab = loadError { _ = try BertTokenizer(modelDirectory: folder.url) }
            #expect(noVocab == .malformed(path, noVocab?.problem ?? ""))
            #expect(noVocab?.problem.contains("model.vocab") == true)
            try folder.write("tokenizer.json", tokenizerJSON(model: #""type": "WordPiece", "vocab": {"[UNK]": "one"}"#))
            let badID = loadError { _ = try BertTokenizer(modelDirectory: folder.url) }
            #expect(badID == .malformed(path, badID?.problem ?? ""))
        }

        @Test("a vocabulary without [CLS], [SEP] or [UNK] is malformed")
        func missingSpecialTokens() throws {
            for missing in ["[CLS]", "[SEP]", "[UNK]"] {
                let vocabulary = tinyVocabulary.filter { $0 != missing }
                let error = loadError { _ = try BertTokenizer(vocabulary: vocabulary) }
                #expect(error == .malformed("<vocabulary>", error?.problem ?? ""), "without \(missing)")
                #expect(error?.problem.contains(missing) == true)
            }
            let folder = try TemporaryFolder()
            try folder.write("vocab.txt", "[PAD]\n[UNK]\n[SEP]\nhello\n")
            let error = loadError { _ = try BertTokenizer(modelDirectory: folder.url) }
            #expect(error == .malformed(folder.url.appendingPathComponent("vocab.txt").path, error?.problem ?? ""))
        }

        @Test("models other than WordPiece and foreign normalisers are unsupported")
        func unsupportedModels() throws {
            let folder = try TemporaryFolder()
            let path = folder.url.appendingPathComponent("tokenizer.json").path
            try folder.write("tokenizer.json", tokenizerJSON(model: #""type": "BPE", "vocab": {"a": 0}, "merges": []"#))
            let bpe = loadError { _ = try BertTokenizer(modelDirectory: folder.url) }
            #expect(bpe == .unsupported(path, bpe?.problem ?? ""))
            #expect(bpe?.problem.contains("BPE") == true)
            try folder.write("tokenizer.json", tokenizerJSON(normalizer: #"{"type": "Lowercase"}"#))
            let normalizer = loadError { _ = try BertTokenizer(modelDirectory: folder.url) }
            #expect(normalizer == .unsupported(path, normalizer?.problem ?? ""))
            try folder.write("tokenizer.json", tokenizerJSON(addedTokens: #"[{"id": 7, "content": "<x>", "single_word": true, "normalized": false}]"#))
            let singleWord = loadError { _ = try BertTokenizer(modelDirectory: folder.url) }
            #expect(singleWord == .unsupported(path, singleWord?.problem ?? ""))
            #expect(singleWord?.problem.contains("single_word") == true)
        }

        @Test("tokenizer.json's truncation is ignored and its normaliser settings are read")
        func readsTokenizerJSON() throws {
            let folder = try TemporaryFolder()
            try folder.write("tokenizer.json", tokenizerJSON(
                normalizer: #"{"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": false, "strip_accents": false, "lowercase": false}"#))
            let tokenizer = try BertTokenizer(modelDirectory: folder.url)
            #expect(tokenizer.encode("say hello world", maxLength: 128) == [2, 6, 4, 5, 3])
            #expect(tokenizer.encode("Hello", maxLength: 128) == [2, 1, 3])
            #expect(tokenizer.normalizerOptions == BertNormalizerOptions(cleanText: true, handleChineseChars: false, stripAccents: false, lowercase: false))
        }

        @Test("normalised added tokens match the normalised text and get Hugging Face's ids")
        func normalizedAddedTokens() throws {
            // Expected ids come from tokenizers 0.23.3 on this same file: the stated id 99 is ignored,
            // the new token gets the vocabulary size (7), and its content is lower-cased for matching.
            let folder = try TemporaryFolder()
            try folder.write("tokenizer.json", tokenizerJSON(addedTokens: """
                [{"id": 0, "content": "[PAD]", "normalized": false, "special": true},
                 {"id": 99, "content": "Hello World", "normalized": true, "special": false}]
                """))
            let tokenizer = try BertTokenizer(modelDirectory: folder.url)
            #expect(tokenizer.encode("say hello world", maxLength: 128) == [2, 6, 7, 3])
            #expect(tokenizer.encode("sayHELLO WORLDsay", maxLength: 128) == [2, 6, 7, 6, 3])
            #expect(tokenizer.encode("say hello   world", maxLength: 128) == [2, 6, 4, 5, 3])
            #expect(tokenizer.vocabularySize == 8)
            #expect(tokenizer.id(forToken: "Hello World") == 7)
        }

        @Test("vocab.txt with tokenizer_config.json: lines as Python reads them, do_lower_case honoured")
        func vocabTextAndConfig() throws {
            let folder = try TemporaryFolder()
            try folder.write("vocab.txt", "[PAD]\r\n[UNK]\r[CLS]\n[SEP]\nHello\nhello\nwörld")
            try folder.write("tokenizer_config.json", #"{"do_lower_case": false, "strip_accents": null}"#)
            let cased = try BertTokenizer(modelDirectory: folder.url)
            #expect(cased.vocabularySize == 7)
            #expect(cased.encode("Hello hello wörld", maxLength: 16) == [2, 4, 5, 6, 3])
            try folder.write("tokenizer_config.json", #"{"do_lower_case": true}"#)
            let uncased = try BertTokenizer(modelDirectory: folder.url)
            #expect(uncased.encode("Hello wörld", maxLength: 16) == [2, 5, 1, 3])
        }
    }
}

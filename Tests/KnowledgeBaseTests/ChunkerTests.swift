import DocumentFormats
import Embeddings
import Foundation
import Testing
@testable import KnowledgeBase

@Suite struct ChunkerTests {
    let chunker = Chunker(tokenCount: simpleTokenCount)

    func markdown(_ text: String) -> LoadedDocument { LoadedDocument(kind: .markdown, text: text) }

    /// Sentences of about 12 simple tokens, each with a unique marker word.
    static func sentences(_ count: Int, tag: String = "s") -> [String] {
        (0..<count).map { "Sentence \(tag)\($0) tells the reader about one more small detail of the system." }
    }

    /// The length of the longest whole-word tail of `previous` that `next` starts with (0 if none).
    static func overlap(_ previous: String, _ next: String) -> String {
        var best = ""
        var index = previous.startIndex
        while index < previous.endIndex {
            let tail = previous[index...]
            if (index == previous.startIndex || previous[previous.index(before: index)].isWhitespace),
               next.hasPrefix(tail), tail.count > best.count {
                best = String(tail)
            }
            index = previous.index(after: index)
        }
        return best
    }

    @Test func pdfPassagesStayOnTheirPageAndSayWhichUnderTheTitle() {
        let long = Self.sentences(40, tag: "p").joined(separator: " ")
        let document = LoadedDocument(kind: .pdf, text: "", pages: ["First page.", "  \n", long, "Last page."],
                                      title: "Manual")
        let chunks = chunker.chunks(of: document)
        #expect(chunks.first == TextChunk(heading: "Manual", text: "First page.", ordinal: 0, page: 1))
        #expect(chunks.last == TextChunk(heading: "Manual", text: "Last page.", ordinal: chunks.count - 1, page: 4))
        let third = chunks.filter { $0.page == 3 }
        #expect(third.count > 1, "a long page is cut into several passages")
        #expect(third.allSatisfy { !$0.text.contains("First page") && !$0.text.contains("Last page") })
        #expect(!chunks.contains { $0.page == 2 }, "a blank page has no passage")
        #expect(chunks.map(\.ordinal) == Array(0..<chunks.count))
    }

    @Test func wordSectionsAreTakenAsTheFileWasRead() {
        let sections = [DocumentSection(headingPath: ["Guide"], text: "# words, not a heading\n\n```not a fence"),
                        DocumentSection(headingPath: ["Guide", "Install"], text: "- step one")]
        let chunks = chunker.chunks(of: LoadedDocument(kind: .docx, text: "", sections: sections))
        #expect(chunks == [TextChunk(heading: "Guide", text: "# words, not a heading\n\n```not a fence", ordinal: 0),
                           TextChunk(heading: "Guide > Install", text: "- step one", ordinal: 1)])
    }

    @Test func shortSectionIsOneChunk() {
        let chunks = chunker.chunks(of: markdown("# Title\n\n\nOne line.\n\n"))
        #expect(chunks == [TextChunk(heading: "Title", text: "One line.", ordinal: 0)])
    }

    @Test func chunksCarryHeadingsAndNeverCrossSections() {
        let text = """
            # Install
            \(Self.sentences(30, tag: "a").joined(separator: " "))
            ## Linux
            Short Linux section.
            ## Empty
            # Usage
            \(Self.sentences(30, tag: "b").joined(separator: "\n"))
            """
        let chunks = chunker.chunks(of: markdown(text))
        #expect(chunks.map(\.ordinal) == Array(0..<chunks.count))
        #expect(!chunks.contains { $0.heading == "Install > Empty" || $0.heading == "Empty" })
        #expect(chunks.contains { $0.heading == "Install > Linux" && $0.text == "Short Linux section." })
        for chunk in chunks {
            // Markers of one section never appear in another's chunks.
            if chunk.heading == "Install" { #expect(!chunk.text.contains("Sentence b")) }
            if chunk.heading == "Usage" { #expect(!chunk.text.contains("Sentence a")) }
            #expect(!chunk.text.contains("Short Linux") || chunk.heading == "Install > Linux")
        }
        // The first chunk of Usage does not start with the tail of the Linux section.
        let usage = chunks.first { $0.heading == "Usage" }
        #expect(usage?.text.hasPrefix("Sentence b0 ") == true)
        // Every sentence is somewhere.
        for tag in ["a", "b"] {
            for number in 0..<30 {
                #expect(chunks.contains { $0.text.contains("Sentence \(tag)\(number) ") }, "\(tag)\(number)")
            }
        }
    }

    @Test func blocksArePackedUpToTheTarget() {
        // 40 paragraphs of about 24 tokens: several per chunk, none over the target.
        let paragraphs = (0..<40).map { Self.sentences(2, tag: "p\($0)x").joined(separator: " ") }
        let chunks = chunker.chunks(of: markdown(paragraphs.joined(separator: "\n\n")))
        #expect(chunks.count > 4 && chunks.count < 10)
        for chunk in chunks {
            #expect(simpleTokenCount(chunk.text) <= chunker.targetTokens)
            // Paragraph breaks survive packing.
            #expect(chunk.text.contains("\n\n"))
        }
    }

    @Test func overlapRepeatsTheTailAlignedAndBounded() {
        let text = Self.sentences(60).joined(separator: " ")
        let chunks = chunker.chunks(of: markdown("# Long\n" + text))
        #expect(chunks.count >= 4)
        for (previous, next) in zip(chunks, chunks.dropFirst()) {
            let shared = Self.overlap(previous.text, next.text)
            #expect(!shared.isEmpty, "no overlap before chunk \(next.ordinal)")
            #expect(simpleTokenCount(shared) <= chunker.overlapTokens)
            // Near the budget: at least one whole ~12-token sentence, at a sentence start.
            #expect(simpleTokenCount(shared) >= 12)
            #expect(shared.hasPrefix("Sentence "))
            #expect(simpleTokenCount(next.text) <= chunker.maxTokens)
        }
    }

    @Test func overlapFallsBackToWordsForOneLongSentence() {
        // Sentences of ~60 tokens: no whole sentence fits the 32-token overlap, so words are used.
        let sentence = (0..<8).map { "clause\($0) goes on and on without" }.joined(separator: " ")
        let text = (0..<12).map { "Part\($0) \(sentence) stopping." }.joined(separator: " ")
        let chunks = chunker.chunks(of: markdown(text))
        #expect(chunks.count >= 3)
        for (previous, next) in zip(chunks, chunks.dropFirst()) {
            let shared = Self.overlap(previous.text, next.text)
            #expect(simpleTokenCount(shared) > 16 && simpleTokenCount(shared) <= 32)
        }
    }

    @Test func overlapTakesOneWholeSentenceSlightlyOverTheBudget() {
        // Sentences of about 40 tokens: over the 32-token budget, within half as much again.
        let sentences = (0..<20).map { "Long\($0) " + String(repeating: "and then some more words ", count: 7) + "end." }
        #expect(simpleTokenCount(sentences[0]) > 32 && simpleTokenCount(sentences[0]) <= 48)
        let chunks = chunker.chunks(of: markdown(sentences.joined(separator: " ")))
        #expect(chunks.count >= 3)
        for (previous, next) in zip(chunks, chunks.dropFirst()) {
            let shared = Self.overlap(previous.text, next.text)
            #expect(shared.hasPrefix("Long") && shared.hasSuffix("end."), "\(shared)")
            #expect(simpleTokenCount(shared) <= 48)
        }
    }

    @Test func overlapNeverPushesAChunkOverTheLimit() {
        // Paragraphs of ~240 tokens: each fills a chunk, leaving room for only a little overlap.
        let paragraphs = (0..<5).map { Self.sentences(20, tag: "q\($0)x").joined(separator: " ") }
        for paragraph in paragraphs { #expect(simpleTokenCount(paragraph) > 230) }
        let chunks = chunker.chunks(of: markdown(paragraphs.joined(separator: "\n\n")))
        for chunk in chunks {
            #expect(simpleTokenCount(chunk.text) <= chunker.maxTokens)
        }
    }

    @Test func countsThatDoNotAddUpAreCheckedOnTheWhole() {
        // A counter that charges 60 tokens for every paragraph join: sums of the parts undercount,
        // and only counting each assembled chunk catches it.
        let joins: @Sendable (String) -> Int = { text in
            simpleTokenCount(text) + 60 * (text.components(separatedBy: "\n\n").count - 1)
        }
        let chunker = Chunker(tokenCount: joins)
        let paragraphs = (0..<30).map { Self.sentences(4, tag: "j\($0)x").joined(separator: " ") }
        let chunks = chunker.chunks(of: markdown(paragraphs.joined(separator: "\n\n")))
        for chunk in chunks { #expect(joins(chunk.text) <= 254) }
        for number in 0..<30 { #expect(chunks.contains { $0.text.contains("Sentence j\(number)x0 ") }) }
    }

    @Test func codeBlockThatFitsIsKeptWhole() {
        let code = "```swift\n" + (0..<20).map { "    let value\($0) = compute(\($0), scale: 2)" }.joined(separator: "\n")
            + "\n```"
        let codeTokens = simpleTokenCount(code)
        #expect(codeTokens > 150 && codeTokens <= 254)
        // Prose that fills most of a chunk, then the code: the code cannot join it, so it starts a
        // new chunk, whole, although the prose chunk ends early.
        let prose = Self.sentences(12).joined(separator: " ")
        let chunks = chunker.chunks(of: markdown(prose + "\n\n" + code + "\n\nAfter the code."))
        let withCode = chunks.filter { $0.text.contains("let value0 ") }
        #expect(withCode.count == 1)
        #expect(withCode.first?.text.contains(code) == true)
        #expect(chunks.filter { $0.text.contains("let value19 ") }.count == 1)
        for chunk in chunks { #expect(simpleTokenCount(chunk.text) <= chunker.maxTokens) }
    }

    @Test func codeBlockStaysWithItsIntroductionUpToTheHardLimit() {
        let code = "```\n" + (0..<34).map { "run step\($0) --flag value" }.joined(separator: "\n") + "\n```"
        let intro = "Run these commands:"
        let total = simpleTokenCount(intro) + simpleTokenCount(code)
        #expect(total > 200 && total <= 254)  // over the target, within the limit
        let chunks = chunker.chunks(of: markdown(intro + "\n\n" + code))
        #expect(chunks.map(\.text) == [intro + "\n\n" + code])
    }

    @Test func oversizedCodeBlockIsSplitAtLines() {
        let lines = (0..<120).map { "    result\($0) = transform(input\($0))" }
        let code = "```python\n" + lines.joined(separator: "\n") + "\n```"
        let chunks = chunker.chunks(of: markdown(code))
        #expect(chunks.count > 2)
        for chunk in chunks {
            #expect(simpleTokenCount(chunk.text) <= chunker.maxTokens)
            // Cut at line ends: every line of every chunk is a whole line of the input.
            for line in chunk.text.split(separator: "\n") {
                #expect(line == "```python" || line == "```" || lines.contains(String(line)) || lines.contains("    " + line),
                        "\(line)")
            }
        }
        // Indentation is kept inside chunks.
        #expect(chunks.dropFirst().first?.text.contains("\n    result") == true)
    }

    @Test func tablesAndListsAreCutBetweenRowsAndItems() {
        let rows = (0..<60).map { "| row\($0) | Value one. Value two. | e.g. more text here |" }
        let items = (0..<40).map { "- item\($0) explains a thing. It goes on\n  over a continuation line." }
        let text = "# Table\n" + rows.joined(separator: "\n") + "\n# List\n" + items.joined(separator: "\n")
        let chunks = chunker.chunks(of: markdown(text))
        #expect(chunks.filter { $0.heading == "Table" }.count > 1)
        #expect(chunks.filter { $0.heading == "List" }.count > 1)
        for chunk in chunks where chunk.heading == "Table" {
            for line in chunk.text.split(separator: "\n") { #expect(rows.contains(String(line)), "\(line)") }
        }
        for chunk in chunks where chunk.heading == "List" {
            // Every chunk, overlap included, starts at an item and ends at the end of one.
            #expect(chunk.text.hasPrefix("- item"))
            #expect(chunk.text.hasSuffix("over a continuation line."))
        }
    }

    @Test func htmlHeadingsBecomeHeadingPaths() {
        let html = "<h1>Guide</h1><p>Intro.</p><h2>Setup</h2><p>Do this.</p><pre>x = 1</pre><h2>Use</h2><p>Then.</p>"
        let document = DocumentLoader().load(bytes: Array(html.utf8), kind: .html).document
        let chunks = document.map { chunker.chunks(of: $0) } ?? []
        #expect(chunks.map(\.heading) == ["Guide", "Guide > Setup", "Guide > Use"])
        #expect(chunks[1].text == "Do this.\n\n```\nx = 1\n```")
    }

    @Test func enormousLineWithoutSpacesIsCut() {
        let blob = String(repeating: "abcdefghij.", count: 20_000)  // 220,000 bytes, 40,000 tokens
        let chunks = chunker.chunks(of: LoadedDocument(kind: .text, text: "Before.\n\n" + blob + "\n\nAfter."))
        #expect(chunks.count > 100)
        for chunk in chunks {
            #expect(simpleTokenCount(chunk.text) <= chunker.maxTokens)
            #expect(chunk.text.utf8.count <= chunker.maxChunkBytes)
        }
        // Nothing lost: with the overlaps removed, the pieces spell the blob.
        #expect(chunks.first?.text.hasPrefix("Before.") == true)
        #expect(chunks.last?.text.hasSuffix("After.") == true)
    }

    @Test func hugeWordWithoutPunctuationIsCutByBytes() {
        // One token to a word-piece counter that gives up on long words, but 100 KB of text.
        let word = String(repeating: "x", count: 100_000)
        let chunks = Chunker(tokenCount: { $0.split(whereSeparator: \.isWhitespace).count })
            .chunks(of: LoadedDocument(kind: .text, text: word))
        #expect(chunks.count >= 25)
        #expect(chunks.allSatisfy { $0.text.utf8.count <= 4096 })
        #expect(chunks.map(\.text).joined().count >= 100_000)
    }

    @Test func variedInputsStayWithinTheLimit() {
        let inputs: [LoadedDocument] = [
            LoadedDocument(kind: .text, text: String(repeating: "word ", count: 5000)),
            LoadedDocument(kind: .text, text: String(repeating: "line without a full stop\n", count: 800)),
            LoadedDocument(kind: .text, text: String(repeating: "日本語の文章です。", count: 400)),
            LoadedDocument(kind: .sourceCode(language: "c"), text: String(repeating: "int f(void) { return g(1, 2, 3); }\n", count: 300)),
            LoadedDocument(kind: .markdown, text: "- " + String(repeating: "item, ", count: 2000)),
            LoadedDocument(kind: .markdown, text: String(repeating: "| a | b | c |\n", count: 600)),
            LoadedDocument(kind: .html, text: HTMLText.markdown(fromHTML: String(repeating: "<p>Para &amp; text.</p><pre>x = 1\ny = 2</pre>", count: 300))),
        ]
        for document in inputs {
            let chunks = chunker.chunks(of: document)
            #expect(!chunks.isEmpty)
            for chunk in chunks {
                #expect(simpleTokenCount(chunk.text) <= chunker.maxTokens, "\(document.kind)")
                #expect(!chunk.text.isEmpty)
                #expect(chunk.text.first?.isNewline != true && chunk.text.last?.isWhitespace != true)
            }
        }
    }

    @Test func chunkingIsDeterministic() {
        let text = (0..<30).map { "## Part \($0 % 7)\n" + Self.sentences(($0 * 7) % 40, tag: "d\($0)x").joined(separator: " ") }
            .joined(separator: "\n\n")
        let first = chunker.chunks(of: markdown(text))
        let second = Chunker(tokenCount: simpleTokenCount).chunks(of: markdown(text))
        #expect(first == second)
        #expect(ChunkID.make(source: "d.md", chunks: first) == ChunkID.make(source: "d.md", chunks: second))
        #expect(first.count > 20)
    }

    @Test func sourceCodeIsOneSectionSplitAtLines() {
        let source = (0..<60).map { "func f\($0)() -> Int {\n    return \($0) * 2\n}\n" }.joined(separator: "\n")
        let chunks = chunker.chunks(of: LoadedDocument(kind: .sourceCode(language: "swift"), text: source))
        #expect(chunks.count > 1)
        #expect(chunks.allSatisfy { $0.heading.isEmpty })
        for chunk in chunks {
            #expect(chunk.text.hasPrefix("func ") || chunk.text.hasPrefix("    ") || chunk.text.hasPrefix("}"))
        }
    }

    @Test func restructuredTextLiteralBlockIsKeptWhole() {
        let literal = (0..<15).map { "    step\($0) = run(\($0))\n" }.joined()
        let text = "Guide\n=====\n\n" + Self.sentences(12).joined(separator: " ") + "\n\nExample::\n\n" + literal
            + "\n    # after a blank line, still the literal\n\nBack to prose."
        let chunks = chunker.chunks(of: LoadedDocument(kind: .restructuredText, text: text))
        let holding = chunks.filter { $0.text.contains("step0 = run(0)") }
        #expect(holding.count == 1)
        #expect(holding.first?.text.contains("step14 = run(14)\n\n    # after a blank line, still the literal") == true)
    }

    @Test func realTokenizerBoundsALongGeneratedDocument() throws {
        let tokenizer = try Tokenizer(modelDirectory: try realModelDirectory())
        let chunker = Chunker(tokenizer: tokenizer)
        #expect(chunker.maxTokens == 254)
        let count = { (text: String) in tokenizer.encode(text, maxLength: Int.max).count - 2 }

        var text = "---\ntitle: Generated\n---\nIntro paragraph.\n\n"
        var markers: [String] = []
        for section in 0..<12 {
            text += "\(String(repeating: "#", count: 1 + section % 3)) Section \(section)\n\n"
            for paragraph in 0..<(section % 5 + 1) {
                let marker = "zq\(section)x\(paragraph)"
                markers.append(marker)
                // Paragraphs from a few words to far beyond a chunk, with punctuation and numbers.
                let length = [5, 40, 120, 400, 900][(section + paragraph) % 5]
                text += "\(marker) " + (0..<length).map { "tok\($0 % 13), (v\($0)) e.g. x=\($0 * 7);" }
                    .joined(separator: joinsAsSentences(paragraph) ? ". " : " ") + ".\n\n"
            }
            text += "```swift\n" + (0..<(section * 9)).map { "let item\($0) = [\($0), \($0 + 1)]  // note" }
                .joined(separator: "\n") + "\n```\n\n"
        }
        text += "# Blobs\n\n" + String(repeating: "base64+/AbCdEf==", count: 3000) + "\n\n"
            + String(repeating: "ünïcödé 中文字符 émoji 🎉 ", count: 300) + "\n"

        let chunks = chunker.chunks(of: LoadedDocument(kind: .markdown, text: text))
        #expect(chunks.count > 50)
        var largest = 0
        for chunk in chunks {
            let tokens = count(chunk.text)
            largest = max(largest, tokens)
            #expect(tokens <= 254, "chunk \(chunk.ordinal) has \(tokens) tokens")
        }
        // Chunks come close to the limit somewhere, so the bound is actually exercised.
        #expect(largest > 200)
        for marker in markers {
            #expect(chunks.contains { $0.text.contains(marker) }, "\(marker) lost")
        }
        #expect(chunks.first?.heading == "Generated")
        #expect(chunks == chunker.chunks(of: LoadedDocument(kind: .markdown, text: text)))
    }
}

/// Whether the generated paragraph's fragments are joined as sentences (". ") or as one run-on.
private func joinsAsSentences(_ paragraph: Int) -> Bool { paragraph % 2 == 0 }

@Suite struct WordCountTests {
    @Test(arguments: [
        ("", 0),
        ("one two  three", 3),
        ("don't stop.", 5),
        ("v2.1 costs $30", 6),
        ("東京は晴れ", 5),
        ("naïve café", 2),
        ("emoji 🎉 here", 3),
        ("line\nbreak\ttab", 3),
        // Runs of letters with no break cost a piece every ten letters.
        ("internationalization", 2),
        (String(repeating: "a", count: 3_000), 300),
        // Scripts written without spaces: a letter each, as the ideographs.
        ("ภาษาไทยไม่มีช่องว่าง", 20),
        ("カタカナとひらがな", 9),
    ])
    func wordsAndMarksAreCountedAsAPreTokenizerSplits(text: String, count: Int) {
        #expect(WordCount.count(text) == count)
    }
}

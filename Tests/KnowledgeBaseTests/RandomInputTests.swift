import DocumentFormats
import TestSupport
import Testing
@testable import KnowledgeBase

/// Generated documents of awkward fragments, with a fixed seed: the invariants must hold for all.
@Suite struct RandomInputTests {
    static let fragments = [
        "# Heading", "## Sub", "###### Deep", "Title\n=====", "Sub\n---", "---", "```", "````swift", "~~~", "\n", "\n\n",
        "Plain sentence. ", "Another one! ", "Question? ", "e.g. abbreviations.", "- item", "1. item", "| a | b |",
        "    indented code", "\t tabbed", "word ", "日本語の文。", "émoji 🎉 ", "::", ".. code-block:: python", "   ",
        String(repeating: "x", count: 300), String(repeating: "ab,", count: 400), String(repeating: "long ", count: 90),
        "<p>html</p>", "&amp;", "***", "+++", "title: x", "import x from 'y'", "====", "~~~~",
    ]

    func document(_ generator: inout SeededGenerator) -> String {
        let count = Int.random(in: 1...120, using: &generator)
        var text = ""
        for _ in 0..<count {
            text += Self.fragments.randomElement(using: &generator)!
            if Bool.random(using: &generator) { text += "\n" }
        }
        return text
    }

    @Test func chunkInvariantsHoldOnRandomDocuments() {
        let chunker = Chunker(tokenCount: simpleTokenCount, targetTokens: 60, overlapTokens: 12, maxTokens: 80,
                              maxChunkBytes: 600)
        var generator = SeededGenerator(seed: 42)
        let kinds: [DocumentKind] = [.markdown, .mdx, .text, .restructuredText, .html, .sourceCode(language: "c")]
        for round in 0..<300 {
            let text = document(&generator)
            let kind = kinds[round % kinds.count]
            let loaded = DocumentLoader().load(bytes: Array(text.utf8), kind: kind).document
            guard let loaded else {
                Issue.record("round \(round) did not load")
                continue
            }
            let chunks = chunker.chunks(of: loaded)
            #expect(chunks == chunker.chunks(of: loaded), "round \(round)")
            #expect(chunks.map(\.ordinal) == Array(0..<chunks.count))
            for chunk in chunks {
                #expect(simpleTokenCount(chunk.text) <= 80, "round \(round)")
                #expect(chunk.text.utf8.count <= 600, "round \(round)")
                #expect(chunk.text.contains { !$0.isWhitespace }, "round \(round)")
                #expect(chunk.text.last?.isWhitespace != true, "round \(round)")
                #expect(!chunk.text.hasPrefix("\n"), "round \(round)")
            }
        }
    }

    @Test func htmlScannerSurvivesTagSoup() {
        let pieces = ["<", ">", "</", "/>", "<p", "<pre>", "</pre>", "<h2>", "</h2>", "<script>", "</script>", "<!--",
                      "-->", "<svg>", "</svg>", "&", "&#", "&#x", ";", "amp", "\"", "'", "=", "a", " ", "\n", "<li>",
                      "<ul>", "</ul>", "<code>", "</code>", "<br>", "<!", "<?", "é", "<title>", "<template>"]
        var generator = SeededGenerator(seed: 7)
        for _ in 0..<2000 {
            let count = Int.random(in: 0...60, using: &generator)
            let html = (0..<count).map { _ in pieces.randomElement(using: &generator)! }.joined()
            let text = HTMLText.markdown(fromHTML: html)
            #expect(!text.hasPrefix("\n") && !text.hasSuffix("\n"))
            #expect(!text.contains("\n\n\n"))
        }
    }
}

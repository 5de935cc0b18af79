@testable import KnowledgeBase
import Testing

@Suite struct EmbeddingTextTests {
    let chunker = Chunker(tokenCount: simpleTokenCount, targetTokens: 8, overlapTokens: 2, maxTokens: 10)

    @Test func headingPathGoesFirstWhenItFits() {
        let chunk = TextChunk(heading: "Install > Linux", text: "run the installer", ordinal: 0)
        #expect(FilePreparer.embeddingText(of: chunk, chunker: chunker) == "Install > Linux\nrun the installer")
    }

    @Test func aLongPathFallsBackToItsLastHeadingThenToNothing() {
        let long = "One > Two > Three > Four > Five"
        let chunk = TextChunk(heading: long, text: "a b c d e f g", ordinal: 0)
        #expect(FilePreparer.embeddingText(of: chunk, chunker: chunker) == "Five\na b c d e f g")
        let full = TextChunk(heading: long, text: "a b c d e f g h i j", ordinal: 0)
        #expect(FilePreparer.embeddingText(of: full, chunker: chunker) == "a b c d e f g h i j")
        let bare = TextChunk(heading: "", text: "text", ordinal: 0)
        #expect(FilePreparer.embeddingText(of: bare, chunker: chunker) == "text")
    }
}

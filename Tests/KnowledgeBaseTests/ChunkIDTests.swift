import Digests
@testable import KnowledgeBase
import Testing

@Suite struct ChunkIDTests {
    @Test func stableAndThirtyTwoHexDigits() {
        let id = ChunkID.make(source: "/docs/a.md", heading: "Install", text: "Run it.", occurrence: 0)
        #expect(id == ChunkID.make(source: "/docs/a.md", heading: "Install", text: "Run it.", occurrence: 0))
        #expect(id.count == 32)
        #expect(id.allSatisfy { "0123456789abcdef".contains($0) })
        // The definition: SHA-256 over the NUL-separated fields, first 16 bytes.
        let expected = SHA256.hex(SHA256.hash(Array("/docs/a.md\0Install\0Run it.\00".utf8)).prefix(16))
        #expect(id == expected)
    }

    @Test func everyFieldMatters() {
        let base = ChunkID.make(source: "s", heading: "h", text: "t", occurrence: 0)
        #expect(base != ChunkID.make(source: "s2", heading: "h", text: "t", occurrence: 0))
        #expect(base != ChunkID.make(source: "s", heading: "h2", text: "t", occurrence: 0))
        #expect(base != ChunkID.make(source: "s", heading: "h", text: "t2", occurrence: 0))
        #expect(base != ChunkID.make(source: "s", heading: "h", text: "t", occurrence: 1))
        // The separators keep fields apart: moving text across a boundary changes the id.
        #expect(ChunkID.make(source: "ab", heading: "c", text: "t", occurrence: 0)
                != ChunkID.make(source: "a", heading: "bc", text: "t", occurrence: 0))
    }

    @Test func repeatedBoilerplateGetsDistinctIDs() {
        let chunks = [
            TextChunk(heading: "A", text: "Was this page helpful?", ordinal: 0),
            TextChunk(heading: "A", text: "Body", ordinal: 1),
            TextChunk(heading: "A", text: "Was this page helpful?", ordinal: 2),
            TextChunk(heading: "B", text: "Was this page helpful?", ordinal: 3),
        ]
        let ids = ChunkID.make(source: "x.md", chunks: chunks)
        #expect(Set(ids).count == 4)
        #expect(ids[0] == ChunkID.make(source: "x.md", heading: "A", text: "Was this page helpful?", occurrence: 0))
        #expect(ids[2] == ChunkID.make(source: "x.md", heading: "A", text: "Was this page helpful?", occurrence: 1))
        // Under another heading the count starts again.
        #expect(ids[3] == ChunkID.make(source: "x.md", heading: "B", text: "Was this page helpful?", occurrence: 0))
        #expect(ids == ChunkID.make(source: "x.md", chunks: chunks))
    }
}

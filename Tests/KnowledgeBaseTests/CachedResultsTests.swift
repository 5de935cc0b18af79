import Foundation
@testable import KnowledgeBase
import Testing

@Suite struct CachedResultsTests {
    private let results = [
        QueryResult(id: "c1", text: "Install with apt-get.\r\n*3\r\n$3\r\nDEL", source: "/docs/install.md", heading: "Debian",
                    technology: "docs", score: 0.873_421_5, rank: 1),
        QueryResult(id: "c2", text: "ünïcødé 🦆 日本語 \u{0} nul", source: "/docs/ü.md", heading: "", technology: "c++",
                    score: -1.5e-300, rank: 2),
        QueryResult(id: "c3", text: String(repeating: "long text ", count: 20_000), source: "s", heading: "h",
                    technology: "general", score: .greatestFiniteMagnitude, rank: 3),
    ]

    @Test func resultsRoundTripExactly() {
        #expect(CachedResults.decode(CachedResults.encode(results)) == results)
        #expect(CachedResults.decode(CachedResults.encode([])) == [])
    }

    @Test func theEncodingIsSmallerThanJSON() throws {
        let json = try JSONEncoder().encode(Array(results.prefix(2)))
        #expect(CachedResults.encode(Array(results.prefix(2))).count < json.count)
    }

    @Test func anythingElseIsAMissNotACrash() {
        let encoded = CachedResults.encode(results)
        #expect(CachedResults.decode(Data()) == nil)
        #expect(CachedResults.decode(Data("[{\"id\":\"c1\"}]".utf8)) == nil, "JSON of an older version")
        #expect(CachedResults.decode(encoded.dropLast()) == nil, "truncated")
        #expect(CachedResults.decode(encoded + [0]) == nil, "trailing bytes")
        // A count or length far beyond the data.
        #expect(CachedResults.decode(Data([1, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F])) == nil)
        #expect(CachedResults.decode(Data([1, 1, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01])) == nil)
        // Invalid UTF-8 in a field.
        #expect(CachedResults.decode(Data([1, 1, 1, 0xC3])) == nil)
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2_000 {
            var bytes = [UInt8](encoded.prefix(64))
            bytes[Int.random(in: 1..<bytes.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
            _ = CachedResults.decode(Data(bytes))
        }
    }
}

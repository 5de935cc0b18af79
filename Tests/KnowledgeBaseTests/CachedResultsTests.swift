import Foundation
@testable import KnowledgeBase
import TestSupport
import Testing

@Suite struct CachedResultsTests {
    private let results = [
        QueryResult(id: "c1", text: "Install with apt-get.\r\n*3\r\n$3\r\nDEL", source: "/docs/install.md", heading: "Debian",
                    technology: "docs", score: 0.873_421_5, rank: 1),
        QueryResult(id: "c2", text: "ünïcødé 🦆 日本語 \u{0} nul", source: "/docs/ü.md", heading: "", technology: "c++",
                    score: -1.5e-300, rank: 2),
        QueryResult(id: "c3", text: String(repeating: "long text ", count: 20_000), source: "s", heading: "h",
                    technology: "general", score: .greatestFiniteMagnitude, rank: 3),
        QueryResult(id: "c4", text: "on a page", source: "/docs/manual.pdf", heading: "Manual", technology: "docs",
                    score: 0.5, rank: 4, page: 312),
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
        #expect(CachedResults.decode(Data([CachedResults.format, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F])) == nil)
        #expect(CachedResults.decode(Data([CachedResults.format, 1, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01])) == nil)
        // Invalid UTF-8 in a field.
        #expect(CachedResults.decode(Data([CachedResults.format, 1, 1, 0xC3])) == nil)
    }

    /// Where the fields of `CachedResults.encode(results)` lie, from the documented layout: each
    /// string's bytes (after its length) and each score's eight bytes (after the page's varint).
    private func layout(of results: [QueryResult]) -> (strings: [Range<Int>], scores: [Range<Int>]) {
        func varintSize(_ value: Int) -> Int { value < 0x80 ? 1 : 1 + varintSize(value >> 7) }
        var offset = 1 + varintSize(results.count)
        var strings: [Range<Int>] = [], scores: [Range<Int>] = []
        for result in results {
            for field in [result.id, result.text, result.source, result.heading, result.technology] {
                offset += varintSize(field.utf8.count)
                strings.append(offset..<offset + field.utf8.count)
                offset += field.utf8.count
            }
            offset += varintSize(result.page ?? 0)
            scores.append(offset..<offset + 8)
            offset += 8
        }
        return (strings, scores)
    }

    /// Corrupted entries from a fixed seed (a failure names its input and reproduces): each kind of
    /// corruption below can never leave a valid entry, so every one must read as a miss; and a
    /// score's eight bytes, where any bits are a valid Double, must read back as exactly those bits.
    @Test func corruptedEntriesAreMissesAndScoresReadAsTheirBits() {
        let small = Array(results.prefix(2))
        let encoded = [UInt8](CachedResults.encode(small))
        let (strings, scores) = layout(of: small)
        #expect(scores.last?.upperBound == encoded.count, "the layout covers the entry")
        let stringBytes = strings.flatMap { $0 }
        // Bytes that never occur in UTF-8.
        let neverUTF8: [UInt8] = [0xC0, 0xC1] + Array(0xF5...0xFF)
        var generator = SeededGenerator(seed: 20_261_205)
        var counts = [0, 0, 0, 0, 0]
        for _ in 0..<2_000 {
            var bytes = encoded
            let kind = Int.random(in: 0..<5, using: &generator)
            counts[kind] += 1
            switch kind {
            case 0:  // cut short anywhere
                bytes.removeLast(Int.random(in: 1...bytes.count, using: &generator))
            case 1:  // bytes after the end
                bytes += (0..<Int.random(in: 1...8, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            case 2:  // a result count other than the one written (a one-byte varint, as 2 is)
                bytes[1] = UInt8(([0, 1] + Array(3...127)).randomElement(using: &generator)!)
            case 3:  // a string's byte replaced by one UTF-8 never uses
                bytes[stringBytes.randomElement(using: &generator)!] = neverUTF8.randomElement(using: &generator)!
            default:  // a score's byte replaced by any other
                let result = Int.random(in: 0..<scores.count, using: &generator)
                let position = scores[result].randomElement(using: &generator)!
                bytes[position] = bytes[position] &+ UInt8.random(in: 1...255, using: &generator)
                let bits = bytes[scores[result]].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
                guard let decoded = CachedResults.decode(Data(bytes)) else {
                    Issue.record("a changed score made the entry unreadable: \(bytes)")
                    continue
                }
                var expected = small
                expected[result].score = Double(bitPattern: bits)
                #expect(decoded.map(\.score.bitPattern) == expected.map(\.score.bitPattern), "\(bytes)")
                #expect(decoded.map(\.id) == expected.map(\.id) && decoded.map(\.text) == expected.map(\.text)
                    && decoded.map(\.rank) == [1, 2], "\(bytes)")
                continue
            }
            #expect(CachedResults.decode(Data(bytes)) == nil, "corruption \(kind): \(bytes)")
        }
        #expect(counts.allSatisfy { $0 > 300 }, "every kind of corruption was tried: \(counts)")
    }
}

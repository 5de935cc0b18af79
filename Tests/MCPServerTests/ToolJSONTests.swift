import Foundation
import MCP
@testable import KnowledgeBase
@testable import MCPServer
import TestSupport
import Testing

/// Seeded random values written by JSONEncoder and read back into the SDK's `Value` must come back
/// as they went in: the text and the structured content of a tool result say the same.
@Suite struct ToolJSONRoundTripTests {
    @Test func readsBackWhatJSONEncoderWrites() throws {
        var generator = SeededGenerator(seed: 11)
        let alphabet: [Character] = ["a", "Z", "0", " ", "\"", "\\", "/", "\n", "\t", "\u{01}", "\u{1F}", "é", "中", "😀", "\u{7F}", "\u{2028}"]
        func randomValue(depth: Int) -> Value {
            switch Int.random(in: 0..<(depth > 3 ? 5 : 7), using: &generator) {
            case 0: return .null
            case 1: return .bool(Bool.random(using: &generator))
            // Within ±2^53, where a JSON number is still an exact integer.
            case 2: return .int(Int.random(in: -(1 << 53)...(1 << 53), using: &generator) >> Int.random(in: 0..<53, using: &generator))
            // A fraction keeps it a double: JSONEncoder writes 2.0 as 2.
            case 3: return .double(Double(Int.random(in: -1_000_000...1_000_000, using: &generator)) + 0.25)
            case 4: return .string(String((0..<Int.random(in: 0..<12, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! }))
            case 5: return .array((0..<Int.random(in: 0..<4, using: &generator)).map { _ in randomValue(depth: depth + 1) })
            default:
                return .object(Dictionary((0..<Int.random(in: 0..<4, using: &generator)).map { index in
                    ("k\(index)\(alphabet.randomElement(using: &generator)!)", randomValue(depth: depth + 1))
                }, uniquingKeysWith: { first, _ in first }))
            }
        }
        for _ in 0..<500 {
            let value = randomValue(depth: 0)
            let (text, read) = try ToolJSON.encode(value)
            #expect(read == value, "\(text)")
        }
    }
}

/// `query_knowledge_base`'s answer is written by hand for speed; it must say exactly what
/// JSONEncoder would, for any passages.
@Suite struct QueryAnswerJSONTests {
    @Test func writesWhatJSONEncoderWrites() throws {
        var generator = SeededGenerator(seed: 29)
        let alphabet: [Character] = ["a", "Z", "0", " ", "\"", "\\", "/", "\n", "\r", "\t", "\u{08}", "\u{0C}", "\u{01}", "\u{1F}",
                                     "é", "中", "😀", "\u{7F}", "\u{2028}", "<", "&"]
        func text() -> String {
            String((0..<Int.random(in: 0..<40, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! })
        }
        func number() -> Double {
            switch Int.random(in: 0..<6, using: &generator) {
            case 0: Double(Int.random(in: -1000...1000, using: &generator))
            case 1: Double.random(in: 0..<1, using: &generator)
            case 2: Double.random(in: -1e-6..<1e-6, using: &generator)
            case 3: Double.random(in: 1e15..<1e25, using: &generator)
            case 4: 1 / Double(Int.random(in: 60...200, using: &generator))
            default: Double.random(in: -50..<50, using: &generator)
            }
        }
        for round in 0..<300 {
            let results = (0..<Int.random(in: 0..<6, using: &generator)).map { rank in
                QueryResult(id: text(), text: text(), source: text(), heading: text(), technology: text(), score: number(),
                            rank: rank + 1, page: Bool.random(using: &generator) ? Int.random(in: 1...9999, using: &generator) : nil)
            }
            let response = QueryResponse(query: text(), mode: SearchMode.allCases.randomElement(using: &generator)!, results: results,
                                         tookMs: number(), cacheHit: Bool.random(using: &generator), degraded: Bool.random(using: &generator),
                                         degradedReason: Bool.random(using: &generator) ? text() : nil,
                                         resultsOmitted: Bool.random(using: &generator) ? Int.random(in: 1...49, using: &generator) : nil)
            let written = ToolOutput(query: response).json
            let encoded = try ToolJSON.bytes(response)
            #expect(written == encoded, "round \(round): \(String(decoding: written, as: UTF8.self))")
        }
        // Not finite: JSONEncoder is set to write these as strings.
        for value in [Double.infinity, -Double.infinity, Double.nan] {
            let response = QueryResponse(query: "q", mode: .hybrid, results: [], tookMs: value, cacheHit: false, degraded: false,
                                         degradedReason: nil)
            #expect(ToolOutput(query: response).json == (try ToolJSON.bytes(response)), "\(value)")
        }
    }

    /// The bytes `json` takes in a tools/call answer: as structured content, and again as text, where
    /// each quote and backslash gains a backslash.
    private func answerBytes(_ json: [UInt8]) -> Int {
        2 * json.count + json.filter { $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }.count
    }

    @Test func aQueryAnswerKeepsTheBestPassagesThatFitIn64KB() throws {
        func passage(_ rank: Int, bytes: Int) -> QueryResult {
            QueryResult(id: String(repeating: "f", count: 32), text: String(repeating: "a \"quoted\" word ", count: bytes / 17),
                        source: "/home/someone/notes/file\(rank).md", heading: "Install > Linux", technology: "docs",
                        score: 0.5, rank: rank, page: nil)
        }
        let big = QueryResponse(query: "how do I install it", mode: .hybrid, results: (1...50).map { passage($0, bytes: 4_000) },
                                tookMs: 3, cacheHit: false, degraded: false, degradedReason: nil)
        let capped = big.cappedForAnswer()
        #expect(capped.results.count > 1 && capped.results.count < 50)
        #expect(capped.results == Array(big.results.prefix(capped.results.count)), "the best ones, in order")
        #expect(capped.resultsOmitted == 50 - capped.results.count)
        let written = ToolOutput(query: capped).json
        #expect(answerBytes(written) + 200 < AnswerBudget.answerBytes, "\(answerBytes(written)) bytes")
        // Close to the budget: no more than two more passages would have fitted.
        #expect(answerBytes(written) + 3 * answerBytes(ToolOutput(query: QueryResponse(
            query: "", mode: .hybrid, results: [big.results[0]], tookMs: 0, cacheHit: false, degraded: false)).json) / 2
            > AnswerBudget.answerBytes)

        let small = QueryResponse(query: "q", mode: .keyword, results: (1...5).map { passage($0, bytes: 800) }, tookMs: 1,
                                  cacheHit: true, degraded: false)
        #expect(small.cappedForAnswer() == small && small.cappedForAnswer().resultsOmitted == nil)
        let huge = QueryResponse(query: "q", mode: .keyword, results: [passage(1, bytes: 200_000), passage(2, bytes: 10)],
                                 tookMs: 1, cacheHit: false, degraded: false)
        #expect(huge.cappedForAnswer().results.count == 1 && huge.cappedForAnswer().resultsOmitted == 1,
                "the first passage is kept whatever its size")
    }
}

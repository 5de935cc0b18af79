import Foundation
import MCP
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

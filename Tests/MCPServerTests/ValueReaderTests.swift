import Foundation
import MCP
@testable import MCPServer
import Testing

@Suite struct ValueReaderTests {
    private func read(_ text: String) throws -> Value {
        try Array(text.utf8).withUnsafeBufferPointer { bytes in
            var reader = ValueReader(bytes: bytes)
            return try reader.document()
        }
    }

    @Test func readsEveryKindOfValue() throws {
        #expect(try read(#" {"a": [1, -2, 0.5, -1.5e3, 1E-2, true, false, null], "b": {}, "c": [], "d": ""} "#) == .object([
            "a": .array([.int(1), .int(-2), .double(0.5), .double(-1500), .double(0.01), .bool(true), .bool(false), .null]),
            "b": .object([:]), "c": .array([]), "d": .string(""),
        ]))
        #expect(try read("12345678901234567890") == .double(1.2345678901234567e19))
        #expect(try read("-0") == .int(0))
    }

    @Test func decodesEscapesAndKeepsUnicode() throws {
        #expect(try read(#""q\"b\\s\/n\nt\tr\rb\bf\f""#) == .string("q\"b\\s/n\nt\tr\rb\u{08}f\u{0C}"))
        #expect(try read(#""\u00e9\u4e2d\ud83d\ude00 é中😀""#) == .string("é中😀 é中😀"))
        #expect(try read(#""data:text/plain;base64,aGk=""#) == .string("data:text/plain;base64,aGk="))
    }

    @Test func refusesWhatIsNotJSON() {
        let bad = ["", " ", "{", "[1,]", "[1 2]", #"{"a" 1}"#, #"{"a":1,}"#, "{1:2}", "01", "1.", ".5", "+1", "-", "1e", "inf", "NaN",
                   #""\x""#, "\"a\u{01}b\"", #""\ud800""#, #""\ud800\u0041""#, #""\u12G4""#, "\"open", "tru", "nul", "[1] x",
                   String(repeating: "[", count: 1000) + String(repeating: "]", count: 1000)]
        for text in bad {
            #expect(throws: ValueReader.Malformed.self, "\(text.prefix(40))") { try read(text) }
        }
        // Invalid UTF-8 inside a string.
        #expect(throws: ValueReader.Malformed.self) {
            try [UInt8(ascii: "\""), 0xC3, 0x28, UInt8(ascii: "\"")].withUnsafeBufferPointer { bytes in
                var reader = ValueReader(bytes: bytes)
                return try reader.document()
            }
        }
    }

    /// Seeded random documents written by JSONEncoder read back as the values they came from.
    @Test func readsBackWhatJSONEncoderWrites() throws {
        var generator = SystemRandomNumberGenerator.seeded(11)
        let alphabet: [Character] = ["a", "Z", "0", " ", "\"", "\\", "/", "\n", "\t", "\u{01}", "\u{1F}", "é", "中", "😀", "\u{7F}", "\u{2028}"]
        func randomValue(depth: Int) -> Value {
            switch Int.random(in: 0..<(depth > 3 ? 5 : 7), using: &generator) {
            case 0: return .null
            case 1: return .bool(Bool.random(using: &generator))
            case 2: return .int(Int.random(in: Int.min...Int.max, using: &generator) >> Int.random(in: 0..<63, using: &generator))
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
            let (text, read) = try JSONValue.encode(value)
            #expect(read == value, "\(text)")
        }
    }
}

/// SplitMix64, so a failing random case reproduces.
private struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var value = state
        value = (value ^ (value >> 30)) &* 0xBF58_476D_1CE4_E5B9
        value = (value ^ (value >> 27)) &* 0x94D0_49BB_1331_11EB
        return value ^ (value >> 31)
    }
}

private extension SystemRandomNumberGenerator {
    static func seeded(_ seed: UInt64) -> SplitMix { SplitMix(state: seed) }
}

import StrictJSON
import Testing

@Suite struct JSONReaderTests {
    private func read(_ text: String) throws -> JSONValue {
        try JSONReader.parse(Array(text.utf8))
    }

    /// The value of a number, nil for any other kind: a comparison with it fails when the kind is wrong.
    private func number(_ value: JSONValue) -> Double? {
        guard case .number(let number) = value else { return nil }
        return number
    }

    @Test func readsEveryKindOfValue() throws {
        let document = try read(#" {"a": [1, -2, 0.5, -1.5e3, 1E-2, true, false, null], "b": {}, "c": [], "d": "", "d": "last"} "#)
        guard case .array(let numbers)? = document["a"] else {
            Issue.record("no array under a")
            return
        }
        #expect(numbers.count == 8)
        #expect(numbers[0].integer == 1 && numbers[1].integer == -2)
        #expect(number(numbers[2]) == 0.5)
        #expect(number(numbers[3]) == -1500)
        #expect(number(numbers[4]) == 0.01)
        #expect(numbers[5].bool == true && numbers[6].bool == false && numbers[7].isNull)
        #expect(document["d"]?.string == "last", "the last of duplicate keys wins")
        #expect(document.firstValue(forKey: "d")?.string == "", "unless the first is asked for")
        // Beyond Int64: read as the nearest Double, not refused.
        #expect(number(try read("12345678901234567890")) == 1.2345678901234567e19)
    }

    @Test func decodesEscapesAndKeepsUnicode() throws {
        #expect(try read(#""q\"b\\s\/n\nt\tr\rb\bf\f""#).string == "q\"b\\s/n\nt\tr\rb\u{08}f\u{0C}")
        #expect(try read(#""\u00e9\u4e2d\ud83d\ude00 é中😀""#).string == "é中😀 é中😀")
        // A byte-order mark before the document is allowed, as in files.
        #expect(try JSONReader.parse([0xEF, 0xBB, 0xBF] + Array("true".utf8)).bool == true)
    }

    @Test func refusesWhatIsNotJSON() {
        let bad = ["", " ", "{", "[1,]", "[1 2]", #"{"a" 1}"#, #"{"a":1,}"#, "{1:2}", "01", "1.", ".5", "+1", "-", "1e", "inf", "NaN",
                   #""\x""#, "\"a\u{01}b\"", #""\ud800""#, #""\udc00""#, #""\ud800\u0041""#, #""\u12G4""#, "\"open", "tru", "nul",
                   "[1] x", String(repeating: "[", count: 1000) + String(repeating: "]", count: 1000)]
        for text in bad {
            #expect(throws: JSONReadError.self, "\(text.prefix(40))") { try read(text) }
        }
        // Nesting past the limit is told apart from other faults.
        do {
            _ = try read(String(repeating: "[", count: 1000) + String(repeating: "]", count: 1000))
            Issue.record("nesting 1,000 deep was read")
        } catch {
            #expect((error as? JSONReadError)?.isTooDeep == true)
        }
        do {
            _ = try read("[1,]")
            Issue.record("a trailing comma was read")
        } catch {
            #expect((error as? JSONReadError)?.isTooDeep == false)
        }
        #expect(throws: JSONReadError.self, "invalid UTF-8 in a string") {
            try JSONReader.parse([UInt8(ascii: "\""), 0xC3, 0x28, UInt8(ascii: "\"")])
        }
    }

    @Test func takesALowerDepthLimitAndNeverAHigherOne() throws {
        func nested(_ depth: Int) -> [UInt8] { Array((String(repeating: "[", count: depth) + String(repeating: "]", count: depth)).utf8) }
        // Objects count as arrays do, and brackets inside strings not at all.
        #expect(try JSONReader.parse(Array(#"{"a":[{"b":"[[[["}]}"#.utf8), maxDepth: 3).isNull == false)
        #expect(throws: JSONReadError.self) { try JSONReader.parse(Array(#"{"a":[{"b":1}]}"#.utf8), maxDepth: 2) }
        #expect(try JSONReader.parse(nested(64), maxDepth: 64).isNull == false)
        do {
            _ = try JSONReader.parse(nested(65), maxDepth: 64)
            Issue.record("nesting 65 deep was read under a limit of 64")
        } catch {
            #expect(error.isTooDeep && error.message.contains("64"), "\(error)")
        }
        // The reader's own limit bounds its recursion, whatever is asked.
        #expect(throws: JSONReadError.self) { try JSONReader.parse(nested(JSONReader.maxDepth + 1), maxDepth: 100_000) }
    }

    @Test func replacesLoneSurrogatesOnlyWhenAsked() throws {
        for (text, read) in [(#""\ud800""#, "\u{FFFD}"), (#""a\udc00b""#, "a\u{FFFD}b"), (#""\uD83D\u0041""#, "\u{FFFD}A"),
                             (#""\ud83d\ude00\ud800""#, "😀\u{FFFD}"), (#""\udc00\ud83d\ude00""#, "\u{FFFD}😀")] {
            #expect(throws: JSONReadError.self, "\(text)") { try self.read(text) }
            #expect(try JSONReader.parse(Array(text.utf8), replacingLoneSurrogates: true).string == read, "\(text)")
        }
    }
}

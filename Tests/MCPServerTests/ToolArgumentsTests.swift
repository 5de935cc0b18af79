import KnowledgeBase
import MCP
@testable import MCPServer
import Testing

@Suite struct ToolArgumentsTests {
    private func arguments(_ values: [String: Value]) throws -> ToolArguments {
        try ToolArguments(values, tool: "t", allowed: ["s", "n", "b", "m", "list"])
    }

    private func message(_ body: () throws -> Void) -> String {
        do {
            try body()
            return "no error"
        } catch {
            return "\(error)"
        }
    }

    @Test func unknownNamesAreRefusedWithTheAllowedOnes() {
        let text = message { _ = try ToolArguments(["nn": 1], tool: "t", allowed: ["n"]) }
        #expect(text.contains("no argument \"nn\"") && text.contains("takes n"))
    }

    @Test func thousandsOfLongUnknownNamesMakeAShortError() {
        var values: [String: Value] = [:]
        for index in 0..<3_000 { values[String(format: "%04d", index) + String(repeating: "x", count: 90)] = 1 }
        let text = message { _ = try ToolArguments(values, tool: "t", allowed: ["n"]) }
        #expect(text.utf8.count < 400, "\(text.utf8.count) bytes")
        #expect(text.contains("\"0000\(String(repeating: "x", count: 60))…\"") && text.contains("and 2997 more"))
        #expect(!text.contains("0003"), "only the first three are named")
    }

    @Test func integersAcceptWholeDoublesOnly() throws {
        #expect(try arguments(["n": 7]).integer("n", default: 1) == 7)
        #expect(try arguments(["n": 7.0]).integer("n", default: 1) == 7)
        #expect(try arguments(["n": -1]).integer("n", default: 1) == -1, "ranges are the request's to check")
        #expect(try arguments([:]).integer("n", default: 3) == 3)
        #expect(try arguments(["n": .null]).integer("n", default: 3) == 3)
        for bad: Value in [7.5, "7", true, .double(.nan), .double(.infinity), 1e300] {
            #expect(throws: InvalidRequest.self) { try arguments(["n": bad]).integer("n", default: 1) }
        }
    }

    @Test func stringsAreCheckedForTypeAndLength() throws {
        #expect(try arguments(["s": "abc"]).string("s", maxLength: 3) == "abc")
        #expect(throws: InvalidRequest.self) { try arguments(["s": "abcd"]).string("s", maxLength: 3) }
        #expect(throws: InvalidRequest.self) { try arguments(["s": 3]).string("s", maxLength: 3) }
        #expect(throws: InvalidRequest.self) { try arguments([:]).string("s", required: true, maxLength: 3) }
        #expect(try arguments([:]).string("s", maxLength: 3) == nil)
    }

    @Test func choicesNameTheAlternatives() throws {
        #expect(try arguments(["m": "keyword"]).choice("m", default: SearchMode.hybrid) == .keyword)
        #expect(try arguments([:]).choice("m", default: SearchMode.hybrid) == .hybrid)
        let text = message { _ = try arguments(["m": "fuzzy"]).choice("m", default: SearchMode.hybrid) }
        #expect(text.contains("hybrid, semantic, keyword"))
    }

    @Test func listsOfStrings() throws {
        #expect(try arguments(["list": ["a", "b"]]).strings("list", maxCount: 2, maxLength: 5) == ["a", "b"])
        for bad: Value in [[], ["a", "b", "c"], ["a", 1], "a", [""], ["toolong"]] {
            #expect(throws: InvalidRequest.self) { try arguments(["list": bad]).strings("list", maxCount: 2, maxLength: 5) }
        }
    }

    @Test func booleans() throws {
        #expect(try arguments(["b": false]).boolean("b", default: true) == false)
        #expect(throws: InvalidRequest.self) { try arguments(["b": "false"]).boolean("b", default: true) }
    }
}

@Suite struct ToolJSONTests {
    struct Sample: Encodable {
        let text: String
        let count: Int
        let ratio: Double
        let flag: Bool
        let missing: String?
        let nested: [String: [Int]]
    }

    @Test func keepsTypesAndDoesNotTurnDataURLsIntoBinary() throws {
        let (text, value) = try ToolJSON.encode(Sample(text: "data:text/plain;base64,aGk=", count: 3, ratio: 0.5,
                                                        flag: true, missing: nil, nested: ["a": [1, 2]]))
        let object = try #require(value.objectValue)
        #expect(object["text"] == .string("data:text/plain;base64,aGk="))
        #expect(object["count"] == .int(3))
        #expect(object["ratio"] == .double(0.5))
        #expect(object["flag"] == .bool(true))
        #expect(object["missing"] == nil)
        #expect(object["nested"] == .object(["a": .array([.int(1), .int(2)])]))
        #expect(text.hasPrefix("{\"count\":3,"))
    }
}

@Suite struct ErrorMessageTests {
    @Test func messagesAreSentences() {
        #expect(MCPRagServer.sentence("no folders are allowed") == "No folders are allowed.")
        #expect(MCPRagServer.sentence("done already.") == "Done already.")
        #expect(MCPRagServer.message(for: InvalidRequest("n_results must be between 1 and 50"))
            == "Invalid arguments: n_results must be between 1 and 50.")
        #expect(MCPRagServer.message(for: EmbeddingUnavailable(reason: "no model. Run tools/fetch-model."))
            == "The embedding model is not available: no model. Run tools/fetch-model.")
    }
}

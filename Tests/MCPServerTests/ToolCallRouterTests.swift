import Foundation
import MCP
@testable import MCPServer
import Testing

/// Which messages the router answers itself and which it leaves to the SDK.
@Suite struct ToolCallRouterTests {
    private func kind(_ text: String) -> IncomingFrame {
        IncomingFrame.read(Data(text.utf8))
    }

    @Test func toolCallsAreTakenWithTheirParameters() {
        guard case .call(let id, let parameters) = kind(#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"health_check","arguments":{"level":"deep"}}}"#) else {
            Issue.record("a tools/call was not taken")
            return
        }
        #expect(id == .number(7))
        #expect(parameters.name == "health_check")
        #expect(parameters.arguments?["level"] == .string("deep"))
        guard case .call(let named, _) = kind(#"{"jsonrpc":"2.0","id":"a","method":"tools/call","params":{"name":"list_sources"}}"#) else {
            Issue.record("a tools/call without arguments was not taken")
            return
        }
        #expect(named == .string("a"))
    }

    @Test func argumentsAreReadAsTheJSONTheyAre() {
        // The SDK's own decoding read a string shaped like a data URL as binary data, which the
        // tools then refused as "not a string".
        let text = #"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"query_knowledge_base","#
            + #""arguments":{"query":"data:text/plain;base64,SGVsbG8=","n_results":5.0,"deep":{"a":[1,2.5,null,true]}},"#
            + #""_meta":{"progressToken":"t1"}}}"#
        guard case .call(_, let parameters) = kind(text) else {
            Issue.record("the call was not taken")
            return
        }
        #expect(parameters.arguments?["query"] == .string("data:text/plain;base64,SGVsbG8="))
        #expect(parameters.arguments?["n_results"] == .int(5))
        #expect(parameters.arguments?["deep"] == .object(["a": .array([.int(1), .double(2.5), .null, .bool(true)])]))
        #expect(parameters._meta?.progressToken == .string("t1"))
        guard case .malformedCall(_, let problem) = kind(#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","_meta":5}}"#) else {
            Issue.record("a call with a number for _meta was taken")
            return
        }
        #expect(problem.contains("\"_meta\" must be an object"))
    }

    @Test func malformedCallsAreAnsweredAsSuch() {
        for text in [#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"arguments":{}}}"#,
                     #"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":5}}"#,
                     #"{"jsonrpc":"2.0","id":3,"method":"tools/call"}"#] {
            guard case .malformedCall(let id, _) = kind(text) else {
                Issue.record("not a malformed call: \(text)")
                continue
            }
            #expect(id == .number(3))
        }
    }

    @Test func paramsTheSDKCannotHoldAreRefusedUnderTheRequestsId() {
        // The SDK would answer these under an id of its own making, leaving the request unanswered.
        guard case .refusedRequest(let id, let code, let message) = kind(#"{"jsonrpc":"2.0","id":4,"method":"ping","params":{"x":1e999}}"#)
        else {
            Issue.record("a ping with 1e999 went to the SDK")
            return
        }
        #expect(code == -32602 && id == .number(4) && message.contains("1e999"))
        guard case .other(_, let request) = kind(#"{"jsonrpc":"2.0","id":5,"method":"ping","params":{"x":1e300}}"#) else {
            Issue.record("a readable ping was refused")
            return
        }
        #expect(request == .number(5))
    }

    @Test func answersFromTheClientAreIgnoredAsNoRequestAwaitsThem() {
        // Handed to the SDK, the malformed ones were answered under their id, which may be a call's
        // still running: its own answer was then dropped.
        for text in [#"{"jsonrpc":"2.0","id":4,"result":{}}"#, #"{"jsonrpc":"2.0","id":5,"error":null}"#,
                     #"{"jsonrpc":"2.0","id":5,"method":"ping","error":null}"#, #"{"id":5,"result":1e999}"#] {
            guard case .ignored = kind(text) else {
                Issue.record("not ignored: \(text)")
                continue
            }
        }
    }

    @Test func aToolCallWithoutAnIdIsCheckedBeforeTheSDKHasIt() {
        // The SDK would answer it under an id of its own making.
        guard case .reject(-32602, _, nil) = kind(#"{"jsonrpc":"2.0","method":"tools/call","params":{"name":"q","arguments":{"n":1e999}}}"#)
        else {
            Issue.record("a tools/call notification holding 1e999 went to the SDK")
            return
        }
    }

    @Test func cancellationsNameTheirRequest() {
        guard case .cancellation(let id) = kind(#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"r1"}}"#) else {
            Issue.record("a cancellation was not recognised")
            return
        }
        #expect(id == .string("r1"))
    }

    @Test func argumentsThatCannotBeReadAreNamed() {
        guard case .malformedCall(_, let problem) = kind(
            #"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"query_knowledge_base","arguments":{"query":"x","n_results":1e999}}}"#)
        else {
            Issue.record("a call with an unreadable number was taken")
            return
        }
        #expect(problem.contains("\"n_results\"") && problem.contains("64-bit float"))
        guard case .malformedCall(_, let notObject) = kind(#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"x","arguments":[1]}}"#)
        else {
            Issue.record("a call with a list for arguments was taken")
            return
        }
        #expect(notObject.contains("must be an object"))
    }

    @Test func theToolListIsTheRoutersWithItsCursorChecked() {
        let cases: [(String, String?)] = [
            (#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#, nil),
            (#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}"#, nil),
            (#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"cursor":null}}"#, nil),
            (#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"cursor":123}}"#, "must be a string"),
            (#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"cursor":"page-2"}}"#, "invalid cursor"),
            (#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":[1]}"#, "must be an object"),
        ]
        for (text, expected) in cases {
            guard case .listTools(let id, let problem) = kind(text) else {
                Issue.record("tools/list not taken: \(text)")
                continue
            }
            #expect(id == .number(1))
            if let expected { #expect(problem?.contains(expected) == true, "\(text)") } else { #expect(problem == nil, "\(text)") }
        }
    }

    @Test func everythingElseGoesToTheSDKWithTheIdItMustBeAnsweredUnder() {
        let others: [(String, ID?)] = [
            (#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}"#, .number(1)),
            (#"{"jsonrpc":"2.0","id":"p","method":"ping"}"#, .string("p")),
            // A notification named tools/call has no id: there is nobody to answer.
            (#"{"jsonrpc":"2.0","method":"tools/call","params":{"name":"x"}}"#, nil),
            (#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{}}"#, nil),
        ]
        for (text, expected) in others {
            guard case .other(_, let id) = kind(text) else {
                Issue.record("taken from the SDK: \(text)")
                continue
            }
            #expect(id == expected, "\(text)")
        }
        // What is not a JSON-RPC 2.0 request reaches neither the router's tools nor the SDK.
        for text in [#"{"jsonrpc":"1.0","id":1,"method":"tools/call","params":{"name":"x"}}"#, "not json", ""] {
            guard kind(text).refusal != nil else {
                Issue.record("not rejected: \(text)")
                continue
            }
        }
    }

    @Test func anAnswerIsTheToolsJSONOnceAsTextAndAsStructuredContent() throws {
        struct Output: Encodable {
            let text: String
            let score: Double
        }
        // Every character JSON must escape, and some it must not.
        let awkward = "quote \" backslash \\ slash / newline \n tab \t bell \u{07} unit \u{1F} del \u{7F} é 中 😀 \u{2028}"
        let output = try ToolOutput(Output(text: awkward, score: 0.25))
        for id in [ID.number(12), ID.string("a \"quoted\" id\n")] {
            let data = ToolAnswer.output(output).response(id: id)
            let answer = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
            #expect(answer["jsonrpc"] as? String == "2.0")
            let result = try #require(answer["result"] as? [String: Any])
            #expect(result["isError"] as? Bool == false)
            let structured = try #require(result["structuredContent"] as? [String: Any])
            #expect(structured["text"] as? String == awkward)
            let content = try #require(result["content"] as? [[String: Any]])
            #expect(content.count == 1 && content[0]["type"] as? String == "text")
            let text = try #require(content[0]["text"] as? String)
            let reread = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
            #expect(reread["text"] as? String == awkward && reread["score"] as? Double == 0.25)
            // The id comes back as it was sent, a string as a string and a number as a number.
            let decoded = try JSONDecoder().decode(Response<CallTool>.self, from: data)
            #expect(decoded.id == id)
        }
        let failure = ToolAnswer.failure("No \"such\" file.\n", code: .invalidRequest).response(id: .number(1))
        let decoded = try JSONDecoder().decode(Response<CallTool>.self, from: failure)
        let result = try decoded.result.get()
        #expect(result.isError == true && result.structuredContent == nil)
        #expect(result._meta?[ToolAnswer.errorCodeKey] == .string("invalid_request"), "the code, for programs")
        // Written as the SDK writes the same result (keys sorted).
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let sdk = try encoder.encode(ToolAnswer.failure("No \"such\" file.\n", code: .invalidRequest).result())
        #expect(String(decoding: failure, as: UTF8.self).contains(String(decoding: sdk, as: UTF8.self)))
        guard case .text(let text, _, _) = try #require(result.content.first) else {
            Issue.record("not a text item")
            return
        }
        #expect(text == "No \"such\" file.\n")
    }
}

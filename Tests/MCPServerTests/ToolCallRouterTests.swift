import Foundation
import MCP
@testable import MCPServer
import Testing

/// Which messages the router answers itself and which it leaves to the SDK.
@Suite struct ToolCallRouterTests {
    private func kind(_ text: String) -> ToolCallRouter.Kind {
        ToolCallRouter.classify(Data(text.utf8))
    }

    @Test func toolCallsAreTakenWithTheirParameters() {
        guard case .call(let request) = kind(#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"health_check","arguments":{"level":"deep"}}}"#) else {
            Issue.record("a tools/call was not taken")
            return
        }
        #expect(request.id == .number(7))
        #expect(request.params.name == "health_check")
        #expect(request.params.arguments?["level"] == .string("deep"))
        guard case .call(let named) = kind(#"{"jsonrpc":"2.0","id":"a","method":"tools/call","params":{"name":"list_sources"}}"#) else {
            Issue.record("a tools/call without arguments was not taken")
            return
        }
        #expect(named.id == .string("a"))
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
            (#"{"jsonrpc":"1.0","id":1,"method":"tools/call","params":{"name":"x"}}"#, nil),
            (#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{}}"#, nil),
            (#"{"jsonrpc":"2.0","id":4,"result":{}}"#, nil),
            ("not json", nil), ("", nil),
        ]
        for (text, expected) in others {
            guard case .other(let id) = kind(text) else {
                Issue.record("taken from the SDK: \(text)")
                continue
            }
            #expect(id == expected, "\(text)")
        }
    }
}

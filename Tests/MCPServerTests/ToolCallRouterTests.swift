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
            guard case .malformedCall(let id) = kind(text) else {
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

    @Test func everythingElseGoesToTheSDK() {
        let others = [
            #"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}"#,
            #"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
            // A notification named tools/call has no id: there is nobody to answer.
            #"{"jsonrpc":"2.0","method":"tools/call","params":{"name":"x"}}"#,
            #"{"jsonrpc":"1.0","id":1,"method":"tools/call","params":{"name":"x"}}"#,
            #"[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"}}]"#,
            #"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{}}"#,
            "not json", "",
        ]
        for text in others {
            guard case .other = kind(text) else {
                Issue.record("taken from the SDK: \(text)")
                continue
            }
        }
    }
}

import Foundation
import Logging
import MCP
@testable import MCPServer
import Testing

/// The stdio transport's bookkeeping of unanswered requests, which lets `echo … | mcp-rag` get its
/// answers before the process exits.
@Suite struct PendingRequestsTests {
    private func data(_ text: String) -> Data { Data(text.utf8) }

    @Test func requestIDsKeepStringsAndNumbersApart() {
        #expect(PendingRequests.requestIDs(in: data(#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"}}"#))
            == ([.number(1)], []))
        #expect(PendingRequests.requestIDs(in: data(#"{"jsonrpc":"2.0","id":"1","method":"ping"}"#)) == ([.string("1")], []))
        // A notification has no id and awaits no answer.
        #expect(PendingRequests.requestIDs(in: data(#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)) == ([], []))
        #expect(PendingRequests.requestIDs(in: data(#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":7,"reason":"x"}}"#))
            == ([], [.number(7)]))
    }

    @Test func batchesAreReadElementByElement() {
        let batch = #"  [{"jsonrpc":"2.0","id":1,"method":"a"}, 5, {"jsonrpc":"2.0","id":"x","method":"b"}, {"id":2,"result":{}}]"#
        #expect(PendingRequests.requestIDs(in: data(batch)) == ([.number(1), .string("x")], []))
        #expect(PendingRequests.responseIDs(in: data(batch)) == [.number(2)])
    }

    @Test func answersAreResultsAndErrors() {
        let big = String(repeating: "passage text ", count: 2000)
        #expect(PendingRequests.responseIDs(in: data(#"{"jsonrpc":"2.0","id":3,"result":{"content":[{"type":"text","text":"\#(big)"}]}}"#))
            == [.number(3)])
        #expect(PendingRequests.responseIDs(in: data(#"{"jsonrpc":"2.0","id":"q","error":{"code":-32601,"message":"no"}}"#)) == [.string("q")])
        // Requests and notifications the server sends are not answers.
        #expect(PendingRequests.responseIDs(in: data(#"{"jsonrpc":"2.0","id":9,"method":"roots/list"}"#)).isEmpty)
        #expect(PendingRequests.responseIDs(in: data(#"{"jsonrpc":"2.0","method":"notifications/progress","params":{}}"#)).isEmpty)
    }

    @Test func malformedMessagesNameNothing() {
        // An id the SDK cannot represent (1.5) is not awaited either: no answer could name it.
        for text in ["{", "", "null", "[1, 2]", #"{"id": {"nested": 1}, "method": "x"}"#, #"{"id": 1.5, "method": "x"}"#, "\u{FF}"] {
            #expect(PendingRequests.requestIDs(in: data(text)) == ([], []), "\(text)")
            #expect(PendingRequests.responseIDs(in: data(text)).isEmpty, "\(text)")
        }
    }

    @Test func theStreamEndsOnceTheLastOpenRequestIsAnswered() async throws {
        let (stream, continuation) = AsyncThrowingStream<Data, Error>.makeStream()
        let pending = PendingRequests(continuation: continuation)
        pending.received(data(#"{"jsonrpc":"2.0","id":1,"method":"tools/call"}"#))
        pending.received(data(#"{"jsonrpc":"2.0","id":2,"method":"tools/call"}"#))
        pending.received(data(#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":2}}"#))
        pending.inputEnded(timeout: .seconds(600), logger: Logger(label: "test"))
        // Request 1 is still open: the stream goes on.
        guard case .enqueued = continuation.yield(data("still open")) else {
            Issue.record("the stream ended while a request was unanswered")
            return
        }
        pending.sent(data(#"{"jsonrpc":"2.0","id":1,"result":{}}"#))
        var delivered: [Data] = []
        for try await message in stream { delivered.append(message) }
        #expect(delivered == [data("still open")])
    }
}

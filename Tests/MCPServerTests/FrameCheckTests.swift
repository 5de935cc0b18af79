import Foundation
import MCP
@testable import MCPServer
import Testing

/// The checks every frame passes before anyone acts on it, and the book of requests in flight.
@Suite struct FrameCheckTests {
    private enum Verdict: Equatable {
        case pass
        case reject(code: Int, message: String, id: ID?)
    }

    private func check(_ text: String) -> Verdict {
        if case .reject(let code, let message, let id) = IncomingFrame.read(Data(text.utf8)) {
            return .reject(code: code, message: message, id: id)
        }
        return .pass
    }

    @Test func requestsNotificationsAndAnswersPass() {
        for text in [#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#, #"{"jsonrpc":"2.0","id":"a","method":"ping"}"#,
                     #"{"jsonrpc":"2.0","method":"notifications/initialized"}"#, #"{"jsonrpc":"2.0","id":1,"result":{}}"#,
                     // A surrogate pair written as two escapes is one character.
                     #"{"jsonrpc":"2.0","id":1,"method":"ping","params":{"q":"\ud83d\ude00 \\ud800"}}"#] {
            #expect(check(text) == .pass, "\(text)")
        }
    }

    @Test func batchesAreRefusedWholeWithIdNull() {
        let batch = #"[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","id":2,"method":"tools/call"}]"#
        guard case .reject(let code, let message, let id) = check(batch) else {
            Issue.record("a batch passed")
            return
        }
        #expect(code == -32600 && id == nil && message.contains("no batches"))
        // What is not JSON stays a parse error, brackets or not.
        #expect(check("[1, 2") == .reject(code: -32700, message: "Parse error: the message is not valid JSON in UTF-8", id: nil))
    }

    @Test func idsAreStringsOrIntegersNeverNull() {
        for text in [#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#, #"{"jsonrpc":"2.0","id":1.5,"method":"ping"}"#,
                     #"{"jsonrpc":"2.0","id":[1],"method":"ping"}"#] {
            guard case .reject(let code, let message, let id) = check(text) else {
                Issue.record("passed: \(text)")
                continue
            }
            #expect(code == -32600 && id == nil, "\(text)")
            #expect(message.contains("a string or an integer"), "\(text)")
        }
    }

    @Test func aLoneSurrogateIsAParseErrorNamingIt() {
        for (text, escape) in [(#"{"jsonrpc":"2.0","id":3,"method":"ping","params":{"q":"\ud800"}}"#, #"\ud800"#),
                               (#"{"jsonrpc":"2.0","id":3,"method":"ping","params":{"q":"a\udc00b"}}"#, #"\udc00"#),
                               (#"{"jsonrpc":"2.0","id":3,"method":"ping","params":{"q":"\uD83D\u0041"}}"#, #"\uD83D"#)] {
            guard case .reject(let code, let message, let id) = check(text) else {
                Issue.record("passed: \(text)")
                continue
            }
            #expect(code == -32700 && id == .number(3), "\(text)")
            #expect(message.contains(escape), "\(text)")
        }
    }

    @Test func theLedgerRefusesAnIdInFlightAndDrainsOnceInputEndsAndAllIsAnswered() {
        var ledger = RequestLedger()
        let first = ledger.begin(.number(1)), second = ledger.begin(.string("1")), again = ledger.begin(.number(1))
        #expect(first && second, "\"1\" and 1 are two ids")
        #expect(!again)
        ledger.inputEnded = true
        #expect(!ledger.isDrained)
        ledger.end(.number(1))
        #expect(!ledger.isDrained)
        ledger.end(.string("1"))
        #expect(ledger.isDrained)
        let reused = ledger.begin(.number(1))
        #expect(reused, "an id may be used again once answered")
    }
}

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

    /// Whether the frame is refused on reading (a request so refused keeps its id), and how.
    private func check(_ text: String) -> Verdict {
        if let (code, message, id) = IncomingFrame.read(Data(text.utf8)).refusal {
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

    @Test func integerIdsAreReadExactlyPastWhatADoubleHolds() {
        // 2^53 + 1: a Double would round it to 2^53, and the answer would name another request.
        let big = 9_007_199_254_740_993
        let frames: [(String, ID)] = [
            (#"{"jsonrpc":"2.0","id":9007199254740993,"method":"ping"}"#, .number(big)),
            (#"{"jsonrpc":"2.0","id":-9007199254740993,"method":"tools/call","params":{"name":"x"}}"#, .number(-big)),
            // JSON has one number type: 7.0 is the integer 7, as JSONDecoder reads an Int.
            (#"{"jsonrpc":"2.0","id":7.0,"method":"ping"}"#, .number(7)),
        ]
        for (text, expected) in frames {
            #expect(IncomingFrame.read(Data(text.utf8)).requestID == expected, "\(text)")
        }
        guard case .cancellation(let cancelled) = IncomingFrame.read(Data(#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":9007199254740993}}"#.utf8)) else {
            Issue.record("a cancellation of a large id was not recognised")
            return
        }
        #expect(cancelled == .number(big))
        // Past Int64 no id is exact: refused, not rounded.
        guard case .reject(-32600, _, nil) = IncomingFrame.read(Data(#"{"jsonrpc":"2.0","id":1e30,"method":"ping"}"#.utf8)) else {
            Issue.record("an id past Int64 was taken")
            return
        }
    }

    @Test func ofAKeyGivenTwiceTheFirstCountsAsForTheSDK() {
        // The SDK (through JSONDecoder) answers the first id: the router must book the same one.
        #expect(IncomingFrame.read(Data(#"{"jsonrpc":"2.0","id":1,"id":2,"method":"ping"}"#.utf8)).requestID == .number(1))
        let call = #"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"q","arguments":{"q":"a","q":"b","x":1,"x":1e999}}}"#
        guard case .call(_, let parameters) = IncomingFrame.read(Data(call.utf8)) else {
            Issue.record("a call whose second duplicate holds 1e999 was not taken")
            return
        }
        #expect(parameters.arguments?["q"] == .string("a") && parameters.arguments?["x"] == .int(1))
    }

    @Test func whatIsNotJSONIsAParseErrorEvenWhereFoundationWouldNotLook() {
        // Not JSON (RFC 8259), though JSONDecoder lets the first three pass where it reads nothing.
        for text in [#"{"jsonrpc":"2.0","id":1,"method":"ping",}"#, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":{\"q\":\"a\tb\"}}",
                     #"{"jsonrpc":"2.0","id":1,"method":"ping","params":{"n":01}}"#, "\u{FEFF}" + #"{"jsonrpc":"2.0","id":1,"method":"ping"}"#,
                     String(repeating: "[", count: 100)] {
            #expect(check(text) == .reject(code: -32700, message: "Parse error: the message is not valid JSON in UTF-8", id: nil),
                    "\(text.prefix(60))")
        }
        // A lone surrogate in the id itself leaves no id to answer under; one elsewhere does not.
        guard case .reject(-32700, _, nil) = IncomingFrame.read(Data(#"{"jsonrpc":"2.0","id":"a\ud800","method":"ping"}"#.utf8)) else {
            Issue.record("an id holding a lone surrogate was answered under")
            return
        }
        let elsewhere = #"{"jsonrpc":"2.0","id":"a\ufffd","method":"ping","params":{"q":"\ud800"}}"#
        guard case .refusedRequest(.string("a\u{FFFD}"), -32700, _) = IncomingFrame.read(Data(elsewhere.utf8)) else {
            Issue.record("an id holding U+FFFD itself was dropped")
            return
        }
    }

    @Test func aProgressTokenPastWhatADoubleHoldsIsTheClientsOwn() {
        let text = #"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"q","arguments":{"q":"data:text/plain,hi"},"#
            + #""_meta":{"progressToken":9007199254740993}}}"#
        guard case .call(_, let parameters) = IncomingFrame.read(Data(text.utf8)) else {
            Issue.record("the call was not taken")
            return
        }
        #expect(parameters._meta?.progressToken == .integer(9_007_199_254_740_993))
        #expect(parameters.arguments?["q"] == .string("data:text/plain,hi"))
    }

    /// The router books the id that JSONDecoder (and with it the SDK, which answers what it is handed) reads,
    /// for every frame the router takes as a request.
    @Test func theRouterAndJSONDecoderReadTheSameId() {
        let ids = [#"1"#, #"7.0"#, #"1e2"#, #"1e-400"#, #"-0"#, #"9007199254740993"#, #"-9223372036854775808"#, #""a\"b\\c\u00e9""#,
                   #""\ud83d\ude00""#, #""""#, #"null"#, #"1.5"#, #"1e30"#, #"true"#, #"[1]"#, #"{}"#]
        for id in ids {
            for text in [#"{"jsonrpc":"2.0","id":"# + id + #","method":"ping"}"#,
                         #"{"jsonrpc":"2.0","id":"# + id + #","id":3,"method":"tools/call","params":{"name":"q"}}"#] {
                let frame = IncomingFrame.read(Data(text.utf8))
                guard frame.refusal != nil else {
                    let envelope = JSONRPCEnvelope.single(in: Data(text.utf8))
                    #expect(envelope?.isRequest == true && frame.requestID == envelope?.id, "\(text)")
                    continue
                }
            }
        }
    }

    @Test func nestingPastTheReadersDepthIsRefusedAsSuch() {
        let deep = #"{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":"# + String(repeating: "[", count: 200) + String(repeating: "]", count: 200) + "}}"
        guard case .reject(let code, let message, _) = check(deep) else {
            Issue.record("a frame nested 200 deep passed")
            return
        }
        #expect(code == -32600 && message.contains("nests objects and arrays more than 128 deep"), "\(message)")
    }

    @Test func aTransportMaySetALowerDepth() {
        let nested = #"{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":"# + String(repeating: "[", count: 62)
            + String(repeating: "]", count: 62) + "}}"
        guard case .other(_, .number(1)?) = IncomingFrame.read(Data(nested.utf8), maxDepth: 64) else {
            Issue.record("a frame nested 64 deep was refused under a limit of 64")
            return
        }
        guard case .reject(-32600, let message, nil) = IncomingFrame.read(Data(nested.utf8), maxDepth: 63) else {
            Issue.record("a frame nested 64 deep passed a limit of 63")
            return
        }
        #expect(message.contains("more than 63 deep"), "\(message)")
    }

    @Test func aRequestRefusedIsAnsweredUnderItsIdAndWhatIsNoRequestIsNot() {
        // A method and a usable id make a request: refused, it is answered under that id (over
        // HTTP in its POST's own answer), and booked nowhere.
        for (text, expected) in [(#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#, ID.number(1)),
                                 (#"{"jsonrpc":"2.0","id":"p","method":"ping","params":{"x":[1e999]}}"#, ID.string("p"))] {
            let frame = IncomingFrame.read(Data(text.utf8))
            guard case .refusedRequest(let id, _, _) = frame else {
                Issue.record("not a refused request: \(text)")
                continue
            }
            #expect(id == expected && frame.answeredID == expected && frame.requestID == nil, "\(text)")
        }
        // No method, or no usable id: no request, refused as such (its id given where one is read).
        for (text, expected) in [(#"{"jsonrpc":"1.0","id":1}"#, ID?.some(.number(1))), (#"{"jsonrpc":"2.0","id":5}"#, .number(5)),
                                 (#"{"jsonrpc":"2.0","id":5,"method":7}"#, .number(5)), (#"{"jsonrpc":"1.0","method":"ping"}"#, nil)] {
            let frame = IncomingFrame.read(Data(text.utf8))
            guard case .reject(-32600, _, let id) = frame else {
                Issue.record("not refused as no request: \(text)")
                continue
            }
            #expect(id == expected && frame.answeredID == nil, "\(text)")
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

import Foundation
import KnowledgeBase
import Logging
import MCP
@testable import MCPServer
import Synchronization
import Testing

/// One HTTP session's transport: each POST gets its own request's answer, progress travels in the
/// request's event stream, and what ends a session or a stream ends the calls waiting on it.
@Suite struct HTTPSessionTransportTests {
    private func transport(maxInFlight: Int = 4) -> HTTPSessionTransport {
        HTTPSessionTransport(sessionID: "s1", maxRequestsInFlight: maxInFlight, logger: Logger(label: "test"))
    }

    /// A message and its reading, as a POST hands them to the transport.
    private func message(_ text: String) -> (Data, IncomingFrame) {
        let data = Data(text.utf8)
        return (data, IncomingFrame.read(data))
    }

    private func call(_ id: Int, progress: String? = nil) -> (Data, IncomingFrame) {
        let meta = progress.map { #","_meta":{"progressToken":"\#($0)"}"# } ?? ""
        return message(#"{"jsonrpc":"2.0","id":\#(id),"method":"tools/call","params":{"name":"health_check"\#(meta)}}"#)
    }

    private func body(_ answer: HTTPAnswer) -> String {
        guard case .bytes(let data) = answer.body else { return "" }
        return String(decoding: data, as: UTF8.self)
    }

    @Test func eachPostGetsTheAnswerAddressedToItsRequest() async throws {
        let transport = transport()
        var incoming = transport.receive().makeAsyncIterator()
        let (first, firstFrame) = call(1)
        let (second, secondFrame) = call(2)
        let one = Task { await transport.exchange(first, frame: firstFrame) }
        #expect(try await incoming.next() == first)
        let two = Task { await transport.exchange(second, frame: secondFrame) }
        #expect(try await incoming.next() == second)
        // Answered out of order: each POST still gets its own.
        try await transport.send(Data(#"{"id":2,"jsonrpc":"2.0","result":{}}"#.utf8), answering: .number(2))
        try await transport.send(Data(#"{"id":1,"jsonrpc":"2.0","result":{}}"#.utf8), answering: .number(1))
        let (answerOne, answerTwo) = await (one.value, two.value)
        #expect(answerOne.status == 200 && body(answerOne).hasPrefix(#"{"id":1"#))
        #expect(answerTwo.status == 200 && body(answerTwo).hasPrefix(#"{"id":2"#))
        #expect(answerOne.headers[HTTPHeaderName.sessionID] == "s1")
        #expect(answerOne.headers[HTTPHeaderName.contentType] == "application/json")

        let (notification, frame) = message(#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
        let accepted = await transport.exchange(notification, frame: frame)
        #expect(accepted.status == 202)
        #expect(try await incoming.next() == notification)
    }

    @Test func aRepeatedIdAndTooManyInFlightAreRefused() async throws {
        let transport = transport(maxInFlight: 2)
        var incoming = transport.receive().makeAsyncIterator()
        let (first, firstFrame) = call(1)
        let waiting = Task { await transport.exchange(first, frame: firstFrame) }
        _ = try await incoming.next()
        let again = await transport.exchange(first, frame: firstFrame)
        #expect(again.status == 400 && body(again).contains("still in flight"))
        let (second, secondFrame) = call(2)
        let alsoWaiting = Task { await transport.exchange(second, frame: secondFrame) }
        _ = try await incoming.next()
        let (third, thirdFrame) = call(3)
        let refused = await transport.exchange(third, frame: thirdFrame)
        #expect(refused.status == 429 && refused.headers["Retry-After"] != nil)
        // A request that will get no answer (cancelled) frees its POST with an event stream that
        // ends without a message: a request's POST is answered with JSON or events, never 202.
        await transport.requestEndedWithoutAnswer(.number(1))
        let ended = await waiting.value
        #expect(ended.status == 200 && ended.headers[HTTPHeaderName.contentType] == HTTPAnswer.eventStreamContentType)
        guard case .events(let events) = ended.body else {
            Issue.record("not an event stream: \(ended.body)")
            return
        }
        var messages = 0
        for await _ in events { messages += 1 }
        #expect(messages == 0, "nothing is sent for a cancelled request")
        await transport.close(because: .sessionEnded)
        let closed = await alsoWaiting.value
        #expect(closed.status == 404 && body(closed).contains("initialize a new one"))
        #expect(try await incoming.next() == nil, "the router's input ends with the session")
    }

    @Test func notificationsTheRouterHasNotReadAreBounded() async throws {
        let transport = transport()
        var incoming = transport.receive().makeAsyncIterator()
        let (notification, frame) = message(#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
        for _ in 0..<HTTPSessionTransport.maxQueuedMessages {
            #expect(await transport.exchange(notification, frame: frame).status == 202)
        }
        let refused = await transport.exchange(notification, frame: frame)
        #expect(refused.status == 429 && refused.headers["Retry-After"] != nil && body(refused).contains("wait to be read"))
        // A request is refused too while the queue is full, and nothing of it is queued.
        let (request, requestFrame) = call(1)
        #expect(await transport.exchange(request, frame: requestFrame).status == 429)
        // Each message the router takes makes room for one more.
        #expect(try await incoming.next() == notification)
        #expect(await transport.exchange(notification, frame: frame).status == 202)
        #expect(await transport.exchange(notification, frame: frame).status == 429)
        for _ in 0..<HTTPSessionTransport.maxQueuedMessages {
            #expect(try await incoming.next() == notification)
        }
        let answered = Task { await transport.exchange(request, frame: requestFrame) }
        #expect(try await incoming.next() == request)
        try await transport.send(Data(#"{"id":1,"jsonrpc":"2.0","result":{}}"#.utf8), answering: .number(1))
        #expect(await answered.value.status == 200)
    }

    /// A router in front of `inner`, reading it, with no tools and no SDK behind it.
    private func connectedRouter(over inner: any Transport) async throws -> ToolCallRouter {
        let router = ToolCallRouter(inner: inner, toolList: Data(#"{"tools":[]}"#.utf8), logger: Logger(label: "test"),
                                    handler: { _ in throw CancellationError() })
        try await router.connect()
        return router
    }

    @Test func theRouterReadsAheadOfTheSDKByABoundedCount() async throws {
        let notification = Data(#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.utf8)
        let (messages, input) = AsyncThrowingStream<Data, Error>.makeStream()
        for _ in 0..<1_000 { input.yield(notification) }
        input.finish()
        let client = CountingTransport(messages)
        let router = try await connectedRouter(over: client)
        // However the threads run, the router never holds more than its queue for the SDK and the
        // message in its hand: the rest waits in the client's input.
        let ahead = ToolCallRouter.maxQueuedForServer + 1
        var toSDK = router.receive().makeAsyncIterator()
        for taken in 1...1_000 {
            #expect(try await toSDK.next() == notification)
            let read = client.taken.load(ordering: .relaxed)
            guard read <= taken + ahead else {
                Issue.record("the router read \(read) messages while the SDK took \(taken)")
                break
            }
        }
        await router.disconnect()
    }

    @Test(.timeLimit(.minutes(1))) func aShutdownEndsTheSDKsInputThoughItTookNothing() async throws {
        let notification = Data(#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.utf8)
        let (messages, input) = AsyncThrowingStream<Data, Error>.makeStream()
        for _ in 0..<1_000 { input.yield(notification) }
        let router = try await connectedRouter(over: CountingTransport(messages))
        await router.shutDown()
        // What was handed over before the shutdown is still there, and then the input ends.
        var handed = 0
        for try await message in router.receive() {
            #expect(message == notification)
            handed += 1
        }
        #expect(handed <= ToolCallRouter.maxQueuedForServer)
        input.finish()
        await router.disconnect()
    }

    @Test func aSessionWhoseSDKTakesNothingIsRefusedThenTakenAgain() async throws {
        let transport = transport()
        let router = try await connectedRouter(over: transport)
        let (notification, frame) = message(#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
        let most = HTTPSessionTransport.maxQueuedMessages + ToolCallRouter.maxQueuedForServer + 1
        var accepted = 0
        while accepted <= most, await transport.exchange(notification, frame: frame).status == 202 {
            accepted += 1
        }
        #expect(accepted >= HTTPSessionTransport.maxQueuedMessages && accepted <= most)
        // Once the SDK takes them all, the session takes messages again.
        var toSDK = router.receive().makeAsyncIterator()
        for _ in 0..<min(accepted, most) {
            #expect(try await toSDK.next() == notification)
        }
        #expect(await transport.exchange(notification, frame: frame).status == 202)
        await router.disconnect()
    }

    @Test func progressTravelsInTheRequestsOwnEventStream() async throws {
        let transport = transport()
        var incoming = transport.receive().makeAsyncIterator()
        let (request, frame) = call(5, progress: "p5")
        let answer = await transport.exchange(request, frame: frame)
        #expect(answer.status == 200 && answer.headers[HTTPHeaderName.contentType] == "text/event-stream")
        guard case .events(let events) = answer.body else {
            Issue.record("a request asking for progress was not answered with events")
            return
        }
        #expect(try await incoming.next() == request)
        let progress = #"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1,"progressToken":"p5","total":2}}"#
        try await transport.send(Data(progress.utf8), answering: nil)
        // Another request's progress token goes nowhere.
        try await transport.send(Data(progress.replacingOccurrences(of: "p5", with: "p6").utf8), answering: nil)
        try await transport.send(Data(#"{"id":5,"jsonrpc":"2.0","result":{}}"#.utf8), answering: .number(5))
        var received: [String] = []
        for await event in events { received.append(String(decoding: event, as: UTF8.self)) }
        #expect(received == ["event: message\ndata: \(progress)\n\n", "event: message\ndata: {\"id\":5,\"jsonrpc\":\"2.0\",\"result\":{}}\n\n"])
    }

    @Test func progressAClientDoesNotReadIsBoundedAndTheAnswerAlwaysComes() async throws {
        let transport = transport()
        var incoming = transport.receive().makeAsyncIterator()
        let (request, frame) = call(7, progress: "p7")
        let answer = await transport.exchange(request, frame: frame)
        _ = try await incoming.next()
        guard case .events(let events) = answer.body else {
            Issue.record("no event stream")
            return
        }
        // Nobody reads while 10,000 progress events are sent.
        for step in 1...10_000 {
            let progress = #"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":\#(step),"progressToken":"p7"}}"#
            try await transport.send(Data(progress.utf8), answering: nil)
        }
        try await transport.send(Data(#"{"id":7,"jsonrpc":"2.0","result":{}}"#.utf8), answering: .number(7))
        var received: [String] = []
        for await event in events { received.append(String(decoding: event, as: UTF8.self)) }
        #expect(received.count == HTTPSessionTransport.eventBuffer)
        #expect(received.last?.contains(#"{"id":7,"#) == true, "the answer is never the one dropped")
        #expect(received.first?.contains(#""progress":\#(10_000 - HTTPSessionTransport.eventBuffer + 2),"#) == true,
                "the newest progress is kept")
    }

    @Test func aClientThatClosesTheEventStreamCancelsTheCall() async throws {
        let transport = transport()
        var incoming = transport.receive().makeAsyncIterator()
        let (request, frame) = call(9, progress: "p9")
        let answer = await transport.exchange(request, frame: frame)
        _ = try await incoming.next()
        guard case .events(let events) = answer.body else {
            Issue.record("no event stream")
            return
        }
        let reader = Task { for await _ in events {} }
        reader.cancel()
        let cancellation = try #require(try await incoming.next())
        guard case .cancellation(let id) = IncomingFrame.read(cancellation) else {
            Issue.record("not a cancellation: \(String(decoding: cancellation, as: UTF8.self))")
            return
        }
        #expect(id == .number(9))
        // Until the router ends the call, its id is not free for a new request.
        let reused = await transport.exchange(request, frame: frame)
        #expect(reused.status == 400 && body(reused).contains("still in flight"))
        await transport.requestEndedWithoutAnswer(.number(9))
        let fresh = Task { await transport.exchange(request, frame: frame) }
        #expect(try await incoming.next() == request)
        try await transport.send(Data(#"{"id":9,"jsonrpc":"2.0","result":{}}"#.utf8), answering: .number(9))
        #expect(await fresh.value.status == 200)
    }

    @Test func aServerShuttingDownAnswersWhatRunsAndRefusesNewRequests() async throws {
        let transport = transport()
        var incoming = transport.receive().makeAsyncIterator()
        let (first, firstFrame) = call(1)
        let running = Task { await transport.exchange(first, frame: firstFrame) }
        _ = try await incoming.next()
        await transport.stopTakingRequests()
        let (second, secondFrame) = call(2)
        let refused = await transport.exchange(second, frame: secondFrame)
        #expect(refused.status == 503 && body(refused).contains("shutting down"))
        try await transport.send(Data(#"{"id":1,"jsonrpc":"2.0","result":{}}"#.utf8), answering: .number(1))
        #expect(await running.value.status == 200)
    }

    @Test func aSessionsServerIsFreedOnceItsSessionEnds() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("mcp-rag-session-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        var logger = Logger(label: "test")
        // The knowledge base, never used here, may still be opening its folder when the test removes it.
        logger.logLevel = .critical
        let rag = MCPRagServer(knowledgeBase: KnowledgeBase(configuration: KnowledgeBaseConfiguration(dataDirectory: folder),
                                                            logger: logger), logger: logger)
        weak var freed: Server?
        do {
            let transport = transport()
            let (server, _) = try await rag.startRouted(transport)
            freed = server
            // The session ends as a DELETE ends it: its input closes, the router and the SDK's loop end.
            await transport.close(because: .sessionEnded)
            await server.waitUntilCompleted()
            await server.stop()
        }
        #expect(freed == nil, "the session's server outlived it (a handler holds it)")
    }

    @Test func envelopesCarryTheirProgressToken() {
        // What the transport reads of the progress notifications it sends.
        func envelope(_ text: String) -> JSONRPCEnvelope? { JSONRPCEnvelope.single(in: Data(text.utf8)) }
        #expect(envelope(#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"a","progress":1}}"#)?
            .progressToken == .string("a"))
        #expect(envelope(#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"_meta":{"progressToken":7}}}"#)?.progressToken
            == .integer(7))
        #expect(envelope(#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#)?.progressToken == nil)
        #expect(envelope(#"{"jsonrpc":"2.0","id":1,"result":{}}"#)?.isRequest == false)
        // What a POST reads of the messages it takes: the calls that ask for progress.
        #expect(message(#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"q","_meta":{"progressToken":7}}}"#).1
            .progressToken == .integer(7))
        #expect(message(#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"q"}}"#).1.progressToken == nil)
        #expect(message(#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}"#).1.isInitialize)
        #expect(!message(#"{"jsonrpc":"2.0","method":"initialize","params":{}}"#).1.isInitialize)
    }

    @Test func aRequestRefusedOnReadingIsAnsweredInItsPostAndNeverQueued() async throws {
        let transport = transport()
        var incoming = transport.receive().makeAsyncIterator()
        for (text, id) in [(#"{"jsonrpc":"2.0","id":8,"method":"ping","params":{"x":1e999}}"#, ID.number(8)),
                           (#"{"jsonrpc":"1.0","id":"r","method":"ping"}"#, ID.string("r")),
                           (#"{"jsonrpc":"2.0","id":3,"method":"ping","params":{"q":"\ud800"}}"#, ID.number(3))] {
            let (data, frame) = message(text)
            guard case .refusedRequest = frame else {
                Issue.record("not a refused request: \(text)")
                continue
            }
            let answer = await transport.exchange(data, frame: frame)
            let read = JSONRPCEnvelope.single(in: Data(body(answer).utf8))
            #expect(answer.status == 200 && read?.isAnswer == true && read?.id == id, "\(body(answer))")
            #expect(body(answer).contains(#""error":{"code":"#), "\(body(answer))")
        }
        // What is no request, should a caller hand it over, is refused on its POST with no answer
        // to wait for.
        let refused = await transport.exchange(Data(#"{"jsonrpc":"2.0","id":1}"#.utf8), frame: .reject(code: -32600, message: "no method", id: .number(1)))
        #expect(refused.status == 400)
        // Nothing reached the router: the next message it takes is the next one posted.
        let (notification, frame) = message(#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
        #expect(await transport.exchange(notification, frame: frame).status == 202)
        #expect(try await incoming.next() == notification)
    }

    @Test func theRouterTakesTheReadingItIsHandedAndDoesNotReadAgain() async throws {
        let transport = transport()
        let router = try await connectedRouter(over: transport)
        // A call's bytes, handed over with the reading of a tools/list request of the same id:
        // read again, they would start the call, which this router's handler cancels (202, no answer).
        let (bytes, _) = call(3)
        let answer = await transport.exchange(bytes, frame: .listTools(.number(3), problem: nil))
        #expect(answer.status == 200 && body(answer).contains(#""tools":[]"#), "\(body(answer))")
        await router.disconnect()
    }
}

/// A client's input given in advance, counting the messages its consumer has taken.
private actor CountingTransport: Transport {
    nonisolated let logger = Logger(label: "test")
    private let messages: AsyncThrowingStream<Data, Error>
    nonisolated let taken = Atomic<Int>(0)

    init(_ messages: AsyncThrowingStream<Data, Error>) {
        self.messages = messages
    }

    func connect() async throws {}
    func disconnect() async {}
    func send(_ data: Data) async throws {}

    nonisolated func receive() -> AsyncThrowingStream<Data, Error> {
        ConsumedMessages.stream(of: messages) { [self] in taken.add(1, ordering: .relaxed) }
    }
}

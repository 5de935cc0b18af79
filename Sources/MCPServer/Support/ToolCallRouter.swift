import Foundation
import Logging
import MCP

/// A transport in front of the SDK's `Server` that reads every frame once (`IncomingFrame`), keeps
/// the book of requests in flight, answers `tools/call` and `tools/list` itself and hands every
/// other message (initialize, ping, notifications) to the SDK. Any transport goes behind it (stdio,
/// and each HTTP session's): the checks that make hostile frames safe and the tool dispatch are the same.
///
/// Why the calls: the SDK (0.12.1) passes each handler's result through its `Value` type by
/// encoding and decoding it, and `Value`'s decoder turns any string that looks like a data URL into
/// binary data, so a passage reading `data:text/plain,Hello%20World` came back in
/// `structuredContent` as `data:text/plain;base64,SGVsbG8gV29ybGQ=`, unlike the same passage in the
/// text content. It also builds a regular expression for every string on the way, about 0.35 ms
/// per passage of an answer. Here a call's parameters come from the frame's one reading and its
/// answer is written straight from the tool's JSON (`ToolAnswer`): encoded once, never parsed
/// back. A `tools/call` whose parameters do not fit gets an invalid-params error saying what is
/// wrong (the SDK answers it with an internal error).
///
/// Why the list: it never changes, so it is encoded once (the SDK re-encodes it through `Value`
/// on every request, 16 ms of CPU), and a malformed `cursor` gets invalid params, not an internal error.
///
/// Why the book: an id already in flight is refused (two answers with one id could not be told
/// apart), and when the client's input ends the stream to the SDK ends as soon as every booked
/// request is answered, or at once when the answers can no longer be delivered.
///
/// Why the shutdown: a graceful shutdown (SIGTERM, SIGINT) reads no more requests, lets the calls in
/// flight answer, and stops the long ones (`stoppedAtShutdown`) with an answer that says so, so a
/// client is never left waiting for an id.
actor ToolCallRouter: Transport {
    /// Runs one call: its result, or the protocol error to answer with. Cancellation is thrown.
    typealias Handler = @Sendable (CallTool.Parameters) async throws -> ToolAnswer

    nonisolated let logger: Logger
    private let inner: any Transport
    private let handler: Handler
    /// Tools whose calls are cancelled, and answered so, at shutdown.
    private let stoppedAtShutdown: Set<String>
    /// The calls of those tools now running.
    private var stoppable: Set<ID> = []
    /// Calls cancelled by the shutdown: they get an answer, unlike those the client cancelled.
    private var stoppedByShutdown: Set<ID> = []
    private var shuttingDown = false
    /// `tools/list`'s `result`, encoded once.
    private let toolList: Data
    private var calls: [ID: Task<Void, Never>] = [:]
    private var ledger = RequestLedger()
    private let toServer: AsyncThrowingStream<Data, Error>
    private let toServerContinuation: AsyncThrowingStream<Data, Error>.Continuation
    private var pump: Task<Void, Never>?
    private var outputWatch: Task<Void, Never>?
    private var finished = false
    /// Answers unbooked but not yet written: the input's end waits for them too.
    private var answersBeingWritten = 0
    /// The pump, waiting for a call to end before it starts another.
    private var callSlotWaiters: [CheckedContinuation<Void, Never>] = []
    /// Calls running at once; the next waits (and with it the reading of input) for one to end.
    static let maxCallsInFlight = 128
    /// Messages handed to the SDK and not yet taken by it (it handles a notification before taking
    /// the next); the pump waits while this many do, and with it the reading of input, so that a
    /// client sending notifications faster than they are handled fills its own pipe, or is answered
    /// 429 over HTTP, instead of filling memory.
    static let maxQueuedForServer = 16
    private var queuedForServer = 0
    /// The pump, waiting for the SDK to take a message.
    private var serverQueueWaiter: CheckedContinuation<Void, Never>?

    /// `toolList` is `tools/list`'s result as `encodedToolList(_:)` wrote it: one copy for every
    /// session of a server.
    init(inner: any Transport, toolList: Data, stoppedAtShutdown: Set<String> = [], logger: Logger,
         handler: @escaping Handler) {
        self.inner = inner
        self.logger = logger
        self.handler = handler
        self.stoppedAtShutdown = stoppedAtShutdown
        self.toolList = toolList
        (toServer, toServerContinuation) = AsyncThrowingStream.makeStream()
    }

    /// `tools/list`'s result for `tools`, encoded once.
    static func encodedToolList(_ tools: [Tool]) -> Data {
        (try? encoder.encode(ListTools.Result(tools: tools))) ?? Data("{\"tools\":[]}".utf8)
    }

    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    func connect() async throws {
        try await inner.connect()
        guard pump == nil else { return }
        // Read in the pump, off the actor; a transport that read its messages already hands their reading over.
        let read = (inner as? any FrameReadingTransport)?.receiveRead()
        let messages = read == nil ? await inner.receive() : nil
        pump = Task { [weak self] in
            do {
                if let read {
                    for try await message in read {
                        await self?.route(message.bytes, frame: message.frame)
                    }
                } else if let messages {
                    for try await message in messages {
                        await self?.route(message, frame: IncomingFrame.read(message))
                    }
                }
                await self?.inputEnded()
            } catch {
                await self?.finish(throwing: error)
            }
        }
    }

    func disconnect() async {
        pump?.cancel()
        calls.values.forEach { $0.cancel() }
        finish(throwing: nil)
        await inner.disconnect()
    }

    /// What the SDK sends: its answers close their requests in the book.
    func send(_ data: Data) async throws {
        var answered: ID?
        if let envelope = JSONRPCEnvelope.single(in: data), envelope.method == nil, envelope.isAnswer, let id = envelope.id {
            unbook(id)
            answered = id
        }
        answersBeingWritten += 1
        do {
            try await write(data, answering: answered)
        } catch {
            answersBeingWritten -= 1
            abandon(because: error)
            throw error
        }
        answersBeingWritten -= 1
        finishIfDrained()
    }

    nonisolated func receive() -> AsyncThrowingStream<Data, Error> {
        ConsumedMessages.stream(of: toServer) { [weak self] in
            Task { await self?.serverTookMessage() }
        }
    }

    /// Begins a graceful shutdown: no more requests are read; the stream to the SDK ends once the
    /// calls in flight have answered, the long ones after being stopped.
    func shutDown() {
        guard !shuttingDown, !finished else { return }
        // The pump is left waiting for input (cancelling it would end the stream to the SDK at
        // once, abandoning the calls in flight); what it reads from now on is dropped.
        shuttingDown = true
        logger.info("shutting down: answering the calls in flight", metadata: [
            "rag.requests": "\(ledger.inFlight.count)", "rag.stopped": "\(stoppable.count)",
        ])
        stoppedByShutdown = stoppable
        for id in stoppable { calls[id]?.cancel() }
        releaseWaiters()
        ledger.inputEnded = true
        finishIfDrained()
    }

    /// Handles one message. The pump awaits it, so that answers the router gives itself are written
    /// (or fail) before the next message is read, and no more than `maxCallsInFlight` calls run:
    /// a client that sends without reading what comes back is held by its own full pipe.
    private func route(_ message: Data, frame: IncomingFrame) async {
        guard !shuttingDown else {
            // Over stdio nobody waits for the request; over HTTP its POST does.
            if let id = frame.answeredID { await unanswered(id) }
            return
        }
        if let (code, text, id) = frame.refusal {
            await deliver(IncomingFrame.errorAnswer(code: code, message: text, id: id), answering: id, closing: nil)
            return
        }
        if let id = frame.requestID, !ledger.begin(id) {
            await deliver(IncomingFrame.errorAnswer(code: -32600, message: "Invalid Request: the id \(Self.describe(id)) belongs to a request "
                + "still in flight; give each request an id of its own", id: id), answering: id, closing: nil)
            return
        }
        switch frame {
        case .call(let id, let parameters):
            while calls.count >= Self.maxCallsInFlight && !finished {
                await withCheckedContinuation { callSlotWaiters.append($0) }
            }
            // Abandoned or shutting down while waiting: not started, so not answered.
            guard !finished, !shuttingDown else {
                ledger.end(id)
                await unanswered(id)
                finishIfDrained()
                return
            }
            let handler = self.handler
            if stoppedAtShutdown.contains(parameters.name) { stoppable.insert(id) }
            calls[id] = Task { [weak self] in
                let answer: Data
                do {
                    answer = try await handler(parameters).response(id: id)
                } catch is CancellationError {
                    await self?.cancelled(id)
                    return
                } catch {
                    guard let self else { return }
                    let failure = Response<CallTool>(id: id, error: self.protocolError(error))
                    answer = await self.encoded(failure)
                }
                await self?.answer(id, answer)
            }
        case .malformedCall(let id, let problem):
            await deliver(encoded(Response<CallTool>(id: id, error: .invalidParams(problem))), answering: id, closing: id)
        case .listTools(let id, let problem?):
            await deliver(encoded(Response<ListTools>(id: id, error: .invalidParams(problem))), answering: id, closing: id)
        case .listTools(let id, nil):
            await deliver(toolListAnswer(id), answering: id, closing: id)
        case .cancellation(let id) where calls[id] != nil:
            calls[id]?.cancel()
        case .cancellation:
            // Not a call: the SDK answers its own requests (initialize, ping) at once, and one it
            // cancelled would never be answered, leaving its id booked (and over HTTP its POST waiting).
            break
        case .ignored:
            break
        default:
            while queuedForServer >= Self.maxQueuedForServer && !finished && !shuttingDown {
                await withCheckedContinuation { serverQueueWaiter = $0 }
            }
            queuedForServer += 1
            toServerContinuation.yield(message)
        }
    }

    /// The SDK took a message handed to it.
    private func serverTookMessage() {
        queuedForServer -= 1
        serverQueueWaiter?.resume()
        serverQueueWaiter = nil
    }

    private func answer(_ id: ID, _ answer: Data) async {
        releaseCall(id)
        await deliver(answer, answering: id, closing: id)
    }

    /// A call ended by cancellation: the client's own gets no answer (MCP: cancellation); one the
    /// shutdown stopped is answered with why.
    private func cancelled(_ id: ID) async {
        guard stoppedByShutdown.remove(id) != nil else {
            callEnded(id)
            await unanswered(id)
            return
        }
        await answer(id, ToolAnswer.failure(Self.stoppedText, code: .unavailable).response(id: id))
    }

    static let stoppedText = "The server is shutting down, so this call stopped before it finished; what an ingest had "
        + "already written stays in the knowledge base. Call it again once the server is back."

    /// Forgets a finished call and lets a call waiting for a place start.
    private func releaseCall(_ id: ID) {
        stoppable.remove(id)
        stoppedByShutdown.remove(id)
        calls[id] = nil
        if !callSlotWaiters.isEmpty { callSlotWaiters.removeFirst().resume() }
    }

    /// The JSON-RPC error for a call whose handler threw: the SDK's own errors as they are; any
    /// other is unexpected, and its text could carry internals, so it goes to the log and the
    /// client learns only its kind.
    private nonisolated func protocolError(_ error: any Error) -> MCPError {
        if let error = error as? MCPError { return error }
        logger.error("a tool call failed outside its tool", metadata: ["rag.error": "\(error)"])
        return .internalError("the call failed (\(type(of: error))); the server's log has the details")
    }

    private func encoded<M: MCP.Method>(_ response: Response<M>) -> Data {
        do {
            return try Self.encoder.encode(response)
        } catch {
            logger.error("an answer could not be encoded", metadata: ["rag.error": "\(error)"])
            return IncomingFrame.errorAnswer(code: -32603, message: "Internal error: the answer could not be encoded", id: response.id)
        }
    }

    /// `{"id":…,"jsonrpc":"2.0","result":<the tool list>}`, keys sorted like every other answer.
    private func toolListAnswer(_ id: ID) -> Data {
        var answer: [UInt8] = []
        JSONWriter.appendResultOpening(id: id, to: &answer)
        answer.append(contentsOf: toolList)
        answer.append(UInt8(ascii: "}"))
        return Data(answer)
    }

    /// Sends an answer of the router's own to the request `answered` (nil when the frame had no
    /// usable id); `closing` is the request it closes, if it is booked.
    private func deliver(_ data: Data, answering answered: ID?, closing id: ID?) async {
        if let id { unbook(id) }
        answersBeingWritten += 1
        do {
            try await write(data, answering: answered)
        } catch {
            answersBeingWritten -= 1
            abandon(because: error)
            return
        }
        answersBeingWritten -= 1
        finishIfDrained()
    }

    /// Writes `data` to the client, telling a transport that delivers each answer to its request
    /// which request `answered` is.
    private func write(_ data: Data, answering answered: ID?) async throws {
        if let addressed = inner as? any AnswerAddressedTransport {
            try await addressed.send(data, answering: answered)
        } else {
            try await inner.send(data)
        }
    }

    /// Tells a transport that delivers answers to their requests that `id` will get none.
    private func unanswered(_ id: ID) async {
        await (inner as? any AnswerAddressedTransport)?.requestEndedWithoutAnswer(id)
    }

    /// Lets go of `id` before its answer is written: a client may send a request with the same id
    /// as soon as it has read the answer, and that request must not find the id still booked.
    /// Finishing still waits for the answer (`answersBeingWritten`).
    private func unbook(_ id: ID) {
        ledger.end(id)
    }

    private func callEnded(_ id: ID) {
        releaseCall(id)
        ended(id)
    }

    private func ended(_ id: ID) {
        ledger.end(id)
        finishIfDrained()
    }

    /// The client's input is over: finish once the requests in flight are answered, and watch
    /// whether the client can still read them at all.
    private func inputEnded() {
        ledger.inputEnded = true
        finishIfDrained()
        guard !finished, let reporting = inner as? any OutputLossReporting else { return }
        outputWatch = Task { [weak self] in
            await reporting.waitForOutputLoss()
            guard !Task.isCancelled else { return }
            await self?.abandon(because: nil)
        }
    }

    /// The answers can no longer be delivered: stop what runs and end.
    private func abandon(because error: Error?) {
        guard !finished else { return }
        let open = ledger.inFlight.count
        logger.notice("the client can no longer read answers; cancelling what runs",
                      metadata: ["rag.requests": "\(open)", "rag.error": "\(error.map { "\($0)" } ?? "its end of the output closed")"])
        calls.values.forEach { $0.cancel() }
        calls.removeAll()
        finish(throwing: nil)
    }

    /// Lets the pump go on when it waits for a place for a call, or for the SDK: nothing more will run.
    private func releaseWaiters() {
        callSlotWaiters.forEach { $0.resume() }
        callSlotWaiters.removeAll()
        serverQueueWaiter?.resume()
        serverQueueWaiter = nil
    }

    private func finishIfDrained() {
        if ledger.isDrained && answersBeingWritten == 0 { finish(throwing: nil) }
    }

    private func finish(throwing error: Error?) {
        guard !finished else { return }
        finished = true
        outputWatch?.cancel()
        releaseWaiters()
        toServerContinuation.finish(throwing: error)
    }

    private static func describe(_ id: ID) -> String {
        switch id {
        case .string(let text): "\"\(text.prefix(100))\""
        case .number(let number): "\(number)"
        }
    }
}

/// A transport that hands each answer to the request it answers rather than to one stream (MCP's
/// Streamable HTTP answers each request in the response to the POST that carried it), so it is
/// told which request that is: the router knows, where the transport would have to parse the
/// answer, perhaps a whole page of passages, for its id.
protocol AnswerAddressedTransport: Transport {
    /// Sends `data`, the answer to the request `id`, or a notification when `id` is nil.
    func send(_ data: Data, answering id: ID?) async throws
    /// The request `id` will get no answer: the client cancelled it, or it was read as the server
    /// began to shut down.
    func requestEndedWithoutAnswer(_ id: ID) async
}

/// A transport that reads each message it takes (`IncomingFrame.read`) before the router has it,
/// to decide how to take it (HTTP: which request a POST waits for, whether it opens a session),
/// and hands that reading on, so that a message is read once.
protocol FrameReadingTransport: Transport {
    /// The messages for the router, each with its reading. Its one consumer takes either this
    /// stream or `receive()`, never both.
    nonisolated func receiveRead() -> AsyncThrowingStream<ReadMessage, Error>
}

/// A message as it came and its one reading.
struct ReadMessage: Sendable {
    let bytes: Data
    let frame: IncomingFrame
}

/// A transport that can tell when the client stops being able to read what is sent.
protocol OutputLossReporting: Sendable {
    /// Returns once nothing sent can reach the client any more; never, where that cannot be known.
    func waitForOutputLoss() async
}

/// The requests read and not yet answered.
struct RequestLedger {
    private(set) var inFlight: Set<ID> = []
    /// No more requests will come.
    var inputEnded = false

    /// Books `id`; false when a request with that id is already in flight.
    mutating func begin(_ id: ID) -> Bool { inFlight.insert(id).inserted }

    mutating func end(_ id: ID) { inFlight.remove(id) }

    /// Nothing more will come and nothing is owed.
    var isDrained: Bool { inputEnded && inFlight.isEmpty }
}

import Foundation
import Logging
import MCP
import Synchronization

/// One MCP session's end of the Streamable HTTP transport (protocol 2025-11-25): the POSTs of the
/// session hand their messages to the router in the order they arrive, and each POST of a request
/// waits here for that request's answer. A tool call that asks for progress is answered with a
/// stream of server-sent events (its progress, then its answer); any other request with one JSON
/// object (nothing else reports progress).
///
/// Why not the SDK's `StatefulHTTPServerTransport` (0.12.1): it keeps every message it ever sent
/// in the session for replay, so a session grows with each answer for as long as it lives; it
/// answers every request with an event stream; and it sends progress to the session's GET stream
/// rather than to the request's own. Here a session holds only the requests in flight.
actor HTTPSessionTransport: AnswerAddressedTransport, FrameReadingTransport {
    nonisolated let logger: Logger
    nonisolated let sessionID: String
    private let maxRequestsInFlight: Int
    /// Events a request's stream holds for a client that reads them slower than they come (a long
    /// ingest reports every file): beyond this the oldest progress goes, since a later event says
    /// more. The answer, always the newest, is never dropped.
    static let eventBuffer = 256
    /// Messages handed to the router and not yet taken by it. Requests are bounded by
    /// `maxRequestsInFlight`; this bounds notifications too, so that a client posting them faster
    /// than the router reads them is answered 429 instead of piling them up in memory.
    static let maxQueuedMessages = 64
    private let incoming: AsyncThrowingStream<ReadMessage, Error>
    private let incomingContinuation: AsyncThrowingStream<ReadMessage, Error>.Continuation
    /// Of `incoming`, the messages not taken yet: counted in here, counted out by `receiveRead()`'s stream.
    private nonisolated let queued = Atomic<Int>(0)
    /// The POSTs waiting for their request's answer.
    private var waiting: [ID: Waiter] = [:]
    /// Which request each progress token belongs to, for the requests answered with events.
    private var progressRequests: [ProgressToken: ID] = [:]
    /// Requests whose client closed their event stream, until the router has ended them: their
    /// ids are not free yet (a new request under one would be handed the old call's end).
    private var abandoned: Set<ID> = []
    /// Set once the session ends or the server shuts down: no message is taken any more.
    private var closedBecause: Closing?
    /// Cleared when the server begins to shut down: the requests in flight are answered, new
    /// ones are refused.
    private var takingRequests = true
    private var lastActivity = ContinuousClock.now

    private enum Waiter {
        case json(CheckedContinuation<HTTPAnswer, Never>)
        case events(AsyncStream<Data>.Continuation, ProgressToken)
    }

    enum Closing {
        case sessionEnded, serverShuttingDown
    }

    init(sessionID: String, maxRequestsInFlight: Int, logger: Logger) {
        self.sessionID = sessionID
        self.maxRequestsInFlight = maxRequestsInFlight
        self.logger = logger
        (incoming, incomingContinuation) = AsyncThrowingStream.makeStream()
    }

    /// Closes the session when no request is in flight and nothing came for `idle`; whether it did.
    func closeIfIdle(for idle: Duration, now: ContinuousClock.Instant) -> Bool {
        guard closedBecause == nil, waiting.isEmpty, lastActivity.duration(to: now) >= idle else { return false }
        close(because: .sessionEnded)
        return true
    }

    /// Takes one POSTed message, `frame` its reading: a request's answer when it comes, 202 for
    /// anything else.
    func exchange(_ message: Data, frame: IncomingFrame) async -> HTTPAnswer {
        lastActivity = .now
        let request = frame.answeredID
        if let closedBecause { return Self.refusal(closedBecause, session: sessionID) }
        if !takingRequests && request != nil { return Self.refusal(.serverShuttingDown, session: sessionID) }
        // Refused on reading: answered here (the router would only answer the same, and books
        // nothing for it), never queued, where an answer under its id could reach another POST.
        switch frame {
        case .refusedRequest(let id, let code, let text):
            return .json(IncomingFrame.errorAnswer(code: code, message: text, id: id), session: sessionID)
        case .reject(let code, let text, let id):
            return .refusal(400, code: code, text, id: id, session: sessionID)
        default:
            break
        }
        guard queued.load(ordering: .relaxed) < Self.maxQueuedMessages else {
            return .refusal(429, "Too many messages of this session wait to be read (\(Self.maxQueuedMessages)); "
                + "send more once they are", id: request, session: sessionID, extraHeaders: ["Retry-After": "1"])
        }
        let read = ReadMessage(bytes: message, frame: frame)
        guard let id = request else {
            enqueue(read)
            return .accepted(session: sessionID)
        }
        guard waiting[id] == nil, !abandoned.contains(id) else {
            return .refusal(400, "Invalid Request: the id \(id) belongs to a request of this session still in flight; "
                + "give each request an id of its own", id: id, session: sessionID)
        }
        guard waiting.count < maxRequestsInFlight else {
            return .refusal(429, "Too many requests in flight in this session (\(maxRequestsInFlight)); "
                + "wait for an answer before sending more", id: id, session: sessionID,
                extraHeaders: ["Retry-After": "1"])
        }
        if let token = frame.progressToken, progressRequests[token] == nil {
            let (events, continuation) = AsyncStream<Data>.makeStream(bufferingPolicy: .bufferingNewest(Self.eventBuffer))
            // A client that closes the stream before the answer abandons the request (the way
            // clients cancel over HTTP): the call is cancelled as a `notifications/cancelled` would.
            // The server notices when it next writes to the stream (a progress event).
            continuation.onTermination = { [weak self] termination in
                guard case .cancelled = termination else { return }
                Task { await self?.streamAbandoned(id) }
            }
            waiting[id] = .events(continuation, token)
            progressRequests[token] = id
            enqueue(read)
            return Self.eventStream(events, session: sessionID)
        }
        return await withCheckedContinuation { continuation in
            waiting[id] = .json(continuation)
            enqueue(read)
        }
    }

    /// Refuses new requests from now on; those in flight are still answered.
    func stopTakingRequests() {
        takingRequests = false
    }

    // MARK: Transport

    func connect() async throws {}

    func disconnect() async {
        close(because: .sessionEnded)
    }

    /// Stops taking messages; the POSTs still waiting are answered with why.
    func close(because reason: Closing) {
        guard closedBecause == nil else { return }
        closedBecause = reason
        incomingContinuation.finish()
        for (_, waiter) in waiting {
            switch waiter {
            case .json(let continuation): continuation.resume(returning: Self.refusal(reason, session: sessionID))
            case .events(let continuation, _): continuation.finish()
            }
        }
        waiting.removeAll()
        progressRequests.removeAll()
        abandoned.removeAll()
    }

    /// The session's messages with their reading, for the one consumer (the router): each one
    /// taken leaves the count of those waiting.
    nonisolated func receiveRead() -> AsyncThrowingStream<ReadMessage, Error> {
        ConsumedMessages.stream(of: incoming) { [self] in queued.subtract(1, ordering: .relaxed) }
    }

    /// The session's messages as they came, for a consumer that reads them itself (taking them
    /// the same way).
    nonisolated func receive() -> AsyncThrowingStream<Data, Error> {
        ConsumedMessages.stream(of: incoming, taken: { [self] in queued.subtract(1, ordering: .relaxed) }, output: { $0.bytes })
    }

    /// Hands `message` to the router, counting it as waiting.
    private func enqueue(_ message: ReadMessage) {
        queued.add(1, ordering: .relaxed)
        incomingContinuation.yield(message)
    }

    /// For `Transport`'s sake: the router always says which request an answer is for (the other `send`).
    func send(_ data: Data) async throws {
        let envelope = JSONRPCEnvelope.single(in: data)
        try await send(data, answering: envelope?.isAnswer == true ? envelope?.id : nil)
    }

    func send(_ data: Data, answering id: ID?) async throws {
        lastActivity = .now
        guard let id else {
            // A notification: progress goes to the event stream of the request it reports on.
            guard let token = JSONRPCEnvelope.single(in: data)?.progressToken, let request = progressRequests[token],
                  case .events(let continuation, _) = waiting[request]
            else {
                logger.debug("a notification with no request to carry it was dropped")
                return
            }
            continuation.yield(ServerSentEvent.message(data))
            return
        }
        switch waiting.removeValue(forKey: id) {
        case .json(let continuation):
            continuation.resume(returning: .json(data, session: sessionID))
        case .events(let continuation, let token):
            progressRequests[token] = nil
            continuation.yield(ServerSentEvent.message(data))
            continuation.finish()
        case nil:
            // Its POST is gone (its event stream abandoned, or the session closed under it).
            abandoned.remove(id)
            logger.debug("an answer with no request waiting for it was dropped", metadata: ["rag.request": "\(id)"])
        }
    }

    func requestEndedWithoutAnswer(_ id: ID) async {
        switch waiting.removeValue(forKey: id) {
        case .json(let continuation):
            if let reason = closedBecause ?? (takingRequests ? nil : .serverShuttingDown) {
                continuation.resume(returning: Self.refusal(reason, session: sessionID))
            } else {
                // Cancelled: no answer is sent for it, yet a POST of a request is answered with JSON
                // or an event stream, so it gets a stream that ends without one.
                let (events, ended) = AsyncStream<Data>.makeStream()
                ended.finish()
                continuation.resume(returning: Self.eventStream(events, session: sessionID))
            }
        case .events(let continuation, let token):
            progressRequests[token] = nil
            continuation.finish()
        case nil:
            abandoned.remove(id)
        }
    }

    /// A 200 answer of server-sent `events`.
    private static func eventStream(_ events: AsyncStream<Data>, session: String) -> HTTPAnswer {
        HTTPAnswer(status: 200, headers: [
            HTTPHeaderName.contentType: HTTPAnswer.eventStreamContentType, HTTPHeaderName.sessionID: session,
            HTTPHeaderName.cacheControl: "no-cache",
        ], body: .events(events))
    }

    /// The client stopped reading the events of request `id` before its answer.
    private func streamAbandoned(_ id: ID) {
        guard case .events(_, let token) = waiting.removeValue(forKey: id) else { return }
        progressRequests[token] = nil
        abandoned.insert(id)
        var cancellation: [UInt8] = []
        cancellation.append(contentsOf: #"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"reason":"#.utf8)
        JSONWriter.appendString("the client closed the request's event stream", to: &cancellation)
        cancellation.append(contentsOf: #","requestId":"#.utf8)
        JSONWriter.appendID(id, to: &cancellation)
        cancellation.append(contentsOf: "}}".utf8)
        enqueue(ReadMessage(bytes: Data(cancellation), frame: .cancellation(id)))
    }

    private static func refusal(_ reason: Closing, session: String) -> HTTPAnswer {
        switch reason {
        case .sessionEnded:
            .refusal(404, "Session not found: it was closed; initialize a new one", session: session)
        case .serverShuttingDown:
            .refusal(503, "The server is shutting down; try again once it is back", extraHeaders: ["Retry-After": "5"])
        }
    }
}

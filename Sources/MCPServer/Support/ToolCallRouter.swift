import Foundation
import Logging
import MCP

/// A transport in front of the SDK's `Server` that answers `tools/call` itself and hands every
/// other message (initialize, tools/list, ping, notifications, batches) to the SDK.
///
/// Why: the SDK (0.12.1) passes each handler's result through its `Value` type by encoding and
/// decoding it, and `Value`'s decoder turns any string that looks like a data URL into binary data,
/// so a passage reading `data:text/plain,Hello%20World` came back in `structuredContent` as
/// `data:text/plain;base64,SGVsbG8gV29ybGQ=`, unlike the same passage in the text content. It also
/// builds a regular expression for every string on the way, about 0.35 ms per passage of an answer.
/// Here a call is decoded into the SDK's own `CallTool` types and its answer encoded straight from
/// them, once. A `tools/call` whose parameters do not fit gets an invalid-params error saying so (the
/// SDK answers it with an internal error).
actor ToolCallRouter: Transport {
    /// Runs one call: its result, or the protocol error to answer with. Cancellation is thrown.
    typealias Handler = @Sendable (CallTool.Parameters) async throws -> CallTool.Result

    nonisolated let logger: Logger
    private let inner: any Transport
    private let handler: Handler
    private var calls: [ID: Task<Void, Never>] = [:]
    private let toServer: AsyncThrowingStream<Data, Error>
    private let toServerContinuation: AsyncThrowingStream<Data, Error>.Continuation
    private var pump: Task<Void, Never>?

    init(inner: any Transport, logger: Logger, handler: @escaping Handler) {
        self.inner = inner
        self.logger = logger
        self.handler = handler
        (toServer, toServerContinuation) = AsyncThrowingStream.makeStream()
    }

    func connect() async throws {
        try await inner.connect()
        guard pump == nil else { return }
        let messages = await inner.receive()
        pump = Task { [weak self] in
            do {
                for try await message in messages {
                    await self?.route(message)
                }
                await self?.finish(throwing: nil)
            } catch {
                await self?.finish(throwing: error)
            }
        }
    }

    func disconnect() async {
        pump?.cancel()
        calls.values.forEach { $0.cancel() }
        toServerContinuation.finish()
        await inner.disconnect()
    }

    func send(_ data: Data) async throws {
        try await inner.send(data)
    }

    nonisolated func receive() -> AsyncThrowingStream<Data, Error> {
        toServer
    }

    private func finish(throwing error: Error?) {
        toServerContinuation.finish(throwing: error)
    }

    private func route(_ message: Data) {
        if case .reject(let code, let text, let id) = FrameCheck.check(message) {
            let answer = FrameCheck.answer(code: code, message: text, id: id)
            Task { [weak self] in await self?.sendRaw(answer) }
            return
        }
        switch Self.classify(message) {
        case .call(let request):
            let id = request.id
            let handler = self.handler
            calls[id] = Task { [weak self] in
                let response: Response<CallTool>
                do {
                    response = Response(id: id, result: try await handler(request.params))
                } catch is CancellationError {
                    // A cancelled request gets no answer (MCP: cancellation).
                    await self?.callEnded(id)
                    return
                } catch {
                    response = Response(id: id, error: error as? MCPError ?? .internalError("\(error)"))
                }
                await self?.answer(response)
            }
        case .malformedCall(let id):
            Task { [weak self] in
                await self?.answer(Response(id: id, error: .invalidParams(
                    "tools/call needs params with \"name\" (a string) and optionally \"arguments\" (an object)")))
            }
        case .cancellation(let id) where calls[id] != nil:
            calls[id]?.cancel()
        default:
            toServerContinuation.yield(message)
        }
    }

    private func answer(_ response: Response<CallTool>) async {
        calls[response.id] = nil
        do {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            try await inner.send(try encoder.encode(response))
        } catch {
            logger.error("a tool call's answer could not be sent", metadata: ["rag.error": "\(error)"])
        }
    }

    private func sendRaw(_ data: Data) async {
        do {
            try await inner.send(data)
        } catch {
            logger.error("a protocol error could not be sent", metadata: ["rag.error": "\(error)"])
        }
    }

    private func callEnded(_ id: ID) {
        calls[id] = nil
    }

    /// What a message is to the router.
    enum Kind {
        /// A `tools/call` request with parameters the SDK's types accept.
        case call(Request<CallTool>)
        /// A `tools/call` request with this id whose parameters are not a tool call's.
        case malformedCall(ID)
        /// `notifications/cancelled` for the request with this id.
        case cancellation(ID)
        /// Anything else: the SDK's to answer.
        case other
    }

    static func classify(_ message: Data) -> Kind {
        // Batches and anything that is not a single object go to the SDK untouched.
        guard let envelope = JSONRPCEnvelope.single(in: message), envelope.version == "2.0" else { return .other }
        switch envelope.method {
        case CallTool.name where envelope.id != nil:
            guard let request = try? JSONDecoder().decode(Request<CallTool>.self, from: message) else {
                return envelope.id.map(Kind.malformedCall) ?? .other
            }
            return .call(request)
        case "notifications/cancelled":
            return envelope.cancelledRequest.map(Kind.cancellation) ?? .other
        default:
            return .other
        }
    }
}

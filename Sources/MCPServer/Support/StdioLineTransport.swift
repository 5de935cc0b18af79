import Dispatch
import Foundation
import Logging
import MCP
import Synchronization

/// MCP's stdio transport: one JSON-RPC message per line on stdin and stdout.
///
/// The SDK ships one, but it switches both descriptors to non-blocking mode and polls with 10 ms
/// sleeps, which adds up to 10 ms to every request (and changes the descriptors for any process
/// sharing them), and rescans its whole buffer on every 4 KiB read, which is quadratic in the size
/// of a long message. This one reads with blocking `read(2)` on a thread of its own, scans each
/// byte once, and writes from a serial queue so a slow client never blocks Swift's cooperative pool.
///
/// When stdin ends, the stream of messages ends only once every request read has been answered (or
/// cancelled), so `echo '{"jsonrpc":"2.0","id":1,…}' | mcp-rag` gets its answer before the process exits.
public actor StdioLineTransport: Transport {
    public nonisolated let logger: Logger
    /// Longest message accepted; longer lines are discarded whole (the JSON-RPC answer to a line
    /// nobody can parse could not carry its id anyway).
    public static let maxMessageBytes = 64 << 20

    private let input: Int32
    private let output: Int32
    private let messages: AsyncThrowingStream<Data, Error>
    private let continuation: AsyncThrowingStream<Data, Error>.Continuation
    private let writer = DispatchQueue(label: "mcp-rag.stdout")
    private let pending: PendingRequests
    private var connected = false
    /// How long answers are awaited after stdin ends before the process gives up on them.
    static let drainTimeout: DispatchTimeInterval = .seconds(600)

    public init(input: Int32 = STDIN_FILENO, output: Int32 = STDOUT_FILENO, logger: Logger) {
        self.input = input
        self.output = output
        self.logger = logger
        (messages, continuation) = AsyncThrowingStream.makeStream()
        pending = PendingRequests(continuation: continuation)
    }

    public func connect() async throws {
        guard !connected else { return }
        connected = true
        let (input, continuation, logger, pending) = (self.input, self.continuation, self.logger, self.pending)
        let reader = Thread {
            LineReader(descriptor: input, logger: logger).run { line in
                pending.received(line)
                continuation.yield(line)
            }
            pending.inputEnded(timeout: Self.drainTimeout, logger: logger)
        }
        reader.name = "mcp-rag.stdin"
        reader.start()
    }

    public func disconnect() async {
        connected = false
        continuation.finish()
    }

    public func send(_ data: Data) async throws {
        var framed = data
        framed.append(UInt8(ascii: "\n"))
        let (line, output) = (framed, self.output)
        // Enqueued before the first suspension, so messages leave in the order they were sent.
        try await withCheckedThrowingContinuation { (done: CheckedContinuation<Void, Error>) in
            writer.async { done.resume(with: Result { try Self.writeAll(line, to: output) }) }
        }
        pending.sent(data)
    }

    public nonisolated func receive() -> AsyncThrowingStream<Data, Error> {
        messages
    }

    private static func writeAll(_ data: Data, to descriptor: Int32) throws {
        try data.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    throw MCPError.transportError(POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO))
                }
                offset += written
            }
        }
    }
}

/// The requests read but not yet answered, so that the end of stdin can wait for their answers.
final class PendingRequests: Sendable {
    private struct State {
        var ids: Set<ID> = []
        var inputEnded = false
        var finished = false
    }

    private let state = Mutex(State())
    private let continuation: AsyncThrowingStream<Data, Error>.Continuation

    init(continuation: AsyncThrowingStream<Data, Error>.Continuation) {
        self.continuation = continuation
    }

    /// Notes the requests in an incoming message (and the requests a cancellation gives up on).
    func received(_ message: Data) {
        let (requests, cancelled) = Self.requestIDs(in: message)
        guard !requests.isEmpty || !cancelled.isEmpty else { return }
        let finish = state.withLock { state in
            state.ids.formUnion(requests)
            state.ids.subtract(cancelled)
            return state.inputEnded && state.ids.isEmpty
        }
        if finish { self.finish() }
    }

    /// Notes the answers in an outgoing message; ends the stream if it was the last one awaited.
    func sent(_ message: Data) {
        let answered = Self.responseIDs(in: message)
        guard !answered.isEmpty else { return }
        let finish = state.withLock { state in
            state.ids.subtract(answered)
            return state.inputEnded && state.ids.isEmpty
        }
        if finish { self.finish() }
    }

    /// Stdin is done: end the stream now, or once the requests still open are answered (at most
    /// `timeout` from now).
    func inputEnded(timeout: DispatchTimeInterval, logger: Logger) {
        let open = state.withLock { state in
            state.inputEnded = true
            return state.ids.count
        }
        guard open > 0 else { return finish() }
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout) { [self] in
            let left = state.withLock { $0.ids.count }
            if left > 0 {
                logger.warning("stdin ended and requests are still unanswered; stopping", metadata: ["rag.requests": "\(left)"])
            }
            finish()
        }
    }

    private func finish() {
        let first = state.withLock { state in
            defer { state.finished = true }
            return !state.finished
        }
        if first { continuation.finish() }
    }

    /// The ids of the requests in `message` (one object or a batch), and the ids named by
    /// `notifications/cancelled`.
    static func requestIDs(in message: Data) -> (requests: [ID], cancelled: [ID]) {
        // A frame the router rejects is answered at once, and with id null when its id cannot be
        // trusted (bad UTF-8): waiting for an answer by its id would hold the exit for nothing.
        guard FrameCheck.check(message) == .pass else { return ([], []) }
        var requests: [ID] = []
        var cancelled: [ID] = []
        for envelope in JSONRPCEnvelope.all(in: message) where envelope.method != nil {
            if let id = envelope.id {
                requests.append(id)
            } else if envelope.method == "notifications/cancelled", let id = envelope.cancelledRequest {
                cancelled.append(id)
            }
        }
        return (requests, cancelled)
    }

    /// The ids answered by `message` (a response or a batch of them).
    static func responseIDs(in message: Data) -> [ID] {
        JSONRPCEnvelope.all(in: message).compactMap { $0.method == nil && $0.isAnswer ? $0.id : nil }
    }
}

/// Splits what a descriptor yields into lines, blocking in `read(2)`.
struct LineReader {
    let descriptor: Int32
    let logger: Logger

    /// Calls `deliver` with each non-empty line (without its newline or a trailing CR) until end of file.
    func run(_ deliver: (Data) -> Void) {
        var pending = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        var discarding = false
        while true {
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            if count <= 0 {
                if count < 0 { logger.error("reading stdin failed", metadata: ["rag.errno": "\(errno)"]) }
                break
            }
            var start = 0
            for index in 0..<count where buffer[index] == UInt8(ascii: "\n") {
                if !discarding {
                    pending.append(contentsOf: buffer[start..<index])
                    if pending.last == UInt8(ascii: "\r") { pending.removeLast() }
                    if !pending.isEmpty { deliver(Data(pending)) }
                }
                pending.removeAll(keepingCapacity: pending.count < (1 << 20))
                discarding = false
                start = index + 1
            }
            if !discarding {
                pending.append(contentsOf: buffer[start..<count])
                if pending.count > StdioLineTransport.maxMessageBytes {
                    logger.warning("discarding a message over the size limit",
                                   metadata: ["rag.limit_bytes": "\(StdioLineTransport.maxMessageBytes)"])
                    pending.removeAll()
                    discarding = true
                }
            }
        }
        if !discarding && !pending.isEmpty { deliver(Data(pending)) }
    }
}

import Dispatch
import Foundation
import KnowledgeBase
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
/// What waits is bounded on both sides: at most `maxUnconsumedMessages` lines read and not yet
/// taken by the consumer, and while more than `maxPendingOutputBytes` of output wait (a client that
/// sends requests but does not read the answers) no more input is read, so memory stays bounded and
/// the client's own writes block instead. The stream of messages ends with stdin;
/// the router decides how long answers are still awaited (see `ToolCallRouter`), and this transport
/// tells it when the client can no longer read them (`OutputLossReporting`).
public actor StdioLineTransport: Transport, OutputLossReporting {
    public nonisolated let logger: Logger
    /// Longest message accepted; longer lines are discarded whole (the JSON-RPC answer to a line
    /// nobody can parse could not carry its id anyway).
    public static let maxMessageBytes = 64 << 20
    /// How much output may wait for the client before input stops being read.
    public static let maxPendingOutputBytes = 8 << 20
    /// How many lines may be read ahead of the consumer.
    static let maxUnconsumedMessages = 16

    private let input: Int32
    private let output: Int32
    private let messages: AsyncThrowingStream<Data, Error>
    private let continuation: AsyncThrowingStream<Data, Error>.Continuation
    private let writer = DispatchQueue(label: "mcp-rag.stdout")
    private let backlog: OutputBacklog
    /// Free places for lines read ahead of the consumer: the reader takes one per line, `receive()`'s
    /// stream gives it back as the line is taken.
    private let readAhead: DispatchSemaphore
    private var connected = false

    public init(input: Int32 = STDIN_FILENO, output: Int32 = STDOUT_FILENO, logger: Logger) {
        self.input = input
        self.output = output
        self.logger = logger
        backlog = OutputBacklog(limit: Self.maxPendingOutputBytes)
        // Made with 0 and raised: libdispatch traps when a semaphore is freed below the value it was
        // made with, as this one is when the process ends with lines still read ahead.
        readAhead = DispatchSemaphore(value: 0)
        for _ in 0..<Self.maxUnconsumedMessages { readAhead.signal() }
        (messages, continuation) = AsyncThrowingStream.makeStream()
    }

    public func connect() async throws {
        guard !connected else { return }
        connected = true
        let (input, continuation, logger, backlog, readAhead) = (self.input, self.continuation, self.logger, self.backlog, self.readAhead)
        let reader = Thread {
            LineReader(descriptor: input, logger: logger).run { line in
                backlog.waitForRoom()
                readAhead.wait()
                continuation.yield(line)
            }
            continuation.finish()
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
        let (line, output, backlog) = (framed, self.output, self.backlog)
        guard backlog.add(line.count) else { throw MCPError.transportError(POSIXError(.EPIPE)) }
        // Enqueued before the first suspension, so messages leave in the order they were sent.
        try await withCheckedThrowingContinuation { (done: CheckedContinuation<Void, Error>) in
            writer.async {
                let result = Result { try Self.writeAll(line, to: output) }
                if case .failure = result { backlog.close() }
                backlog.remove(line.count)
                done.resume(with: result)
            }
        }
    }

    /// The messages read, for one consumer: each one taken frees a place for the reader.
    public nonisolated func receive() -> AsyncThrowingStream<Data, Error> {
        let readAhead = self.readAhead
        return ConsumedMessages.stream(of: messages) { readAhead.signal() }
    }

    /// Returns when stdout is a pipe or socket whose reading end has closed (the client died or
    /// stopped reading for good); never for a file or terminal, where that cannot happen.
    public nonisolated func waitForOutputLoss() async {
        var status = stat()
        guard fstat(output, &status) == 0, [S_IFIFO, S_IFSOCK].contains(status.st_mode & S_IFMT) else {
            // Nothing to watch: wait until no longer wanted (a sleep cancellation ends).
            try? await Task.sleep(nanoseconds: .max)
            return
        }
        let stop = CancellationFlag()
        let output = self.output
        await withTaskCancellationHandler {
            await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
                let watcher = Thread {
                    // POLLERR (a pipe without reader) and POLLHUP (a closed socket) are reported
                    // whatever is asked for; the timeout only lets the thread notice it is no longer wanted.
                    var descriptor = pollfd(fd: output, events: 0, revents: 0)
                    while !stop.isSet {
                        if poll(&descriptor, 1, 200) > 0, descriptor.revents & Int16(POLLERR | POLLHUP | POLLNVAL) != 0 { break }
                    }
                    done.resume()
                }
                watcher.name = "mcp-rag.stdout-watch"
                watcher.start()
            }
        } onCancel: {
            stop.set()
        }
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

/// The bytes sent but not yet written, shared by the writer queue and the reading thread.
///
/// `@unchecked Sendable`: every field is read and written only with `condition` locked.
final class OutputBacklog: @unchecked Sendable {
    private let condition = NSCondition()
    private var bytes = 0
    private var closed = false
    let limit: Int

    init(limit: Int) { self.limit = limit }

    /// Counts `count` bytes in; false once the output has failed (nothing more can be written).
    func add(_ count: Int) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard !closed else { return false }
        bytes += count
        return true
    }

    func remove(_ count: Int) {
        condition.lock()
        bytes -= count
        if bytes <= limit { condition.broadcast() }
        condition.unlock()
    }

    /// The output failed: refuse what comes, and never hold the reader again.
    func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }

    /// Blocks the calling thread while more than `limit` bytes wait to be written.
    func waitForRoom() {
        condition.lock()
        while bytes > limit && !closed { condition.wait() }
        condition.unlock()
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

import Foundation

/// A transport's incoming messages as its one consumer (the router's pump) takes them, telling the
/// transport of each one taken: how a transport bounds what waits in its queue (stdio reads no
/// further ahead, HTTP refuses more posts) without the queue itself knowing.
///
/// `@unchecked Sendable`: `iterator` is used by the single task that consumes the stream, one
/// `next()` at a time, as an AsyncIterator requires anyway.
final class ConsumedMessages<Message: Sendable, Output: Sendable>: @unchecked Sendable {
    private var iterator: AsyncThrowingStream<Message, Error>.AsyncIterator
    private let taken: @Sendable () -> Void
    private let output: @Sendable (Message) -> Output

    private init(_ messages: AsyncThrowingStream<Message, Error>, taken: @escaping @Sendable () -> Void,
                 output: @escaping @Sendable (Message) -> Output) {
        iterator = messages.makeAsyncIterator()
        self.taken = taken
        self.output = output
    }

    /// `messages` for one consumer, each as `output` makes it, calling `taken` as each is handed over.
    static func stream(of messages: AsyncThrowingStream<Message, Error>, taken: @escaping @Sendable () -> Void,
                       output: @escaping @Sendable (Message) -> Output) -> AsyncThrowingStream<Output, Error> {
        let source = ConsumedMessages(messages, taken: taken, output: output)
        return AsyncThrowingStream(unfolding: { try await source.next() })
    }

    private func next() async throws -> Output? {
        guard let message = try await iterator.next() else { return nil }
        taken()
        return output(message)
    }
}

extension ConsumedMessages where Output == Message {
    /// `messages` for one consumer, calling `taken` as each message is handed over.
    static func stream(of messages: AsyncThrowingStream<Message, Error>,
                       taken: @escaping @Sendable () -> Void) -> AsyncThrowingStream<Message, Error> {
        stream(of: messages, taken: taken, output: { $0 })
    }
}

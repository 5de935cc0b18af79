import Foundation

/// A transport's incoming messages as its one consumer (the router's pump) takes them, telling the
/// transport of each one taken: how a transport bounds what waits in its queue (stdio reads no
/// further ahead, HTTP refuses more posts) without the queue itself knowing.
///
/// `@unchecked Sendable`: `iterator` is used by the single task that consumes the stream, one
/// `next()` at a time, as an AsyncIterator requires anyway.
final class ConsumedMessages: @unchecked Sendable {
    private var iterator: AsyncThrowingStream<Data, Error>.AsyncIterator
    private let taken: @Sendable () -> Void

    private init(_ messages: AsyncThrowingStream<Data, Error>, taken: @escaping @Sendable () -> Void) {
        iterator = messages.makeAsyncIterator()
        self.taken = taken
    }

    /// `messages` for one consumer, calling `taken` as each message is handed over.
    static func stream(of messages: AsyncThrowingStream<Data, Error>,
                       taken: @escaping @Sendable () -> Void) -> AsyncThrowingStream<Data, Error> {
        let source = ConsumedMessages(messages, taken: taken)
        return AsyncThrowingStream(unfolding: { try await source.next() })
    }

    private func next() async throws -> Data? {
        let message = try await iterator.next()
        if message != nil { taken() }
        return message
    }
}

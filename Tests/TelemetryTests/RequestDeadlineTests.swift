import HTTPTypes
@testable import HTTPEndpoints
import NIOCore
import NIOEmbedded
import NIOHTTPTypes
import Testing

/// The request deadlines on a channel whose clock the test moves (NIO's EmbeddedChannel).
@Suite struct RequestDeadlineTests {
    private func connection() throws -> EmbeddedChannel {
        let channel = EmbeddedChannel(handler: RequestDeadline(headLimit: .seconds(10), bodyLimit: .seconds(30)))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return channel
    }

    private func head() -> HTTPRequestPart {
        .head(HTTPRequest(method: .post, scheme: nil, authority: "127.0.0.1", path: "/mcp"))
    }

    /// A whole request: its head, a byte of body, its end.
    private func request(_ channel: EmbeddedChannel) throws {
        try channel.writeInbound(head())
        try channel.writeInbound(HTTPRequestPart.body(ByteBuffer(string: "{")))
        try channel.writeInbound(HTTPRequestPart.end(nil))
    }

    /// Open until a second before `seconds` from now, closed at `seconds`.
    private func expectClosed(_ channel: EmbeddedChannel, after seconds: Int64, _ why: Comment,
                              sourceLocation: SourceLocation = #_sourceLocation) {
        channel.embeddedEventLoop.advanceTime(by: .seconds(seconds - 1))
        #expect(channel.isActive, "still open a second before: \(why)", sourceLocation: sourceLocation)
        channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        #expect(!channel.isActive, why, sourceLocation: sourceLocation)
    }

    private func answer(_ channel: EmbeddedChannel) throws {
        try channel.writeOutbound(HTTPResponsePart.head(HTTPResponse(status: .ok)))
        try channel.writeOutbound(HTTPResponsePart.end(nil))
    }

    @Test func aHeadThatDoesNotComeInTimeClosesTheConnection() throws {
        let channel = try connection()
        expectClosed(channel, after: 10, "10 s after opening, with no request head")
    }

    @Test func noDeadlineWhileAnsweringAndTheNextHeadHasItsOwn() throws {
        let channel = try connection()
        try request(channel)
        channel.embeddedEventLoop.advanceTime(by: .seconds(60))
        #expect(channel.isActive, "a long answer (an event stream) is not cut off")
        try answer(channel)
        expectClosed(channel, after: 10, "10 s after the answer, with no next request")
    }

    @Test func aPipelinedRequestIsAnsweredWithoutADeadline() throws {
        let channel = try connection()
        // The second request arrives before the first is answered.
        try request(channel)
        try request(channel)
        try answer(channel)
        channel.embeddedEventLoop.advanceTime(by: .seconds(30))
        #expect(channel.isActive, "the second request is still being answered")
        try answer(channel)
        channel.embeddedEventLoop.advanceTime(by: .seconds(10))
        #expect(!channel.isActive)
    }

    @Test func anAnswerWithoutARequestDoesNotDisarmTheNextRequest() throws {
        let channel = try connection()
        // A 400 for a head that could not be read: no request was counted.
        try answer(channel)
        try request(channel)
        channel.embeddedEventLoop.advanceTime(by: .seconds(30))
        #expect(channel.isActive, "the request that came after is answered without a deadline")
    }

    @Test func aBodyThatDoesNotComeInTimeClosesTheConnection() throws {
        let channel = try connection()
        try channel.writeInbound(head())
        // A byte at a time keeps Hummingbird's idle timeout from firing; this deadline does not move.
        for _ in 0..<29 {
            channel.embeddedEventLoop.advanceTime(by: .seconds(1))
            try channel.writeInbound(HTTPRequestPart.body(ByteBuffer(string: "a")))
        }
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        #expect(!channel.isActive, "30 s after the head, with the body unfinished")
    }

    @Test func aBodyThatEndsInTimeIsAnsweredWithoutADeadline() throws {
        let channel = try connection()
        try channel.writeInbound(head())
        channel.embeddedEventLoop.advanceTime(by: .seconds(29))
        try channel.writeInbound(HTTPRequestPart.end(nil))
        channel.embeddedEventLoop.advanceTime(by: .seconds(60))
        #expect(channel.isActive, "the request is whole and being answered")
    }

    @Test func aPipelinedBodyWaitsForTheAnswerAheadOfItBeforeItsDeadlineRuns() throws {
        let channel = try connection()
        try request(channel)
        // The next request's head, its body held back behind the first answer (an event stream).
        try channel.writeInbound(head())
        channel.embeddedEventLoop.advanceTime(by: .seconds(60))
        #expect(channel.isActive, "the first answer is still being written")
        try answer(channel)
        expectClosed(channel, after: 30, "30 s after the answer ahead of it, with its body unfinished")
    }

    @Test func aRequestAnsweredBeforeItsBodyEndedLeavesTheNextHeadsDeadlineRunning() throws {
        let channel = try connection()
        try channel.writeInbound(head())
        try answer(channel)  // a 401, say, which does not wait for the body
        channel.embeddedEventLoop.advanceTime(by: .seconds(5))
        try channel.writeInbound(HTTPRequestPart.end(nil))
        channel.embeddedEventLoop.advanceTime(by: .seconds(5))
        #expect(!channel.isActive, "10 s after the answer, with no next request")
    }
}

import HTTPTypes
@testable import HTTPEndpoints
import NIOCore
import NIOEmbedded
import NIOHTTPTypes
import Testing

/// The request-head deadline on a channel whose clock the test moves (NIO's EmbeddedChannel).
@Suite struct RequestHeadDeadlineTests {
    private func connection() throws -> EmbeddedChannel {
        let channel = EmbeddedChannel(handler: RequestHeadDeadline(limit: .seconds(10)))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return channel
    }

    private func request() -> HTTPRequestPart {
        .head(HTTPRequest(method: .post, scheme: nil, authority: "127.0.0.1", path: "/mcp"))
    }

    private func answer(_ channel: EmbeddedChannel) throws {
        try channel.writeOutbound(HTTPResponsePart.head(HTTPResponse(status: .ok)))
        try channel.writeOutbound(HTTPResponsePart.end(nil))
    }

    @Test func aHeadThatDoesNotComeInTimeClosesTheConnection() throws {
        let channel = try connection()
        channel.embeddedEventLoop.advanceTime(by: .seconds(9))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        #expect(!channel.isActive, "10 s after opening, with no request head")
    }

    @Test func noDeadlineWhileAnsweringAndTheNextHeadHasItsOwn() throws {
        let channel = try connection()
        try channel.writeInbound(request())
        channel.embeddedEventLoop.advanceTime(by: .seconds(60))
        #expect(channel.isActive, "a long answer (an event stream) is not cut off")
        try answer(channel)
        channel.embeddedEventLoop.advanceTime(by: .seconds(9))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        #expect(!channel.isActive, "10 s after the answer, with no next request")
    }

    @Test func aPipelinedRequestIsAnsweredWithoutADeadline() throws {
        let channel = try connection()
        // The second request arrives before the first is answered.
        try channel.writeInbound(request())
        try channel.writeInbound(request())
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
        try channel.writeInbound(request())
        channel.embeddedEventLoop.advanceTime(by: .seconds(30))
        #expect(channel.isActive, "the request that came after is answered without a deadline")
    }
}

import NIOCore
import NIOHTTPTypes

/// Closes a connection whose next request does not arrive in time: its head (the request line and
/// every header) within `headLimit` of the connection opening or of its last answer having been
/// written, and its body within `bodyLimit` of its head (of the end of the answer ahead of it, for a
/// request pipelined behind one).
///
/// Hummingbird's idle timeout starts over at every byte read, so a client that sends one byte at a
/// time, just under it, holds its connection as long as it likes ("slow loris"); these deadlines do
/// not move. While a request is being answered there is none (an ingest's event stream may run for
/// minutes), and a client that sent its next request before the answer ended (pipelining) is
/// answering-in-progress too: the head's deadline starts only once no request is left unanswered,
/// and once the answer's last bytes are written, so a slow reader is not cut off mid-answer.
///
/// One per connection, on its event loop: the state is only touched there.
final class RequestDeadline: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let headLimit: TimeAmount
    private let bodyLimit: TimeAmount
    private var deadline: Scheduled<Void>?
    /// Requests whose head has arrived and whose answer has not been written to the end.
    private var unanswered = 0
    /// Whether the last request's body has not ended yet.
    private var receivingBody = false

    init(headLimit: TimeAmount, bodyLimit: TimeAmount) {
        self.headLimit = headLimit
        self.bodyLimit = bodyLimit
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { start(context, headLimit) }
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context, headLimit)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        stop()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        stop()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            unanswered += 1
            receivingBody = true
            // A request pipelined behind one still being answered gets its body's deadline when
            // that answer ends: until then its body may wait, unread, behind the answer.
            if unanswered == 1 { start(context, bodyLimit) }
        case .end:
            receivingBody = false
            // Unless the request was answered before its body ended (a 401 or a 413 does not wait
            // for it): then the next head's deadline runs already.
            if unanswered > 0 { stop() }
        case .body:
            break
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard case .end = unwrapOutboundIn(data) else {
            context.write(data, promise: promise)
            return
        }
        // An answer without a request (a 400 for a head that could not be read) leaves the count at 0.
        unanswered = max(unanswered - 1, 0)
        guard limitAfterAnswer != nil else {
            context.write(data, promise: promise)
            return
        }
        let written = context.eventLoop.makePromise(of: Void.self)
        if let promise { written.futureResult.cascade(to: promise) }
        let bound = NIOLoopBound((handler: self, context: context), eventLoop: context.eventLoop)
        written.futureResult.whenSuccess {
            // As it stands then: the next request may have arrived while the end was being written.
            if let limit = bound.value.handler.limitAfterAnswer { bound.value.handler.start(bound.value.context, limit) }
        }
        context.write(data, promise: written)
    }

    /// The deadline that runs once an answer's end is written: the next head's when nothing is
    /// left unanswered, or the body's of the one request left when its body waited behind that
    /// answer. None with more left: the next answer is under way.
    private var limitAfterAnswer: TimeAmount? {
        if unanswered == 0 { return headLimit }
        return unanswered == 1 && receivingBody ? bodyLimit : nil
    }

    /// Replaces the deadline there is with one `limit` from now.
    private func start(_ context: ChannelHandlerContext, _ limit: TimeAmount) {
        stop()
        let context = NIOLoopBound(context, eventLoop: context.eventLoop)
        deadline = context.value.eventLoop.scheduleTask(in: limit) {
            context.value.close(promise: nil)
        }
    }

    private func stop() {
        deadline?.cancel()
        deadline = nil
    }
}

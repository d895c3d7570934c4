import NIOCore
import NIOHTTP1

/// Per-connection timeouts and draining, as a channel handler after the HTTP
/// codec. A connection may be idle (no request started) for `idleTimeout`,
/// and must deliver a whole request within `requestTimeout` once begun; while
/// the server works on a request no timer runs. A slowloris that stops in the
/// middle of its headers trips the idle timer (the decoder has seen no head).
///
/// Arming and disarming move a deadline; they do not schedule or cancel a
/// timer. One timer per connection fires at most every
/// min(idleTimeout, requestTimeout), closes the connection if the deadline
/// has passed and otherwise schedules itself for the deadline (or the next
/// tick). Scheduling and cancelling two timers per request was about 1.5% of
/// a request's CPU (#13). Because no timer is ever scheduled further out
/// than one tick, a new deadline is never earlier than the pending timer,
/// except the drain grace, which reschedules.
final class ConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    /// Sent down the pipeline to ask a connection to close when it is idle.
    struct Drain {}

    /// How long a drained connection that looks idle is kept open in case its
    /// request is already on the way (sent, but not yet read by us).
    static let drainGrace: TimeAmount = .milliseconds(500)

    private let idleTimeout: TimeAmount
    private let requestTimeout: TimeAmount
    private var timer: Scheduled<Void>?
    private var timerFires = NIODeadline.distantFuture
    /// When the connection is closed unless it is answering a request; nil
    /// while the server works on one.
    private var deadline: NIODeadline?
    private var receiving = false      // between a request's head and its end
    private var unanswered = 0         // requests received, response not finished
    private var draining = false

    init(idleTimeout: TimeAmount, requestTimeout: TimeAmount) {
        self.idleTimeout = idleTimeout
        self.requestTimeout = requestTimeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { arm(context, idleTimeout) }
    }

    func channelActive(context: ChannelHandlerContext) {
        arm(context, idleTimeout)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            receiving = true
            arm(context, requestTimeout)
        case .body:
            break
        case .end:
            receiving = false
            unanswered += 1
            disarm()
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) {
            unanswered = max(0, unanswered - 1)
            if unanswered == 0 && !receiving {
                if draining {
                    let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
                    context.writeAndFlush(data).whenComplete { _ in bound.value.close(promise: nil) }
                    promise?.succeed(())
                    return
                }
                arm(context, idleTimeout)
            }
        }
        context.write(data, promise: promise)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is Drain {
            draining = true
            if unanswered == 0 && !receiving { arm(context, Self.drainGrace) }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        cancelTimer()
        context.fireChannelInactive()
    }

    private var tick: TimeAmount { min(idleTimeout, requestTimeout) }

    private func arm(_ context: ChannelHandlerContext, _ amount: TimeAmount) {
        let due = NIODeadline.now() + amount
        deadline = due
        if timer == nil || due < timerFires { schedule(context, at: min(due, .now() + tick)) }
    }

    private func disarm() {
        deadline = nil
    }

    private func schedule(_ context: ChannelHandlerContext, at when: NIODeadline) {
        timer?.cancel()
        timerFires = when
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(deadline: when) {
            let (handler, context) = bound.value
            handler.timer = nil
            handler.fired(context)
        }
    }

    private func fired(_ context: ChannelHandlerContext) {
        // Working on a request: no timer until the answer arms one again.
        guard let due = deadline else { return }
        let now = NIODeadline.now()
        if now < due {
            schedule(context, at: min(due, now + tick))
        } else if unanswered == 0 {
            context.close(promise: nil)
        }
    }

    private func cancelTimer() {
        deadline = nil
        timer?.cancel()
        timer = nil
    }
}

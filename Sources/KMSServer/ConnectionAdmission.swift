import KMSCore
import NIOCore

/// Which connections are let in: `Admission`'s bounds (at most `total`
/// open, at most `perCaller` for one caller — a uid on the Unix socket, a
/// source address on TCP), each slot held until its channel closes. Decided
/// before a connection becomes an `NIOAsyncChannel`: a refused one gets a
/// 503 ThrottlingException (plain HTTP only) and is closed by a handler of
/// its own, never handed to the server.
struct ConnectionAdmission: Sendable {
    let bounds: Admission

    init(total: Int, perCaller: Int) {
        bounds = Admission(total: total, perCaller: perCaller)
    }

    var open: Int { bounds.running }

    /// Counts `channel` against `caller` until it closes, or says why not.
    func admit(_ channel: any Channel, caller: String) -> Admission.Refusal? {
        if let refusal = bounds.admit(caller) { return refusal }
        let bounds = self.bounds
        channel.closeFuture.whenComplete { _ in bounds.release(caller) }
        return nil
    }
}

/// Answers a refused connection with one 503 and closes it (or just closes
/// it, on TLS, where plain bytes would mean nothing to the client).
final class RefuseConnectionHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let answer: Bool
    private let reason: String

    init(answer: Bool, reason: String) {
        self.answer = answer
        self.reason = reason
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { refuse(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        refuse(context)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}

    private func refuse(_ context: ChannelHandlerContext) {
        guard answer else {
            context.close(promise: nil)
            return
        }
        let body = #"{"__type":"ThrottlingException","message":"\#(reason)"}"#
        let text = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/x-amz-json-1.1\r\n"
            + "Content-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n" + body
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: text))).whenComplete { _ in
            bound.value.close(promise: nil)
        }
    }
}

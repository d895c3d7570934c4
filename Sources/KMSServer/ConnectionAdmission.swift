import NIOCore
import Synchronization

/// Which connections are let in: at most `total` open at once, and at most
/// `perCaller` of them for one caller (a uid on the Unix socket, a source
/// address on TCP), so one local user or one remote host cannot take every
/// connection. Decided before a connection becomes an `NIOAsyncChannel`: a
/// refused one gets a 503 ThrottlingException (plain HTTP only) and is
/// closed by a handler of its own, never handed to the server.
final class ConnectionAdmission: Sendable {
    let total: Int
    let perCaller: Int
    private struct State {
        var open = 0
        var byCaller: [String: Int] = [:]
    }
    private let state = Mutex(State())

    init(total: Int, perCaller: Int) {
        self.total = total
        self.perCaller = perCaller
    }

    var open: Int { state.withLock { $0.open } }

    /// Counts `channel` against `caller` until it closes; false when over a bound.
    func admit(_ channel: any Channel, caller: String) -> Bool {
        let admitted = state.withLock { s -> Bool in
            guard s.open < total, s.byCaller[caller, default: 0] < perCaller else { return false }
            s.open += 1
            s.byCaller[caller, default: 0] += 1
            return true
        }
        if admitted {
            channel.closeFuture.whenComplete { _ in
                self.state.withLock { s in
                    s.open -= 1
                    let left = s.byCaller[caller, default: 1] - 1
                    s.byCaller[caller] = left == 0 ? nil : left
                }
            }
        }
        return admitted
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

import KMSCore
import KMSModel
import KMSServer
import NIOCore
import NIOHPACK
import NIOHTTP2
import Synchronization

/// Who is on each connection, as the kernel says (SO_PEERCRED), for the
/// gRPC handlers. grpc-swift hands a handler the request's metadata but not
/// its connection, so the transport passes the caller along as a header it
/// writes itself: when a connection is accepted its peer credentials are
/// read and kept under a fresh number; each HTTP/2 stream of it gets a
/// handler, first in its pipeline, that removes any `p11kms-connection`
/// header the client sent and adds the connection's number. A client can
/// therefore never name another connection's caller, and a number is never
/// reused, so a late stream cannot meet a newer connection's caller.
final class ConnectionCallers: Sendable {
    static let header = "p11kms-connection"

    private struct State {
        var next: UInt64 = 0
        var callers: [UInt64: Result<Principal, KMSError>] = [:]
        var numbers: [ObjectIdentifier: UInt64] = [:]
    }
    private let state = Mutex(State())

    /// The caller behind a request's `p11kms-connection` number.
    func caller(_ number: String?) -> Result<Principal, KMSError> {
        let unknown = KMSError(.accessDenied, "The caller's identity could not be read from the connection.")
        guard let number, let n = UInt64(number) else { return .failure(unknown) }
        return state.withLock { $0.callers[n] } ?? .failure(unknown)
    }

    /// `onAcceptTCPConnection` (it runs for Unix-socket connections too):
    /// reads the peer's credentials before the connection is served.
    func connectionAccepted(_ channel: any Channel) -> EventLoopFuture<Void> {
        let promise = channel.eventLoop.makePromise(of: Void.self)
        promise.completeWithTask {
            let caller: Result<Principal, KMSError>
            do {
                caller = .success(try await PeerCredentials.principal(of: channel))
            } catch let e as KMSError {
                caller = .failure(e)
            } catch {
                caller = .failure(KMSError(.accessDenied, "The caller's identity could not be read from the connection (\(error))."))
            }
            let key = ObjectIdentifier(channel)
            let number = self.state.withLock { s -> UInt64 in
                s.next += 1
                s.callers[s.next] = caller
                s.numbers[key] = s.next
                return s.next
            }
            channel.closeFuture.whenComplete { _ in
                self.state.withLock { s in
                    s.callers[number] = nil
                    if s.numbers[key] == number { s.numbers[key] = nil }
                }
            }
        }
        return promise.futureResult
    }

    /// `onAcceptHTTP2Stream`: the stream's requests carry its connection's number.
    func streamAccepted(_ stream: any Channel) -> EventLoopFuture<Void> {
        let number = stream.parent.flatMap { parent in state.withLock { $0.numbers[ObjectIdentifier(parent)] } }
        return stream.eventLoop.makeCompletedFuture {
            try stream.pipeline.syncOperations.addHandler(CallerHeaderHandler(number: number), position: .first)
        }
    }
}

/// Replaces the `p11kms-connection` header of every HEADERS frame a client
/// sends on one stream with the transport's own (on the first one only).
final class CallerHeaderHandler: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame.FramePayload
    typealias InboundOut = HTTP2Frame.FramePayload

    private let number: UInt64?
    private var written = false

    init(number: UInt64?) {
        self.number = number
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var payload = unwrapInboundIn(data)
        if case .headers(var headers) = payload {
            headers.headers.remove(name: ConnectionCallers.header)
            if !written, let number {
                headers.headers.add(name: ConnectionCallers.header, value: String(number))
            }
            written = true
            payload = .headers(headers)
        }
        context.fireChannelRead(wrapInboundOut(payload))
    }
}

import Foundation
import KMSAuditFormat
import KMSCore
import KMSModel
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The HTTP front ends of `KMSService`: AWS JSON 1.1 over HTTP/1.1 on a
/// Unix-domain socket (callers named by the kernel) and, optionally, on TCP
/// (callers named by their SigV4 signatures). This type only listens,
/// admits connections, frames HTTP and names the caller; decoding,
/// throttling, the engine, the audit line and metrics are the pipeline's.
///
/// Each admitted connection is an `NIOAsyncChannel` served in a discarding
/// task group; errors are caught per connection so one bad client never
/// takes the server down.
public final class KMSServer: Sendable {
    public let service: KMSService
    public let configuration: ServerConfiguration
    let logger: Logger
    private let metrics: ServerMetrics
    private let state = Mutex<State>(State())
    private let admission: ConnectionAdmission

    private struct State {
        /// The Unix socket's listener, then the TCP listener's if there is one.
        var serverChannels: [any Channel] = []
        var connections: [ObjectIdentifier: any Channel] = [:]
        var shuttingDown = false
        var lastAccept = ContinuousClock.now
        var lastRefusalLog = ContinuousClock.now - .seconds(2)
        var refusedSinceLog = 0
    }

    /// While draining, the listener stays open (its path already unlinked, so
    /// nobody new can connect) until no connection has been accepted for this
    /// long: connections already queued in the kernel's backlog are served.
    static let acceptQuietPeriod: Duration = .milliseconds(300)

    /// After the drain deadline, how long requests stuck in an HSM call get
    /// to finish before their connections are closed under them.
    public static let cancelledAnswerGrace: Duration = .seconds(10)

    public init(service: KMSService, configuration: ServerConfiguration, metrics: ServerMetrics, logger: Logger) {
        self.service = service
        self.configuration = configuration
        self.metrics = metrics
        self.logger = logger
        admission = ConnectionAdmission(total: configuration.maxConnections,
                                        perCaller: configuration.maxConnectionsPerCaller)
    }

    public var engine: KMSEngine { service.engine }

    /// How a listener knows its callers.
    enum Listener: Sendable {
        /// The Unix socket: the kernel's peer credentials, once per connection.
        case unix
        /// TCP: each request's Signature Version 4 signature.
        case tcp(SigV4Verifier)
    }

    private typealias Connection = NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>

    /// What the child-channel initializer makes of a new connection.
    private enum Accepted: Sendable {
        case connection(Connection)
        /// Over a connection bound: it answers and closes itself.
        case refused
    }

    private typealias Listening = NIOAsyncChannel<Accepted, Never>

    /// Binds the socket (and the TCP listener, if configured) and serves until
    /// `shutdown()`; returns once every connection has finished. `onListening`
    /// runs when all listeners are ready.
    public func run(onListening: @Sendable () -> Void = {}) async throws {
        let path = configuration.socketPath
        try UnixSocketPath.prepare(path)
        let tlsContext = try configuration.tcp?.makeTLSContext()
        // The socket file's first mode comes from the process umask, which
        // p11kmsd sets to 077 at start (and systemd's UMask= too): it is
        // owner-only until it has been given to its group and opened to it.
        let unix = try await bootstrap().bind(unixDomainSocketPath: path) { channel in
            self.accept(channel, .unix, tls: nil)
        }
        var listeners: [(Listening, Listener)] = [(unix, .unix)]
        do {
            try UnixSocketPath.secure(path, group: configuration.socketGroup)
            if let tcp = configuration.tcp {
                let listening = try await bootstrap().bind(host: tcp.host, port: tcp.port) { channel in
                    self.accept(channel, .tcp(tcp.verifier), tls: tlsContext)
                }
                listeners.append((listening, .tcp(tcp.verifier)))
            }
        } catch {
            for (listening, _) in listeners { try? await listening.channel.close() }
            try? FileManager.default.removeItem(atPath: path)
            throw error
        }
        let alreadyStopping = state.withLock { s -> Bool in
            s.serverChannels = listeners.map(\.0.channel)
            return s.shuttingDown
        }
        if alreadyStopping { listeners.forEach { $0.0.channel.close(promise: nil) } }
        onListening()

        do {
            try await withThrowingDiscardingTaskGroup { group in
                for (listening, kind) in listeners {
                    group.addTask { try await self.serve(listening, kind) }
                }
            }
        } catch where state.withLock({ $0.shuttingDown }) {
            // The listener closing under the accept loop is how shutdown ends it.
            logger.debug("accept loop ended during shutdown: \(error)")
        }
        if !state.withLock({ $0.shuttingDown }) { try? FileManager.default.removeItem(atPath: path) }
    }

    /// The port the TCP listener is bound to, once running (port 0 in the
    /// configuration picks a free one); nil without a TCP listener.
    public var tcpPort: Int? {
        state.withLock { $0.serverChannels.dropFirst().first?.localAddress?.port }
    }

    private func bootstrap() -> ServerBootstrap {
        ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 512)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
    }

    /// Admits or refuses a new connection before it is wrapped, so a refused
    /// one never has an async writer that someone must finish.
    private func accept(_ channel: any Channel, _ kind: Listener, tls: NIOSSLContext?) -> EventLoopFuture<Accepted> {
        let caller: EventLoopFuture<String> = switch kind {
        case .unix: PeerCredentials.uid(of: channel).map { $0.map { "uid:\($0)" } ?? "uid:?" }
        case .tcp: channel.eventLoop.makeSucceededFuture("ip:" + (channel.remoteAddress?.ipAddress ?? "?"))
        }
        let limits = (configuration.idleTimeout, configuration.requestTimeout)
        return caller.flatMapThrowing { caller in
            if let refusal = self.admission.admit(channel, caller: caller) {
                let reason = switch refusal {
                case .full(let total): "\(total) connections are open, the most this service takes; retry later."
                case .caller(let most): "This caller has \(most) connections open, the most one caller may; close some."
                }
                self.logRefusal(reason, caller: caller)
                try channel.pipeline.syncOperations.addHandler(RefuseConnectionHandler(answer: tls == nil, reason: reason))
                return .refused
            }
            if let tls { try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls)) }
            try channel.pipeline.syncOperations.configureHTTPServerPipeline(
                withPipeliningAssistance: true, withErrorHandling: true)
            try channel.pipeline.syncOperations.addHandler(ConnectionGuard(idleTimeout: limits.0, requestTimeout: limits.1))
            return .connection(try Connection(wrappingChannelSynchronously: channel))
        }
    }

    /// A flood of refused connections is one log line a second, with a count,
    /// not a line each: the log is no place to amplify an attack.
    private func logRefusal(_ reason: String, caller: String) {
        let report = state.withLock { s -> Int? in
            s.refusedSinceLog += 1
            guard ContinuousClock.now - s.lastRefusalLog >= .seconds(1) else { return nil }
            s.lastRefusalLog = .now
            defer { s.refusedSinceLog = 0 }
            return s.refusedSinceLog
        }
        if let count = report {
            logger.warning("connection refused: \(reason)", metadata: ["caller": .string(caller), "refused": .stringConvertible(count)])
        }
    }

    private func serve(_ listening: Listening, _ kind: Listener) async throws {
        try await withThrowingDiscardingTaskGroup { group in
            try await listening.executeThenClose { inbound in
                for try await accepted in inbound {
                    state.withLock { $0.lastAccept = .now }
                    guard case .connection(let connection) = accepted else { continue }
                    state.withLock { $0.connections[ObjectIdentifier(connection.channel)] = connection.channel }
                    group.addTask { await self.serve(connection, kind) }
                }
            }
        }
    }

    /// Stops accepting, lets requests in flight finish for up to
    /// `drainTimeout`, then cancels what is left (those answer
    /// KMSInternalException) and closes every connection; `run()` returns
    /// when the last connection is closed.
    public func shutdown() {
        let (servers, connections, alreadyStopping) = state.withLock { s -> ([any Channel], [any Channel], Bool) in
            defer { s.shuttingDown = true }
            return (s.serverChannels, Array(s.connections.values), s.shuttingDown)
        }
        guard !alreadyStopping else { return }
        // No new client can find the socket from now on...
        try? FileManager.default.removeItem(atPath: configuration.socketPath)
        for channel in connections {
            channel.pipeline.fireUserInboundEventTriggered(ConnectionGuard.Drain())
        }
        // ...but those already queued are accepted and served before the
        // listener closes.
        Task { [self] in
            while ContinuousClock.now - state.withLock({ $0.lastAccept }) < Self.acceptQuietPeriod {
                try? await Task.sleep(for: .milliseconds(50))
            }
            servers.forEach { $0.close(promise: nil) }
        }
        // The deadline: whatever is still being performed is cancelled, and
        // shortly after, connections still open are closed under their clients.
        Task { [self] in
            try? await Task.sleep(for: configuration.drainTimeout)
            let left = service.requestsInFlight
            if left > 0 { logger.warning("drain deadline reached: cancelling \(left) requests still in flight") }
            service.cancelInFlight()
            // Cancelled requests answer at once, except those inside an HSM
            // call, which cannot be interrupted: give those a bounded while
            // to finish and write their answers, then close what is left.
            let closeBy = ContinuousClock.now + Self.cancelledAnswerGrace
            while service.requestsInFlight > 0 && ContinuousClock.now < closeBy {
                try? await Task.sleep(for: .milliseconds(50))
            }
            try? await Task.sleep(for: .milliseconds(200))
            for channel in state.withLock({ Array($0.connections.values) }) { channel.close(promise: nil) }
        }
    }

    // MARK: One connection

    private func serve(_ connection: Connection, _ kind: Listener) async {
        let channel = connection.channel
        defer { _ = state.withLock { $0.connections.removeValue(forKey: ObjectIdentifier(channel)) } }
        // A connection accepted while draining started is drained too.
        if state.withLock({ $0.shuttingDown }) { channel.pipeline.fireUserInboundEventTriggered(ConnectionGuard.Drain()) }
        let peer: Principal? = if case .unix = kind { try? await PeerCredentials.principal(of: channel) } else { nil }
        let remoteAddress = channel.remoteAddress.map(Self.describe)
        do {
            try await connection.executeThenClose { inbound, outbound in
                var head: HTTPRequestHead?
                var body = ByteBuffer()
                for try await part in inbound {
                    switch part {
                    case .head(let h):
                        head = h
                        body.clear()
                        if let refusal = self.checkHead(h) {
                            try await self.write(refusal, to: outbound, keepAlive: false)
                            return
                        }
                    case .body(var chunk):
                        guard body.readableBytes + chunk.readableBytes <= configuration.maxBodyBytes else {
                            try await self.write(self.tooLarge(), to: outbound, keepAlive: false)
                            return
                        }
                        body.writeBuffer(&chunk)
                    case .end:
                        guard let h = head else { continue }
                        head = nil
                        let response = await self.respond(to: h, body: Data(body.readableBytesView), kind: kind,
                                                          peer: peer, remoteAddress: remoteAddress)
                        let keepAlive = h.isKeepAlive && !state.withLock { $0.shuttingDown }
                        try await self.write(response, to: outbound, keepAlive: keepAlive)
                        if !keepAlive { return }
                    }
                }
            }
        } catch {
            logger.debug("connection ended: \(error)")
        }
    }

    struct Response {
        var status: HTTPResponseStatus
        var contentType: String
        var body: Data
        var requestID = UUID().uuidString.lowercased()
    }

    private func tooLarge() -> Response {
        error(KMSError.validation("The request body exceeds \(configuration.maxBodyBytes) bytes."), status: .payloadTooLarge)
    }

    func error(_ e: KMSError, status: HTTPResponseStatus? = nil) -> Response {
        Response(status: status ?? HTTPResponseStatus(statusCode: e.httpStatus), contentType: "application/x-amz-json-1.1",
                 body: AWSJSONCodec.errorBody(e))
    }

    /// Refusals decided from the head alone: oversized headers or bodies.
    private func checkHead(_ h: HTTPRequestHead) -> Response? {
        let headerBytes = h.headers.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count + 4 } + h.uri.utf8.count
        if headerBytes > configuration.maxHeaderBytes {
            return error(KMSError.validation("The request headers exceed \(configuration.maxHeaderBytes) bytes."),
                         status: .requestHeaderFieldsTooLarge)
        }
        if let length = h.headers.first(name: "content-length").flatMap(Int.init), length > configuration.maxBodyBytes {
            return tooLarge()
        }
        return nil
    }

    private func write(_ r: Response, to outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>,
                       keepAlive: Bool) async throws {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: r.contentType)
        headers.add(name: "Content-Length", value: String(r.body.count))
        headers.add(name: "x-amzn-RequestId", value: r.requestID)
        headers.add(name: "Connection", value: keepAlive ? "keep-alive" : "close")
        try await outbound.write(contentsOf: [
            .head(HTTPResponseHead(version: .http1_1, status: r.status, headers: headers)),
            .body(.byteBuffer(ByteBuffer(bytes: r.body))),
            .end(nil),
        ])
    }

    // MARK: Routing

    static func describe(_ address: SocketAddress) -> String {
        guard let ip = address.ipAddress, let port = address.port else { return address.description }
        if case .v6 = address { return "[\(ip)]:\(port)" }
        return "\(ip):\(port)"
    }

    private func respond(to h: HTTPRequestHead, body: Data, kind: Listener, peer: Principal?,
                         remoteAddress: String?) async -> Response {
        let path = h.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? h.uri
        if case .tcp = kind, !(h.method == .POST && path == "/") {
            // Health and metrics stay on the Unix socket, for the host's operators.
            return error(KMSError(.unknownOperation, "The TCP listener serves only POST / with X-Amz-Target."),
                         status: .notFound)
        }
        switch (h.method, path) {
        case (.GET, "/health"):
            return await healthResponse()
        case (.GET, "/metrics"):
            let readers = configuration.metricsReaders ?? engine.configuration.accessControl.admins
            guard let peer, readers.contains(peer) else {
                return error(KMSError(.accessDenied, "GET /metrics is for the daemon's admins ([access] admins) or the "
                    + "configured metrics readers ([server] metrics_readers); uid \(peer.map { String($0.uid) } ?? "?") is neither."),
                             status: .forbidden)
            }
            return Response(status: .ok, contentType: "text/plain; version=0.0.4", body: Data(metrics.render(engine: engine)))
        case (.POST, "/"):
            return await operationResponse(h, body: body, kind: kind, peer: peer, remoteAddress: remoteAddress)
        case (.POST, "/admin/acknowledge-audit-truncation"):
            return await acknowledgeAuditTruncation(peer: peer)
        case (.POST, "/admin/acknowledge-metadata-rollback"):
            return await acknowledgeMetadataRollback(peer: peer)
        case (.POST, "/admin/report"):
            return await complianceReport(body: body, peer: peer)
        case (_, "/"), (_, "/health"), (_, "/metrics"), (_, "/admin/acknowledge-audit-truncation"),
             (_, "/admin/acknowledge-metadata-rollback"), (_, "/admin/report"):
            return error(KMSError(.unknownOperation, "\(h.method.rawValue) is not allowed on \(path)."), status: .methodNotAllowed)
        default:
            return error(KMSError(.unknownOperation, "There is nothing at \(path.prefix(128)); send POST / with X-Amz-Target."),
                         status: .notFound)
        }
    }

    /// Names the caller (peer credentials, or the SigV4 signature), checks
    /// the framing, and hands the request to the pipeline.
    private func operationResponse(_ h: HTTPRequestHead, body: Data, kind: Listener, peer: Principal?,
                                   remoteAddress: String?) async -> Response {
        var caller: Principal?
        var auditCaller: AuditPrincipal
        var refusal: KMSError?
        switch kind {
        case .unix:
            caller = peer
            auditCaller = peer.map(AuditPrincipal.init) ?? .unidentified()
        case .tcp(let verifier):
            let request = SigV4.Request(method: h.method.rawValue, uri: h.uri,
                                        headers: h.headers.map { ($0.name, $0.value) }, body: body)
            switch verifier.authenticate(request, now: Date(), remoteAddress: remoteAddress) {
            case .success(let signer):
                caller = signer
                auditCaller = AuditPrincipal(signer)
            case .failure(let refused):
                auditCaller = .unidentified(claimedAccessKey: refused.claimedAccessKey, remoteAddress: remoteAddress)
                refusal = refused.error
            }
        }
        let contentType = (h.headers.first(name: "content-type") ?? "").lowercased()
        if refusal == nil, !(contentType.hasPrefix("application/x-amz-json-1.1") || contentType.hasPrefix("application/x-amz-json-1.0")) {
            refusal = KMSError(.serialization, "Content-Type must be application/x-amz-json-1.1, not '\(contentType.prefix(64))'.")
        }
        let answer = await service.handle(KMSService.Request(
            target: h.headers.first(name: "x-amz-target"), body: body, caller: caller, auditCaller: auditCaller,
            refusal: refusal))
        return Response(status: HTTPResponseStatus(statusCode: answer.httpStatus), contentType: "application/x-amz-json-1.1",
                        body: answer.body, requestID: answer.requestID)
    }

    /// An admin lets a daemon whose audit log was found cut short serve
    /// again. The acknowledgement, with who made it and what was found, is the
    /// first line after the cut; a caller who is not an admin is refused and
    /// that refusal is logged by the daemon (the audit log takes no lines yet).
    private func acknowledgeAuditTruncation(peer: Principal?) async -> Response {
        guard let peer, engine.configuration.accessControl.admins.contains(peer) else {
            logger.warning("refused an audit truncation acknowledgement from uid \(peer.map { String($0.uid) } ?? "?"): not an admin")
            return error(KMSError(.accessDenied, "Only the daemon's admins ([access] admins) may acknowledge a truncated audit log."),
                         status: .forbidden)
        }
        guard let finding = service.audit.truncation else {
            return Response(status: .ok, contentType: "application/json",
                            body: Data(#"{"acknowledged":false,"message":"The audit log is not truncated; nothing to acknowledge."}"#.utf8))
        }
        let event = AuditEvent(requestID: UUID().uuidString.lowercased(), operation: "AcknowledgeAuditTruncation",
                               principal: AuditPrincipal(peer), outcome: .allowed,
                               note: "an admin acknowledged a truncated audit log: \(finding)")
        do {
            _ = try await service.audit.acknowledgeTruncation(event)
        } catch {
            return self.error(KMSError.internalError("The acknowledgement could not be written to the audit log: \(error)."))
        }
        logger.notice("audit truncation acknowledged by uid \(peer.uid); serving again")
        let body = try? JSONSerialization.data(withJSONObject: ["acknowledged": true, "finding": finding.description], options: [.sortedKeys])
        return Response(status: .ok, contentType: "application/json", body: body ?? Data())
    }

    /// An admin accepts the metadata store as it is after the start-up check
    /// held keys whose rows are older than the token's anchor. Audited before
    /// the anchor changes: if the line cannot be written nothing is accepted.
    private func acknowledgeMetadataRollback(peer: Principal?) async -> Response {
        guard let peer, engine.configuration.accessControl.admins.contains(peer) else {
            logger.warning("refused a metadata rollback acknowledgement from uid \(peer.map { String($0.uid) } ?? "?"): not an admin")
            return error(KMSError(.accessDenied, "Only the daemon's admins ([access] admins) may accept the metadata store's state."),
                         status: .forbidden)
        }
        let held = engine.metadataRollbackFindings
        guard !held.isEmpty else {
            return Response(status: .ok, contentType: "application/json",
                            body: Data(#"{"acknowledged":false,"message":"No key is held by the metadata check; nothing to acknowledge."}"#.utf8))
        }
        do {
            try await service.audit.append(AuditEvent(
                requestID: UUID().uuidString.lowercased(), operation: "AcknowledgeMetadataRollback",
                principal: AuditPrincipal(peer), outcome: .allowed,
                note: "an admin accepts the metadata store as it is; held keys: \(held.keys.sorted().joined(separator: ","))"))
        } catch {
            return self.error(KMSError.internalError("The acknowledgement could not be written to the audit log, so nothing was accepted: \(error)."))
        }
        let accepted: [String: String]
        do { accepted = try await engine.acknowledgeMetadataRollback() } catch {
            return self.error(KMSError.internalError("The token's metadata anchor could not be rewritten: \(error)."))
        }
        logger.notice("metadata state accepted by uid \(peer.uid) for \(accepted.count) keys; they serve after a restart")
        let body = try? JSONSerialization.data(withJSONObject: ["acknowledged": true, "keys": accepted.keys.sorted()],
                                               options: [.sortedKeys])
        return Response(status: .ok, contentType: "application/json", body: body ?? Data())
    }

    private func healthResponse() async -> Response {
        let h = await engine.health()
        var stateWritable: Bool? = nil
        if let dir = configuration.stateDirectory {
            let probe = dir + "/.health-\(UUID().uuidString)"
            stateWritable = FileManager.default.createFile(atPath: probe, contents: Data())
            try? FileManager.default.removeItem(atPath: probe)
        }
        let auditWritable = service.audit.isWritable
        let healthy = h.isHealthy && stateWritable != false && auditWritable
        var object: [String: Any] = [
            "status": healthy ? "ok" : "degraded",
            "token_present": h.tokenPresent, "logged_in": h.loggedIn, "store_writable": h.storeWritable,
            "sessions": ["open": h.sessionsOpen, "borrowed": h.sessionsBorrowed, "max": h.sessionsMax],
            "keys_unavailable": h.keysUnavailable,
            "metadata_tampered": h.metadataTampered,
            "audit_writable": auditWritable,
            "audit_truncated": service.audit.truncation.map { $0.description as Any } ?? NSNull(),
            "audit_key_fingerprint": service.audit.keyFingerprint,
            "unwrap_template_enforced": h.unwrapTemplateEnforced.map { $0 as Any } ?? NSNull(),
            "connections_open": admission.open,
            "requests_in_flight": service.requestsInFlight,
        ]
        if let stateWritable { object["state_directory_writable"] = stateWritable }
        let body = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return Response(status: healthy ? .ok : .serviceUnavailable, contentType: "application/json", body: body)
    }
}

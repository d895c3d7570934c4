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

/// The AWS JSON 1.1 protocol over HTTP/1.1 on a Unix-domain socket, in front
/// of a `KMSEngine`. Each accepted connection is an `NIOAsyncChannel` served
/// in a discarding task group; errors are caught per connection so one bad
/// client never takes the server down. Engine work runs on the HSM pool's
/// threads, never on an event loop.
public final class KMSServer: Sendable {
    public let engine: KMSEngine
    public let configuration: ServerConfiguration
    private let logger: Logger
    private let router = OperationRouter()
    private let metrics = ServerMetrics()
    private let state = Mutex<State>(State())
    /// Operation requests admitted and not yet answered (for throttling).
    private let inFlight = Atomic<Int>(0)
    /// Where every request is recorded; nil only for embedders that audit elsewhere.
    private let audit: AuditLog?

    private struct State {
        /// The Unix socket's listener, then the TCP listener's if there is one.
        var serverChannels: [any Channel] = []
        var connections: [ObjectIdentifier: any Channel] = [:]
        var shuttingDown = false
        var lastAccept = ContinuousClock.now
    }

    /// While draining, the listener stays open (its path already unlinked, so
    /// nobody new can connect) until no connection has been accepted for this
    /// long: connections already queued in the kernel's backlog are served.
    static let acceptQuietPeriod: Duration = .milliseconds(300)

    public init(engine: KMSEngine, configuration: ServerConfiguration, audit: AuditLog?, logger: Logger) {
        self.engine = engine
        self.configuration = configuration
        self.audit = audit
        self.logger = logger
    }

    /// How a listener knows its callers.
    enum Listener: Sendable {
        /// The Unix socket: the kernel's peer credentials, once per connection.
        case unix
        /// TCP: each request's Signature Version 4 signature.
        case tcp(SigV4Verifier)
    }

    private typealias Connection = NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>
    private typealias Listening = NIOAsyncChannel<Connection, Never>

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
            self.configurePipeline(channel, tls: nil)
        }
        var listeners: [(Listening, Listener)] = [(unix, .unix)]
        do {
            try UnixSocketPath.secure(path, group: configuration.socketGroup)
            if let tcp = configuration.tcp {
                let listening = try await bootstrap().bind(host: tcp.host, port: tcp.port) { channel in
                    self.configurePipeline(channel, tls: tlsContext)
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
                    group.addTask { try await self.accept(listening, kind) }
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

    private func configurePipeline(_ channel: any Channel, tls: NIOSSLContext?) -> EventLoopFuture<Connection> {
        let limits = (configuration.idleTimeout, configuration.requestTimeout)
        return channel.eventLoop.makeCompletedFuture {
            if let tls { try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls)) }
            try channel.pipeline.syncOperations.configureHTTPServerPipeline(
                withPipeliningAssistance: true, withErrorHandling: true)
            try channel.pipeline.syncOperations.addHandler(ConnectionGuard(idleTimeout: limits.0, requestTimeout: limits.1))
            return try Connection(wrappingChannelSynchronously: channel)
        }
    }

    private func accept(_ listening: Listening, _ kind: Listener) async throws {
        try await withThrowingDiscardingTaskGroup { group in
            try await listening.executeThenClose { inbound in
                for try await connection in inbound {
                    let admitted = state.withLock { s -> Bool in
                        s.lastAccept = .now
                        guard s.connections.count < configuration.maxConnections else { return false }
                        s.connections[ObjectIdentifier(connection.channel)] = connection.channel
                        return true
                    }
                    guard admitted else {
                        logger.warning("connection refused: \(configuration.maxConnections) connections are open")
                        connection.channel.close(promise: nil)
                        continue
                    }
                    group.addTask { await self.serve(connection, kind) }
                }
            }
        }
    }

    /// Stops accepting, lets requests in flight finish, closes idle
    /// connections; `run()` returns when the last connection is closed.
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
        guard !servers.isEmpty else { return }
        Task { [self] in
            while ContinuousClock.now - state.withLock({ $0.lastAccept }) < Self.acceptQuietPeriod {
                try? await Task.sleep(for: .milliseconds(50))
            }
            servers.forEach { $0.close(promise: nil) }
        }
    }

    // MARK: One connection

    private func serve(_ connection: Connection, _ kind: Listener) async {
        let channel = connection.channel
        defer { _ = state.withLock { $0.connections.removeValue(forKey: ObjectIdentifier(channel)) } }
        // A connection accepted while draining started is drained too.
        if state.withLock({ $0.shuttingDown }) { channel.pipeline.fireUserInboundEventTriggered(ConnectionGuard.Drain()) }
        let caller: Caller = switch kind {
        case .unix: .peer(try? await PeerCredentials.principal(of: channel))
        case .tcp(let verifier): .signed(verifier, remoteAddress: channel.remoteAddress.map(Self.describe))
        }
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
                        let draining = state.withLock { $0.shuttingDown }
                        let response = await self.respond(to: h, body: Data(body.readableBytesView), caller: caller)
                        let keepAlive = h.isKeepAlive && !draining
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

    private func error(_ e: KMSError, status: HTTPResponseStatus? = nil) -> Response {
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
        try await outbound.write(.head(HTTPResponseHead(version: .http1_1, status: r.status, headers: headers)))
        try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: r.body))))
        try await outbound.write(.end(nil))
    }

    // MARK: Routing

    /// Who sent a request: known from the socket, or to be proven by its signature.
    enum Caller {
        case peer(Principal?)
        case signed(SigV4Verifier, remoteAddress: String?)
    }

    static func describe(_ address: SocketAddress) -> String {
        guard let ip = address.ipAddress, let port = address.port else { return address.description }
        if case .v6 = address { return "[\(ip)]:\(port)" }
        return "\(ip):\(port)"
    }

    private func respond(to h: HTTPRequestHead, body: Data, caller: Caller) async -> Response {
        let path = h.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? h.uri
        if case .signed = caller, !(h.method == .POST && path == "/") {
            // Health and metrics stay on the Unix socket, for the host's operators.
            return error(KMSError(.unknownOperation, "The TCP listener serves only POST / with X-Amz-Target."),
                         status: .notFound)
        }
        switch (h.method, path) {
        case (.GET, "/health"):
            return await healthResponse()
        case (.GET, "/metrics"):
            return Response(status: .ok, contentType: "text/plain; version=0.0.4", body: Data(metrics.render(engine: engine)))
        case (.POST, "/"):
            return await operationResponse(h, body: body, caller: caller)
        case (_, "/"), (_, "/health"), (_, "/metrics"):
            return error(KMSError(.unknownOperation, "\(h.method.rawValue) is not allowed on \(path)."), status: .methodNotAllowed)
        default:
            return error(KMSError(.unknownOperation, "There is nothing at \(path.prefix(128)); send POST / with X-Amz-Target."),
                         status: .notFound)
        }
    }

    /// One KMS request: decode, authorize and run it in the engine, and
    /// record it. The response leaves only after its audit line is durable;
    /// if the log cannot be written the request fails closed, and when the
    /// log is already known broken nothing is performed at all.
    private func operationResponse(_ h: HTTPRequestHead, body: Data, caller: Caller) async -> Response {
        let start = ContinuousClock.now
        let requestID = UUID().uuidString.lowercased()
        let target = h.headers.first(name: "x-amz-target")
        // Metrics label only known operations (a client-chosen label would let
        // anyone grow the series without bound); the audit line keeps what was sent.
        var opName = "unknown"
        let requested = target.map { String($0.prefix(64)) } ?? "none"
        let scope = AuditScope()
        var response: Response
        var principal: Principal?
        var auditPrincipal = AuditPrincipal.unidentified()
        // Named before authentication, so a refused signature is recorded
        // against the operation it was for.
        if let op = try? router.operation(target: target) { opName = op.rawValue }
        do {
            try audit?.ensureWritable()
            switch caller {
            case .peer(let peer):
                principal = peer
                if let peer { auditPrincipal = AuditPrincipal(peer) }
            case .signed(let verifier, let remoteAddress):
                auditPrincipal = .unidentified(remoteAddress: remoteAddress)
                let request = SigV4.Request(method: h.method.rawValue, uri: h.uri,
                                            headers: h.headers.map { ($0.name, $0.value) }, body: body)
                switch verifier.authenticate(request, now: Date(), remoteAddress: remoteAddress) {
                case .success(let signer):
                    principal = signer
                    auditPrincipal = AuditPrincipal(signer)
                case .failure(let refusal):
                    auditPrincipal = .unidentified(claimedAccessKey: refusal.claimedAccessKey, remoteAddress: remoteAddress)
                    throw refusal.error
                }
            }
            let contentType = h.headers.first(name: "content-type") ?? ""
            guard contentType.lowercased().hasPrefix("application/x-amz-json-1.1")
                    || contentType.lowercased().hasPrefix("application/x-amz-json-1.0") else {
                throw KMSError(.serialization, "Content-Type must be application/x-amz-json-1.1, not '\(contentType.prefix(64))'.")
            }
            let op = try router.operation(target: target)
            opName = op.rawValue
            guard let principal else {
                throw KMSError(.accessDenied, "The caller's identity could not be read from the socket.")
            }
            let admitted = admit()
            defer { if admitted { release() } }
            guard admitted else {
                throw KMSError(.throttling, "Too many requests are waiting for the HSM (more than "
                               + "\(configuration.maxConcurrentRequests ?? 0) at once); retry with backoff.")
            }
            let out = try await AuditScope.$current.withValue(scope) {
                try await router.handle(op, engine: engine, body: body, caller: principal)
            }
            response = Response(status: .ok, contentType: "application/x-amz-json-1.1", body: out)
        } catch let e as AuditLogError {
            response = error(e.kmsError)
            logger.critical("audit log cannot be written; refusing requests: \(e)")
        } catch let e as KMSError {
            response = error(e)
        } catch {
            let internalError = KMSError.internalError("The request failed inside the service; see the daemon log.")
            response = self.error(internalError)
            logger.error("internal error in \(opName): \(String(describing: type(of: error)))")
        }
        response.requestID = requestID
        let errorName = response.status == .ok ? nil : self.errorName(response.body)
        if let audit, audit.isWritable {
            let elapsed = ContinuousClock.now - start
            let milliseconds = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
            let details = scope.recorded
            let event = AuditEvent(
                requestID: requestID, operation: opName == "unknown" ? "unknown:" + requested : opName,
                principal: auditPrincipal,
                keyID: details.keyID, keyVersion: details.keyVersion, encryptionContext: details.encryptionContext,
                outcome: errorName.map { Self.deniedNames.contains($0) ? .denied : .failed } ?? .allowed,
                error: errorName, durationMilliseconds: milliseconds)
            do {
                try await audit.append(event)
            } catch {
                logger.critical("audit log cannot be written; failing the request closed: \(error)")
                response = self.error(KMSError.internalError("The audit log cannot be written, so the request is refused."))
                response.requestID = requestID
            }
        }
        let outcome = response.status == .ok ? "success" : self.errorName(response.body)
        metrics.record(operation: opName, outcome: outcome, duration: ContinuousClock.now - start)
        logger.debug("request", metadata: [
            "request_id": .string(requestID), "operation": .string(opName), "outcome": .string(outcome),
            "caller": .string(principal?.summary ?? "?"),
        ])
        return response
    }

    /// Errors the audit log records as `denied`: the caller was not allowed,
    /// or could not prove who it is.
    static let deniedNames: Set<String> = [
        KMSError.Name.accessDenied, .missingAuthenticationToken, .incompleteSignature, .invalidSignature, .unrecognizedClient,
    ].reduce(into: []) { $0.insert($1.rawValue) }

    /// Takes a place among the requests allowed at once; false when full.
    private func admit() -> Bool {
        guard let limit = configuration.maxConcurrentRequests else { return true }
        let (_, now) = inFlight.add(1, ordering: .relaxed)
        if now > limit {
            inFlight.subtract(1, ordering: .relaxed)
            return false
        }
        return true
    }

    private func release() {
        if configuration.maxConcurrentRequests != nil { inFlight.subtract(1, ordering: .relaxed) }
    }

    private func errorName(_ body: Data) -> String {
        ((try? JSONSerialization.jsonObject(with: body)) as? [String: Any])?["__type"] as? String ?? "error"
    }

    private func healthResponse() async -> Response {
        let h = await engine.health()
        var stateWritable: Bool? = nil
        if let dir = configuration.stateDirectory {
            let probe = dir + "/.health-\(UUID().uuidString)"
            stateWritable = FileManager.default.createFile(atPath: probe, contents: Data())
            try? FileManager.default.removeItem(atPath: probe)
        }
        let healthy = h.isHealthy && stateWritable != false && audit?.isWritable != false
        var object: [String: Any] = [
            "status": healthy ? "ok" : "degraded",
            "token_present": h.tokenPresent, "logged_in": h.loggedIn, "store_writable": h.storeWritable,
            "sessions": ["open": h.sessionsOpen, "borrowed": h.sessionsBorrowed, "max": h.sessionsMax],
            "keys_unavailable": h.keysUnavailable,
            "metadata_tampered": h.metadataTampered,
        ]
        if let stateWritable { object["state_directory_writable"] = stateWritable }
        if let audit { object["audit_writable"] = audit.isWritable }
        let body = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return Response(status: healthy ? .ok : .serviceUnavailable, contentType: "application/json", body: body)
    }
}

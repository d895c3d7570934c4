import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import KMSCore
import KMSModel
import KMSServer
import Logging
import Synchronization

/// The Kubernetes KMS v2 plugin (`k8s.io/kms/apis/v2`): kube-apiserver
/// calls it over gRPC on a Unix socket to seal and open the seeds it
/// encrypts Secrets with, under one KMS key, the KEK. The socket follows
/// the main socket's rules (mode 0660, the configured group), callers are
/// named by their peer credentials, and every call is a request of the
/// one `KMSService` pipeline: same key policy, admission and audit log.
public final class KubernetesPlugin: Sendable {
    /// Every refused ciphertext, key_id or annotation gets this, so a caller
    /// learns nothing about which check failed.
    static let refusedCiphertext = "The ciphertext, key_id and annotations do not belong together or were not made by this plugin."

    /// Requests are a 32-byte seed, a ciphertext under 1 KiB and annotations
    /// under 32 KiB; anything bigger is refused before it is read.
    static let maxRequestBytes = 64 * 1024

    public let configuration: KubernetesPluginConfiguration
    private let kms: KMSService
    private let logger: Logger
    private let server = Mutex<GRPCServer<HTTP2ServerTransport.Posix>?>(nil)
    private let stopping = Mutex(false)

    public init(service: KMSService, configuration: KubernetesPluginConfiguration, logger: Logger) {
        self.kms = service
        self.configuration = configuration
        self.logger = logger
    }

    /// Binds the socket, secures it and serves until `shutdown()`.
    /// `onListening` runs once the socket is open to its group.
    public func run(onListening: @Sendable () -> Void = {}) async throws {
        let path = configuration.socketPath
        try UnixSocketPath.prepare(path)
        let callers = ConnectionCallers()
        var config = HTTP2ServerTransport.Posix.Config.defaults
        config.rpc.maxRequestPayloadSize = Self.maxRequestBytes
        config.channelDebuggingCallbacks = .init(
            onBindTCPListener: nil,
            onAcceptTCPConnection: { callers.connectionAccepted($0) },
            onAcceptHTTP2Stream: { callers.streamAccepted($0) })
        // The socket file starts owner-only (p11kmsd's umask is 077) until
        // `secure` gives it to its group.
        let transport = HTTP2ServerTransport.Posix(address: .unixDomainSocket(path: path), transportSecurity: .plaintext,
                                                   config: config)
        let service = KeyManagementService(kms: kms, keyName: configuration.keyName, callers: callers,
                                           health: HealthProbe(kms: kms, keyName: configuration.keyName))
        let grpc = GRPCServer(transport: transport, services: [service])
        let alreadyStopping = stopping.withLock { stopping in
            if !stopping { server.withLock { $0 = grpc } }
            return stopping
        }
        if alreadyStopping { return }
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await grpc.serve() }
            do {
                guard try await grpc.listeningAddress != nil else { return }
                try UnixSocketPath.secure(path, group: configuration.socketGroup)
            } catch {
                grpc.beginGracefulShutdown()
                try? FileManager.default.removeItem(atPath: path)
                throw error
            }
            logger.info("kubernetes KMS plugin listening", metadata: ["socket": .string(path), "kek": .string(configuration.keyName)])
            onListening()
        }
        try? FileManager.default.removeItem(atPath: path)
    }

    /// Stops taking calls; calls in progress finish (the pipeline's own
    /// drain deadline bounds them), then `run()` returns.
    public func shutdown() {
        stopping.withLock { $0 = true }
        server.withLock { $0 }?.beginGracefulShutdown()
    }
}

import Dispatch
import Foundation
import KMSAuditFormat
import KMSCore
import KMSKubernetes
import KMSServer
import KMSTokenSetup
import Logging
import PKCS11
import ServiceLifecycle
import SoftHSMTestSupport

/// Wires the parts together: module, token, pool, store, engine, pipeline,
/// server and scheduler. Owns their lifetimes; swift-service-lifecycle runs
/// the long-lived ones and turns SIGTERM/SIGINT into a graceful shutdown:
/// the scheduler stops, the server stops accepting and drains within its
/// deadline, then the audit log is flushed and the pool closed.
struct Daemon {
    let configuration: DaemonConfiguration
    let dev: Bool
    let logger: Logger

    func run() async throws {
        let c = configuration
        try FileManager.default.createDirectory(atPath: c.stateDirectory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        let module = try PKCS11Module.load(path: c.module)
        let token: Token = switch c.token {
        case .label(let label): try module.token(label: label)
        case .serial(let serial): try module.token(serial: serial)
        case .slot(let id): try module.token(slotID: SlotID(rawValue: id))
        }
        let pin: PIN = switch c.pin {
        case .file(let path): try PIN.fromFile(path)
        case .environment(let name): try PIN.fromEnvironment(name)
        case .credential(let name): try PIN.fromCredentialsDirectory(name)
        }
        let pool = try SessionPool(token: token, pin: pin, configuration: .init(maxSessions: c.poolSize))
        if dev {
            _ = try await pool.withSession { s in
                try TokenSetup.ensureDomainKey(s)
                try TokenSetup.ensureAuditKey(s)
                try TokenSetup.ensureSealKey(s)
            }
        }
        let signer = try await HSMAuditSigner(pool: pool)
        let audit = try await AuditLog(
            configuration: AuditLog.Configuration(directory: c.auditDirectory, maxFileBytes: c.auditMaxFileBytes,
                                                  checkpointEveryLines: c.auditCheckpointLines,
                                                  checkpointEverySeconds: Double(c.auditCheckpointSeconds),
                                                  filePath: ProcessInfo.processInfo.environment["P11KMS_AUDIT_FILE"]),
            signer: signer, anchor: HSMAuditAnchor(pool: pool))
        // The first line proves the log writable before any request is served;
        // if it cannot be written every request is refused, unperformed.
        do {
            try await audit.append(.service("p11kmsd started on token \(token.label) (serial \(token.serialNumber))"))
        } catch let error as AuditLogError where error.isTruncation {
            logger.critical("""
                audit log tampered: \(error). Every request is refused until an admin checks the log \
                (p11kms audit verify) and runs `p11kms audit acknowledge-truncation`.
                """)
        } catch {
            logger.critical("the audit log cannot be written; every request will be refused: \(error)")
        }
        // The public half goes beside the state, for `p11kms audit verify`.
        let pem = AuditPublicKey.pem(signer.publicKeyDER)
        if !FileManager.default.createFile(atPath: c.stateDirectory + "/audit-public-key.pem", contents: Data(pem.utf8),
                                           attributes: [.posixPermissions: 0o644]) {
            logger.warning("cannot write \(c.stateDirectory)/audit-public-key.pem; export it with p11kms audit export-public-key")
        }
        let store = SealedMetadataStore(
            inner: try SQLiteMetadataStore(path: c.stateDirectory + "/metadata.sqlite"),
            sealer: try await HSMMetadataSealer(pool: pool),
            anchor: HSMMetadataAnchor(pool: pool),
            onTamper: { note in
                logger.critical("\(note)")
                try? await audit.append(.service(note, operation: "MetadataIntegrity"))
            })
        let engine = try await KMSEngine(
            pool: pool, store: store,
            configuration: {
                var k = KMSConfiguration(arn: c.arn, keyStorage: c.keyStorage, cacheCapacity: c.cacheSize)
                k.accessControl = c.access
                k.allowUnenforcedUnwrapTemplate = c.allowUnenforcedUnwrapTemplate
                k.replaceUnenforcedDomainKey = c.replaceUnenforcedDomainKey
                // [[tokens]]: how a custom key store's token is found; its password is the user PIN.
                var finders: [String: @Sendable () throws -> Token] = [:]
                for t in c.extraTokens {
                    finders[t.name] = { try PKCS11Module.load(path: t.module).token(label: t.tokenLabel) }
                }
                k.customKeyStoreTokens = CustomKeyStoreTokens(finders)
                return k
            }())
        if let replacement = engine.domainKeyReplacement {
            let note = replacement.replaced
                ? "domain key replaced by one with an enforced unwrap template; \(replacement.keysRewrapped.count) keys "
                    + "re-wrapped under KEKs of their own (take a new backup of the database)"
                : "domain key not replaced: \(replacement.blocked); \(replacement.keysRewrapped.count) keys re-wrapped"
            logger.notice("\(note)")
            try? await audit.append(.service(note, operation: "ReplaceDomainKey"))
        }
        let reconciliation = engine.reconciliation
        if reconciliation.orphanObjectsDestroyed > 0 || !reconciliation.keysMarkedUnavailable.isEmpty {
            logger.warning("start-up reconciliation", metadata: [
                "orphans_destroyed": .stringConvertible(reconciliation.orphanObjectsDestroyed),
                "keys_unavailable": .string(reconciliation.keysMarkedUnavailable.joined(separator: ",")),
            ])
        }
        logger.info("token ready", metadata: [
            "token": .string(token.label), "serial": .string(token.serialNumber),
            "key_storage": .string(c.keyStorage.rawValue), "pool_size": .stringConvertible(pool.maxSessions),
        ])

        let metrics = ServerMetrics()
        let service = KMSService(
            engine: engine, audit: audit,
            configuration: KMSService.Configuration(maxConcurrentRequests: c.server.maxConcurrentRequests,
                                                    maxRequestsPerCaller: c.server.maxRequestsPerCaller),
            metrics: metrics, logger: logger)
        let server = KMSServer(service: service, configuration: c.server, metrics: metrics, logger: logger)
        let plugin = c.kubernetes.map { KubernetesPlugin(service: service, configuration: $0, logger: logger) }
        if dev, let plugin { try await DevSetup.ensureKubernetesKEK(service, name: plugin.configuration.keyName) }
        // The listening line is printed once every socket is open.
        let ready = Readiness(sockets: plugin == nil ? 1 : 2)
        let listening: @Sendable () -> Void = {
            var line = "p11kmsd: listening on \(c.server.socketPath)"
            if let plugin { line += "; kubernetes plugin on \(plugin.configuration.socketPath)" }
            if let tcp = c.server.tcp, let port = server.tcpPort {
                let host = tcp.host.contains(":") ? "[\(tcp.host)]" : tcp.host
                let endpoint = "\(tcp.tls == nil ? "http" : "https")://\(host):\(port)"
                line += " and \(endpoint)"
                if dev {
                    do { try DevSetup.writeAWSConfig(c, endpoint: endpoint) } catch {
                        logger.error("cannot write \(c.stateDirectory)/aws-config: \(error)")
                    }
                }
            }
            ready.open(line)
        }
        // Shut down in reverse order: the scheduler first, then the server.
        var group = ServiceGroupConfiguration(
            services: [
                .init(service: ServerService(server: server, onListening: listening, logger: logger),
                      successTerminationBehavior: .gracefullyShutdownGroup, serviceName: "server"),
                .init(service: SchedulerService(engine: engine, interval: c.schedulerInterval, logger: logger),
                      serviceName: "scheduler"),
                .init(service: KeyUsageFlushService(engine: engine, logger: logger), serviceName: "key-usage"),
            ] + (plugin.map { plugin in
                [.init(service: KubernetesPluginService(plugin: plugin, onListening: { ready.open(nil) }, logger: logger),
                       successTerminationBehavior: .gracefullyShutdownGroup, serviceName: "kubernetes")]
            } ?? []),
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        // A backstop past the server's own drain deadline (and its second to close connections).
        group.maximumGracefulShutdownDuration = c.server.drainTimeout + KMSServer.cancelledAnswerGrace + .seconds(5)
        try await ServiceGroup(configuration: group).run()
        do { try await engine.flushKeyUsage() } catch { logger.error("writing the keys' last use: \(error)") }
        do { try await audit.close() } catch { logger.error("closing the audit log: \(error)") }
        await engine.closeCustomKeyStores()
        try await pool.shutdown()
        logger.info("stopped")
    }
}

/// The server as a lifecycle service: graceful shutdown starts its drain.
struct ServerService: Service {
    let server: KMSServer
    let onListening: @Sendable () -> Void
    let logger: Logger

    func run() async throws {
        try await withGracefulShutdownHandler {
            try await server.run(onListening: onListening)
        } onGracefulShutdown: {
            logger.notice("shutting down: draining requests in flight, then exiting")
            server.shutdown()
        }
    }
}

/// Time-driven work (rotations, deletions, expiry) every `interval`, until shutdown.
struct SchedulerService: Service {
    let engine: KMSEngine
    let interval: Duration
    let logger: Logger

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            } catch {
                return
            }
            if Task.isShuttingDownGracefully { return }
            do {
                let work = try await engine.runScheduledTasks()
                if !(work.rotated.isEmpty && work.deleted.isEmpty && work.expiredMaterial.isEmpty) {
                    logger.info("scheduled work", metadata: [
                        "rotated": .stringConvertible(work.rotated.count), "deleted": .stringConvertible(work.deleted.count),
                        "expired_material": .stringConvertible(work.expiredMaterial.count),
                    ])
                }
                for failure in work.failures { logger.error("scheduled work failed: \(failure)") }
            } catch {
                logger.error("scheduled work failed: \(error)")
            }
        }
    }
}

/// Writes the keys' last use (GetKeyLastUsage) to the store every few
/// seconds, so the request path never waits on a store write for it.
struct KeyUsageFlushService: Service {
    let engine: KMSEngine
    let logger: Logger

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: KMSEngine.keyUsageFlushInterval) }
            } catch {
                return
            }
            do { try await engine.flushKeyUsage() } catch { logger.error("writing the keys' last use: \(error)") }
        }
    }
}

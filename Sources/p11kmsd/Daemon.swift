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
        // Observing from the first line, so start-up findings are announced too.
        let notifier = c.notifications.isEmpty ? nil : Notifier(targets: c.notifications, logger: logger) { line in
            try? await audit.append(line)
        }
        if let notifier { audit.observeRecorded { notifier.observe($0) } }
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
                k.minimumRotationPeriodDays = c.minimumRotationPeriodDays
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
            services: (notifier.map { [.init(service: NotifierService(notifier: $0), serviceName: "notify")] } ?? []) + [
                .init(service: ServerService(server: server, onListening: listening, logger: logger),
                      successTerminationBehavior: .gracefullyShutdownGroup, serviceName: "server"),
                .init(service: SchedulerService(engine: engine, audit: audit, interval: c.schedulerInterval, logger: logger),
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
    let audit: AuditLog
    let interval: Duration
    let logger: Logger

    func run() async throws {
        // Findings already recorded in this run of the daemon, so a key
        // overdue for days is one line (and one notification), not one a minute.
        var announced = ScheduledFindings()
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
                await record(work, &announced)
            } catch {
                logger.error("scheduled work failed: \(error)")
            }
        }
    }
}

extension SchedulerService {
    struct ScheduledFindings {
        var rotationOverdue: Set<String> = []
        var importExpiring: Set<String> = []
    }

    /// The scheduler's own audit lines, under CloudTrail's names for the same
    /// events: what it did, and what it found due and could not do.
    private func record(_ work: KMSEngine.ScheduledWork, _ announced: inout ScheduledFindings) async {
        var lines: [AuditEvent] = []
        func line(_ operation: String, _ keyID: String, _ note: String) {
            lines.append(AuditEvent(requestID: UUID().uuidString.lowercased(), operation: operation, principal: .service,
                                    keyID: keyID, outcome: .allowed, note: note))
        }
        for key in work.rotated { line("RotateKey", key, "automatic rotation on schedule") }
        for key in work.deleted { line("DeleteKey", key, "deleted at the end of its waiting period") }
        for key in work.expiredMaterial { line("DeleteExpiredKeyMaterial", key, "imported key material expired (ValidTo)") }
        for key in work.rotationOverdue where !announced.rotationOverdue.contains(key) {
            line("RotationOverdue", key, "automatic rotation is due and did not happen (key not enabled, or the rotation failed)")
        }
        for key in work.importExpiring where !announced.importExpiring.contains(key) {
            line("ImportKeyMaterialExpiring", key, "imported key material expires within 7 days (ValidTo)")
        }
        announced.rotationOverdue = Set(work.rotationOverdue)
        announced.importExpiring = Set(work.importExpiring)
        for event in lines {
            do { try await audit.append(event) } catch { logger.error("cannot record scheduled work: \(error)") }
        }
    }
}

/// Delivers `[[notify]]` events; on shutdown, what is queued is still
/// tried (the group's shutdown deadline bounds it), and the audit log is
/// closed only after.
struct NotifierService: Service {
    let notifier: Notifier

    func run() async throws {
        await withGracefulShutdownHandler {
            await notifier.run()
        } onGracefulShutdown: {
            notifier.finish()
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

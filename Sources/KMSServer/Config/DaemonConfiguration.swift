import Foundation
import KMSCore
import KMSModel

/// `p11kmsd --config FILE`: the production configuration (TOML). Every key
/// is documented in the README; unknown keys are errors, so a typo never
/// silently falls back to a default.
public struct DaemonConfiguration: Sendable {
    public enum TokenSelector: Sendable, Equatable {
        case label(String), serial(String), slot(UInt)
    }

    public enum PINSource: Sendable, Equatable {
        /// A file readable only by the daemon's user.
        case file(String)
        /// An environment variable.
        case environment(String)
        /// `$CREDENTIALS_DIRECTORY/<name>` (systemd `LoadCredential=`).
        case credential(String)
    }

    public var module: String
    public var token: TokenSelector
    public var pin: PINSource
    public var poolSize: Int = 8
    public var stateDirectory: String
    public var server: ServerConfiguration
    public var keyStorage: KeyStorageMode = .wrapped
    public var cacheSize: Int = 1000
    /// `[keys] allow_unenforced_unwrap_template`: wrapped storage on a token
    /// that does not enforce the domain key's unwrap template. Off by default.
    public var allowUnenforcedUnwrapTemplate = false
    /// `[rotation] min_period_days`: the shortest automatic rotation period
    /// EnableKeyRotation accepts (AWS's 90 unless lowered, down to 1).
    public var minimumRotationPeriodDays = KMSConfiguration.awsMinimumRotationPeriodDays
    /// `[[notify]]`: where key lifecycle events are announced.
    public var notifications: [NotificationTarget] = []
    /// `[[tokens]]`: extra tokens a custom key store may name as its
    /// `CloudHsmClusterId` (the name); its `KeyStorePassword` is the token's user PIN.
    public var extraTokens: [ExtraToken] = []

    public struct ExtraToken: Sendable, Equatable {
        public var name: String
        public var module: String
        public var tokenLabel: String
        public init(name: String, module: String, tokenLabel: String) {
            self.name = name
            self.module = module
            self.tokenLabel = tokenLabel
        }

        /// The model's CloudHsmClusterIdType (see `CustomKeyStoreTokens`).
        public static func isValidName(_ s: String) -> Bool { CustomKeyStoreTokens.isValidName(s) }
    }
    /// `p11kmsd --replace-domain-key`: re-wrap the versions of keys made
    /// before per-key KEKs and replace a domain key without an enforced
    /// unwrap template (a one-off, so a flag and not a config key).
    public var replaceUnenforcedDomainKey = false
    public var arn = ARNFormat()
    public var logLevel: String = "info"
    /// How often scheduled rotations, deletions and expiries run.
    public var schedulerInterval: Duration = .seconds(60)
    /// Who administers and who may create keys; key use follows key policies.
    public var access = AccessControl(admins: PrincipalSet(uids: [0]))
    /// The audit log's directory (`audit.log` and its rotated files).
    public var auditDirectory: String
    public var auditMaxFileBytes: Int = 64 << 20
    public var auditCheckpointLines: Int = 1000
    public var auditCheckpointSeconds: Int = 60
    /// `[kubernetes]`; nil: no Kubernetes KMS plugin socket.
    public var kubernetes: KubernetesPluginConfiguration?

    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
    }

    public init(module: String, token: TokenSelector, pin: PINSource, stateDirectory: String, server: ServerConfiguration) {
        self.module = module
        self.token = token
        self.pin = pin
        self.stateDirectory = stateDirectory
        self.server = server
        self.auditDirectory = stateDirectory + "/audit"
    }

    public static func load(path: String) throws -> DaemonConfiguration {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw Invalid(description: "cannot read \(path): \(error.localizedDescription)")
        }
        do { return try parse(text) } catch let e as Invalid {
            throw Invalid(description: "\(path): \(e.description)")
        }
    }

    public static let defaultMaxQueuedRequests = 512

    public static func parse(_ text: String) throws -> DaemonConfiguration {
        let file = try ConfigurationFile.decode(text)
        let hsm = file.hsm ?? .init(), keys = file.keys ?? .init(), server = file.server ?? .init()
        let arn = file.arn ?? .init(), access = file.access ?? .init(), audit = file.audit ?? .init()

        let module = hsm.module ?? "/usr/lib/softhsm/libsofthsm2.so"
        let selectors: [TokenSelector] = [
            hsm.tokenLabel.map(TokenSelector.label),
            hsm.tokenSerial.map(TokenSelector.serial),
            try hsm.slotID.map { n -> TokenSelector in
                guard n >= 0 else { throw Invalid(description: "hsm.slot_id must not be negative") }
                return .slot(UInt(n))
            },
        ].compactMap { $0 }
        guard selectors.count == 1 else {
            throw Invalid(description: "give exactly one of hsm.token_label, hsm.token_serial and hsm.slot_id")
        }
        let pins: [PINSource] = [
            hsm.pinFile.map(PINSource.file),
            hsm.pinEnv.map(PINSource.environment),
            hsm.pinCredential.map(PINSource.credential),
        ].compactMap { $0 }
        guard pins.count == 1 else {
            throw Invalid(description: "give exactly one of hsm.pin_file, hsm.pin_env and hsm.pin_credential "
                          + "(a PIN itself never goes in the config)")
        }
        var serverConfig = ServerConfiguration(socketPath: server.socket ?? "/run/p11kms/p11kms.sock",
                                               socketGroup: server.socketGroup)
        let maxQueued = server.maxQueuedRequests ?? defaultMaxQueuedRequests
        if let n = server.maxBodyBytes { serverConfig.maxBodyBytes = try positive(n, "server.max_body_bytes") }
        if let n = server.maxHeaderBytes { serverConfig.maxHeaderBytes = try positive(n, "server.max_header_bytes") }
        if let n = server.maxConnections { serverConfig.maxConnections = try positive(n, "server.max_connections") }
        if let n = server.idleTimeoutSeconds {
            serverConfig.idleTimeout = .seconds(Int64(try positive(n, "server.idle_timeout_seconds")))
        }
        if let n = server.requestTimeoutSeconds {
            serverConfig.requestTimeout = .seconds(Int64(try positive(n, "server.request_timeout_seconds")))
        }
        if let n = server.maxConnectionsPerCaller {
            serverConfig.maxConnectionsPerCallerSetting = try positive(n, "server.max_connections_per_caller")
        }
        if let n = server.maxRequestsPerCaller {
            serverConfig.maxRequestsPerCallerSetting = try positive(n, "server.max_requests_per_caller")
        }
        if let n = server.drainTimeoutSeconds {
            serverConfig.drainTimeout = .seconds(try positive(n, "server.drain_timeout_seconds"))
        }
        let stateDirectory = file.stateDirectory ?? "/var/lib/p11kms"
        serverConfig.stateDirectory = stateDirectory

        var config = DaemonConfiguration(module: module, token: selectors[0], pin: pins[0], stateDirectory: stateDirectory,
                                         server: serverConfig)
        if let n = hsm.poolSize { config.poolSize = try positive(n, "hsm.pool_size") }
        guard maxQueued >= 0 else { throw Invalid(description: "server.max_queued_requests must not be negative") }
        config.server.maxConcurrentRequests = config.poolSize + maxQueued
        if let s = keys.storage {
            guard let mode = KeyStorageMode(rawValue: s) else {
                throw Invalid(description: "keys.storage must be \"wrapped\" or \"token\", not \"\(s)\"")
            }
            config.keyStorage = mode
        }
        if let n = keys.cacheSize { config.cacheSize = try positive(n, "keys.cache_size") }
        config.allowUnenforcedUnwrapTemplate = keys.allowUnenforcedUnwrapTemplate ?? false
        config.notifications = try (file.notify ?? []).enumerated().map { try Self.notificationTarget($0.offset, $0.element) }
        if let days = file.rotation?.minPeriodDays {
            let allowed = 1...KMSConfiguration.awsMinimumRotationPeriodDays
            guard allowed.contains(days) else {
                throw Invalid(description: "rotation.min_period_days must be 1 to \(allowed.upperBound) (AWS's own minimum); it is \(days)")
            }
            config.minimumRotationPeriodDays = days
        }
        config.arn = ARNFormat(partition: arn.partition ?? "aws", region: arn.region ?? "local",
                               account: arn.account ?? "000000000000")
        guard config.arn.account.count == 12, config.arn.account.allSatisfy({ $0.isASCII && $0.isNumber }) else {
            throw Invalid(description: "arn.account must be 12 digits, as AWS account ids are")
        }
        if let level = file.logLevel {
            guard ["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(level) else {
                throw Invalid(description: "log_level \(level) is not a swift-log level")
            }
            config.logLevel = level
        }
        if let n = file.schedulerIntervalSeconds {
            config.schedulerInterval = .seconds(try positive(n, "scheduler_interval_seconds"))
        }
        for (i, t) in (file.tokens ?? []).enumerated() {
            guard let name = t.name, ExtraToken.isValidName(name) else {
                throw Invalid(description: "tokens[\(i)].name must look like a CloudHSM cluster id, "
                    + "cluster-[2-7a-zA-Z]{11,16} (it is what CreateCustomKeyStore's CloudHsmClusterId names)")
            }
            guard let label = t.tokenLabel, !label.isEmpty else { throw Invalid(description: "tokens[\(i)].token_label is required") }
            if t.module ?? module == module, case .label(label) = selectors[0] {
                throw Invalid(description: "tokens[\(i)] is the daemon's own token (hsm.token_label); a custom key store "
                    + "needs another token")
            }
            guard !config.extraTokens.contains(where: { $0.name == name }) else {
                throw Invalid(description: "tokens[\(i)].name \(name) is given twice")
            }
            config.extraTokens.append(ExtraToken(name: name, module: t.module ?? module, tokenLabel: label))
        }
        if let admins = access.admins { config.access.admins = try principals(admins, "access.admins") }
        if let readers = server.metricsReaders {
            config.server.metricsReaders = try principals(readers, "server.metrics_readers")
        }
        if let creators = access.allowCreateKey { config.access.keyCreators = try principals(creators, "access.allow_create_key") }
        if let random = access.allowGenerateRandom {
            config.access.randomCallers = try principals(random, "access.allow_generate_random")
        }
        if let dir = audit.directory { config.auditDirectory = dir }
        if let n = audit.maxFileBytes { config.auditMaxFileBytes = try positive(n, "audit.max_file_bytes") }
        if let n = audit.checkpointEveryLines { config.auditCheckpointLines = try positive(n, "audit.checkpoint_every_lines") }
        if let n = audit.checkpointEverySeconds {
            config.auditCheckpointSeconds = try positive(n, "audit.checkpoint_every_seconds")
        }
        config.kubernetes = try kubernetesPlugin(file.kubernetes, mainSocket: config.server.socketPath)
        config.server.tcp = try tcpListener(file.tcp, accessKeys: file.accessKeys ?? [:], region: config.arn.region)
        if let tcp = config.server.tcp {
            let known = Set(tcp.verifier.keys.names)
            let named = config.access.admins.accessKeys.union(config.access.keyCreators.accessKeys)
                .union(config.access.randomCallers?.accessKeys ?? [])
            if let unknown = named.subtracting(known).sorted().first {
                throw Invalid(description: "[access] names access_key:\(unknown), but there is no [access_keys.\(unknown)]")
            }
        }
        return config
    }

    /// One `[[notify]]` entry: exactly one of `command` (an absolute path and
    /// its arguments, run without a shell) and `pipe` (a named pipe), and
    /// optionally the event kinds it wants.
    private static func notificationTarget(_ index: Int, _ entry: ConfigurationFile.Notify) throws -> NotificationTarget {
        let name = "notify[\(index)]"
        let sink: NotificationTarget.Sink
        switch (entry.command, entry.pipe) {
        case (let argv?, nil):
            guard let program = argv.first, program.hasPrefix("/") else {
                throw Invalid(description: "\(name).command must start with the program's absolute path, e.g. [\"/usr/local/bin/notify\", \"--to\", \"ops\"]")
            }
            sink = .command(argv)
        case (nil, let path?):
            guard path.hasPrefix("/") else { throw Invalid(description: "\(name).pipe must be an absolute path") }
            sink = .pipe(path)
        default:
            throw Invalid(description: "\(name) needs exactly one of command and pipe")
        }
        let attempts = entry.attempts ?? NotificationTarget.defaultAttempts
        guard (1...20).contains(attempts) else { throw Invalid(description: "\(name).attempts must be 1 to 20") }
        guard let names = entry.events else { return NotificationTarget(sink: sink, attempts: attempts) }
        let kinds = try names.map { n in
            guard let kind = NotificationEvent.Kind(rawValue: n) else {
                throw Invalid(description: "\(name).events: \"\(n)\" is not an event; use "
                              + NotificationEvent.Kind.allCases.map(\.rawValue).joined(separator: ", "))
            }
            return kind
        }
        return NotificationTarget(sink: sink, kinds: Set(kinds), attempts: attempts)
    }

    /// `[tcp]` and the `[access_keys.NAME]` tables. Secrets are read here, at
    /// start, from files only their owner may read.
    private static func tcpListener(_ tcp: ConfigurationFile.TCP?, accessKeys: [String: ConfigurationFile.AccessKeyEntry],
                                    region: String) throws -> TCPListenerConfiguration? {
        guard let tcp else {
            if !accessKeys.isEmpty {
                throw Invalid(description: "access keys are configured but there is no [tcp] listener to use them")
            }
            return nil
        }
        guard let listen = tcp.listen else {
            throw Invalid(description: "[tcp] needs listen = \"127.0.0.1:4599\" (or remove the table)")
        }
        guard (tcp.tlsCertificate == nil) == (tcp.tlsPrivateKey == nil) else {
            throw Invalid(description: "give both tcp.tls_certificate and tcp.tls_private_key, or neither")
        }
        var keys: [AccessKey] = []
        for (name, entry) in accessKeys.sorted(by: { $0.key < $1.key }) {
            guard let id = entry.accessKeyID, let secretFile = entry.secretFile else {
                throw Invalid(description: "[access_keys.\(name)] needs access_key_id and secret_file")
            }
            do { keys.append(try AccessKey.load(id: id, name: name, secretFile: secretFile)) } catch let e as AccessKeyError {
                throw Invalid(description: e.description)
            }
        }
        do {
            let verifier = SigV4Verifier(region: region, keys: try AccessKeyStore(keys))
            return try TCPListenerConfiguration(listen: listen, tls: tcp.tlsCertificate.map {
                .init(certificateChain: $0, privateKey: tcp.tlsPrivateKey!)
            }, verifier: verifier)
        } catch let e as AccessKeyError {
            throw Invalid(description: e.description)
        } catch let e as TCPListenerConfiguration.Invalid {
            throw Invalid(description: e.description)
        }
    }

    private static func principals(_ entries: [String], _ name: String) throws -> PrincipalSet {
        do { return try PrincipalSet(parsing: entries) } catch let e as KMSError {
            throw Invalid(description: "\(name): \(e.message)")
        }
    }

    private static func positive(_ n: Int, _ name: String) throws -> Int {
        guard n > 0 else { throw Invalid(description: "\(name) must be positive") }
        return n
    }
}

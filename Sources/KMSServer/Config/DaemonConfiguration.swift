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
        do { return try parse(text) } catch let e as TOMLSubset.ParseError {
            throw Invalid(description: "\(path): \(e)")
        } catch let e as Invalid {
            throw Invalid(description: "\(path): \(e.description)")
        }
    }

    static let allowed: [String: Set<String>] = [
        "": ["state_directory", "log_level", "scheduler_interval_seconds"],
        "hsm": ["module", "token_label", "token_serial", "slot_id", "pin_file", "pin_env", "pin_credential", "pool_size"],
        "keys": ["storage", "cache_size"],
        "server": ["socket", "socket_group", "max_body_bytes", "max_header_bytes", "max_connections",
                   "idle_timeout_seconds", "request_timeout_seconds", "max_queued_requests",
                   "max_connections_per_caller", "max_requests_per_caller", "drain_timeout_seconds"],
        "arn": ["partition", "region", "account"],
        "access": ["admins", "allow_create_key", "allow_generate_random"],
        "audit": ["directory", "max_file_bytes", "checkpoint_every_lines", "checkpoint_every_seconds"],
        "tcp": ["listen", "tls_certificate", "tls_private_key"],
    ]
    /// `[access_keys.NAME]`: one table per access key of the TCP listener.
    static let accessKeyTablePrefix = "access_keys."
    static let accessKeyFields: Set<String> = ["access_key_id", "secret_file"]
    public static let defaultMaxQueuedRequests = 512

    public static func parse(_ text: String) throws -> DaemonConfiguration {
        let tables = try TOMLSubset.parse(text)
        for (table, keys) in tables {
            let known: Set<String>
            if table.hasPrefix(accessKeyTablePrefix) {
                known = accessKeyFields
            } else {
                guard let k = allowed[table] else { throw Invalid(description: "unknown table [\(table)]") }
                known = k
            }
            for key in keys.keys where !known.contains(key) {
                throw Invalid(description: "unknown key \(table.isEmpty ? "" : table + ".")\(key)")
            }
        }
        let root = tables[""] ?? [:], hsm = tables["hsm"] ?? [:], keys = tables["keys"] ?? [:]
        let server = tables["server"] ?? [:], arn = tables["arn"] ?? [:]
        let access = tables["access"] ?? [:], audit = tables["audit"] ?? [:]

        let module = try string(hsm, "hsm.module", "module") ?? "/usr/lib/softhsm/libsofthsm2.so"
        let selectors: [TokenSelector] = [
            try string(hsm, "hsm.token_label", "token_label").map(TokenSelector.label),
            try string(hsm, "hsm.token_serial", "token_serial").map(TokenSelector.serial),
            try int(hsm, "hsm.slot_id", "slot_id").map { n -> TokenSelector in
                guard n >= 0 else { throw Invalid(description: "hsm.slot_id must not be negative") }
                return .slot(UInt(n))
            },
        ].compactMap { $0 }
        guard selectors.count == 1 else {
            throw Invalid(description: "give exactly one of hsm.token_label, hsm.token_serial and hsm.slot_id")
        }
        let pins: [PINSource] = [
            try string(hsm, "hsm.pin_file", "pin_file").map(PINSource.file),
            try string(hsm, "hsm.pin_env", "pin_env").map(PINSource.environment),
            try string(hsm, "hsm.pin_credential", "pin_credential").map(PINSource.credential),
        ].compactMap { $0 }
        guard pins.count == 1 else {
            throw Invalid(description: "give exactly one of hsm.pin_file, hsm.pin_env and hsm.pin_credential "
                          + "(a PIN itself never goes in the config)")
        }
        var serverConfig = ServerConfiguration(socketPath: try string(server, "server.socket", "socket") ?? "/run/p11kms/p11kms.sock",
                                               socketGroup: try string(server, "server.socket_group", "socket_group"))
        let maxQueued = try int(server, "server.max_queued_requests", "max_queued_requests") ?? defaultMaxQueuedRequests
        if let n = try int(server, "server.max_body_bytes", "max_body_bytes") { serverConfig.maxBodyBytes = try positive(n, "server.max_body_bytes") }
        if let n = try int(server, "server.max_header_bytes", "max_header_bytes") { serverConfig.maxHeaderBytes = try positive(n, "server.max_header_bytes") }
        if let n = try int(server, "server.max_connections", "max_connections") { serverConfig.maxConnections = try positive(n, "server.max_connections") }
        if let n = try int(server, "server.idle_timeout_seconds", "idle_timeout_seconds") {
            serverConfig.idleTimeout = .seconds(Int64(try positive(n, "server.idle_timeout_seconds")))
        }
        if let n = try int(server, "server.request_timeout_seconds", "request_timeout_seconds") {
            serverConfig.requestTimeout = .seconds(Int64(try positive(n, "server.request_timeout_seconds")))
        }
        if let n = try int(server, "server.max_connections_per_caller", "max_connections_per_caller") {
            serverConfig.maxConnectionsPerCallerSetting = try positive(n, "server.max_connections_per_caller")
        }
        if let n = try int(server, "server.max_requests_per_caller", "max_requests_per_caller") {
            serverConfig.maxRequestsPerCallerSetting = try positive(n, "server.max_requests_per_caller")
        }
        if let n = try int(server, "server.drain_timeout_seconds", "drain_timeout_seconds") {
            serverConfig.drainTimeout = .seconds(try positive(n, "server.drain_timeout_seconds"))
        }
        let stateDirectory = try string(root, "state_directory", "state_directory") ?? "/var/lib/p11kms"
        serverConfig.stateDirectory = stateDirectory

        var config = DaemonConfiguration(module: module, token: selectors[0], pin: pins[0], stateDirectory: stateDirectory,
                                         server: serverConfig)
        if let n = try int(hsm, "hsm.pool_size", "pool_size") { config.poolSize = try positive(n, "hsm.pool_size") }
        guard maxQueued >= 0 else { throw Invalid(description: "server.max_queued_requests must not be negative") }
        config.server.maxConcurrentRequests = config.poolSize + maxQueued
        if let s = try string(keys, "keys.storage", "storage") {
            guard let mode = KeyStorageMode(rawValue: s) else {
                throw Invalid(description: "keys.storage must be \"wrapped\" or \"token\", not \"\(s)\"")
            }
            config.keyStorage = mode
        }
        if let n = try int(keys, "keys.cache_size", "cache_size") { config.cacheSize = try positive(n, "keys.cache_size") }
        config.arn = ARNFormat(partition: try string(arn, "arn.partition", "partition") ?? "aws",
                               region: try string(arn, "arn.region", "region") ?? "local",
                               account: try string(arn, "arn.account", "account") ?? "000000000000")
        guard config.arn.account.count == 12, config.arn.account.allSatisfy({ $0.isASCII && $0.isNumber }) else {
            throw Invalid(description: "arn.account must be 12 digits, as AWS account ids are")
        }
        if let level = try string(root, "log_level", "log_level") {
            guard ["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(level) else {
                throw Invalid(description: "log_level \(level) is not a swift-log level")
            }
            config.logLevel = level
        }
        if let n = try int(root, "scheduler_interval_seconds", "scheduler_interval_seconds") {
            config.schedulerInterval = .seconds(try positive(n, "scheduler_interval_seconds"))
        }
        if let admins = try strings(access, "access.admins", "admins") {
            config.access.admins = try principals(admins, "access.admins")
        }
        if let creators = try strings(access, "access.allow_create_key", "allow_create_key") {
            config.access.keyCreators = try principals(creators, "access.allow_create_key")
        }
        if let random = try strings(access, "access.allow_generate_random", "allow_generate_random") {
            config.access.randomCallers = try principals(random, "access.allow_generate_random")
        }
        if let dir = try string(audit, "audit.directory", "directory") { config.auditDirectory = dir }
        if let n = try int(audit, "audit.max_file_bytes", "max_file_bytes") { config.auditMaxFileBytes = try positive(n, "audit.max_file_bytes") }
        if let n = try int(audit, "audit.checkpoint_every_lines", "checkpoint_every_lines") {
            config.auditCheckpointLines = try positive(n, "audit.checkpoint_every_lines")
        }
        if let n = try int(audit, "audit.checkpoint_every_seconds", "checkpoint_every_seconds") {
            config.auditCheckpointSeconds = try positive(n, "audit.checkpoint_every_seconds")
        }
        config.server.tcp = try tcpListener(tables, region: config.arn.region)
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

    /// `[tcp]` and the `[access_keys.NAME]` tables. Secrets are read here, at
    /// start, from files only their owner may read.
    private static func tcpListener(_ tables: [String: [String: TOMLSubset.Value]], region: String) throws
        -> TCPListenerConfiguration? {
        let accessKeyTables = tables.filter { $0.key.hasPrefix(accessKeyTablePrefix) }
        guard let tcp = tables["tcp"] else {
            if !accessKeyTables.isEmpty {
                throw Invalid(description: "access keys are configured but there is no [tcp] listener to use them")
            }
            return nil
        }
        guard let listen = try string(tcp, "tcp.listen", "listen") else {
            throw Invalid(description: "[tcp] needs listen = \"127.0.0.1:4599\" (or remove the table)")
        }
        let certificate = try string(tcp, "tcp.tls_certificate", "tls_certificate")
        let privateKey = try string(tcp, "tcp.tls_private_key", "tls_private_key")
        guard (certificate == nil) == (privateKey == nil) else {
            throw Invalid(description: "give both tcp.tls_certificate and tcp.tls_private_key, or neither")
        }
        var keys: [AccessKey] = []
        for (table, fields) in accessKeyTables.sorted(by: { $0.key < $1.key }) {
            let name = String(table.dropFirst(accessKeyTablePrefix.count))
            guard let id = try string(fields, "\(table).access_key_id", "access_key_id"),
                  let secretFile = try string(fields, "\(table).secret_file", "secret_file") else {
                throw Invalid(description: "[\(table)] needs access_key_id and secret_file")
            }
            do { keys.append(try AccessKey.load(id: id, name: name, secretFile: secretFile)) } catch let e as AccessKeyError {
                throw Invalid(description: e.description)
            }
        }
        do {
            let verifier = SigV4Verifier(region: region, keys: try AccessKeyStore(keys))
            return try TCPListenerConfiguration(listen: listen, tls: certificate.map {
                .init(certificateChain: $0, privateKey: privateKey!)
            }, verifier: verifier)
        } catch let e as AccessKeyError {
            throw Invalid(description: e.description)
        } catch let e as TCPListenerConfiguration.Invalid {
            throw Invalid(description: e.description)
        }
    }

    private static func string(_ t: [String: TOMLSubset.Value], _ name: String, _ key: String) throws -> String? {
        guard let v = t[key] else { return nil }
        guard case .string(let s) = v else { throw Invalid(description: "\(name) must be a string") }
        return s
    }

    private static func int(_ t: [String: TOMLSubset.Value], _ name: String, _ key: String) throws -> Int? {
        guard let v = t[key] else { return nil }
        guard case .integer(let n) = v else { throw Invalid(description: "\(name) must be an integer") }
        return n
    }

    private static func strings(_ t: [String: TOMLSubset.Value], _ name: String, _ key: String) throws -> [String]? {
        guard let v = t[key] else { return nil }
        guard case .array(let items) = v else { throw Invalid(description: "\(name) must be an array of strings") }
        return try items.map { item in
            guard case .string(let s) = item else { throw Invalid(description: "\(name) must be an array of strings") }
            return s
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

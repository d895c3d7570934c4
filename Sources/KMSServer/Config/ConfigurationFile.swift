/// The config file as written: every table and key `p11kmsd --config` reads,
/// each optional, with the names the README documents. Decoded by TOMLKit
/// with strict decoding, so a key not declared here is an error, never
/// ignored. `DaemonConfiguration.parse` checks the values and fills defaults.
struct ConfigurationFile: Decodable {
    var stateDirectory: String?
    var logLevel: String?
    var schedulerIntervalSeconds: Int?
    var hsm: HSM?
    var keys: Keys?
    var server: Server?
    var arn: ARN?
    var access: Access?
    var audit: Audit?
    var tcp: TCP?
    /// `[kubernetes]`: the Kubernetes KMS v2 plugin's socket.
    var kubernetes: Kubernetes?
    var rotation: Rotation?
    var notify: [Notify]?
    /// `[access_keys.NAME]`: one table per access key of the TCP listener.
    var accessKeys: [String: AccessKeyEntry]?
    /// `[[tokens]]`: extra tokens that custom key stores may name.
    var tokens: [ExtraToken]?

    enum CodingKeys: String, CodingKey {
        case stateDirectory = "state_directory", logLevel = "log_level"
        case schedulerIntervalSeconds = "scheduler_interval_seconds"
        case hsm, keys, server, arn, access, audit, tcp, kubernetes, tokens, rotation, notify
        case accessKeys = "access_keys"
    }

    struct ExtraToken: Decodable {
        var name, module, tokenLabel: String?

        enum CodingKeys: String, CodingKey {
            case name, module, tokenLabel = "token_label"
        }
    }

    struct HSM: Decodable {
        var module, tokenLabel, tokenSerial: String?
        var slotID: Int?
        var pinFile, pinEnv, pinCredential: String?
        var poolSize: Int?

        enum CodingKeys: String, CodingKey {
            case module, tokenLabel = "token_label", tokenSerial = "token_serial", slotID = "slot_id"
            case pinFile = "pin_file", pinEnv = "pin_env", pinCredential = "pin_credential", poolSize = "pool_size"
        }
    }

    struct Keys: Decodable {
        var storage: String?
        var cacheSize: Int?
        var allowUnenforcedUnwrapTemplate: Bool?

        enum CodingKeys: String, CodingKey {
            case storage, cacheSize = "cache_size"
            case allowUnenforcedUnwrapTemplate = "allow_unenforced_unwrap_template"
        }
    }

    struct Server: Decodable {
        var socket, socketGroup: String?
        var maxBodyBytes, maxHeaderBytes, maxConnections: Int?
        var idleTimeoutSeconds, requestTimeoutSeconds, maxQueuedRequests: Int?
        var maxConnectionsPerCaller, maxRequestsPerCaller, drainTimeoutSeconds: Int?
        var metricsReaders: [String]?

        enum CodingKeys: String, CodingKey {
            case socket, socketGroup = "socket_group"
            case maxBodyBytes = "max_body_bytes", maxHeaderBytes = "max_header_bytes", maxConnections = "max_connections"
            case idleTimeoutSeconds = "idle_timeout_seconds", requestTimeoutSeconds = "request_timeout_seconds"
            case maxQueuedRequests = "max_queued_requests"
            case maxConnectionsPerCaller = "max_connections_per_caller", maxRequestsPerCaller = "max_requests_per_caller"
            case drainTimeoutSeconds = "drain_timeout_seconds"
            case metricsReaders = "metrics_readers"
        }
    }

    struct ARN: Decodable {
        var partition, region, account: String?
    }

    struct Access: Decodable {
        var admins, allowCreateKey, allowGenerateRandom: [String]?

        enum CodingKeys: String, CodingKey {
            case admins, allowCreateKey = "allow_create_key", allowGenerateRandom = "allow_generate_random"
        }
    }

    struct Audit: Decodable {
        var directory: String?
        var maxFileBytes, checkpointEveryLines, checkpointEverySeconds: Int?

        enum CodingKeys: String, CodingKey {
            case directory, maxFileBytes = "max_file_bytes"
            case checkpointEveryLines = "checkpoint_every_lines", checkpointEverySeconds = "checkpoint_every_seconds"
        }
    }

    struct Notify: Decodable {
        var command: [String]?
        var pipe: String?
        var events: [String]?
        var attempts: Int?
    }

    struct Rotation: Decodable {
        var minPeriodDays: Int?

        enum CodingKeys: String, CodingKey {
            case minPeriodDays = "min_period_days"
        }
    }

    struct TCP: Decodable {
        var listen, tlsCertificate, tlsPrivateKey: String?

        enum CodingKeys: String, CodingKey {
            case listen, tlsCertificate = "tls_certificate", tlsPrivateKey = "tls_private_key"
        }
    }

    struct AccessKeyEntry: Decodable {
        var accessKeyID, secretFile: String?

        enum CodingKeys: String, CodingKey {
            case accessKeyID = "access_key_id", secretFile = "secret_file"
        }
    }
}

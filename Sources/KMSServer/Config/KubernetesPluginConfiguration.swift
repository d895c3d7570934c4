/// `[kubernetes]`: the Kubernetes KMS v2 plugin's socket (served by
/// KMSKubernetes). Its socket follows the main socket's rules: mode 0660,
/// owner the daemon, group `socket_group`; callers are named by their peer
/// credentials and the KEK's key policy decides who may use it.
public struct KubernetesPluginConfiguration: Sendable, Equatable {
    public static let defaultSocketPath = "/run/p11kms/kubernetes.sock"
    public static let defaultKeyName = "alias/kubernetes"

    public var socketPath: String
    public var socketGroup: String?
    /// The KEK: a symmetric key's id, ARN or alias.
    public var keyName: String

    public init(socketPath: String = defaultSocketPath, socketGroup: String? = nil, keyName: String = defaultKeyName) {
        self.socketPath = socketPath
        self.socketGroup = socketGroup
        self.keyName = keyName
    }
}

extension ConfigurationFile {
    struct Kubernetes: Decodable {
        var socket, socketGroup, key: String?

        enum CodingKeys: String, CodingKey {
            case socket, socketGroup = "socket_group", key
        }
    }
}

extension DaemonConfiguration {
    static func kubernetesPlugin(_ table: ConfigurationFile.Kubernetes?, mainSocket: String) throws -> KubernetesPluginConfiguration? {
        guard let table else { return nil }
        let plugin = KubernetesPluginConfiguration(
            socketPath: table.socket ?? KubernetesPluginConfiguration.defaultSocketPath, socketGroup: table.socketGroup,
            keyName: table.key ?? KubernetesPluginConfiguration.defaultKeyName)
        guard plugin.socketPath != mainSocket else {
            throw Invalid(description: "kubernetes.socket must differ from server.socket (\(mainSocket))")
        }
        guard !plugin.keyName.isEmpty else { throw Invalid(description: "kubernetes.key must name a key or an alias") }
        return plugin
    }
}

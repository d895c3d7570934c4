import Foundation

/// A custom key store as the store keeps it: an AWS_CLOUDHSM key store whose
/// "cluster" is one of the daemon's configured extra tokens (`[[tokens]]`,
/// named by `CloudHsmClusterId`).
public struct CustomKeyStoreRecord: Sendable, Hashable, Codable {
    /// `cks-` and 17 hex digits, as AWS's ids look.
    public var id: String
    public var name: String
    /// The `[[tokens]]` entry's name.
    public var clusterID: String
    public var trustAnchorCertificate: String?
    /// The token's user PIN (`KeyStorePassword`), AES-GCM-encrypted in the
    /// daemon's own token with its store-secrets key: never in the database
    /// in the clear, never logged.
    public var encryptedPassword: [UInt8]
    public var createdAt: Date
    /// Whether it should be connected (ConnectCustomKeyStore, until
    /// DisconnectCustomKeyStore): the daemon reconnects it at start-up.
    public var connected: Bool
    public var seal: [UInt8]?

    public init(id: String, name: String, clusterID: String, trustAnchorCertificate: String?, encryptedPassword: [UInt8],
                createdAt: Date, connected: Bool = false, seal: [UInt8]? = nil) {
        self.id = id
        self.name = name
        self.clusterID = clusterID
        self.trustAnchorCertificate = trustAnchorCertificate
        self.encryptedPassword = encryptedPassword
        self.createdAt = createdAt
        self.connected = connected
        self.seal = seal
    }
}

import Foundation

/// `KeyMetadata` as DescribeKey and CreateKey return it.
public struct KeyMetadata: Codable, Sendable, Hashable {
    public var awsAccountId: String
    public var keyId: String
    public var arn: String
    public var creationDate: Date
    public var enabled: Bool
    public var description: String
    public var keyUsage: KeyUsageType
    public var keyState: KeyState
    public var deletionDate: Date?
    public var validTo: Date?
    public var origin: Origin
    public var expirationModel: ExpirationModel?
    public var keyManager: String
    public var customerMasterKeySpec: KeySpec
    public var keySpec: KeySpec
    public var encryptionAlgorithms: [EncryptionAlgorithm]?
    public var signingAlgorithms: [SigningAlgorithm]?
    public var macAlgorithms: [MacAlgorithm]?
    public var multiRegion: Bool
    public var pendingDeletionWindowInDays: Int?
    public var currentKeyMaterialId: String?
}

extension KMSEngine {
    func metadata(_ key: KeyRecord) async throws -> KeyMetadata {
        let current: String? = if let n = key.currentVersion {
            try await store.version(keyID: key.keyID, version: n)?.keyMaterialID
        } else {
            nil
        }
        let enc = key.keySpec.encryptionAlgorithms(usage: key.keyUsage)
        let sig = key.keySpec.signingAlgorithms(usage: key.keyUsage)
        let mac = key.keySpec.macAlgorithms
        return KeyMetadata(
            awsAccountId: configuration.arn.account, keyId: key.keyID, arn: arn(key), creationDate: key.createdAt,
            enabled: key.state == .enabled, description: key.description, keyUsage: key.keyUsage, keyState: key.state,
            deletionDate: key.deletionDate, validTo: key.validTo, origin: key.origin, expirationModel: key.expirationModel,
            keyManager: "CUSTOMER", customerMasterKeySpec: key.keySpec, keySpec: key.keySpec,
            encryptionAlgorithms: enc.isEmpty ? nil : enc, signingAlgorithms: sig.isEmpty ? nil : sig,
            macAlgorithms: mac.isEmpty ? nil : mac, multiRegion: false,
            pendingDeletionWindowInDays: key.pendingWindowInDays, currentKeyMaterialId: current)
    }
}

import Foundation

// Wire shapes of the KeyMetadata structure of CreateKey and DescribeKey.
// Members are AWS's names in lowerCamel; AWSJSONCodec maps them to the wire.

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
    public var keyAgreementAlgorithms: [KeyAgreementAlgorithm]?
    public var multiRegion: Bool
    public var pendingDeletionWindowInDays: Int?
    public var currentKeyMaterialId: String?
    /// Set for a key in a custom key store (an extra token of the daemon's).
    public var customKeyStoreId: String?
    public var cloudHsmClusterId: String?
    public init(awsAccountId: String, keyId: String, arn: String, creationDate: Date, enabled: Bool,
                description: String, keyUsage: KeyUsageType, keyState: KeyState, deletionDate: Date? = nil,
                validTo: Date? = nil, origin: Origin, expirationModel: ExpirationModel? = nil, keyManager: String,
                customerMasterKeySpec: KeySpec, keySpec: KeySpec, encryptionAlgorithms: [EncryptionAlgorithm]? = nil,
                signingAlgorithms: [SigningAlgorithm]? = nil, macAlgorithms: [MacAlgorithm]? = nil,
                keyAgreementAlgorithms: [KeyAgreementAlgorithm]? = nil, multiRegion: Bool,
                pendingDeletionWindowInDays: Int? = nil, currentKeyMaterialId: String? = nil) {
        self.awsAccountId = awsAccountId
        self.keyId = keyId
        self.arn = arn
        self.creationDate = creationDate
        self.enabled = enabled
        self.description = description
        self.keyUsage = keyUsage
        self.keyState = keyState
        self.deletionDate = deletionDate
        self.validTo = validTo
        self.origin = origin
        self.expirationModel = expirationModel
        self.keyManager = keyManager
        self.customerMasterKeySpec = customerMasterKeySpec
        self.keySpec = keySpec
        self.encryptionAlgorithms = encryptionAlgorithms
        self.signingAlgorithms = signingAlgorithms
        self.macAlgorithms = macAlgorithms
        self.keyAgreementAlgorithms = keyAgreementAlgorithms
        self.multiRegion = multiRegion
        self.pendingDeletionWindowInDays = pendingDeletionWindowInDays
        self.currentKeyMaterialId = currentKeyMaterialId
    }
}

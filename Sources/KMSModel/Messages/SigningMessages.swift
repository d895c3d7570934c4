import Foundation

// Wire shapes of GetPublicKey, Sign, Verify.
// Members are AWS's names in lowerCamel; AWSJSONCodec maps them to the wire.

public struct GetPublicKeyResponse: Codable, Sendable {
    public var keyId: String
    public var publicKey: Data
    public var customerMasterKeySpec: KeySpec
    public var keySpec: KeySpec
    public var keyUsage: KeyUsageType
    public var encryptionAlgorithms: [EncryptionAlgorithm]?
    public var signingAlgorithms: [SigningAlgorithm]?
    public var keyAgreementAlgorithms: [KeyAgreementAlgorithm]?
    public init(keyId: String, publicKey: Data, customerMasterKeySpec: KeySpec, keySpec: KeySpec,
                keyUsage: KeyUsageType, encryptionAlgorithms: [EncryptionAlgorithm]? = nil,
                signingAlgorithms: [SigningAlgorithm]? = nil, keyAgreementAlgorithms: [KeyAgreementAlgorithm]? = nil) {
        self.keyAgreementAlgorithms = keyAgreementAlgorithms
        self.keyId = keyId
        self.publicKey = publicKey
        self.customerMasterKeySpec = customerMasterKeySpec
        self.keySpec = keySpec
        self.keyUsage = keyUsage
        self.encryptionAlgorithms = encryptionAlgorithms
        self.signingAlgorithms = signingAlgorithms
    }
}

public struct SignRequest: Codable, Sendable {
    public var keyId: String?
    public var message: Data?
    public var messageType: MessageType?
    public var grantTokens: [String]?
    public var signingAlgorithm: SigningAlgorithm?
    public var dryRun: Bool?
    public init(keyId: String?, message: Data?, messageType: MessageType? = nil, signingAlgorithm: SigningAlgorithm?) {
        self.keyId = keyId
        self.message = message
        self.messageType = messageType
        self.signingAlgorithm = signingAlgorithm
    }
}

public struct SignResponse: Codable, Sendable {
    public var keyId: String
    public var signature: Data
    public var signingAlgorithm: SigningAlgorithm
    public init(keyId: String, signature: Data, signingAlgorithm: SigningAlgorithm) {
        self.keyId = keyId
        self.signature = signature
        self.signingAlgorithm = signingAlgorithm
    }
}

public struct VerifyRequest: Codable, Sendable {
    public var keyId: String?
    public var message: Data?
    public var messageType: MessageType?
    public var signature: Data?
    public var signingAlgorithm: SigningAlgorithm?
    public var grantTokens: [String]?
    public var dryRun: Bool?
    public init(keyId: String?, message: Data?, messageType: MessageType? = nil, signature: Data?,
                signingAlgorithm: SigningAlgorithm?) {
        self.keyId = keyId
        self.message = message
        self.messageType = messageType
        self.signature = signature
        self.signingAlgorithm = signingAlgorithm
    }
}

public struct VerifyResponse: Codable, Sendable {
    public var keyId: String
    public var signatureValid: Bool
    public var signingAlgorithm: SigningAlgorithm
    public init(keyId: String, signatureValid: Bool, signingAlgorithm: SigningAlgorithm) {
        self.keyId = keyId
        self.signatureValid = signatureValid
        self.signingAlgorithm = signingAlgorithm
    }
}

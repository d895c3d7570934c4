import Foundation

// Wire shapes of Encrypt, Decrypt, ReEncrypt.
// Members are AWS's names in lowerCamel; AWSJSONCodec maps them to the wire.

public struct EncryptRequest: Codable, Sendable {
    public var keyId: String?
    public var plaintext: Data?
    public var encryptionContext: [String: String]?
    public var grantTokens: [String]?
    public var encryptionAlgorithm: EncryptionAlgorithm?
    public var dryRun: Bool?
    public init(keyId: String?, plaintext: Data?, encryptionContext: [String: String]? = nil,
                encryptionAlgorithm: EncryptionAlgorithm? = nil) {
        self.keyId = keyId
        self.plaintext = plaintext
        self.encryptionContext = encryptionContext
        self.encryptionAlgorithm = encryptionAlgorithm
    }
}

public struct EncryptResponse: Codable, Sendable {
    public var ciphertextBlob: Data
    public var keyId: String
    public var encryptionAlgorithm: EncryptionAlgorithm
    public init(ciphertextBlob: Data, keyId: String, encryptionAlgorithm: EncryptionAlgorithm) {
        self.ciphertextBlob = ciphertextBlob
        self.keyId = keyId
        self.encryptionAlgorithm = encryptionAlgorithm
    }
}

public struct DecryptRequest: Codable, Sendable {
    public var ciphertextBlob: Data?
    public var encryptionContext: [String: String]?
    public var grantTokens: [String]?
    public var keyId: String?
    public var encryptionAlgorithm: EncryptionAlgorithm?
    public var dryRun: Bool?
    public init(ciphertextBlob: Data?, encryptionContext: [String: String]? = nil, keyId: String? = nil,
                encryptionAlgorithm: EncryptionAlgorithm? = nil) {
        self.ciphertextBlob = ciphertextBlob
        self.encryptionContext = encryptionContext
        self.keyId = keyId
        self.encryptionAlgorithm = encryptionAlgorithm
    }
}

public struct DecryptResponse: Codable, Sendable {
    public var keyId: String
    public var plaintext: Data
    public var encryptionAlgorithm: EncryptionAlgorithm
    public var keyMaterialId: String?
    public init(keyId: String, plaintext: Data, encryptionAlgorithm: EncryptionAlgorithm, keyMaterialId: String? = nil) {
        self.keyId = keyId
        self.plaintext = plaintext
        self.encryptionAlgorithm = encryptionAlgorithm
        self.keyMaterialId = keyMaterialId
    }
}

public struct ReEncryptRequest: Codable, Sendable {
    public var ciphertextBlob: Data?
    public var sourceEncryptionContext: [String: String]?
    public var sourceKeyId: String?
    public var destinationKeyId: String?
    public var destinationEncryptionContext: [String: String]?
    public var sourceEncryptionAlgorithm: EncryptionAlgorithm?
    public var destinationEncryptionAlgorithm: EncryptionAlgorithm?
    public var grantTokens: [String]?
    public var dryRun: Bool?
    public init(ciphertextBlob: Data?, destinationKeyId: String?, sourceEncryptionContext: [String: String]? = nil,
                destinationEncryptionContext: [String: String]? = nil, sourceKeyId: String? = nil,
                sourceEncryptionAlgorithm: EncryptionAlgorithm? = nil,
                destinationEncryptionAlgorithm: EncryptionAlgorithm? = nil) {
        self.ciphertextBlob = ciphertextBlob
        self.destinationKeyId = destinationKeyId
        self.sourceEncryptionContext = sourceEncryptionContext
        self.destinationEncryptionContext = destinationEncryptionContext
        self.sourceKeyId = sourceKeyId
        self.sourceEncryptionAlgorithm = sourceEncryptionAlgorithm
        self.destinationEncryptionAlgorithm = destinationEncryptionAlgorithm
    }
}

public struct ReEncryptResponse: Codable, Sendable {
    public var ciphertextBlob: Data
    public var sourceKeyId: String
    public var keyId: String
    public var sourceEncryptionAlgorithm: EncryptionAlgorithm
    public var destinationEncryptionAlgorithm: EncryptionAlgorithm
    public init(ciphertextBlob: Data, sourceKeyId: String, keyId: String,
                sourceEncryptionAlgorithm: EncryptionAlgorithm, destinationEncryptionAlgorithm: EncryptionAlgorithm) {
        self.ciphertextBlob = ciphertextBlob
        self.sourceKeyId = sourceKeyId
        self.keyId = keyId
        self.sourceEncryptionAlgorithm = sourceEncryptionAlgorithm
        self.destinationEncryptionAlgorithm = destinationEncryptionAlgorithm
    }
}
